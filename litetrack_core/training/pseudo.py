"""Self-supervised tracking sequences from imagery without boxes: real video and still photos.

Two sources, both written in this project's sequence layout (``SEQ/img/000001.jpg``,
``groundtruth.txt`` with one ``x,y,w,h`` line per frame, ``SOURCE.txt``; no ``language.txt``, so
``load_dataset`` gives ``language`` None and the sampler draws BBOX samples only from them):

* Real video, pseudo boxes from optical flow (``pseudo_tracks``, ``write_pseudo_sequences``).
  Salient boxes are proposed on a clip's first frame (``propose_boxes``: regions whose dense flow to
  a later frame differs from the background's motion, and MSER regions, kept when they hold enough
  good features to track), or given. Each box is then followed frame to frame as the MedianFlow
  tracker does: points (good features inside the box, filled up with a grid) are tracked forward
  with pyramidal Lucas-Kanade and back again (``forward_backward_flow``); a point is kept when its
  round trip ends within ``fb_threshold`` px of where it started, and when the patches around it
  before and after look alike (normalised cross-correlation). The box scales by the median ratio of
  the kept points' pairwise distances and moves to the median of their votes for its new centre
  (each point's displacement, corrected for the scale change); on a box whose points partly move
  against the background (a walking person before a static road), only the moving points steer it. A
  track stops when too few points survive, when the box leaves the frame, or at the end of the
  frames; its confidence is the mean fraction of points kept per step.
* Still photos, exact boxes (``warp_pairs``, ``write_warp_sequences``). A random textured box on
  the photo (or a crop of it), then per frame a smooth random homography of the whole image
  (translation, scale, rotation about the box centre, slight perspective); the box of each frame is
  the tight box of the original box's four corners mapped by that frame's homography, so it is
  exact. Colour (brightness, contrast, saturation) and blur change per frame.

Pseudo boxes follow a region, not necessarily a whole object: use them for tracking pairs
(template and search a few frames apart), not for measuring accuracy.
"""

from __future__ import annotations

import logging
import math
import shutil
from collections.abc import Iterable, Iterator, Sequence as SequenceOf
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

__all__ = [
    "PseudoTrack",
    "WarpSequence",
    "forward_backward_flow",
    "iter_frames",
    "propose_boxes",
    "pseudo_tracks",
    "warp_pairs",
    "write_pseudo_sequences",
    "write_warp_sequences",
]

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")

_LK_PARAMS = dict(
    winSize=(15, 15),
    maxLevel=3,
    criteria=(cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 30, 0.01),
)


# --- optical flow ----------------------------------------------------------------------------------


def _gray(frame: np.ndarray) -> np.ndarray:
    if frame.ndim == 2:
        gray = frame
    elif frame.ndim == 3 and frame.shape[2] == 1:
        gray = frame[..., 0]
    elif frame.ndim == 3 and frame.shape[2] in (3, 4):
        gray = cv2.cvtColor(np.ascontiguousarray(frame[..., :3]), cv2.COLOR_RGB2GRAY)
    else:
        raise ValueError(f"a frame must be (H, W), (H, W, 1) or (H, W, 3) uint8, got shape {frame.shape}")
    if gray.dtype != np.uint8:
        raise ValueError(f"frames must be uint8, got {gray.dtype}")
    return np.ascontiguousarray(gray)


def _rgb(frame: np.ndarray) -> np.ndarray:
    if frame.ndim == 2:
        return cv2.cvtColor(frame, cv2.COLOR_GRAY2RGB)
    if frame.ndim == 3 and frame.shape[2] == 1:
        return cv2.cvtColor(frame[..., 0], cv2.COLOR_GRAY2RGB)
    return np.ascontiguousarray(frame[..., :3])


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


