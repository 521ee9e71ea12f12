"""Where a tracker goes wrong: the frames where its box leaves the target, drawn beside the truth and a
baseline, for failure analysis before tuning.

Reads an evaluation's folder (``runner.py``'s ``<tracker>/<sequence>.txt``, boxes x, y, w, h pixels)
and the sequences it ran on. A failure span is a run of at least ``MIN_SPAN`` frames where the
target is visible and the tracker's IoU with the truth is below ``FAILED_IOU``. Per sequence with a
span, one PNG ``<out>/<sequence>.png``: the IoU of every tracker over the frames (spans shaded), then
one row per span (the longest ``max_spans``, in frame order): the frame ``BEFORE`` frames before it
starts, its first frame and its worst frame, cropped around the boxes with room for what lies near
(a distractor, an occluder): truth green, tracker red, baseline blue. Each frame's title gives the
tracker's IoU, its centre error in units of the true box's diagonal and its box area over the true
one: a centre error above about 0.5 is drift or a distractor, an area far from 1 with the centre on
the target is scale.

For every sequence it also prints the AUC the tracker would score if it had kept the target through
its failure spans at its own precision elsewhere (``kept_auc``): what re-finding a lost target (a
target memory, re-detection) can gain at most without sharper boxes, and so whether a set of
sequences can show such a capability at all.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from litetrack_core.eval.metrics import iou, scored_overlaps, success_auc

if TYPE_CHECKING:
    from litetrack_core.data.sequence import Sequence

__all__ = ["FailureSpan", "add_failures_parser", "failure_spans", "failure_sheet", "kept_auc"]

FAILED_IOU = 0.3
MIN_SPAN = 5
BEFORE = 5
COLOURS = {"truth": "#2ca02c", "tracker": "#d62728", "baseline": "#1f77b4"}


@dataclass(frozen=True)
class FailureSpan:
    """Frames ``start`` .. ``end`` (0-based, inclusive) below ``FAILED_IOU``; ``worst``: the lowest IoU's frame."""

    start: int
    end: int
    worst: int

    @property
    def length(self) -> int:
        return self.end - self.start + 1


def failure_spans(overlaps: np.ndarray, visible: np.ndarray, min_span: int = MIN_SPAN) -> list[FailureSpan]:
    """Runs of at least ``min_span`` frames with IoU below ``FAILED_IOU`` while the target is visible
    (frames where it is absent neither break nor extend a run), in frame order."""
    spans, start = [], None
    frames = np.flatnonzero(visible)
    for k, frame in enumerate(frames):
        failed = overlaps[frame] < FAILED_IOU
        if failed and start is None:
            start = k
        if start is not None and (not failed or k == len(frames) - 1):
            stop = k if failed else k - 1
            run = frames[start : stop + 1]
            if len(run) >= min_span:
                spans.append(FailureSpan(int(run[0]), int(run[-1]), int(run[np.argmin(overlaps[run])])))
            start = None
    return spans


def kept_auc(overlaps: np.ndarray, visible: np.ndarray) -> float:
    """Success AUC in [0, 1] of ``overlaps`` (per-frame IoU as scored, ``metrics.scored_overlaps``) with
    every frame of a failure span given the median IoU of the visible frames outside the spans: the
    track kept through its failures at the tracker's own precision. Without spans, the AUC as it is."""
    kept = np.asarray(overlaps, dtype=np.float64).copy()
    spans = failure_spans(kept, visible)
    lost = np.zeros(len(kept), bool)
    for span in spans:
        lost[span.start : span.end + 1] = True
    lost &= visible
    held = visible & ~lost
    if lost.any() and held.any():
        kept[lost] = np.median(kept[held])
    return success_auc(kept)


def _describe(pred: np.ndarray, truth: np.ndarray, overlap: float) -> str:
    centre = np.hypot(*(pred[:2] + pred[2:] / 2 - truth[:2] - truth[2:] / 2)) / max(np.hypot(*truth[2:]), 1e-9)
    area = pred[2] * pred[3] / max(truth[2] * truth[3], 1e-9)
    return f"IoU {overlap:.2f}, centre {centre:.1f} diag, area {area:.1f}x"


def _draw(ax, frame: np.ndarray, index: int, boxes: dict[str, np.ndarray], caption: str) -> None:
    from matplotlib.patches import Rectangle

    present = [b for b in boxes.values() if np.all(np.isfinite(b)) and b[2] > 0 and b[3] > 0]
    x0 = min(b[0] for b in present)
    y0 = min(b[1] for b in present)
    x1 = max(b[0] + b[2] for b in present)
    y1 = max(b[1] + b[3] for b in present)
    margin = max(x1 - x0, y1 - y0) * 0.5 + 10
    ax.imshow(frame)
    ax.set_xlim(max(0, x0 - margin), min(frame.shape[1], x1 + margin))
    ax.set_ylim(min(frame.shape[0], y1 + margin), max(0, y0 - margin))
    for role, box in boxes.items():
        ax.add_patch(Rectangle(box[:2], box[2], box[3], fill=False, linewidth=1.5, edgecolor=COLOURS[role]))
    ax.set_title(f"#{index + 1}: {caption}", fontsize=7)
    ax.axis("off")


