"""Pseudo tracks on real video: boxes followed frame to frame by optical flow (``pseudo_tracks``).

Salient boxes are proposed on a clip's first frame (``proposals``), or given. Each box is then
followed frame to frame as the MedianFlow tracker does: points (good features inside the box,
filled up with a grid) are tracked forward with pyramidal Lucas-Kanade and back again
(``flow.forward_backward_flow``); a point is kept when its round trip ends within ``fb_threshold``
px of where it started, and when the patches around it before and after look alike (normalised
cross-correlation). The box scales by the median ratio of the kept points' pairwise distances and
moves to the median of their votes for its new centre (each point's displacement, corrected for the
scale change); on a box whose points partly move against the background (a walking person before a
static road), only the moving points steer it. A track stops when too few points survive, when the
box leaves the frame, or at the end of the frames; its confidence is the mean fraction of points
kept per step.
"""

from __future__ import annotations

from collections.abc import Sequence as SequenceOf
from dataclasses import dataclass, field

import numpy as np

from litetrack_core.training.pseudo.flow import _background_motion, _box_points, forward_backward_flow
from litetrack_core.training.pseudo.frames import _gray
from litetrack_core.training.pseudo.proposals import propose_boxes

__all__ = ["PseudoTrack", "pseudo_tracks"]


@dataclass(frozen=True)
class PseudoTrack:
    """A box followed through frames ``start .. start + len(boxes) - 1`` of the frames given.

    boxes: (n, 4) float64 x, y, w, h px, one row per frame tracked (row 0: the start box).
    frame_confidence: (n,) float64, fraction of the seeded points kept on the step into each frame
        (1 on the start frame). stop: why the track ended: ``"end"`` (frames ran out or
        ``max_length`` reached), ``"points"`` (too few consistent points), ``"left frame"``,
        ``"scale"`` (implausible size change), ``"size"`` (box too small to track).
    """

    start: int
    boxes: np.ndarray
    frame_confidence: np.ndarray
    stop: str

    def __len__(self) -> int:
        return len(self.boxes)

    @property
    def end(self) -> int:
        """Index one past the last frame tracked."""
        return self.start + len(self.boxes)

    @property
    def confidence(self) -> float:
        """Mean fraction of points kept per step (0 for a track of one frame)."""
        return float(self.frame_confidence[1:].mean()) if len(self.boxes) > 1 else 0.0


@dataclass(frozen=True)
class _Rules:
    """How boxes are followed and when a track stops (the keywords of ``pseudo_tracks``)."""

    fb_threshold: float
    min_ncc: float | None
    max_points: int
    grid: int
    min_points: int
    min_kept: float
    max_scale_step: float
    min_inside: float
    min_size_px: float
    motion_px: float
    min_moving: float


@dataclass
class _Following:
    """A track in progress: its boxes and confidences so far, why it stopped (None: live), and
    whether it follows an object moving against the background (None: not decided yet)."""

    boxes: list[np.ndarray]
    conf: list[float] = field(default_factory=lambda: [1.0])
    stop: str | None = None
    object: bool | None = None


