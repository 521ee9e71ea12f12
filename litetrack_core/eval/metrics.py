"""One-pass evaluation (OPE) scores, following the pytracking and LaSOT toolkits.

Boxes are (N, 4) arrays of x, y, w, h in pixels, top-left origin; row i is frame i.

Conventions (pytracking ``analysis/extract_results.py`` and the LaSOT MATLAB toolkit
``calc_seq_err_robust.m`` / ``eval_tracker.m``):

* IoU, +1 pixel convention: x2 = x + w - 1, y2 = y + h - 1;
  intersection = max(0, min(x2a, x2b) - max(xa, xb) + 1) * max(0, min(y2a, y2b) - max(ya, yb) + 1);
  union = wa * ha + wb * hb - intersection. (Numerically this is the continuous-box IoU.)
* Centre: (x + (w - 1) / 2, y + (h - 1) / 2); centre error is the Euclidean distance in pixels.
  Normalised centre error divides each axis by the ground-truth w and h before the distance.
* Success rate at t: fraction of frames with IoU > t (strict), t = 0, 0.05, ..., 1 (21 values).
  AUC = mean of the 21 rates. IoU 1.0 is not > 1.0, so a perfect track scores 20/21 = 0.952
  in both toolkits.
* Precision at d: fraction of frames with centre error <= d px, d = 0..50; the score is d = 20.
  Normalised precision: the same with the normalised error at 0, 0.01, ..., 0.50; the score is 0.20.
* Frame 0 is the given box: its prediction is replaced by the ground truth, and the frame is counted
  like any other (both toolkits do this).
* Absent target (ground truth not finite, w <= 0 or h <= 0, or flagged absent): the frame stays in the
  denominator (LaSOT toolkit and pytracking for LaSOT) and is a failure: IoU 0, centre errors infinite.
* Invalid predictions (w <= 0 or h <= 0): IoU 0; the centre error is still computed. Non-finite
  predictions: IoU 0, infinite centre errors. (Both toolkits instead repeat the previous frame's box.)
* Over sequences: the per-sequence curves are averaged, then the scores are read off the mean curves
  (pytracking ``get_auc_curve`` / ``get_prec_curve``; the LaSOT toolkit averages ``ave_success_rate_plot``
  over sequences the same way). All scores are linear in the curves, so this equals the mean of the
  per-sequence scores; it is not a pool of all frames.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = [
    "CENTRE_THRESHOLDS_PX",
    "NORM_CENTRE_THRESHOLDS",
    "OVERLAP_THRESHOLDS",
    "Scores",
    "aggregate",
    "centre_error",
    "iou",
    "normalised_centre_error",
    "scored_overlaps",
    "sequence_scores",
    "success_auc",
    "valid_ground_truth",
]

# k / 20 is the double nearest each threshold (0.05 * 14 would give 0.7000000000000001).
OVERLAP_THRESHOLDS = np.arange(21) / 20.0
CENTRE_THRESHOLDS_PX = np.arange(51, dtype=np.float64)
NORM_CENTRE_THRESHOLDS = np.arange(51) / 100.0
_PRECISION_INDEX = 20  # 20 px on CENTRE_THRESHOLDS_PX, 0.20 on NORM_CENTRE_THRESHOLDS


@dataclass(frozen=True)
class Scores:
    """Scores of one sequence, or the mean over sequences (``aggregate``); rates are fractions in [0, 1].

    auc: mean of ``success_curve``. precision_20px: ``precision_curve`` at 20 px.
    norm_precision_020: ``norm_precision_curve`` at 0.20. Curves are sampled at ``OVERLAP_THRESHOLDS``,
    ``CENTRE_THRESHOLDS_PX`` and ``NORM_CENTRE_THRESHOLDS``. frames: frames scored (all sequences);
    sequences: 1 for a sequence.
    """

    auc: float
    precision_20px: float
    norm_precision_020: float
    success_curve: tuple[float, ...]
    precision_curve: tuple[float, ...]
    norm_precision_curve: tuple[float, ...]
    frames: int
    sequences: int = 1


def _check_boxes(name: str, boxes: np.ndarray) -> np.ndarray:
    boxes = np.asarray(boxes, dtype=np.float64)
    if boxes.ndim != 2 or boxes.shape[1] != 4:
        raise ValueError(f"{name} must have shape (N, 4) (x, y, w, h), got {boxes.shape}")
    return boxes


def _check_pair(pred: np.ndarray, gt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    pred, gt = _check_boxes("pred", pred), _check_boxes("gt", gt)
    if pred.shape != gt.shape:
        raise ValueError(f"pred and gt must have the same shape, got {pred.shape} and {gt.shape}")
    return pred, gt


def _positive_finite(boxes: np.ndarray) -> np.ndarray:
    return np.isfinite(boxes).all(axis=1) & (boxes[:, 2] > 0) & (boxes[:, 3] > 0)


def valid_ground_truth(gt: np.ndarray, absent: np.ndarray | None = None) -> np.ndarray:
    """(N,) bool: the target is present (finite, w > 0, h > 0, and not flagged in ``absent``)."""
    gt = _check_boxes("gt", gt)
    valid = _positive_finite(gt)
    if absent is not None:
        absent = np.asarray(absent, dtype=bool)
        if absent.shape != valid.shape:
            raise ValueError(f"absent must have shape {valid.shape}, got {absent.shape}")
        valid &= ~absent
    return valid


def iou(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """(N,) IoU in [0, 1] with the +1 pixel convention (module docstring); 0 where either box is invalid."""
    pred, gt = _check_pair(pred, gt)
    both = _positive_finite(pred) & _positive_finite(gt)
    p, g = pred[both], gt[both]
    tl = np.maximum(p[:, :2], g[:, :2])
    br = np.minimum(p[:, :2] + p[:, 2:] - 1.0, g[:, :2] + g[:, 2:] - 1.0)
    inter = np.clip(br - tl + 1.0, 0.0, None).prod(axis=1)
    out = np.zeros(len(pred))
    out[both] = inter / (p[:, 2:].prod(axis=1) + g[:, 2:].prod(axis=1) - inter)
    return out


def _centre_offsets(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    return (pred[:, :2] + (pred[:, 2:] - 1.0) / 2.0) - (gt[:, :2] + (gt[:, 2:] - 1.0) / 2.0)


def centre_error(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """(N,) centre distance in pixels; inf where the ground truth is invalid or the prediction not finite."""
    pred, gt = _check_pair(pred, gt)
    ok = _positive_finite(gt) & np.isfinite(pred).all(axis=1)
    out = np.full(len(pred), np.inf)
    out[ok] = np.hypot(*_centre_offsets(pred[ok], gt[ok]).T)
    return out


def normalised_centre_error(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """(N,) centre offset divided per axis by the ground-truth w, h, then its length; inf where invalid."""
    pred, gt = _check_pair(pred, gt)
    ok = _positive_finite(gt) & np.isfinite(pred).all(axis=1)
    out = np.full(len(pred), np.inf)
    out[ok] = np.hypot(*(_centre_offsets(pred[ok], gt[ok]) / gt[ok, 2:]).T)
    return out


def _rates_above(values: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    return (values[:, None] > thresholds[None, :]).mean(axis=0)


def _rates_within(values: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    return (values[:, None] <= thresholds[None, :]).mean(axis=0)


def _scores(success: np.ndarray, precision: np.ndarray, norm: np.ndarray, frames: int, sequences: int) -> Scores:
    return Scores(
        auc=float(success.mean()),
        precision_20px=float(precision[_PRECISION_INDEX]),
        norm_precision_020=float(norm[_PRECISION_INDEX]),
        success_curve=tuple(float(v) for v in success),
        precision_curve=tuple(float(v) for v in precision),
        norm_precision_curve=tuple(float(v) for v in norm),
        frames=frames,
        sequences=sequences,
    )


def _given_first(pred: np.ndarray, gt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The pair checked, with frame 0's prediction replaced by the given box (module docstring)."""
    pred, gt = _check_pair(pred, gt)
    if len(gt) == 0:
        raise ValueError("a sequence needs at least one frame, got 0")
    pred = pred.copy()
    pred[0] = gt[0]
    return pred, gt


