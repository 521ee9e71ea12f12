"""Salient boxes to track, proposed on a clip's first frame (``propose_boxes``).

Candidates are regions whose dense flow to a later frame differs from the background's motion
(moving objects, ranked first) and MSER regions; a candidate is kept when it has a plausible size,
shape and place and holds enough good features to track. Boxes are x, y, w, h px, float64.
"""

from __future__ import annotations

import cv2
import numpy as np

from litetrack_core.training.pseudo.flow import _background_motion
from litetrack_core.training.pseudo.frames import _gray

__all__ = ["propose_boxes"]


def propose_boxes(
    frame: np.ndarray,
    later: np.ndarray | None = None,
    *,
    max_boxes: int = 4,
    min_side: float = 0.02,
    max_side: float = 0.3,
    min_size_px: int = 12,
    max_aspect: float = 4.0,
    min_points: int = 8,
    motion_px: float = 2.0,
    nms_iou: float = 0.3,
    margin_px: float = 2.0,
) -> np.ndarray:
    """Salient boxes on ``frame`` (RGB or gray uint8): (k, 4) float64 x, y, w, h px, best first, k <=
    ``max_boxes``.

    Candidates are the boxes of regions that move against the background between ``frame`` and
    ``later`` (a frame a few steps on, when given; moving objects are ranked first) and of MSER regions.
    Motion: dense DIS optical flow from ``frame`` to ``later``, minus the background's motion (a
    similarity fitted with RANSAC to tracked corners, so a moving camera is allowed for); pixels whose
    residual exceeds ``motion_px`` form the regions, at their place in ``frame``. A box is kept when
    each side lies between ``min_side`` and ``max_side`` of the frame's side along it (and is at least
    ``min_size_px``), its aspect ratio is at most ``max_aspect``, it holds at least ``min_points`` good
    features to track, and it lies in the frame at least ``margin_px`` from its edges (a region
    touching the edge is often an object partly outside). Overlapping boxes (IoU > ``nms_iou``) keep
    the best.
    """
    gray = _gray(frame)
    h, w = gray.shape
    candidates = _candidates(gray, None if later is None else _gray(later), motion_px, min_size_px)
    corners = cv2.goodFeaturesToTrack(gray, 2000, 0.01, 3, blockSize=5)
    corners = np.zeros((0, 2)) if corners is None else corners.reshape(-1, 2)
    scored = []
    for bonus, box in candidates:
        if not _fits(box, w, h, min_side, max_side, min_size_px, max_aspect, margin_px):
            continue
        inside = ((corners[:, 0] >= box[0]) & (corners[:, 0] < box[0] + box[2])
                  & (corners[:, 1] >= box[1]) & (corners[:, 1] < box[1] + box[3])).sum()
        if inside < min_points:
            continue
        scored.append((bonus * min(int(inside), 40), box))
    scored.sort(key=lambda s: -s[0])
    return _suppress(scored, nms_iou, max_boxes)


def _candidates(gray: np.ndarray, later: np.ndarray | None, motion_px: float,
                min_size_px: int) -> list[tuple[float, np.ndarray]]:
    """(bonus, box): moving regions (bonus 2, when ``later`` is given) then MSER regions (bonus 1)."""
    h, w = gray.shape
    candidates: list[tuple[float, np.ndarray]] = []
    if later is not None:
        for box in _moving_regions(gray, later, motion_px):
            candidates.append((2.0, box))
    mser = cv2.MSER_create(delta=5, min_area=max(30, int(min_size_px**2)), max_area=int(0.1 * h * w))
    _, rects = mser.detectRegions(gray)
    for r in rects:
        candidates.append((1.0, np.asarray(r, np.float64)))
    return candidates


def _moving_regions(g0: np.ndarray, g1: np.ndarray, motion_px: float) -> list[np.ndarray]:
    """Boxes (x, y, w, h on ``g0``) of the regions whose dense flow to ``g1`` differs from the
    background's motion by more than ``motion_px``."""
    h, w = g0.shape
    background = _background_motion(g0, g1)
    if background is None:
        return []
    flow = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_FAST).calc(g0, g1, None)
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    ex = background[0, 0] * xs + background[0, 1] * ys + background[0, 2] - xs
    ey = background[1, 0] * xs + background[1, 1] * ys + background[1, 2] - ys
    residual = np.hypot(flow[..., 0] - ex, flow[..., 1] - ey)
    moving = (residual > motion_px).astype(np.uint8) * 255
    moving = cv2.morphologyEx(moving, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5)))
    moving = cv2.morphologyEx(moving, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (7, 7)))
    contours, _ = cv2.findContours(moving, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    return [np.array(cv2.boundingRect(c), np.float64) for c in contours]


def _fits(box: np.ndarray, w: int, h: int, min_side: float, max_side: float, min_size_px: int, max_aspect: float,
          margin_px: float) -> bool:
    """Whether ``box`` has a plausible size and shape and lies in the frame away from its edges."""
    bw, bh = box[2], box[3]
    if not (max(min_side * w, min_size_px) <= bw <= max_side * w):
        return False
    if not (max(min_side * h, min_size_px) <= bh <= max_side * h):
        return False
    if max(bw / bh, bh / bw) > max_aspect:
        return False
    return not (box[0] < margin_px or box[1] < margin_px or box[0] + bw > w - margin_px or box[1] + bh > h - margin_px)


def _suppress(scored: list[tuple[float, np.ndarray]], nms_iou: float, max_boxes: int) -> np.ndarray:
    """Non-maximum suppression over boxes sorted best first: (k, 4) float64, k <= ``max_boxes``."""
    chosen: list[np.ndarray] = []
    for _, box in scored:
        if all(_iou(box, c) <= nms_iou for c in chosen):
            chosen.append(box)
            if len(chosen) == max_boxes:
                break
    return np.array(chosen, np.float64).reshape(-1, 4)


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    ix = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = a[2] * a[3] + b[2] * b[3] - inter
    return float(inter / union) if union > 0 else 0.0