# --- tracks ----------------------------------------------------------------------------------------


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
    candidates: list[tuple[float, np.ndarray]] = []
    if later is not None:
        for box in _moving_regions(gray, _gray(later), motion_px):
            candidates.append((2.0, box))
    mser = cv2.MSER_create(delta=5, min_area=max(30, int(min_size_px**2)), max_area=int(0.1 * h * w))
    _, rects = mser.detectRegions(gray)
    for r in rects:
        candidates.append((1.0, np.asarray(r, np.float64)))

    corners = cv2.goodFeaturesToTrack(gray, 2000, 0.01, 3, blockSize=5)
    corners = np.zeros((0, 2)) if corners is None else corners.reshape(-1, 2)

    scored = []
    for bonus, box in candidates:
        bw, bh = box[2], box[3]
        if not (max(min_side * w, min_size_px) <= bw <= max_side * w):
            continue
        if not (max(min_side * h, min_size_px) <= bh <= max_side * h):
            continue
        if max(bw / bh, bh / bw) > max_aspect:
            continue
        if box[0] < margin_px or box[1] < margin_px or box[0] + bw > w - margin_px or box[1] + bh > h - margin_px:
            continue
        inside = ((corners[:, 0] >= box[0]) & (corners[:, 0] < box[0] + bw)
                  & (corners[:, 1] >= box[1]) & (corners[:, 1] < box[1] + bh)).sum()
        if inside < min_points:
            continue
        scored.append((bonus * min(int(inside), 40), box))
    scored.sort(key=lambda s: -s[0])
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
    grays: dict[int, np.ndarray] = {}

    def gray(i: int) -> np.ndarray:
        if i not in grays:
            grays[i] = _gray(frames[i])
        return grays[i]

    if boxes is None:
        later = frames[min(start + propose_gap, n - 1)] if n - start > 1 else None
        seeds = propose_boxes(frames[start], later, max_boxes=max_boxes, **(proposal_kwargs or {}))
    else:
        seeds = np.asarray(boxes, np.float64).reshape(-1, 4)
        if not (np.isfinite(seeds).all() and (seeds[:, 2:] > 0).all()):
            raise ValueError("start boxes must be finite with w, h > 0")

    h, w = gray(start).shape
    active = []
    for box in seeds:
        active.append({"boxes": [box.copy()], "conf": [1.0], "stop": None, "object": None})
    for t in range(start, stop_at - 1):
        live = [a for a in active if a["stop"] is None]
        if not live:
            break
        g0, g1 = gray(t), gray(t + 1)
        background = _background_motion(g0, g1, fb_threshold)
        for a in live:
            box = a["boxes"][-1]
            pts = _box_points(g0, box, max_points, grid)
            if len(pts) == 0:
                a["stop"] = "size"
                continue
            new, fb, kept = forward_backward_flow(g0, g1, pts, fb_threshold=fb_threshold, min_ncc=min_ncc)
            n_kept = int(kept.sum())
            if n_kept < min_points or n_kept < min_kept * len(pts):
                a["stop"] = "points"
                continue
            steer = kept
            if background is not None:
                expected = pts @ background[:, :2].T + background[:, 2]
                moving = kept & (np.linalg.norm(new - expected, axis=1) > motion_px)
                n_moving = int(moving.sum())
                if a["object"] is None:
                    a["object"] = n_moving >= min_points and n_moving >= min_moving * n_kept
                if a["object"] and n_moving >= min_points:
                    steer = moving
            # MedianFlow: of the consistent points, the better half by round-trip error.
            best = steer & (fb <= np.median(fb[steer]))
            p0, p1 = pts[best], new[best]
            scale = _spread_scale(p0, p1)
            if not (1 - max_scale_step <= scale <= 1 + max_scale_step):
                a["stop"] = "scale"
                continue
            # Each point votes for the new centre as if box and points moved by one translation and
            # scaling: c' = p1 - scale * (p0 - c) (the plain median displacement is biased under zoom
            # when the points are not spread evenly around the centre).
            centre = box[:2] + box[2:] / 2
            cx, cy = np.median(p1 - scale * (p0 - centre), axis=0)
            bw, bh = box[2] * scale, box[3] * scale
            nxt = np.array([cx - bw / 2, cy - bh / 2, bw, bh], np.float64)
            if min(bw, bh) < min_size_px:
                a["stop"] = "size"
                continue
            if _inside_fraction(nxt, w, h) < min_inside:
                a["stop"] = "left frame"
                continue
            a["boxes"].append(nxt)
            a["conf"].append(n_kept / len(pts))
        for key in [k for k in grays if k < t + 1]:
            del grays[key]
    return [
        PseudoTrack(start, np.array(a["boxes"]), np.array(a["conf"], np.float64), a["stop"] or "end")
        for a in active
    ]


# --- video to sequences ----------------------------------------------------------------------------


