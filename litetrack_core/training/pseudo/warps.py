"""Synthetic sequences from one still photo, with exact boxes (``warp_pairs``).

A random textured box on the photo (or a crop of it), then per frame a smooth random homography of
the whole image (translation, scale, rotation about the box centre, slight perspective); the box of
each frame is the tight box of the original box's four corners mapped by that frame's homography,
so it is exact. Colour (brightness, contrast, saturation) and blur change per frame. Boxes are
x, y, w, h px, float64; homographies map the view (the cropped, resized photo) to each frame.
"""

from __future__ import annotations

import math
from collections.abc import Sequence as SequenceOf
from dataclasses import dataclass

import cv2
import numpy as np

from litetrack_core.training.pseudo.frames import _gray, _rgb

__all__ = ["WarpSequence", "warp_pairs"]


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
    src_box = _target_box(view, rng, box, box_side)
    side = math.sqrt(w * h)
    steps = np.array([max_shift * side, max_shift * side, max_scale, math.radians(max_rotation_deg),
                      max_perspective, max_perspective])
    log_scale = (math.log(scale_range[0]), math.log(scale_range[1]))
    warp = (np.zeros(6), np.eye(3), src_box.copy())  # (state, homography, box) of the current frame
    frames, boxes, homs = [view.copy()], [warp[2]], [warp[1]]
    for _ in range(1, length):
        warp = _walk_step(rng, warp, src_box, steps, log_scale, side, w, h)
        _, hom, mapped = warp
        warped = cv2.warpPerspective(view, hom, (w, h), flags=cv2.INTER_LINEAR, borderMode=border)
        frames.append(_photometric(warped, rng, colour, blur, blur_sigma))
        boxes.append(mapped)
        homs.append(hom)
    return WarpSequence(frames, np.array(boxes), np.array(homs), src_box)


def _target_box(view: np.ndarray, rng: np.random.Generator, box: SequenceOf[float] | None,
                box_side: tuple[float, float]) -> np.ndarray:
    """(4,) float64: ``box`` (checked), or the most textured of a few random boxes on ``view``."""
    if box is None:
        return _random_box(_gray(view), rng, box_side)
    src_box = np.asarray(box, np.float64).reshape(4)
    if not (np.isfinite(src_box).all() and src_box[2] > 0 and src_box[3] > 0):
        raise ValueError(f"box must be finite with w, h > 0, got {box}")
    return src_box


def _walk_step(rng: np.random.Generator, warp: tuple[np.ndarray, np.ndarray, np.ndarray], src_box: np.ndarray,
               steps: np.ndarray, log_scale: tuple[float, float], side: float, w: int,
               h: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The next (state, homography, box): a random step of at most ``steps`` from ``warp``'s state
    whose total log scale stays in ``log_scale`` and whose box stays in the (w, h) frame; ``warp``
    itself when ten draws fail."""
    state = warp[0]
    centre = src_box[:2] + src_box[2:] / 2
    for _ in range(10):
        cand = state + rng.uniform(-1, 1, 6) * steps
        if not log_scale[0] <= cand[2] <= log_scale[1]:
            continue
        cand_hom = _homography(centre, cand, side)
        cand_box = _map_box(src_box, cand_hom)
        if (cand_box[0] >= 0 and cand_box[1] >= 0 and cand_box[0] + cand_box[2] <= w
                and cand_box[1] + cand_box[3] <= h):
            return cand, cand_hom, cand_box
    return warp


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
