"""Reading a stranger's PyTorch file, and the error every reader of weights raises.

Below both ``checkpoint.py`` (tracker checkpoints) and ``pretrained.py`` (initialisations), which
use them and import each other in one direction only: ``checkpoint`` -> ``pretrained``.
"""

from __future__ import annotations

import pickle
import re
from pathlib import Path
from typing import Any

import torch

__all__ = ["CheckpointError", "read_torch_file"]


class CheckpointError(ValueError):
    """The file is not a usable checkpoint; the message says what was expected and what arrived."""


def read_torch_file(path: str | Path) -> Any:
    """``torch.load`` with ``weights_only=True``; every failure becomes a ``CheckpointError``."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        # torch wraps both refused globals and corrupt bytes in UnpicklingError; say which.
        found = re.search(r"Unsupported global: GLOBAL (\S+)", str(err))
        if found:
            raise CheckpointError(
                f"{path} holds a Python object ({found.group(1)}) besides tensors and plain containers; "
                "refusing to unpickle it (weights_only=True)"
            ) from None
        raise CheckpointError(f"{path} is not a readable PyTorch file (corrupt pickle data)") from None
    except Exception as err:  # noqa: BLE001 - any failure to parse a stranger's file is "unreadable"
        raise CheckpointError(f"{path} is not a readable PyTorch file ({type(err).__name__}: {err})") from None