def iter_frames(
    source: str | Path | SequenceOf[np.ndarray], *, step: int = 1, max_frames: int | None = None
) -> Iterator[tuple[int, np.ndarray, Path | None]]:
    """(index in the source, RGB uint8 frame, file or None) for every ``step``-th frame of ``source``:
    a video file (read with cv2.VideoCapture), a folder of images (sorted by name), or a list of
    arrays. At most ``max_frames`` frames are yielded. Raises OSError when a video cannot be opened."""
    if step < 1:
        raise ValueError(f"step must be >= 1, got {step}")
    count = 0
    if isinstance(source, (str, Path)):
        path = Path(source)
        if path.is_dir():
            files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
            for i in range(0, len(files), step):
                if max_frames is not None and count >= max_frames:
                    return
                image = cv2.imread(str(files[i]), cv2.IMREAD_COLOR)
                if image is None:
                    log.warning("skipping unreadable frame %s", files[i])
                    continue
                count += 1
                yield i, cv2.cvtColor(image, cv2.COLOR_BGR2RGB), files[i]
            return
        cap = cv2.VideoCapture(str(path))
        if not cap.isOpened():
            raise OSError(f"cannot open video {path}")
        try:
            i = 0
            while max_frames is None or count < max_frames:
                ok, image = cap.read()
                if not ok:
                    return
                if i % step == 0:
                    count += 1
                    yield i, cv2.cvtColor(image, cv2.COLOR_BGR2RGB), None
                i += 1
        finally:
            cap.release()
        return
    for i in range(0, len(source), step):
        if max_frames is not None and count >= max_frames:
            return
        count += 1
        yield i, _rgb(np.asarray(source[i])), None


