"""What the node's catch-up is worth: a target set on frame 0, first tracked ``--gap`` frames later.

A node that sets a target by words spends about 0.4 s grounding; at 30 Hz the next frame it sees
is a dozen frames later. This replays that on the real corpus (box mode, the first ``--frames``
frames of each sequence): set on frame 0, then for each catch-up count the frames the node would
step through (litetrack_ros.intake's choice among frames 1 .. gap-1), then every frame from ``gap``
on. Prints the success AUC (%) over frames ``gap`` .. end per half (A: even places of the sorted
names, B: odd), with "no gap" (every frame tracked) for reference.

    .venv/bin/python scripts/measure_catch_up.py --checkpoint stage2.safetensors --gap 13 0 2 4 8

``--step-frames F`` replays the node's timing instead: each step takes F frames of video; after the
catch-up the worker takes the newest frame that has arrived, and each frame it skips shows the last
box tracked (what a robot is shown). ``--chase`` adds, per count, the node's catch-up going on
through fewer of the frames that arrived during the previous round (``Intake.chase``);
``--max-stride S ...`` compares the first round's bound on the frames between two steps (0: none).
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from litetrack_core.eval.metrics import sequence_scores
from litetrack_core.tracking.load import load_tracker
from litetrack_ros.intake import Intake
from sweep_loop import corpus_halves, half_means  # scripts/, beside this file


def caught_up(gap: int, count: int, intake: Intake[int] | None = None, max_stride: int = 0) -> list[tuple[int, int]]:
    """The frames (1 .. gap-1, as intake items) that the node steps through after a set on frame 0, by
    its own rule (``max_stride`` as ``Intake.close_catch_up``'s); ``intake`` (a fresh one unless given)
    is left as the node leaves it."""
    intake = Intake(lambda index: index) if intake is None else intake
    intake.open_catch_up(after_ns=0)
    for index in range(1, gap):
        intake.receive(index, 0)
    return intake.close_catch_up(count, after_ns=0, max_stride=max_stride)


def node_plan(gap: int, count: int, step_frames: float, frames: int, chase: bool, max_stride: int) -> list[int]:
    """The frames the node tracks after a set on frame 0 that took ``gap`` frames: its catch-up (once,
    or ``Intake.chase``: frames arriving as the steps take time), then the newest frame at each step."""
    intake: Intake[int] = Intake(lambda index: index)
    tracked: list[int] = []
    now = float(gap - 1)  # frames of video arrived by now

    def step(item: tuple[int, int]) -> bool:
        nonlocal now
        tracked.append(item[0])
        for index in range(int(now) + 1, min(int(now + step_frames), frames - 1) + 1):
            intake.receive(index, 0)
        now += step_frames
        return True

    batch = caught_up(gap, count, intake, max_stride)
    if chase:
        intake.chase(batch, step)
    else:
        all(step(item) for item in batch)
    while True:
        newest = max(int(now), tracked[-1] + 1 if tracked else 1)
        if newest >= frames:
            return tracked
        tracked.append(newest)
        now = max(now, newest) + step_frames


def plans(args: argparse.Namespace, frames: int) -> dict[str, list[int]]:
    """Per setting, the frames tracked after the set on frame 0, in order: without ``--step-frames``
    the catch-up's and then every frame from ``gap`` on ("no gap": all of them); with it, the node's
    timing (``node_plan``), once and, with ``--chase``, going on."""
    if args.step_frames <= 0:
        after = list(range(args.gap, frames))
        return {"no gap": list(range(1, frames)), **{f"catch-up {c}": [i for i, _ in caught_up(args.gap, c)] + after
                                                   for c in args.counts}}
    kinds = {"catch-up": False, **({"chase": True} if args.chase else {})}
    return {f"{kind} {count}" + (f" stride {stride}" if stride else ""):
            node_plan(args.gap, count, args.step_frames, frames, chase, stride)
            for count in args.counts for kind, chase in kinds.items() for stride in args.max_stride}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("counts", nargs="+", type=int, help="catch-up counts to compare (0: none)")
    parser.add_argument("--corpus", default="data/train/real", help="the real corpus (litetrack data real)")
    parser.add_argument("--checkpoint", default="", help="model (default: the packaged default model)")
    parser.add_argument("--frames", type=int, default=100, help="first frames of each sequence")
    parser.add_argument("--gap", type=int, default=13, help="the first frame tracked after the set frame")
    parser.add_argument("--half", choices=("A", "B", "both"), default="both")
    parser.add_argument("--step-frames", type=float, default=0.0,
                        help="frames of video per tracking step (0: every frame after the gap is tracked)")
    parser.add_argument("--chase", action="store_true", help="also compare the catch-up going on (Intake.chase)")
    parser.add_argument("--max-stride", type=int, nargs="+", default=[0],
                        help="with --step-frames: the first round's most frames between two steps, each compared (0: no bound)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    sequences, halves = corpus_halves(args.corpus, args.half)
    tracker = load_tracker(args.checkpoint or None, proposals=False, threads=1)
    auc: dict[str, dict[str, float]] = {}
    for seq in sequences:
        n = min(args.frames, len(seq))
        if n <= args.gap:
            continue
        frames = [seq.frame(i) for i in range(n)]
        keep = [0, *range(args.gap, n)]  # frame 0 is scored as the truth by sequence_scores
        for name, tracked in plans(args, n).items():
            tracker.set_target(frames[0], box=tuple(float(v) for v in seq.ground_truth[0]))
            # each frame shows the last box tracked at or before it (every frame from gap on, unless timed)
            shown = np.repeat(np.asarray(seq.ground_truth[:1], dtype=np.float64), n, axis=0)
            for index in tracked:
                shown[index:] = tracker.track(frames[index]).box_xywh_px
            auc.setdefault(name, {})[seq.name] = 100 * sequence_scores(
                shown[keep], seq.ground_truth[keep], seq.absent[keep]).auc
        print(seq.name, " ".join(f"{per[seq.name]:.1f}" for per in auc.values()), flush=True)
    for name, per_sequence in auc.items():
        print(f"{name}:", half_means(per_sequence, halves))


if __name__ == "__main__":
    main()
