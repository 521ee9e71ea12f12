"""Fitting the proposal ranking (``grounding/grounder.py``) on the real corpus's grounding frames.

For every grounding frame of every corpus sequence whose first sentence names a detector class: the
class's proposals, their features, and whether each is the target (IoU with the true box >= 0.5;
for a sentence naming a part, whether the proposal holds most of the true box). A logistic
regression (L2, Newton steps) learns the weights; the acceptance threshold is the one under which
the most frames are grounded right when a proposal below it hands over to the model's own box. The
part place is the median place of the true part box relative to the head keypoints of the person
proposal holding it (``grounding/pose.py``), all part words pooled. The evaluation
sequences are never read here. It sits above grounding, tracking and evaluation (it uses the three),
as the rest of training does.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

from litetrack_core.data.sequence import Sequence
from litetrack_core.eval.metrics import iou
from litetrack_core.grounding.grounder import RankingWeights, features
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


def _logistic(x: np.ndarray, y: np.ndarray, l2: float = 1.0, steps: int = 50) -> tuple[np.ndarray, float]:
    """Weights and bias of an L2-regularised logistic regression (the bias unregularised)."""
    a = np.hstack([x, np.ones((len(x), 1))])
    w = np.zeros(a.shape[1])
    reg = np.full(a.shape[1], l2)
    reg[-1] = 0.0
    for _ in range(steps):
        p = 1 / (1 + np.exp(-(a @ w)))
        grad = a.T @ (p - y) + reg * w
        hess = (a * (p * (1 - p))[:, None]).T @ a + np.diag(reg) + 1e-9 * np.eye(len(w))
        w -= np.linalg.solve(hess, grad)
    return w[:-1], float(w[-1])


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
    weights, bias = _logistic(x, y)
    probability = 1 / (1 + np.exp(-(x @ weights + bias)))
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
    report.combined_right = best_right
    report.top1 = sum(int(t[int(np.argmax(probability[w]))]) for w, t, _ in frames if w is not None)
    place = tuple(float(v) for v in np.median([part_place(k, truth) for k, truth in parts], axis=0)) if parts else (0.0, 0.0, 1.0, 1.0)
    placed_right = sum(int(iou(np.array([part_box(k, place)]), np.array([truth]))[0] >= 0.5) for k, truth in parts)
    report.notes = {"proposals": len(rows), "positives": int(y.sum()), "part_boxes": len(parts), "part_boxes_right": placed_right}
    return RankingWeights(tuple(float(w) for w in weights), bias, round(best_threshold, 3), place), report
