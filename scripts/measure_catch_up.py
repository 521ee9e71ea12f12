"""What the node's catch-up is worth: a target set on frame 0, first tracked ``--gap`` frames later.

A node that sets a target by words spends about 0.4 s grounding; at 30 Hz the next frame it sees
is a dozen frames later. This replays that on the real corpus (box mode, the first ``--frames``
frames of each sequence): set on frame 0, then for each catch-up count the frames the node would
step through (litetrack_ros.intake's choice among frames 1 .. gap-1), then every frame from ``gap``
on. Prints the success AUC (%) over frames ``gap`` .. end per half (A: even places of the sorted
names, B: odd), with "no gap" (every frame tracked) for reference.

    .venv/bin/python scripts/measure_catch_up.py --checkpoint stage2.safetensors --gap 13 0 2 4 8
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from litetrack_core.eval.metrics import sequence_scores
from litetrack_core.tracking.load import load_tracker
from litetrack_ros.intake import Intake
from sweep_loop import corpus_halves, half_means  # scripts/, beside this file


def caught_up(gap: int, count: int) -> list[int]:
    """The frames (1 .. gap-1) that the node steps through after a set on frame 0, by its own rule."""
    intake: Intake[int] = Intake(lambda index: index)
    intake.open_catch_up(after_ns=0)
    for index in range(1, gap):
        intake.receive(index, 0)
    return [index for index, _ in intake.close_catch_up(count, after_ns=0)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("counts", nargs="+", type=int, help="catch-up counts to compare (0: none)")
    parser.add_argument("--corpus", default="data/train/real", help="the real corpus (litetrack data real)")
    parser.add_argument("--checkpoint", default="", help="model (default: the packaged default model)")
    parser.add_argument("--frames", type=int, default=100, help="first frames of each sequence")
    parser.add_argument("--gap", type=int, default=13, help="the first frame tracked after the set frame")
    parser.add_argument("--half", choices=("A", "B", "both"), default="both")
    args = parser.parse_args()
    torch.set_num_threads(1)
    sequences, halves = corpus_halves(args.corpus, args.half)
    tracker = load_tracker(args.checkpoint or None, proposals=False, threads=1)
    plans = {"no gap": list(range(1, args.gap)), **{f"catch-up {c}": caught_up(args.gap, c) for c in args.counts}}
    auc: dict[str, dict[str, float]] = {name: {} for name in plans}
    for seq in sequences:
        n = min(args.frames, len(seq))
        if n <= args.gap:
            continue
        frames = [seq.frame(i) for i in range(n)]
        keep = [0, *range(args.gap, n)]  # frame 0 is scored as the truth by sequence_scores
        for name, between in plans.items():
            tracker.set_target(frames[0], box=tuple(float(v) for v in seq.ground_truth[0]))
            for index in between:
                tracker.track(frames[index])
            boxes = np.array([seq.ground_truth[0], *(tracker.track(frames[i]).box_xywh_px for i in range(args.gap, n))])
            auc[name][seq.name] = 100 * sequence_scores(boxes, seq.ground_truth[keep], seq.absent[keep]).auc
        print(seq.name, " ".join(f"{auc[name][seq.name]:.1f}" for name in plans), flush=True)
    for name, per_sequence in auc.items():
        print(f"{name} ({plans[name] if name != 'no gap' else 'all'}):", half_means(per_sequence, halves))


if __name__ == "__main__":
    main()
