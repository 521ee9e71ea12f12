"""One-pass evaluation (OPE): run trackers over sequences, write results, scores, tables and plots.

Modes (as UVLTrack evaluates): ``bbox`` starts from the ground-truth box of frame 0, ``nl`` from the
sequence's sentence alone, ``nlbbox`` from both. Boxes are x, y, w, h pixels; frames RGB uint8.

Files under ``out_dir``:
    <tracker>/<sequence>.txt   one 'x,y,w,h' line per frame (2 decimals), frame 0 included
    summary.json               per tracker: per-sequence and overall scores (fractions), FPS, failures
    summary.txt                the same as a plain table (scores in %)
    plots/overall_{success,precision}.png, plots/sequences/<sequence>_{success,precision}.png

FPS is frames divided by the seconds spent inside ``set_target``/``track`` (reading frames from disk
is not counted); the overall FPS is total frames over total seconds. In ``nl`` mode the first frame is
grounding: its IoU with the ground truth is reported per sequence (``grounding_iou``) and counted
over sequences (``grounded``: IoU > ``GROUNDED_IOU``), beside the scores (which, as always, score
frame 0 as the ground truth). Scores follow
``litetrack_core.eval.metrics``. The overall row of every tracker covers the sequences on which
every tracker succeeded, so trackers are compared on the same sequences (pytracking's
``skip_missing_seq``).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Literal, get_args

import numpy as np
from tqdm import tqdm

from litetrack_core.eval.metrics import (
    CENTRE_THRESHOLDS_PX,
    NORM_CENTRE_THRESHOLDS,
    OVERLAP_THRESHOLDS,
    Scores,
    aggregate,
    iou,
    sequence_scores,
)
from litetrack_core.tracking.types import FrameTracker

if TYPE_CHECKING:
    from litetrack_core.data.sequence import Sequence

__all__ = ["MODES", "Mode", "evaluate", "format_table", "run_sequence"]

log = logging.getLogger(__name__)

GROUNDED_IOU = 0.5  # grounding found the target (nl mode's first frame)

Mode = Literal["bbox", "nl", "nlbbox"]
MODES: tuple[str, ...] = get_args(Mode)


def _check_mode(mode: str) -> None:
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")


def _needs_language(mode: str) -> bool:
    return mode in ("nl", "nlbbox")


def run_sequence(
    tracker: FrameTracker, seq: Sequence, mode: Mode, label: str | None = None
) -> tuple[np.ndarray, float]:
    """Track ``seq`` once: frame 0 starts the tracker, every later frame calls ``track``.

    Returns the (N, 4) float64 boxes (x, y, w, h pixels, frame 0 included) and frames per second of
    tracker time. ``label`` names the progress bar (default: the sequence's name). Raises ValueError
    for an unknown mode, or for nl/nlbbox on a sequence without a sentence.
    """
    _check_mode(mode)
    if _needs_language(mode) and not seq.language:
        raise ValueError(f"mode {mode!r} needs a language sentence; sequence {seq.name!r} has none")
    text = seq.language if _needs_language(mode) else None
    box = tuple(float(v) for v in seq.ground_truth[0]) if mode != "nl" else None
    boxes = np.empty((len(seq), 4), dtype=np.float64)
    seconds = 0.0
    with tqdm(total=len(seq), desc=label or seq.name, unit="frame", leave=False) as bar:
        for index in range(len(seq)):
            frame = seq.frame(index)
            start = time.perf_counter()
            result = tracker.set_target(frame, text=text, box=box) if index == 0 else tracker.track(frame)
            seconds += time.perf_counter() - start
            boxes[index] = result.box_xywh_px
            bar.set_postfix(fps=f"{(index + 1) / max(seconds, 1e-9):.1f}", refresh=False)
            bar.update(1)
    return boxes, len(seq) / max(seconds, 1e-9)


def _write_boxes(path: Path, boxes: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{x:.2f},{y:.2f},{w:.2f},{h:.2f}\n" for x, y, w, h in boxes))


def _score_dict(scores: Scores, seconds: float) -> dict:
    return {**asdict(scores), "seconds": seconds, "fps": scores.frames / max(seconds, 1e-9)}


def evaluate(
    trackers: Mapping[str, Callable[[], FrameTracker]],
    sequences: Iterable[Sequence],
    mode: Mode,
    out_dir: str | Path,
) -> dict:
    """Run every tracker (a fresh one per sequence from its factory) on every sequence, write the files
    listed in the module docstring and return the summary (the content of summary.json).

    A tracker that raises on a sequence is logged with both names, recorded under ``failed`` and the
    evaluation goes on. In nl/nlbbox mode a sequence without a sentence is skipped with a warning.
    """
    _check_mode(mode)
    if not trackers:
        raise ValueError("trackers must name at least one tracker factory, got none")
    for name in trackers:
        if not name or "/" in name or name in (".", ".."):
            raise ValueError(f"tracker name must be a plain file name, got {name!r}")
    out = Path(out_dir)
    usable, skipped = _usable(sequences, mode)
    runs = _Runs(trackers)
    for name, factory in trackers.items():
        for seq in usable:
            runs.run(name, factory, seq, mode, out)
    summary, overall = _summary(runs, usable, skipped, mode)
    out.mkdir(parents=True, exist_ok=True)
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    (out / "summary.txt").write_text(format_table(summary))
    _plot(out / "plots", usable, runs.done, overall, mode)
    return summary


def _usable(sequences: Iterable[Sequence], mode: Mode) -> tuple[list[Sequence], dict[str, str]]:
    """The sequences the mode can run on, and the skipped ones with the reason."""
    usable, skipped = [], {}
    for seq in sequences:
        if _needs_language(mode) and not seq.language:
            log.warning("skipping sequence %s: mode %s needs a language sentence and it has none", seq.name, mode)
            skipped[seq.name] = "no language sentence"
        else:
            usable.append(seq)
    return usable, skipped


class _Runs:
    """Per tracker and sequence: scores and seconds (``done``), the error (``failed``), and in nl mode
    the first frame's grounding IoU (``grounding``)."""

    def __init__(self, trackers: Iterable[str]) -> None:
        self.done: dict[str, dict[str, tuple[Scores, float]]] = {name: {} for name in trackers}
        self.failed: dict[str, dict[str, str]] = {name: {} for name in self.done}
        self.grounding: dict[str, dict[str, float]] = {name: {} for name in self.done}

    def run(self, name: str, factory: Callable[[], FrameTracker], seq: Sequence, mode: Mode, out: Path) -> None:
        """One tracker on one sequence: its boxes written to ``out``, its scores or its error kept."""
        try:
            boxes, fps = run_sequence(factory(), seq, mode, label=f"{name} {seq.name}")
        except Exception as err:  # noqa: BLE001 - one tracker failing one sequence must not end the run
            log.error(
                "tracker %s failed on sequence %s: %s: %s", name, seq.name, type(err).__name__, err, exc_info=True
            )
            self.failed[name][seq.name] = f"{type(err).__name__}: {err}"
            return
        _write_boxes(out / name / f"{seq.name}.txt", boxes)
        self.done[name][seq.name] = (sequence_scores(boxes, seq.ground_truth, seq.absent), len(seq) / fps)
        if mode == "nl":
            self.grounding[name][seq.name] = float(iou(boxes[:1], seq.ground_truth[:1])[0])


def _summary(runs: _Runs, usable: list[Sequence], skipped: dict[str, str], mode: Mode) -> tuple[dict, dict[str, Scores]]:
    """The content of summary.json, and the overall scores per tracker (over the sequences every
    tracker finished; none when there are no such sequences)."""
    done = runs.done
    common = [seq.name for seq in usable if all(seq.name in per_seq for per_seq in done.values())]
    summary = {
        "mode": mode,
        "conventions": "see litetrack_core.eval.metrics: IoU +1 px, success IoU > t, t = 0:0.05:1, AUC = mean; "
        "P@20 px, NP@0.20; frame 0 = ground truth; absent frames are failures in the denominator; "
        "overall = mean of per-sequence curves over the sequences every tracker finished",
        "thresholds": {
            "overlap": OVERLAP_THRESHOLDS.tolist(),
            "centre_px": CENTRE_THRESHOLDS_PX.tolist(),
            "norm_centre": NORM_CENTRE_THRESHOLDS.tolist(),
        },
        "skipped": skipped,
        "overall_sequences": common,
        "trackers": {},
    }
    overall: dict[str, Scores] = {}
    for name in done:
        per_seq = {s: _score_dict(*done[name][s]) for s in done[name]}
        for s, value in runs.grounding[name].items():
            per_seq[s]["grounding_iou"] = value
        entry = {"sequences": per_seq, "failed": runs.failed[name], "overall": None}
        if common:
            overall[name] = aggregate([done[name][s][0] for s in common])
            entry["overall"] = _score_dict(overall[name], sum(done[name][s][1] for s in common))
            if mode == "nl":
                entry["overall"]["grounded"] = sum(runs.grounding[name][s] > GROUNDED_IOU for s in common)
        summary["trackers"][name] = entry
    return summary, overall


def _plot(folder: Path, usable: list[Sequence], done: dict, overall: dict[str, Scores], mode: str) -> None:
    # Imported here: matplotlib takes ~0.3 s to import, and `litetrack` loads this module for its parser.
    from litetrack_core.eval.plots import precision_plot, success_plot

    if overall:
        n = next(iter(overall.values())).sequences
        success_plot(overall, f"{n} sequences ({mode})", folder / "overall_success.png")
        precision_plot(overall, f"{n} sequences ({mode})", folder / "overall_precision.png")
    for seq in usable:
        scores = {name: per_seq[seq.name][0] for name, per_seq in done.items() if seq.name in per_seq}
        if scores:
            success_plot(scores, f"{seq.name} ({mode})", folder / "sequences" / f"{seq.name}_success.png")
            precision_plot(scores, f"{seq.name} ({mode})", folder / "sequences" / f"{seq.name}_precision.png")


def format_table(summary: dict) -> str:
    """The summary as a plain-text table: one row per sequence and tracker, then the overall rows.
    In nl mode a last column gives the first frame's grounding IoU (overall: sequences with IoU > 0.5)."""
    nl = summary["mode"] == "nl"
    head = f"{'sequence':28} {'tracker':14} {'frames':>7} {'AUC':>6} {'P@20':>6} {'NP@0.2':>7} {'FPS':>8}"
    head += f" {'IoU@0':>7}" if nl else ""
    title = f"mode {summary['mode']}; scores in %; FPS = frames / seconds inside the tracker"
    title += f"; IoU@0 = first frame's grounding IoU (overall: sequences with IoU > {GROUNDED_IOU})" if nl else ""
    lines = [title, head, "-" * len(head)]

    def row(label: str, tracker: str, s: dict) -> str:
        text = (
            f"{label:28} {tracker:14} {s['frames']:7d} {s['auc'] * 100:6.1f} {s['precision_20px'] * 100:6.1f}"
            f" {s['norm_precision_020'] * 100:7.1f} {s['fps']:8.1f}"
        )
        if "grounding_iou" in s:
            text += f" {s['grounding_iou']:7.2f}"
        elif "grounded" in s:
            text += f" {s['grounded']:3d} of {s['sequences']}"
        return text

    trackers = summary["trackers"]
    names = sorted({s for t in trackers.values() for s in (*t["sequences"], *t["failed"])})
    for seq in names:
        for tracker, entry in trackers.items():
            if seq in entry["sequences"]:
                lines.append(row(seq, tracker, entry["sequences"][seq]))
            elif seq in entry["failed"]:
                lines.append(f"{seq:28} {tracker:14} FAILED: {entry['failed'][seq]}")
    lines.append("-" * len(head))
    for tracker, entry in trackers.items():
        if entry["overall"] is not None:
            lines.append(row(f"overall ({entry['overall']['sequences']} sequences)", tracker, entry["overall"]))
    for seq, reason in summary["skipped"].items():
        lines.append(f"skipped {seq}: {reason}")
    return "\n".join(lines) + "\n"
