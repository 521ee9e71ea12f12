"""Sparse optical flow for pseudo tracks: points followed with pyramidal Lucas-Kanade forward and
back (``forward_backward_flow``), the points seeded in a box, and the background's motion.

A point is kept when its round trip ends within ``fb_threshold`` px of where it started, and when
the patches around it before and after look alike (normalised cross-correlation). The background's
motion between two frames is a similarity fitted with RANSAC to corners tracked over the whole
frame, so that a moving camera is allowed for. Points are (x, y) px, float32.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

__all__ = ["forward_backward_flow"]

_LK_PARAMS = dict(
    winSize=(15, 15),
    maxLevel=3,
    criteria=(cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 30, 0.01),
)


def forward_backward_flow(
    prev_gray: np.ndarray,
    next_gray: np.ndarray,
    points: np.ndarray,
    *,
    fb_threshold: float = 1.0,
    ncc_patch: int = 10,
    min_ncc: float | None = 0.5,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Track ``points`` (N, 2) float x, y from ``prev_gray`` to ``next_gray`` (uint8 (H, W)) with
    pyramidal Lucas-Kanade, forward then back.

    Returns (next_points (N, 2) float32, fb_error (N,) float32 px, kept (N,) bool). ``fb_error`` is the
    distance between a point and the end of its round trip (inf where LK lost it). A point is kept
    where both directions found it, ``fb_error <= fb_threshold``, its new position lies in the frame,
    and (unless ``min_ncc`` is None) the ``ncc_patch`` px patches around it before and after have a
    normalised cross-correlation of at least ``min_ncc``.
    """
    pts = np.asarray(points, dtype=np.float32).reshape(-1, 1, 2)
    n = pts.shape[0]
    if n == 0:
        return np.zeros((0, 2), np.float32), np.zeros(0, np.float32), np.zeros(0, bool)
    fwd, st1, _ = cv2.calcOpticalFlowPyrLK(prev_gray, next_gray, pts, None, **_LK_PARAMS)
    back, st2, _ = cv2.calcOpticalFlowPyrLK(next_gray, prev_gray, fwd, None, **_LK_PARAMS)
    fwd = fwd.reshape(-1, 2)
    fb = np.linalg.norm(back.reshape(-1, 2) - pts.reshape(-1, 2), axis=1).astype(np.float32)
    found = (st1.ravel() == 1) & (st2.ravel() == 1) & np.isfinite(fb)
    fb[~found] = np.inf
    h, w = next_gray.shape[:2]
    inside = (fwd[:, 0] >= 0) & (fwd[:, 0] <= w - 1) & (fwd[:, 1] >= 0) & (fwd[:, 1] <= h - 1)
    kept = found & (fb <= fb_threshold) & inside
    if min_ncc is not None and kept.any():
        ncc = _patch_ncc(prev_gray, next_gray, pts.reshape(-1, 2), fwd, ncc_patch)
        kept &= ncc >= min_ncc
    return fwd.astype(np.float32), fb, kept


def _patch_ncc(a: np.ndarray, b: np.ndarray, pa: np.ndarray, pb: np.ndarray, size: int) -> np.ndarray:
    """Normalised cross-correlation of the ``size`` px patches of ``a`` at ``pa`` and ``b`` at ``pb``."""
    out = np.full(len(pa), -1.0, np.float32)
    for i, (p, q) in enumerate(zip(pa, pb)):
        if not (np.isfinite(p).all() and np.isfinite(q).all()):
            continue
        x = cv2.getRectSubPix(a, (size, size), (float(p[0]), float(p[1]))).astype(np.float32)
        y = cv2.getRectSubPix(b, (size, size), (float(q[0]), float(q[1]))).astype(np.float32)
        x -= x.mean()
        y -= y.mean()
        sx, sy = float(x.std()), float(y.std())
        if sx < 1.0 or sy < 1.0:  # a flat patch: alike only when both are flat
            out[i] = 1.0 if max(sx, sy) < 1.0 else 0.0
            continue
        out[i] = float((x * y).mean()) / (sx * sy)
    return out


def _box_points(gray: np.ndarray, box: np.ndarray, max_points: int, grid: int) -> np.ndarray:
    """Good features to track inside ``box`` (x, y, w, h), filled up with a ``grid`` x ``grid`` grid."""
    h, w = gray.shape
    x0, y0 = max(0, int(math.floor(box[0]))), max(0, int(math.floor(box[1])))
    x1, y1 = min(w, int(math.ceil(box[0] + box[2]))), min(h, int(math.ceil(box[1] + box[3])))
    if x1 - x0 < 3 or y1 - y0 < 3:
        return np.zeros((0, 2), np.float32)
    mask = np.zeros_like(gray)
    mask[y0:y1, x0:x1] = 255
    min_dist = max(2.0, min(box[2], box[3]) / 12.0)
    corners = cv2.goodFeaturesToTrack(gray, max_points, 0.01, min_dist, mask=mask, blockSize=5)
    corners = np.zeros((0, 2), np.float32) if corners is None else corners.reshape(-1, 2)
    # A grid, inset half a cell: MedianFlow's sampling; covers boxes with few corners.
    gx = x0 + (np.arange(grid) + 0.5) * (x1 - x0) / grid
    gy = y0 + (np.arange(grid) + 0.5) * (y1 - y0) / grid
    lattice = np.stack(np.meshgrid(gx, gy), -1).reshape(-1, 2).astype(np.float32)
    return np.concatenate([corners.astype(np.float32), lattice])


def _background_motion(g0: np.ndarray, g1: np.ndarray, fb_threshold: float = 1.0) -> np.ndarray | None:
    """The background's motion from ``g0`` to ``g1``: a 2 x 3 similarity fitted with RANSAC (1 px) to
    corners over the whole frame tracked with the forward-backward check; None when fewer than 20
    corners are tracked or under half of them fit it."""
    corners = cv2.goodFeaturesToTrack(g0, 400, 0.01, max(4.0, min(g0.shape) / 60), blockSize=5)
    if corners is None or len(corners) < 20:
        return None
    p0 = corners.reshape(-1, 2)
    p1, _, kept = forward_backward_flow(g0, g1, p0, fb_threshold=fb_threshold, min_ncc=None)
    if kept.sum() < 20:
        return None
    matrix, inliers = cv2.estimateAffinePartial2D(p0[kept], p1[kept], method=cv2.RANSAC,
                                                  ransacReprojThreshold=1.0)
    if matrix is None or inliers is None or inliers.sum() < 0.5 * kept.sum():
        return None
    return matrix
