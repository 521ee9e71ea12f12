"""Choose a tracking-loop setting on the real corpus, never on the evaluation sequences.

Box mode (the first frame's true box; ``--mode nlbbox``: and the sequence's sentence), the first
``--frames`` frames of each corpus sequence, one tracker per setting; prints per sequence and per
half the mean success AUC (%). Halves: the corpus's sequences sorted by name, A = even places
(choose on it), B = odd places (check the choice on it).
Use a model that never trained on the corpus (the stage-2 file, ``git show
336e07a:litetrack_core/weights/default/litetrack-s168.safetensors``) when the setting is meant for
video the model has not seen: a model scores sequences it trained on differently.

    .venv/bin/python scripts/sweep_loop.py --checkpoint stage2.safetensors --frames 50 \\
        '{}' '{"aspect_anchor": 0.5}' '{"aspect_anchor": 1.0}'

Each setting is a JSON object of ``TrackerConfig`` fields over the defaults. One thread: the numbers
are accuracy only.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

import numpy as np
import torch

from litetrack_core.data.load import load_dataset
from litetrack_core.data.sequence import Sequence
from litetrack_core.eval.metrics import sequence_scores
from litetrack_core.eval.runner import run_sequence
from litetrack_core.tracking.load import load_tracker
from litetrack_core.tracking.tracker import TrackerConfig


def corpus_halves(corpus: str, half: str) -> tuple[list[Sequence], dict[str, set[str]]]:
    """The corpus's sequences sorted by name (only those of ``half``, "A" or "B", unless "both")
    and the names in each half: A = even places, B = odd places."""
    sequences = sorted(load_dataset(corpus), key=lambda s: s.name)
    halves = {"A": {s.name for s in sequences[0::2]}, "B": {s.name for s in sequences[1::2]}}
    return (sequences if half == "both" else [s for s in sequences if s.name in halves[half]]), halves


def half_means(per_sequence: dict[str, float], halves: dict[str, set[str]]) -> str:
    """'A 51.20 B 49.87': the mean of ``per_sequence`` over each half that has sequences in it."""
    means = {half: np.mean([v for k, v in per_sequence.items() if k in names]) for half, names in halves.items()
             if any(k in names for k in per_sequence)}
    return " ".join(f"{half} {value:.2f}" for half, value in means.items())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("settings", nargs="+", help="JSON objects of TrackerConfig fields, e.g. '{\"scale_lr\": 0.5}'")
    parser.add_argument("--corpus", default="data/train/real", help="the real corpus (litetrack data real)")
    parser.add_argument("--checkpoint", default="", help="model (default: the packaged default model)")
    parser.add_argument("--frames", type=int, default=50, help="first frames of each sequence")
    parser.add_argument("--half", choices=("A", "B", "both"), default="both")
    parser.add_argument("--mode", choices=("bbox", "nlbbox"), default="bbox",
                        help="the first frame's true box, or the box and the sequence's sentence")
    parser.add_argument("--json", type=Path, help="write per-setting, per-sequence AUC here")
    args = parser.parse_args()
    configs = {text: dataclasses.replace(TrackerConfig(), **json.loads(text)) for text in args.settings}
    torch.set_num_threads(1)
    sequences, halves = corpus_halves(args.corpus, args.half)
    tracker = load_tracker(args.checkpoint or None, proposals=False, threads=1)
    auc: dict[str, dict[str, float]] = {text: {} for text in configs}
    for seq in sequences:
        n = min(args.frames, len(seq))
        head = dataclasses.replace(seq, frame_paths=seq.frame_paths[:n], ground_truth=seq.ground_truth[:n],
                                   absent=seq.absent[:n], grounding_frames=None)
        for text, config in configs.items():
            tracker.config = config
            boxes, _ = run_sequence(tracker, head, args.mode)
            auc[text][seq.name] = 100 * sequence_scores(boxes, head.ground_truth, head.absent).auc
        print(seq.name, " ".join(f"{auc[text][seq.name]:.1f}" for text in configs), flush=True)
    for text, per_sequence in auc.items():
        print(text, half_means(per_sequence, halves), f"all {np.mean(list(per_sequence.values())):.2f}")
    if args.json:
        args.json.write_text(json.dumps(auc, indent=1))


if __name__ == "__main__":
    main()