def pseudo_tracks(
    frames: SequenceOf[np.ndarray],
    boxes: np.ndarray | SequenceOf[SequenceOf[float]] | None = None,
    *,
    start: int = 0,
    max_length: int | None = None,
    max_boxes: int = 4,
    propose_gap: int = 3,
    fb_threshold: float = 1.0,
    min_ncc: float | None = 0.5,
    max_points: int = 100,
    grid: int = 10,
    min_points: int = 6,
    min_kept: float = 0.25,
    max_scale_step: float = 0.2,
    min_inside: float = 0.9,
    min_size_px: float = 6.0,
    motion_px: float = 1.0,
    min_moving: float = 0.2,
    proposal_kwargs: dict | None = None,
) -> list[PseudoTrack]:
    """Follow boxes through ``frames`` (RGB or gray uint8, in order) from frame ``start``.

    ``boxes``: (k, 4) x, y, w, h px on frame ``start``; None proposes them (``propose_boxes`` with
    ``frames[start + propose_gap]`` as the later frame, at most ``max_boxes``). One track per box, in
    order. Each step seeds points in the current box (``max_points`` good features plus a ``grid`` x
    ``grid`` lattice), keeps those that pass ``forward_backward_flow`` (``fb_threshold`` px round trip,
    ``min_ncc``), and, MedianFlow's filter, of those the ones whose round-trip error is at most the
    median; the box scales by the median ratio of their pairwise distances, and its new centre is the
    median of the points' votes ``p1 - scale * (p0 - centre)``.

    Objects moving against the background: the background's motion between the two frames is fitted
    (a similarity, RANSAC, on corners over the whole frame). When on a track's first step at least
    ``min_moving`` of its consistent points (and ``min_points``) move against it by more than
    ``motion_px``, the track follows an object: from then on only such moving points steer it while
    there are ``min_points`` of them (all points otherwise: the object stopped). This keeps a box on a
    walking person in front of a static background that fills much of the box. Other tracks follow
    all their points (a region of the scene).

    A track stops before a frame where
    fewer than ``min_points`` points, or fewer than ``min_kept`` of those seeded, pass the check
    (``"points"``), where the scale changes by more than ``max_scale_step`` in one step (``"scale"``),
    where less than ``min_inside`` of the box lies in the frame (``"left frame"``), or where a side
    falls under ``min_size_px`` (``"size"``); else at the end of the frames or after ``max_length``
    frames (``"end"``).
    """
    n = len(frames)
    if not 0 <= start < n:
        raise ValueError(f"start={start} is not a frame index (there are {n} frames)")
    stop_at = n if max_length is None else min(n, start + max_length)
    seeds = _start_boxes(frames, boxes, start, propose_gap, max_boxes, proposal_kwargs)
    rules = _Rules(fb_threshold, min_ncc, max_points, grid, min_points, min_kept, max_scale_step, min_inside,
                   min_size_px, motion_px, min_moving)
    active = _follow(frames, seeds, start, stop_at, rules)
    return [PseudoTrack(start, np.array(a.boxes), np.array(a.conf, np.float64), a.stop or "end") for a in active]


def _start_boxes(frames: SequenceOf[np.ndarray], boxes: np.ndarray | SequenceOf[SequenceOf[float]] | None,
                 start: int, propose_gap: int, max_boxes: int, proposal_kwargs: dict | None) -> np.ndarray:
    """(k, 4) boxes on frame ``start``: those given (checked), or proposed."""
    if boxes is None:
        n = len(frames)
        later = frames[min(start + propose_gap, n - 1)] if n - start > 1 else None
        return propose_boxes(frames[start], later, max_boxes=max_boxes, **(proposal_kwargs or {}))
    seeds = np.asarray(boxes, np.float64).reshape(-1, 4)
    if not (np.isfinite(seeds).all() and (seeds[:, 2:] > 0).all()):
        raise ValueError("start boxes must be finite with w, h > 0")
    return seeds


def _follow(frames: SequenceOf[np.ndarray], seeds: np.ndarray, start: int, stop_at: int,
            rules: _Rules) -> list[_Following]:
    """Every seed box followed from frame ``start`` until it stops or frame ``stop_at`` is reached."""
    grays: dict[int, np.ndarray] = {}

    def gray(i: int) -> np.ndarray:
        if i not in grays:
            grays[i] = _gray(frames[i])
        return grays[i]

    h, w = gray(start).shape
    active = [_Following([box.copy()]) for box in seeds]
    for t in range(start, stop_at - 1):
        live = [a for a in active if a.stop is None]
        if not live:
            break
        g0, g1 = gray(t), gray(t + 1)
        background = _background_motion(g0, g1, rules.fb_threshold)
        for a in live:
            _step(a, g0, g1, background, w, h, rules)
        for key in [k for k in grays if k < t + 1]:
            del grays[key]
    return active