def _write_sequence(
    folder: Path,
    frames: SequenceOf[np.ndarray],
    files: SequenceOf[Path | None],
    boxes: np.ndarray,
    source_lines: Iterable[str],
    *,
    image_ext: str,
    jpeg_quality: int,
) -> None:
    img = folder / "img"
    img.mkdir(parents=True, exist_ok=True)
    for k, (frame, file) in enumerate(zip(frames, files), 1):
        if file is not None and file.suffix.lower() == image_ext:
            shutil.copyfile(file, img / f"{k:06d}{image_ext}")
            continue
        target = img / f"{k:06d}{image_ext}"
        params = [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality] if image_ext in (".jpg", ".jpeg") else []
        if not cv2.imwrite(str(target), cv2.cvtColor(_rgb(frame), cv2.COLOR_RGB2BGR), params):
            raise OSError(f"cannot write {target}")
    lines = [",".join(f"{v:.2f}" for v in box) for box in boxes]
    (folder / "groundtruth.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (folder / "SOURCE.txt").write_text("\n".join(source_lines) + "\n", encoding="utf-8")


def _clip_box(box: np.ndarray, w: int, h: int) -> np.ndarray:
    x0, y0 = max(0.0, box[0]), max(0.0, box[1])
    x1, y1 = min(float(w), box[0] + box[2]), min(float(h), box[1] + box[3])
    return np.array([x0, y0, x1 - x0, y1 - y0])


def write_pseudo_sequences(
    source: str | Path | SequenceOf[np.ndarray],
    out_root: str | Path,
    *,
    name: str | None = None,
    clip_length: int = 12,
    clip_stride: int | None = None,
    frame_step: int = 1,
    max_frames: int | None = None,
    min_length: int | None = None,
    min_confidence: float = 0.5,
    max_tracks_per_clip: int = 3,
    image_ext: str = ".jpg",
    jpeg_quality: int = 95,
    **track_kwargs,
) -> list[Path]:
    """Cut ``source`` (video file, folder of frames, or list of RGB arrays) into clips of
    ``clip_length`` frames (every ``frame_step``-th source frame; a clip starts every ``clip_stride``
    frames, default ``clip_length``), track proposed boxes through each clip (``pseudo_tracks``, extra
    keywords passed on) and write each track with at least ``min_length`` frames (default the whole
    clip) and ``confidence >= min_confidence`` as a sequence ``OUT/<name>_f<first frame>_t<k>`` in the
    project layout. Boxes are clipped to the frame. Frames taken from image files with the suffix
    ``image_ext`` are copied, others encoded. Returns the written folders, in order.
    """
    if clip_length < 2:
        raise ValueError(f"clip_length must be >= 2, got {clip_length}")
    stride = clip_length if clip_stride is None else clip_stride
    if stride < 1:
        raise ValueError(f"clip_stride must be >= 1, got {stride}")
    need = clip_length if min_length is None else min_length
    if not 2 <= need <= clip_length:
        raise ValueError(f"min_length must be in [2, clip_length={clip_length}], got {min_length}")
    image_ext = image_ext.lower() if image_ext.startswith(".") else f".{image_ext.lower()}"
    if name is None:
        name = Path(source).stem if isinstance(source, (str, Path)) else "frames"
    described = str(source) if isinstance(source, (str, Path)) else f"{len(source)} frames given as arrays"
    out = Path(out_root)
    out.mkdir(parents=True, exist_ok=True)
    track_kwargs.setdefault("max_boxes", max_tracks_per_clip)

    written: list[Path] = []
    buffer: list[tuple[int, np.ndarray, Path | None]] = []
    frames_iter = iter_frames(source, step=frame_step, max_frames=max_frames)
    exhausted = False
    while not exhausted:
        while len(buffer) < clip_length:
            try:
                buffer.append(next(frames_iter))
            except StopIteration:
                exhausted = True
                break
        if len(buffer) < need:
            break
        clip = buffer[:clip_length]
        frames = [f for _, f, _ in clip]
        tracks = pseudo_tracks(frames, None, **track_kwargs)
        h, w = frames[0].shape[:2]
        k = 0
        for track in tracks:
            if len(track) < need or track.confidence < min_confidence:
                continue
            k += 1
            first = clip[track.start][0]
            folder = out / f"{name}_f{first:06d}_t{k}"
            part = clip[track.start : track.end]
            boxes = np.array([_clip_box(b, w, h) for b in track.boxes])
            lines = [
                f"source: {described}",
                f"source frames: {', '.join(str(i) for i, _, _ in part)}",
                "method: pseudo boxes from optical flow (litetrack_core.training.pseudo.pseudo_tracks): "
                "box proposed on the first frame (dense-flow motion against the background / MSER), "
                "followed by pyramidal Lucas-Kanade with a forward-backward check "
                f"(round trip <= {track_kwargs.get('fb_threshold', 1.0)} px, patch NCC), scale from the median "
                "ratio of pairwise point distances, centre from the median of the points' votes",
                f"confidence: {track.confidence:.3f} (mean fraction of points kept per step)",
                "language: none (BBOX samples only)",
                "licence: that of the source video",
            ]
            _write_sequence(folder, [f for _, f, _ in part], [p for _, _, p in part], boxes, lines,
                            image_ext=image_ext, jpeg_quality=jpeg_quality)
            written.append(folder)
            if k == max_tracks_per_clip:
                break
        buffer = buffer[stride:] if stride < len(buffer) else []
        if stride > clip_length:  # skip the frames between clips
            for _ in range(stride - clip_length):
                try:
                    next(frames_iter)
                except StopIteration:
                    exhausted = True
                    break
    log.info("%s: %d pseudo-labelled sequences written to %s", name, len(written), out)
    return written


# --- still photos ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class WarpSequence:
    """A synthetic sequence from one photo.

    frames: RGB uint8 (H, W, 3), all the same size. boxes: (n, 4) float64 x, y, w, h px, the tight box
    of ``source_box``'s corners mapped by each frame's homography (exact, inside the frame).
    homographies: (n, 3, 3) float64, mapping the (cropped, resized) photo to each frame, before the
    colour and blur changes. source_box: (4,) the box on the photo (frame 0's box, identity warp)."""

    frames: list[np.ndarray]
    boxes: np.ndarray
    homographies: np.ndarray
    source_box: np.ndarray


def _random_view(photo: np.ndarray, rng: np.random.Generator, size: tuple[int, int]) -> np.ndarray:
    """A random crop of ``photo`` with the aspect ratio of ``size`` (w, h), covering 40-100% of the
    largest such crop, resized to ``size``."""
    h, w = photo.shape[:2]
    tw, th = size
    full = min(w / tw, h / th)  # largest crop: (tw * full, th * full)
    f = full * rng.uniform(0.4, 1.0)
    cw, ch = max(1, int(round(tw * f))), max(1, int(round(th * f)))
    x = int(rng.integers(0, w - cw + 1))
    y = int(rng.integers(0, h - ch + 1))
    crop = photo[y : y + ch, x : x + cw]
    interp = cv2.INTER_AREA if cw > tw else cv2.INTER_LINEAR
    return cv2.resize(crop, (tw, th), interpolation=interp)


def _random_box(gray: np.ndarray, rng: np.random.Generator, side: tuple[float, float], tries: int = 8) -> np.ndarray:
    """The most textured (mean gradient magnitude) of ``tries`` random boxes with sides ``side``
    fractions of the frame, aspect ratio in [1/2, 2], inside the frame."""
    h, w = gray.shape
    gx = cv2.Sobel(gray, cv2.CV_32F, 1, 0)
    gy = cv2.Sobel(gray, cv2.CV_32F, 0, 1)
    energy = cv2.integral(np.sqrt(gx * gx + gy * gy))
    best, best_score = None, -1.0
    for _ in range(tries):
        s = rng.uniform(*side) * math.sqrt(w * h)
        r = math.exp(rng.uniform(-math.log(2), math.log(2)))
        bw = min(w * 0.9, s * math.sqrt(r))
        bh = min(h * 0.9, s / math.sqrt(r))
        x = rng.uniform(0, w - bw)
        y = rng.uniform(0, h - bh)
        x0, y0, x1, y1 = int(x), int(y), int(x + bw), int(y + bh)
        score = (energy[y1, x1] - energy[y0, x1] - energy[y1, x0] + energy[y0, x0]) / max(1, (x1 - x0) * (y1 - y0))
        if score > best_score:
            best, best_score = np.array([x, y, bw, bh]), float(score)
    return best


def _homography(centre: np.ndarray, state: np.ndarray, length: float) -> np.ndarray:
    """Homography: about ``centre``, perspective (state 4, 5, per ``length`` px), rotation (state 3,
    rad), scale (state 2, log), then translation (state 0, 1 px)."""
    tx, ty, log_s, theta, px, py = state
    c, s = math.cos(theta), math.sin(theta)
    k = math.exp(log_s)
    to_centre = np.array([[1, 0, -centre[0]], [0, 1, -centre[1]], [0, 0, 1]], np.float64)
    persp = np.array([[1, 0, 0], [0, 1, 0], [px / length, py / length, 1]], np.float64)
    rot = np.array([[k * c, -k * s, 0], [k * s, k * c, 0], [0, 0, 1]], np.float64)
    back = np.array([[1, 0, centre[0] + tx], [0, 1, centre[1] + ty], [0, 0, 1]], np.float64)
    return back @ rot @ persp @ to_centre


def _map_box(box: np.ndarray, hom: np.ndarray) -> np.ndarray:
    x, y, w, h = box
    corners = np.array([[[x, y], [x + w, y], [x + w, y + h], [x, y + h]]], np.float64)
    mapped = cv2.perspectiveTransform(corners, hom)[0]
    lo, hi = mapped.min(0), mapped.max(0)
    return np.array([lo[0], lo[1], hi[0] - lo[0], hi[1] - lo[1]])


def _photometric(frame: np.ndarray, rng: np.random.Generator, colour: float, blur: float,
                 blur_sigma: tuple[float, float]) -> np.ndarray:
    out = frame.astype(np.float32)
    if colour > 0:
        b, c, s = rng.uniform(1 - colour, 1 + colour, 3)
        out *= b
        mean = out.mean()
        out = (out - mean) * c + mean
        grey = out @ np.array([0.299, 0.587, 0.114], np.float32)
        out = grey[..., None] + (out - grey[..., None]) * s
    if blur > 0 and rng.random() < blur:
        sigma = rng.uniform(*blur_sigma)
        out = cv2.GaussianBlur(out, (0, 0), sigma)
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def warp_pairs(
    photo: np.ndarray,
    rng: np.random.Generator,
    *,
    length: int = 8,
    box: SequenceOf[float] | None = None,
    frame_size: tuple[int, int] | None = (640, 480),
    box_side: tuple[float, float] = (0.1, 0.4),
    max_shift: float = 0.04,
    max_scale: float = 0.06,
    max_rotation_deg: float = 4.0,
    max_perspective: float = 0.03,
    scale_range: tuple[float, float] = (0.6, 1.6),
    colour: float = 0.15,
    blur: float = 0.3,
    blur_sigma: tuple[float, float] = (0.5, 1.5),
    border: int = cv2.BORDER_CONSTANT,
) -> WarpSequence:
    """A synthetic sequence of ``length`` frames from one still ``photo`` (RGB or gray uint8).

    The photo is first turned into a view: a random crop resized to ``frame_size`` (w, h), or the photo
    itself when ``frame_size`` is None (then also when ``box`` is given, so that the box is on the photo
    as given). The target box is ``box`` (x, y, w, h px on the view) or the most textured of a few random
    boxes whose side is a ``box_side`` fraction of the view. Frame 0 is the view itself; each later frame
    warps the whole view by a homography that random-walks from the previous one: a translation up to
    ``max_shift`` of the view's side, a scale change up to ``max_scale`` (log), a rotation up to
    ``max_rotation_deg`` and a perspective change up to ``max_perspective`` per step, about the box's
    centre, with the total scale kept in ``scale_range``. A step that would put the box partly outside
    the frame is drawn again (the previous warp is kept when ten draws fail). Every frame but the first
    then gets colour jitter (brightness, contrast, saturation factors in [1 - colour, 1 + colour]) and,
    with probability ``blur``, a Gaussian blur.
    """
    if length < 1:
        raise ValueError(f"length must be >= 1, got {length}")
    view = _rgb(np.asarray(photo))
    if frame_size is not None:
        view = _random_view(view, rng, frame_size)
    h, w = view.shape[:2]
    if box is None:
        src_box = _random_box(_gray(view), rng, box_side)
    else:
        src_box = np.asarray(box, np.float64).reshape(4)
        if not (np.isfinite(src_box).all() and src_box[2] > 0 and src_box[3] > 0):
            raise ValueError(f"box must be finite with w, h > 0, got {box}")
    centre = src_box[:2] + src_box[2:] / 2
    side = math.sqrt(w * h)
    steps = np.array([max_shift * side, max_shift * side, max_scale, math.radians(max_rotation_deg),
                      max_perspective, max_perspective])
    lo_s, hi_s = math.log(scale_range[0]), math.log(scale_range[1])

    state = np.zeros(6)
    frames, boxes, homs = [view.copy()], [src_box.copy()], [np.eye(3)]
    for _ in range(1, length):
        nxt, hom, mapped = state, homs[-1], boxes[-1]
        for _ in range(10):
            cand = state + rng.uniform(-1, 1, 6) * steps
            if not lo_s <= cand[2] <= hi_s:
                continue
            cand_hom = _homography(centre, cand, side)
            cand_box = _map_box(src_box, cand_hom)
            if (cand_box[0] >= 0 and cand_box[1] >= 0 and cand_box[0] + cand_box[2] <= w
                    and cand_box[1] + cand_box[3] <= h):
                nxt, hom, mapped = cand, cand_hom, cand_box
                break
        state = nxt
        warped = cv2.warpPerspective(view, hom, (w, h), flags=cv2.INTER_LINEAR, borderMode=border)
        frames.append(_photometric(warped, rng, colour, blur, blur_sigma))
        boxes.append(mapped)
        homs.append(hom)
    return WarpSequence(frames, np.array(boxes), np.array(homs), src_box)


def write_warp_sequences(
    photos: SequenceOf[str | Path | np.ndarray],
    out_root: str | Path,
    *,
    seed: int = 0,
    per_photo: int = 1,
    name: str = "warp",
    image_ext: str = ".jpg",
    jpeg_quality: int = 95,
    **warp_kwargs,
) -> list[Path]:
    """``per_photo`` ``warp_pairs`` sequences per photo (a file or an RGB array), written as
    ``OUT/<name>_<photo stem or index>_<k>`` in the project layout. Randomness comes from ``seed``
    alone (one stream per photo and sequence). Unreadable photos are warned about and skipped.
    Returns the written folders, in order."""
    out = Path(out_root)
    out.mkdir(parents=True, exist_ok=True)
    image_ext = image_ext.lower() if image_ext.startswith(".") else f".{image_ext.lower()}"
    written = []
    for p, photo in enumerate(photos):
        if isinstance(photo, (str, Path)):
            image = cv2.imread(str(photo), cv2.IMREAD_COLOR)
            if image is None:
                log.warning("skipping unreadable photo %s", photo)
                continue
            image = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
            stem, described = Path(photo).stem, str(photo)
        else:
            image, stem, described = _rgb(np.asarray(photo)), f"{p:04d}", f"array {p} given"
        for k in range(per_photo):
            rng = np.random.default_rng([seed, p, k])
            seq = warp_pairs(image, rng, **warp_kwargs)
            folder = out / f"{name}_{stem}_{k}"
            lines = [
                f"source: {described}",
                "method: synthetic warps of a still photo (litetrack_core.training.pseudo.warp_pairs): "
                "random crop and box, per-frame random-walk homography (translation, scale, rotation, "
                "perspective) about the box centre, exact box = tight box of the warped box corners, "
                "colour jitter and blur",
                f"seed: {seed}, photo {p}, sequence {k}; parameters: {warp_kwargs or 'defaults'}",
                "language: none (BBOX samples only)",
                "licence: that of the source photo",
            ]
            _write_sequence(folder, seq.frames, [None] * len(seq.frames), seq.boxes, lines,
                            image_ext=image_ext, jpeg_quality=jpeg_quality)
            written.append(folder)
    log.info("%d warped sequences written to %s", len(written), out)
    return written
