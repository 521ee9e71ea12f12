"""``litetrack export``: ship a model, as its small weights file or as ONNX graphs for the engines.

    litetrack export weights RUN/last.safetensors [RUN2/last.safetensors ...] OUT
        what differs from the packages, float16; several checkpoints are averaged first (a soup)
    litetrack export onnx OUT_DIR [--keep K ...] [--int8 --calibration DIR]   graphs, checked against PyTorch
"""

from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path

from litetrack_core.clips import PEDESTRIAN
from litetrack_core.models.configs import DEFAULT_CONFIG

__all__ = ["add_export_parser"]


def add_export_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``export weights`` and ``export onnx`` on ``subparsers``."""
    x = subparsers.add_parser("export", help="ship a model: its small weights file, or ONNX graphs")
    xsub = x.add_subparsers(dest="export_command", required=True)
    xw = xsub.add_parser("weights", help="write a trained model's shippable form (what differs from the packages, float16)")
    xw.add_argument("checkpoint", nargs="+",
                    help="litetrack .safetensors checkpoints (e.g. RUN/last.safetensors); several are averaged "
                         "entry by entry (a uniform model soup: runs fine-tuned from one start)")
    xw.add_argument("out", type=Path, help="output .safetensors")
    xw.set_defaults(func=_cmd_export_weights)
    xo = xsub.add_parser("onnx", help="target encoder and per-frame search step as ONNX graphs, checked against PyTorch")
    xo.add_argument("out", type=Path, help="output folder (target.onnx, search-keepK.onnx per keep ratio)")
    xo.add_argument("--checkpoint", help="model checkpoint (default: the packaged default model)")
    xo.add_argument("--config", help=f"model config (default: the checkpoint's, or {DEFAULT_CONFIG})")
    xo.add_argument("--keep", nargs="+", type=float, default=[1.0], help="keep ratios to export (one graph each)")
    xo.add_argument("--sequence", type=Path, default=PEDESTRIAN,
                    help="real frames to check the graphs on (default: the packaged clip; e.g. ../shared/data/sequences/NAME)")
    xo.add_argument("--frames", type=int, default=20, help="frames checked per engine")
    xo.add_argument("--int8", action="store_true", help="also write each search graph's int8 form (onnxruntime)")
    xo.add_argument("--calibration", type=Path,
                    help="int8: training sequences whose frames set the activation ranges (e.g. data/train/real; "
                         "never the evaluation sequences)")
    xo.add_argument("--calibration-sequences", type=int, default=8, help="int8: sequences used, spread over the folder")
    xo.set_defaults(func=_cmd_export_onnx)


def _cmd_export_weights(args: argparse.Namespace) -> int:
    from litetrack_core.weights.checkpoint import CheckpointError, average_models, export_checkpoint, load_model

    try:
        models = [load_model(checkpoint)[0] for checkpoint in args.checkpoint]
        model = average_models(models) if len(models) > 1 else models[0]
        path, omitted = export_checkpoint(model, args.out, {"source": " + ".join(args.checkpoint)})
    except (CheckpointError, FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"{path}: {path.stat().st_size / 2**20:.1f} MiB, {omitted} entries left to the packages")
    return 0


def _cmd_export_onnx(args: argparse.Namespace) -> int:
    import onnx

    from litetrack_core.data.load import load_dataset
    from litetrack_core.engines import RUNTIMES, EngineError
    from litetrack_core.engines.graphs import TARGET_GRAPH_FILE, save_graphs
    from litetrack_core.export.validate import compare_target_graph, compare_with_torch
    from litetrack_core.tracking.load import load_tracker
    from litetrack_core.weights.checkpoint import CheckpointError

    try:
        for keep in args.keep:
            if not 0 < keep <= 1:
                raise ValueError(f"keep ratio {keep} must be in (0, 1]")
        sequence = load_dataset(args.sequence.parent, [args.sequence.name])[0]
        model = load_tracker(args.checkpoint, args.config, "cpu", proposals=False).model
        quantise = _int8_quantiser(args, model) if args.int8 else None
        paths = save_graphs(model, args.out, args.keep, quantise)
        target_diff = compare_target_graph(model, onnx.load(str(args.out / TARGET_GRAPH_FILE)), sequence)
    except (ValueError, FileNotFoundError, OSError, CheckpointError, EngineError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    for path in paths:
        print(f"{path}: {path.stat().st_size / 2**20:.1f} MiB")
    print(f"target graph vs torch encode_target on {sequence.name} frame 1: max abs difference {target_diff:.2e}")
    print(f"search graphs vs torch eager fp32 on {sequence.name}, crops around the previous true box:")
    for name, runtime in RUNTIMES.items():
        if runtime.device != "cpu" or not runtime.available():
            continue
        for precision, keep in itertools.product(runtime.precisions, args.keep):
            if precision == "int8" and not args.int8:
                continue
            diff = compare_with_torch(model, name, sequence, args.frames, precision, graph_dir=args.out, keep_ratio=keep)
            print(f"  {name:12} {precision} keep {keep:.2f}: max |score diff| {diff['max_score_diff']:.2e}, max |box diff| "
                  f"{diff['max_box_diff_norm']:.2e} (crop-normalised), {diff['max_best_box_diff_px']:.4f} px at the best "
                  f"cell, same best cell on {diff['same_best_cell']:.0%} of {diff['frames']} frames")
    return 0


def _int8_quantiser(args: argparse.Namespace, model):
    """search graph -> its int8 form, calibrated on ``--calibration-sequences`` of ``--calibration``."""
    from litetrack_core.data.load import load_dataset
    from litetrack_core.export.calibrate import calibration_feeds, quantise_search_graph

    if args.calibration is None:
        raise ValueError("--int8 needs --calibration DIR: training sequences (e.g. data/train/real)")
    sequences = load_dataset(args.calibration)
    if not sequences:
        raise ValueError(f"no readable sequences in {args.calibration}")
    step = max(1, len(sequences) // args.calibration_sequences)
    chosen = sequences[::step][: args.calibration_sequences]
    feeds = calibration_feeds(model, chosen)
    print(f"int8 calibration: {len(feeds)} search crops from {', '.join(s.name for s in chosen)}")
    return lambda graph: quantise_search_graph(graph, feeds)
