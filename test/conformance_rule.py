"""The UVLTrack conformance fixture's deterministic weights rule (its README, section 2).

Builds the reference state dict (reference names) from state_dict_keys.tsv; the tests then load
it through the project's UVLTrack checkpoint mapping, as a user's .pth.tar would be.
"""

from __future__ import annotations

import hashlib
import math
import zlib
from pathlib import Path

import numpy as np
import torch


def read_keys(fixture: Path) -> list[dict[str, str]]:
    lines = (fixture / "state_dict_keys.tsv").read_text().splitlines()
    header = lines[0].split("\t")
    return [dict(zip(header, line.split("\t"))) for line in lines[1:]]


def rule_value(name: str, shape: tuple[int, ...], dtype: str, norm_weights: set[str]) -> torch.Tensor:
    g = torch.Generator().manual_seed(zlib.crc32(name.encode("utf-8")))
    if name.endswith("num_batches_tracked"):
        return torch.zeros(shape, dtype=torch.int64)
    if dtype == "int64":  # box_head.coodinate: [col, row] of each of the 256 cells
        cells = torch.arange(256)
        return torch.stack([cells % 16, cells // 16]).unsqueeze(0)
    if name.endswith("running_var"):
        return 0.5 + torch.rand(shape, generator=g)
    if name.endswith("running_mean"):
        return 0.1 * torch.randn(shape, generator=g)
    if name.endswith("logit_scale"):
        return torch.full(shape, math.log(1 / 0.07)) + 0.1 * torch.randn(shape, generator=g)
    if name in norm_weights:
        return 1.0 + 0.1 * torch.randn(shape, generator=g)
    return 0.02 * torch.randn(shape, generator=g)


def reference_state_dict(fixture: Path) -> tuple[dict[str, torch.Tensor], list[str]]:
    """(state dict by the rule, names whose sha256 disagrees with the tsv)."""
    norm_weights = set((fixture / "norm_weight_names.txt").read_text().split())
    state, mismatched = {}, []
    for row in read_keys(fixture):
        shape = tuple(int(s) for s in row["shape"].strip("[]").split(",") if s.strip())
        value = rule_value(row["name"], shape, row["dtype"], norm_weights)
        digest = hashlib.sha256(np.ascontiguousarray(value.numpy()).astype(value.numpy().dtype.newbyteorder("<")).tobytes()).hexdigest()
        if digest != row["sha256_le_bytes"]:
            mismatched.append(row["name"])
        state[row["name"]] = value
    return state, mismatched
