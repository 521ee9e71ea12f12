"""Where a training sample's crops come from (facts from the public UVLTrack training code, reimplemented).

* Crops: the box is jittered, size ``wh * exp(N(0, 1) * scale_jitter)`` and centre
  ``c + sqrt(w'h') * center_jitter * (U(0, 1) - 0.5)`` per axis (UVLTrack: template 0 / 0,
  search 3.5 / 0.5), and the square of side ``ceil(sqrt(w'h') * factor)`` around the jittered
  box is cropped exactly as the tracker does at test time (``crop_around``). The target's box in
  the crop uses the tracker's convention (crop centre = jittered centre), so training labels and
  test-time decoding agree.
* Whole frames (NL samples): the frame letterboxed to the search size. With augmentation the frame's
  long side is drawn from ``S, S - p, ... `` (p = patch size, down to about two thirds of S) and the
  scaled frame is placed at a random position in the square, as the reference does.

Boxes in a crop are normalised (x, y, w, h), clipped to [0, 1], float32.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import cv2
import numpy as np

from litetrack_core.tracking.crop import box_in_crop, crop_around, letterbox

__all__ = ["Crop", "Jitter", "clip_norm", "jittered_crop", "mirror", "whole_frame"]

# A crop wider than this many times the frame's long side is re-jittered (its buffer would be huge).
_MAX_CROP_TO_FRAME = 6.0
_JITTER_TRIES = 10


@dataclass(frozen=True)
class Jitter:
    """Centre and scale jitter of the box a crop is taken around (UVLTrack's CENTER_JITTER and
    SCALE_JITTER; defaults are its baseline's)."""

    template_center: float = 0.0
    template_scale: float = 0.0
    search_center: float = 3.5
    search_scale: float = 0.5
    # Memory crops stand for the tracker's own boxes on past frames: off by a quarter of the target
    # either way at most, and of a somewhat wrong size (ours; the reference trains no memory).
    memory_center: float = 0.5
    memory_scale: float = 0.15

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"jitter {field.name}={value} must be a finite number >= 0")

    @classmethod
    def off(cls) -> "Jitter":
        """No jitter: every crop centred on the target, of side sqrt(w*h) * factor."""
        return cls(0.0, 0.0, 0.0, 0.0, 0.0, 0.0)


@dataclass
class Crop:
    image: np.ndarray  # (S, S, 3) uint8
    box: np.ndarray | None  # (x, y, w, h) normalised to the crop, clipped to [0, 1]; None if absent
    center: tuple[float, float]
    side: int
    rect: tuple[int, int, int, int]  # rows r0:r1, columns c0:c1 of the image that show the frame
    anchor: np.ndarray  # the jittered anchor, normalised to the crop (centred): what a tracker took for the box


def jittered_crop(
    frame: np.ndarray,
    anchor: tuple[float, float, float, float],
    target: tuple[float, float, float, float] | None,
    center_jitter: float,
    scale_jitter: float,
    factor: float,
    size: int,
    rng: np.random.Generator,
) -> Crop:
    """Crop around ``anchor`` jittered (UVLTrack's formula), ``target`` in it normalised."""
    x, y, w, h = anchor
    cx, cy = x + w / 2, y + h / 2
    limit = _MAX_CROP_TO_FRAME * max(frame.shape[:2])
    jittered = (cx, cy, w, h)
    for _ in range(_JITTER_TRIES):
        jw, jh = w * math.exp(rng.standard_normal() * scale_jitter), h * math.exp(rng.standard_normal() * scale_jitter)
        reach = math.sqrt(jw * jh) * center_jitter
        jcx, jcy = cx + reach * (rng.random() - 0.5), cy + reach * (rng.random() - 0.5)
        side = math.ceil(math.sqrt(jw * jh) * factor)
        # The target's centre must stay inside the crop; a crop far larger than the frame is
        # redrawn (its buffer would be huge for nothing).
        inside = max(abs(jcx - cx), abs(jcy - cy)) < side / 2
        if inside and 1 <= side <= max(limit, math.ceil(math.sqrt(w * h) * factor)):
            jittered = (jcx, jcy, jw, jh)
            break
    jcx, jcy, jw, jh = jittered
    box = (jcx - jw / 2, jcy - jh / 2, jw, jh)
    crop = crop_around(frame, box, factor, size)
    norm = None
    if target is not None:
        tx, ty, tw, th = target
        side = crop.side_px
        # The tracker's convention: the crop's centre is the jittered box's centre.
        norm = clip_norm(np.array([0.5 + (tx - jcx) / side, 0.5 + (ty - jcy) / side, tw / side, th / side]))
    return Crop(crop.image, norm, (jcx, jcy), crop.side_px, _frame_rect(frame.shape, box, crop.side_px, size),
                box_in_crop(box, crop.side_px))


def _frame_rect(shape: tuple[int, ...], box: tuple[float, float, float, float], side: int, size: int):
    """Rows r0:r1 and columns c0:c1 of ``crop_around(frame, box, ., size)`` that show the frame
    (border pixels that blend frame and padding included)."""
    x, y, w, h = box
    x1, y1 = round(x + w / 2 - side / 2), round(y + h / 2 - side / 2)  # as crop_around
    fh, fw = shape[:2]
    scale = size / side
    c0, c1 = math.floor(max(0, -x1) * scale), math.ceil(min(side, fw - x1) * scale)
    r0, r1 = math.floor(max(0, -y1) * scale), math.ceil(min(side, fh - y1) * scale)
    return (min(max(r0, 0), size), min(max(r1, 0), size), min(max(c0, 0), size), min(max(c1, 0), size))


def whole_frame(frame: np.ndarray, box, size: int, patch_size: int, rescale: bool, arng: np.random.Generator):
    """The frame in the search square of side ``size`` (letterboxed; with ``rescale``, at a random
    scale and place, module docstring): (image, frame rows/columns there (r0, r1, c0, c1), its box
    there normalised (x, y, w, h))."""
    h, w = frame.shape[:2]
    if rescale:
        step = patch_size
        sizes = [size - step * i for i in range(max(1, size // (3 * step)))]
        long_side = int(arng.choice(sizes))
        if h >= w:
            new_h, new_w = long_side, max(1, int(long_side * w / h))
        else:
            new_h, new_w = max(1, int(long_side * h / w)), long_side
        left = int(arng.integers(0, size - new_w + 1))
        top = int(arng.integers(0, size - new_h + 1))
        image = np.zeros((size, size, 3), dtype=np.uint8)
        image[top : top + new_h, left : left + new_w] = cv2.resize(frame, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    else:
        lb = letterbox(frame, size)
        image, (left, top, new_w, new_h) = lb.image, lb.rect_xywh_px
    bx, by, bw, bh = box
    sx, sy = new_w / w, new_h / h
    norm = np.array([(bx * sx + left) / size, (by * sy + top) / size, bw * sx / size, bh * sy / size])
    return image, (top, top + new_h, left, left + new_w), clip_norm(norm)


def clip_norm(box: np.ndarray) -> np.ndarray:
    """Normalised (x, y, w, h) clipped to [0, 1] (float32)."""
    x1, y1 = np.clip(box[:2], 0.0, 1.0)
    x2, y2 = np.clip(box[:2] + box[2:], 0.0, 1.0)
    return np.array([x1, y1, x2 - x1, y2 - y1], dtype=np.float32)


def mirror(box: np.ndarray | None) -> np.ndarray | None:
    """A normalised (x, y, w, h) box in the horizontally mirrored image."""
    if box is None:
        return None
    out = box.copy()
    out[0] = 1.0 - box[0] - box[2]
    return out
