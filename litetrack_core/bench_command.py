"""``litetrack bench``: its arguments, and the run from them (the measuring is ``bench.py``'s)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from litetrack_core.clips import PEDESTRIAN
from litetrack_core.engines.engine import ENGINES
from litetrack_core.models.configs import DEFAULT_CONFIG

__all__ = ["add_bench_parser"]


def add_bench_parser(sub: argparse._SubParsersAction) -> None:
    """``bench``: the tracker's cost case by case (``bench.py``)."""
    b = sub.add_parser("bench", help="per-stage latency, FPS, memory and FLOPs of the tracker, case by case")
    b.add_argument("--config", nargs="+", help=f"model configs (default: {DEFAULT_CONFIG}, or the checkpoint's)")
    b.add_argument("--checkpoint", help="time this checkpoint's model instead of randomly initialised configs")
    b.add_argument("--pretrained", action="store_true", help="start configs from their packaged backbones (agreement means more)")
    b.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    b.add_argument("--precision", nargs="+", default=["fp32"], choices=["fp32", "fp16", "bf16", "int8"],
                   help="precisions: torch autocast, an engine's own (OpenVINO bf16), int8 (onnxruntime, --onnx-dir)")
    b.add_argument("--keep", nargs="+", type=float, default=[1.0], help="keep ratios per pruning block (1.0: no pruning)")
    b.add_argument("--memory-size", nargs="+", type=int, default=[0],
                   help="target memory sizes, each a case (0: no memory; asymmetric models)")
    b.add_argument("--attention", nargs="+", default=["exact"], choices=["exact", "asymmetric"],
                   help="exact (UVLTrack) or asymmetric (target cached, search only per frame)")
    b.add_argument("--prune", nargs="+", metavar="SCORE@BLOCKS",
                   help="pruning schedules to compare, e.g. similarity@3 attention@3,6,9 (default: the config's)")
    b.add_argument("--graphs", default="off", choices=["off", "on", "both"], help="CUDA graphs for the per-frame step")
    b.add_argument("--frames", type=int, default=50, help="timed frames per case")
    b.add_argument("--warmup", type=int, default=5, help="untimed frames per case first")
    b.add_argument("--sequence", type=Path, default=PEDESTRIAN,
                   help="folder of one sequence (frames, groundtruth.txt, language.txt; default: the packaged clip)")
    b.add_argument("--threads", type=int, default=0, help="CPU threads of torch and the engines (0: their defaults)")
    b.add_argument("--engine", nargs="+", default=["torch"], choices=[e for e in ENGINES if e != "auto"],
                   help="engines of the per-frame step, each a case of the run")
    b.add_argument("--onnx-dir", type=Path, help="graphs from `litetrack export onnx` (needed for int8; default: exported at start)")
    b.add_argument("--grounding", action="store_true",
                   help="time grounding by words instead (the sequence's sentence on its first frame; --frames repeats)")
    b.add_argument("--json", type=Path, help="also write the report to this JSON file")
    b.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    import itertools

    from litetrack_core.bench import BenchCase, parse_variant, run_bench, write_report
    from litetrack_core.data.load import load_dataset
    from litetrack_core.models import create_model
    from litetrack_core.tracking.load import resolve_device
    from litetrack_core.weights.checkpoint import CheckpointError, load_model
    from litetrack_core.weights.pretrained import create_pretrained_model

    try:
        device = resolve_device(args.device)
        if args.graphs != "off" and device != "cuda":
            raise ValueError("CUDA graphs need --device cuda")
        variants = [parse_variant(a, p) for a, p in itertools.product(args.attention, args.prune or [None])]
        sequence = load_dataset(args.sequence.parent, [args.sequence.name])[0]
        if args.checkpoint:
            model = load_model(args.checkpoint, args.config[0] if args.config else None)[0]
            models = {model.cfg.name: model}
        else:
            build = create_pretrained_model if args.pretrained else create_model
            models = {name: build(name) for name in args.config or [DEFAULT_CONFIG]}
        for keep in args.keep:
            if not 0 < keep <= 1:
                raise ValueError(f"keep ratio {keep} must be in (0, 1]")
        if any(args.memory_size) and "exact" in args.attention:
            raise ValueError("a target memory (--memory-size > 0) needs --attention asymmetric only")
    except (ValueError, FileNotFoundError, OSError, CheckpointError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.grounding:
        return _run_grounding(args, sequence, device)
    graphs = {"off": [False], "on": [True], "both": [False, True]}[args.graphs]
    from litetrack_core.engines import RUNTIMES

    cases = [
        BenchCase(name, variant, precision, keep, g, engine, memory)
        for name, variant, engine, precision, g, keep, memory in itertools.product(
            models, variants, args.engine, args.precision, graphs, args.keep, args.memory_size)
        if (precision != "int8" if engine == "torch" else precision in RUNTIMES[engine].precisions and not g)
    ]
    skipped = len(models) * len(variants) * len(args.engine) * len(args.precision) * len(graphs) * len(args.keep) \
        * len(args.memory_size) - len(cases)
    if skipped:
        print(f"{skipped} combinations skipped: an engine runs only its own precisions, and CUDA graphs are torch's",
              file=sys.stderr)
    for model in models.values():
        model.to(device)
    try:
        report = run_bench(models, cases, sequence, device, args.frames, args.warmup, threads=args.threads,
                           graph_dir=args.onnx_dir)
    except ValueError as err:  # an engine that cannot run here, or a precision it does not run
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(write_report(report, args.json))
    return 0


def _run_grounding(args: argparse.Namespace, sequence, device: str) -> int:
    from litetrack_core.bench import bench_grounding
    from litetrack_core.tracking.load import load_tracker

    text = sequence.language or "the person"
    try:
        tracker = load_tracker(args.checkpoint, args.config[0] if args.config else None, device)
        print(bench_grounding(tracker, sequence.frame(0), text, args.frames, args.warmup))
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0
