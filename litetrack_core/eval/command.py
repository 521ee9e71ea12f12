"""``litetrack eval``: one-pass evaluation of LiteTrack (and baselines) on a tracking benchmark.

    litetrack eval [DATASET_DIR] --mode bbox|nl|nlbbox [--sequences NAME ...] [--out DIR]
                   [--baseline csrt] [--no-litetrack] [--checkpoint FILE] [--config NAME]
                   [--device auto|cpu|cuda] [--engine torch|onnxruntime|openvino|... --precision P --threads N]

Without DATASET_DIR, the packaged clips (``litetrack_core.clips``) are evaluated. The dataset
layout is detected (``litetrack_core.data.load``); results, summary.json,
summary.txt and plots go to ``--out`` (``litetrack_core.eval.runner``).
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable
from pathlib import Path

from litetrack_core.clips import CLIPS
from litetrack_core.engines.arguments import add_engine_arguments, add_memory_argument, memory_settings
from litetrack_core.eval.runner import MODES, evaluate, format_table
from litetrack_core.tracking.types import FrameTracker

__all__ = ["add_eval_parser", "run_eval"]

log = logging.getLogger(__name__)

BASELINES = ("csrt",)


def add_eval_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register the ``eval`` sub-command on ``subparsers``; it calls ``run_eval``."""
    p = subparsers.add_parser("eval", help="one-pass evaluation on a tracking benchmark (AUC, P@20, NP@0.2, FPS)")
    p.add_argument("dataset", type=Path, nargs="?", default=CLIPS, metavar="DATASET_DIR",
                   help="LaSOT, TNL2K, OTB99-lang or sequences folder (default: the packaged clips)")
    p.add_argument("--mode", required=True, choices=MODES, help="start from the box, the sentence, or both")
    p.add_argument("--sequences", nargs="+", metavar="NAME", help="evaluate only these sequences")
    p.add_argument("--out", type=Path, default=Path("results/eval"), help="output folder (default: results/eval)")
    p.add_argument("--baseline", action="append", choices=BASELINES, default=[], help="also run this baseline")
    p.add_argument("--no-litetrack", action="store_true", help="run only the baselines")
    p.add_argument("--checkpoint", help="LiteTrack checkpoint (default: the packaged default model)")
    p.add_argument("--config", help="LiteTrack model config name")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    add_engine_arguments(p, default="torch")
    add_memory_argument(p)
    p.add_argument("--keep-ratio", type=float, default=1.0, help="search tokens kept per pruning block (1.0: none pruned)")
    p.add_argument("--grounding", default="proposals", choices=["proposals", "model"],
                   help="words -> box: the object detector's proposals ranked by the sentence (the model when they "
                        "cannot say, or when the detector is not installed), or the model alone")
    p.set_defaults(func=run_eval)
    return p


def _factories(args: argparse.Namespace) -> dict[str, Callable[[], FrameTracker]]:
    factories: dict[str, Callable[[], FrameTracker]] = {}
    if not args.no_litetrack:
        from litetrack_core.tracking.load import load_tracker
        from litetrack_core.tracking.tracker import Tracker, TrackerConfig

        config = TrackerConfig(keep_ratio=args.keep_ratio, **memory_settings(args))
        loaded = load_tracker(args.checkpoint, args.config, args.device, config,
                              precision=args.precision, proposals=args.grounding == "proposals", engine=args.engine,
                              threads=args.threads, graph_dir=args.onnx_dir)
        log.info("engine %s, precision %s", loaded.engine.name, loaded.precision)
        # A fresh tracker per sequence, as the protocol requires (no state carries across videos);
        # the weights, the engine's compiled graphs and the stateless proposal grounder are shared.
        factories["litetrack"] = lambda: Tracker(loaded.model, loaded.config, loaded.device, loaded.precision,
                                                 grounder=loaded.grounder, engine=loaded.engine)
    if "csrt" in args.baseline:
        from litetrack_core.eval.baselines import CsrtTracker

        if args.mode == "nl":
            # It would fail every sequence, and the overall rows only cover sequences all trackers finished.
            log.warning("baseline csrt starts from a box only; it is not run in mode nl")
        else:
            factories["csrt"] = CsrtTracker
    return factories


def run_eval(args: argparse.Namespace) -> int:
    """Run the evaluation that ``args`` describes, print the table; 0 on success, 2 on bad input."""
    from litetrack_core.data.load import load_dataset

    try:
        factories = _factories(args)
    except (ValueError, FileNotFoundError) as err:  # a bad keep ratio, checkpoint or config
        print(f"error: {err}", file=sys.stderr)
        return 2
    if not factories:
        message = f"no tracker to run in mode {args.mode}: --no-litetrack and no baseline that runs in it"
        print(f"error: {message}", file=sys.stderr)
        return 2
    try:
        sequences = load_dataset(args.dataset, args.sequences)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if not sequences:
        print(f"error: no readable sequences in {args.dataset}", file=sys.stderr)
        return 2
    summary = evaluate(factories, sequences, args.mode, args.out)
    print(format_table(summary), end="")
    print(f"results, summary.json, summary.txt and plots in {args.out}")
    return 0