def scored_overlaps(pred: np.ndarray, gt: np.ndarray, absent: np.ndarray | None = None) -> np.ndarray:
    """(N,) the IoU of each frame as ``sequence_scores`` counts it: frame 0 the given box, absent or
    invalid frames 0."""
    pred, gt = _given_first(pred, gt)
    return _overlaps(pred, gt, valid_ground_truth(gt, absent))


def _overlaps(pred: np.ndarray, gt: np.ndarray, valid: np.ndarray) -> np.ndarray:
    return np.where(valid, iou(pred, gt), 0.0)


def success_auc(overlaps: np.ndarray) -> float:
    """Success AUC in [0, 1] of per-frame IoUs (``scored_overlaps``): the mean success rate over
    ``OVERLAP_THRESHOLDS``, as ``Scores.auc``."""
    return float(_rates_above(np.asarray(overlaps, dtype=np.float64), OVERLAP_THRESHOLDS).mean())


def sequence_scores(pred: np.ndarray, gt: np.ndarray, absent: np.ndarray | None = None) -> Scores:
    """Scores of one sequence: ``pred`` and ``gt`` (N, 4) x, y, w, h pixels; ``absent`` (N,) bool or None.

    Frame 0's prediction is replaced by ``gt[0]``; absent frames count as failures (module docstring).
    """
    pred, gt = _given_first(pred, gt)
    valid = valid_ground_truth(gt, absent)
    overlap = _overlaps(pred, gt, valid)
    err = np.where(valid, centre_error(pred, gt), np.inf)
    norm_err = np.where(valid, normalised_centre_error(pred, gt), np.inf)
    return _scores(
        _rates_above(overlap, OVERLAP_THRESHOLDS),
        _rates_within(err, CENTRE_THRESHOLDS_PX),
        _rates_within(norm_err, NORM_CENTRE_THRESHOLDS),
        frames=len(gt),
        sequences=1,
    )


def aggregate(scores: Sequence[Scores]) -> Scores:
    """Mean over sequences: curves averaged per threshold, then scores read off the mean curves.

    An input that is itself an aggregate weighs as many sequences as it holds.
    """
    if not scores:
        raise ValueError("aggregate needs at least one sequence's scores, got none")
    weights = [s.sequences for s in scores]
    fields = ("success_curve", "precision_curve", "norm_precision_curve")
    mean = [np.average([getattr(s, f) for s in scores], axis=0, weights=weights) for f in fields]
    return _scores(*mean, frames=sum(s.frames for s in scores), sequences=sum(s.sequences for s in scores))