def failure_sheet(seq: Sequence, boxes: dict[str, np.ndarray], tracker: str, out: Path, max_spans: int = 4) -> Path | None:
    """Draw ``seq``'s failures of ``tracker`` (``boxes``: tracker name -> (N, 4) boxes, the tracker and
    at most one baseline) into ``out``; None when it has no failure span."""
    from matplotlib.figure import Figure  # a bare Figure renders through Agg, no display needed

    visible = ~seq.absent
    overlaps = {name: iou(b, seq.ground_truth) for name, b in boxes.items()}
    spans = failure_spans(overlaps[tracker], visible)
    if not spans:
        return None
    shown = sorted(sorted(spans, key=lambda s: -s.length)[:max_spans], key=lambda s: s.start)
    fig = Figure(figsize=(10, 2.2 + 3.0 * len(shown)), dpi=100)
    grid = fig.add_gridspec(1 + len(shown), 3, height_ratios=[0.7] + [1.0] * len(shown))
    curve = fig.add_subplot(grid[0, :])
    for name, values in overlaps.items():
        curve.plot(np.where(visible, values, np.nan), linewidth=1,
                   color=COLOURS["tracker" if name == tracker else "baseline"], label=name)
    for span in spans:
        curve.axvspan(span.start, span.end, color="0.85")
    curve.set(xlabel="frame", ylabel="IoU", ylim=(0, 1), title=f"{seq.name}: {len(spans)} failure spans of {tracker}")
    curve.legend(fontsize=7, loc="upper right")
    baseline = next((n for n in boxes if n != tracker), None)
    for row, span in enumerate(shown, start=1):
        for col, (label, index) in enumerate((("before", max(0, span.start - BEFORE)), ("first", span.start),
                                              ("worst", span.worst))):
            shown_boxes = {"tracker": boxes[tracker][index]}
            if baseline is not None:
                shown_boxes["baseline"] = boxes[baseline][index]
            shown_boxes["truth"] = seq.ground_truth[index]  # drawn last: on top
            _draw(fig.add_subplot(grid[row, col]), seq.frame(index), index, shown_boxes,
                  f"{label}; {_describe(boxes[tracker][index], seq.ground_truth[index], overlaps[tracker][index])}")
    fig.tight_layout()
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{seq.name}.png"
    fig.savefig(path, format="png")
    return path


def _read_boxes(path: Path, frames: int) -> np.ndarray:
    boxes = np.loadtxt(path, delimiter=",", ndmin=2)
    if boxes.shape != (frames, 4):
        raise ValueError(f"{path}: {boxes.shape[0]} boxes of {boxes.shape[1]} values, the sequence has {frames} frames")
    return boxes


def run_failures(args: argparse.Namespace) -> int:
    """Draw the failure sheets that ``args`` asks for; 0 on success, 2 on bad input."""
    from litetrack_core.data.load import load_dataset

    try:
        summary = json.loads((args.results / "summary.json").read_text())
        sequences = load_dataset(args.dataset, args.sequences)
    except (OSError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    trackers = summary.get("trackers", {})
    drawn, aucs = 0, []
    names = [args.tracker] + ([args.baseline] if args.baseline else [])
    for seq in sequences:
        try:
            boxes = {n: _read_boxes(args.results / n / f"{seq.name}.txt", len(seq.frame_paths)) for n in names}
        except (OSError, ValueError) as err:
            print(f"skipped {seq.name}: {err}", file=sys.stderr)
            continue
        overlaps = scored_overlaps(boxes[args.tracker], seq.ground_truth, seq.absent)
        aucs.append((success_auc(overlaps), kept_auc(overlaps, ~seq.absent)))
        print(f"{seq.name}: {args.tracker} AUC {100 * aucs[-1][0]:.1f}, {100 * aucs[-1][1]:.1f} if kept through its "
              "failure spans")
        scores = {n: trackers.get(n, {}).get("sequences", {}).get(seq.name, {}).get("auc") for n in names}
        if args.baseline and None not in scores.values() and scores[args.tracker] >= scores[args.baseline]:
            continue  # not below the baseline: nothing to explain
        path = failure_sheet(seq, boxes, args.tracker, args.out, args.max_spans)
        if path is not None:
            drawn += 1
            print(f"{path}: " + ", ".join(f"{n} AUC {100 * s:.1f}" for n, s in scores.items() if s is not None))
    if aucs:
        now, kept = np.mean(aucs, axis=0)
        print(f"mean over {len(aucs)} sequences: {args.tracker} AUC {100 * now:.1f}, {100 * kept:.1f} if kept through "
              "every failure span")
    print(f"{drawn} failure sheets in {args.out}")
    return 0


def add_failures_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``failures``: draw where a tracker went wrong in an evaluation's results."""
    p = subparsers.add_parser("failures", help="draw the frames where a tracker lost the target in an evaluation's results")
    p.add_argument("results", type=Path, help="folder written by `litetrack eval` (summary.json, <tracker>/<sequence>.txt)")
    p.add_argument("dataset", type=Path, help="the sequences folder that evaluation ran on")
    p.add_argument("--sequences", nargs="+", metavar="NAME", help="only these sequences")
    p.add_argument("--tracker", default="litetrack", help="the tracker to explain (default litetrack)")
    p.add_argument("--baseline", help="draw this tracker's boxes too, and only sequences where the tracker scores below it")
    p.add_argument("--max-spans", type=int, default=4, help="failure spans drawn per sequence, the longest (default 4)")
    p.add_argument("--out", type=Path, default=Path("results/failures"), help="output folder (default results/failures)")
    p.set_defaults(func=run_failures)
    return p
