"""Fitting the proposal ranking (``grounding/grounder.py``) on the real corpus's grounding frames.

For every grounding frame of every corpus sequence whose first sentence names a detector class: the
class's proposals, their features, and whether each is the target (IoU with the true box >= 0.5;
for a sentence naming a part, whether the proposal holds most of the true box). A conditional logit
(each frame's proposals in one softmax; L2, Newton steps) learns the weights: grounding picks one
proposal among a frame's, so the fit ranks them against each other (the earlier logistic regression
scored each proposal alone; on the corpus's halves, fitted on one and counted on the other with the
stage-2 model, the best proposal was right on 93 of 222 frames against 88). The acceptance
threshold is the one under which the most frames are grounded right when a proposal below it hands
over to the model's own box. The part place is the median place of the true part box relative to
the head keypoints of the person proposal holding it (``grounding/pose.py``), all part words
pooled. The evaluation sequences are never read here. It sits above grounding, tracking and
evaluation (it uses the three), as the rest of training does.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

from litetrack_core.data.sequence import Sequence
from litetrack_core.eval.metrics import iou
from litetrack_core.grounding.grounder import RankingWeights, features, softmax
from litetrack_core.grounding.pose import part_box, part_place
from litetrack_core.grounding.vocabulary import COCO_CLASSES

__all__ = ["FitReport", "fit_ranking"]

log = logging.getLogger(__name__)
_PERSON = COCO_CLASSES.index("person")


@dataclass
class FitReport:
    frames: int = 0  # grounding frames read
    named: int = 0  # of them, whose sentence names a class
    with_target: int = 0  # of those, where a proposal is the target
    top1: int = 0  # frames where the ranking's best proposal is the target
    model_right: int = 0  # frames (of all) where the model's own box has IoU >= 0.5
    combined_right: int = 0  # frames (of all) right with proposals above the threshold, else the model
    notes: dict = field(default_factory=dict)


def _conditional_logit(x: np.ndarray, y: np.ndarray, frames: list[slice], l2: float = 1.0,
                       steps: int = 30) -> np.ndarray:
    """Weights of an L2-regularised conditional logit (McFadden): the rows of each frame (``frames``:
    their slices of ``x``) compete in one softmax, and the likelihood is that of the frame's positives
    (``y`` 1; spread evenly when several). Frames without a positive say nothing and are left out.
    Newton steps on a concave objective: converged well within ``steps``."""
    groups = [rows for rows in frames if y[rows].any()]
    w = np.zeros(x.shape[1])
    for _ in range(steps):
        grad, hess = l2 * w, l2 * np.eye(len(w))
        for rows in groups:
            xs, p = x[rows], softmax(x[rows] @ w)
            mean = p @ xs
            grad = grad + xs.T @ (p - y[rows] / y[rows].sum())
            hess = hess + (xs * p[:, None]).T @ xs - np.outer(mean, mean)
        w = w - np.linalg.solve(hess, grad)
    return w


def _best_threshold(probability: np.ndarray, frames: list) -> tuple[float, int]:
    """The acceptance threshold under which the most frames are right (the best proposal when its
    probability reaches it, else the model's box), and that count. ``frames``: (rows of the frame's
    proposals or None, which are the target, whether the model's box is right)."""
    best_threshold, best_right = 1.0, -1
    for threshold in np.linspace(0.0, 0.95, 20):
        right = 0
        for where, truth, model_right in frames:
            if where is None:
                right += int(model_right)
                continue
            k = int(np.argmax(probability[where]))
            right += int(truth[k]) if probability[where][k] >= threshold else int(model_right)
        if right > best_right:
            best_threshold, best_right = float(threshold), right
    return best_threshold, best_right


def _contains(outer, inner) -> float:
    """Share of ``inner``'s area inside ``outer`` (x, y, w, h boxes)."""
    ix = max(0.0, min(outer[0] + outer[2], inner[0] + inner[2]) - max(outer[0], inner[0]))
    iy = max(0.0, min(outer[1] + outer[3], inner[1] + inner[3]) - max(outer[1], inner[1]))
    return ix * iy / max(inner[2] * inner[3], 1e-9)


def fit_ranking(sequences: list[Sequence], grounder, tracker) -> tuple[RankingWeights, FitReport]:
    """Fit on ``sequences`` (the real corpus, with ``grounding_frames``) with the grounder's detector
    and sentence reader and the tracker's own grounding (``Tracker.ground_with_model``)."""
    report = FitReport()
    rows, labels, frames = [], [], []  # frames: (probability slice, label slice, model right)
    parts = []  # (person keypoints, true part box) of every part frame whose part a proposal holds
    for seq in sequences:
        parsed = grounder.reader(seq.language)
        for index in seq.grounding_frames or ():
            if seq.absent[index]:
                continue
            frame = seq.frame(index)
            truth = tuple(seq.ground_truth[index])
            report.frames += 1
            model_box, _, region = tracker.ground_with_model(frame, seq.language)
            model_right = bool(iou(np.array([model_box]), np.array([truth]))[0] >= 0.5)
            report.model_right += int(model_right)
            if parsed.class_index is None:
                frames.append((None, None, model_right))
                continue
            report.named += 1
            proposals = [p for p in grounder.detector(frame) if p.class_index == parsed.class_index]
            if not proposals:
                frames.append((None, None, model_right))
                continue
            part = parsed.part if parsed.class_index == _PERSON else None
            if part:
                right = np.array([_contains(p.box_xywh_px, truth) >= 0.7 for p in proposals])
                if right.any():
                    parts.append((grounder.pose(frame, proposals[int(np.argmax(right))].box_xywh_px), truth))
            else:
                right = iou(np.array([p.box_xywh_px for p in proposals]), np.array([truth] * len(proposals))) >= 0.5
            report.with_target += int(right.any())
            start = len(rows)
            rows.extend(features(frame, parsed, proposals, region))
            labels.extend(right.astype(float))
            frames.append((slice(start, len(rows)), right, model_right))
        log.info("%s: %d grounding frames read", seq.name, len(seq.grounding_frames or ()))
    x, y = np.array(rows), np.array(labels)
    ranked = [where for where, _, _ in frames if where is not None]
    weights = _conditional_logit(x, y, ranked)
    probability = np.zeros(len(rows))
    for where in ranked:
        probability[where] = softmax(x[where] @ weights)
    best_threshold, report.combined_right = _best_threshold(probability, frames)
    report.top1 = sum(int(t[int(np.argmax(probability[w]))]) for w, t, _ in frames if w is not None)
    place = tuple(float(v) for v in np.median([part_place(k, truth) for k, truth in parts], axis=0)) if parts else (0.0, 0.0, 1.0, 1.0)
    placed_right = sum(int(iou(np.array([part_box(k, place)]), np.array([truth]))[0] >= 0.5) for k, truth in parts)
    report.notes = {"proposals": len(rows), "positives": int(y.sum()), "part_boxes": len(parts), "part_boxes_right": placed_right}
    return RankingWeights(tuple(float(w) for w in weights), round(best_threshold, 3), place), report
