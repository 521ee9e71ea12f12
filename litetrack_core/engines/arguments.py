"""The command line's shared tracker options: the engine (``track``, ``eval``, ``export``) and the target
memory (``track``, ``eval``)."""

from __future__ import annotations

import argparse
from pathlib import Path

from litetrack_core.engines.engine import ENGINES

__all__ = ["add_engine_arguments", "add_memory_argument", "memory_settings"]


def add_engine_arguments(parser: argparse.ArgumentParser, default: str) -> None:
    """``--engine``, ``--precision``, ``--threads``, ``--onnx-dir``: how the per-frame step runs."""
    parser.add_argument("--engine", default=default, choices=ENGINES,
                        help=f"per-frame model call (default {default}; auto: the fastest installed here, measured)")
    parser.add_argument("--precision", default="fp32", choices=["fp32", "fp16", "bf16", "int8"],
                        help="fp32, or fp16 / bf16 (torch autocast; OpenVINO bf16, TensorRT fp16), or int8 "
                             "(onnxruntime, graphs from `litetrack export onnx --int8` in --onnx-dir)")
    parser.add_argument("--threads", type=int, default=0, help="CPU threads of torch and the engine (0: every core)")
    parser.add_argument("--onnx-dir", type=Path, help="graphs written by `litetrack export onnx` (default: exported at start)")


def add_memory_argument(parser: argparse.ArgumentParser) -> None:
    """``--memory-size``, ``--memory-read`` and ``--memory-check``: the target memory's size, when it is read, and
    when a box found reading it is checked against the first template alone (``tracking/memory.py``)."""
    parser.add_argument("--memory-size", type=int, default=0,
                        help="past frames the target memory holds besides the first template (0: off; asymmetric models)")
    # Checked by TrackerConfig (this layer is below tracking/, which holds the choices).
    parser.add_argument("--memory-read", default="weak",
                        help="when the model reads the memory: weak (on a frame after one scoring under the write "
                             "threshold) or always (every frame)")
    parser.add_argument("--memory-check", type=float, default=0.5,
                        help="IoU with the last box under which a box found reading the memory is checked against the "
                             "first template alone, whose answer stands where they disagree (0: never)")


def memory_settings(args: argparse.Namespace) -> dict:
    """The ``TrackerConfig`` fields that ``add_memory_argument``'s options set."""
    return {"memory_size": args.memory_size, "memory_read": args.memory_read, "memory_check": args.memory_check}