def _step(a: _Following, g0: np.ndarray, g1: np.ndarray, background: np.ndarray | None, w: int, h: int,
          rules: _Rules) -> None:
    """Follow track ``a`` from ``g0`` into ``g1``: append its next box, or set why it stops."""
    box = a.boxes[-1]
    pts = _box_points(g0, box, rules.max_points, rules.grid)
    if len(pts) == 0:
        a.stop = "size"
        return
    new, fb, kept = forward_backward_flow(g0, g1, pts, fb_threshold=rules.fb_threshold, min_ncc=rules.min_ncc)
    n_kept = int(kept.sum())
    if n_kept < rules.min_points or n_kept < rules.min_kept * len(pts):
        a.stop = "points"
        return
    steer = _steering(a, pts, new, kept, background, rules)
    # MedianFlow: of the consistent points, the better half by round-trip error.
    best = steer & (fb <= np.median(fb[steer]))
    p0, p1 = pts[best], new[best]
    scale = _spread_scale(p0, p1)
    if not (1 - rules.max_scale_step <= scale <= 1 + rules.max_scale_step):
        a.stop = "scale"
        return
    nxt = _moved_box(box, p0, p1, scale)
    if min(nxt[2], nxt[3]) < rules.min_size_px:
        a.stop = "size"
        return
    if _inside_fraction(nxt, w, h) < rules.min_inside:
        a.stop = "left frame"
        return
    a.boxes.append(nxt)
    a.conf.append(n_kept / len(pts))


def _steering(a: _Following, pts: np.ndarray, new: np.ndarray, kept: np.ndarray, background: np.ndarray | None,
              rules: _Rules) -> np.ndarray:
    """The kept points that steer the box: those moving against the background when the track
    follows an object and enough of them move (decided on its first step), else all kept points."""
    if background is None:
        return kept
    expected = pts @ background[:, :2].T + background[:, 2]
    moving = kept & (np.linalg.norm(new - expected, axis=1) > rules.motion_px)
    n_moving = int(moving.sum())
    if a.object is None:
        a.object = n_moving >= rules.min_points and n_moving >= rules.min_moving * int(kept.sum())
    if a.object and n_moving >= rules.min_points:
        return moving
    return kept


def _moved_box(box: np.ndarray, p0: np.ndarray, p1: np.ndarray, scale: float) -> np.ndarray:
    """``box`` scaled by ``scale`` about its new centre. Each point votes for the new centre as if box
    and points moved by one translation and scaling: c' = p1 - scale * (p0 - c) (the plain median
    displacement is biased under zoom when the points are not spread evenly around the centre)."""
    centre = box[:2] + box[2:] / 2
    cx, cy = np.median(p1 - scale * (p0 - centre), axis=0)
    bw, bh = box[2] * scale, box[3] * scale
    return np.array([cx - bw / 2, cy - bh / 2, bw, bh], np.float64)


def _spread_scale(p0: np.ndarray, p1: np.ndarray, max_pairs: int = 4000) -> float:
    """Median ratio of pairwise distances after / before (1 when undefined)."""
    n = len(p0)
    if n < 2:
        return 1.0
    i, j = np.triu_indices(n, 1)
    if len(i) > max_pairs:
        pick = np.linspace(0, len(i) - 1, max_pairs).astype(int)
        i, j = i[pick], j[pick]
    d0 = np.linalg.norm(p0[i] - p0[j], axis=1)
    d1 = np.linalg.norm(p1[i] - p1[j], axis=1)
    ok = d0 > 2.0
    if not ok.any():
        return 1.0
    return float(np.median(d1[ok] / d0[ok]))


def _inside_fraction(box: np.ndarray, w: int, h: int) -> float:
    ix = max(0.0, min(box[0] + box[2], w) - max(box[0], 0.0))
    iy = max(0.0, min(box[1] + box[3], h) - max(box[1], 0.0))
    area = box[2] * box[3]
    return float(ix * iy / area) if area > 0 else 0.0
