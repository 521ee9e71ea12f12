"""Image preprocessing: letterbox for grounding, normalisation to model input.

Frames are RGB uint8 arrays of shape (H, W, 3). Conventions follow the public UVLTrack
reference so that its checkpoints see the inputs they were trained on (bilinear OpenCV
resizes on uint8, constant-zero padding before normalisation).
"""

from __future__ import annotations

from dataclasses import dataclass

import math

import cv2
import numpy as np
import torch

from litetrack_core.models.configs import IMAGENET_MEAN, IMAGENET_STD

__all__ = [
    "Crop",
    "Letterbox",
    "box_in_crop",
    "cell_mask",
    "crop_around",
    "iou_cxcywh",
    "letterbox",
    "to_model_input",
]


@dataclass(frozen=True)
class Letterbox:
    """A frame scaled into a square: ``image`` (S, S, 3) uint8 and where the frame sits in it.

    rect_xywh_px: (left, top, width, height) of the scaled frame inside the square, pixels.
    scale: square pixels per frame pixel.
    """

    image: np.ndarray
    rect_xywh_px: tuple[int, int, int, int]
    scale: float


def letterbox(frame: np.ndarray, size: int) -> Letterbox:
    """Scale the long side of an RGB uint8 (H, W, 3) frame to ``size`` and pad the rest with zeros.

    The short side becomes ``int(size * short / long)``; the padding is split evenly, with the
    odd pixel on the top/left.
    """
    h, w = frame.shape[:2]
    if h >= w:
        new_h, new_w = size, int(size * w / h)
    else:
        new_h, new_w = int(size * h / w), size
    scaled = cv2.resize(frame, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    # Half the padding on each side and the odd pixel on the top/left, as the reference does.
    top, left = size - new_h - (size - new_h) // 2, size - new_w - (size - new_w) // 2
    out = np.zeros((size, size, 3), dtype=np.uint8)
    out[top : top + new_h, left : left + new_w] = scaled
    return Letterbox(out, (left, top, new_w, new_h), size / max(h, w))


# (pixel / 255 - mean) / std in float32 for every uint8 value and channel: a table lookup gives
# the same numbers as the arithmetic, without torch's per-call overhead (the tracker and the
# training sampler both call this per crop).
_NORMALISED = (
    np.arange(256, dtype=np.float32)[None, :] / np.float32(255.0) - np.array(IMAGENET_MEAN, dtype=np.float32)[:, None]
) / np.array(IMAGENET_STD, dtype=np.float32)[:, None]


def to_model_input(image: np.ndarray) -> torch.Tensor:
    """RGB uint8 (H, W, 3) -> float32 (1, 3, H, W), (pixel/255 - mean) / std per channel."""
    planes = np.stack([_NORMALISED[c][image[..., c]] for c in range(3)])
    return torch.from_numpy(planes).unsqueeze(0)


@dataclass(frozen=True)
class Crop:
    """A square region around a box, resized: ``image`` (S, S, 3) uint8.

    side_px: side of the square in frame pixels (before resizing).
    resize_factor: output pixels per frame pixel (S / side_px).
    """

    image: np.ndarray
    side_px: int
    resize_factor: float


def crop_around(frame: np.ndarray, box_xywh: tuple[float, float, float, float], factor: float, size: int) -> Crop:
    """Square crop of side ``ceil(sqrt(w*h) * factor)`` centred on the box, resized to ``size``.

    ``frame`` is RGB uint8 (H, W, 3); the box is (x, y, w, h) in pixels. Parts outside the frame
    are black (zero before normalisation). The corner is rounded half to even, as the reference
    does. Unlike the reference, the last row and column of the frame are kept when the crop
    reaches the border (it replaced them with padding; see docs/tracking.md).
    """
    x, y, w, h = box_xywh
    side = math.ceil(math.sqrt(w * h) * factor)
    if side < 1:
        raise ValueError(f"crop side must be >= 1 px, got {side} for box {box_xywh}")
    x1 = round(x + w / 2 - side / 2)
    y1 = round(y + h / 2 - side / 2)
    fh, fw = frame.shape[:2]
    out = np.zeros((side, side, 3), dtype=np.uint8)
    sx1, sy1 = max(x1, 0), max(y1, 0)
    sx2, sy2 = min(x1 + side, fw), min(y1 + side, fh)
    if sx2 > sx1 and sy2 > sy1:
        out[sy1 - y1 : sy2 - y1, sx1 - x1 : sx2 - x1] = frame[sy1:sy2, sx1:sx2]
    resized = cv2.resize(out, (size, size), interpolation=cv2.INTER_LINEAR)
    return Crop(resized, side, size / side)


def box_in_crop(box_xywh: tuple[float, float, float, float], side_px: int) -> np.ndarray:
    """The box in a crop centred on it, normalised to the crop: (x, y, w, h) float32 in [0, 1].

    Always centred, ignoring the rounding of the crop corner (as the reference does).
    """
    _, _, w, h = box_xywh
    return np.array([0.5 - w / (2 * side_px), 0.5 - h / (2 * side_px), w / side_px, h / side_px], dtype=np.float32)


def cell_mask(box_norm_xywh: np.ndarray, grid: int) -> np.ndarray:
    """(grid*grid,) bool, row-major: cells whose centre lies strictly inside the box.

    ``box_norm_xywh`` is normalised to the crop. The cell under the box centre is always set, so
    a box smaller than a cell still marks one.
    """
    bx, by, bw, bh = (np.float32(v) for v in box_norm_xywh)
    n = np.float32(grid)
    x, y, x2, y2 = bx * n, by * n, (bx + bw) * n, (by + bh) * n
    centres = np.arange(grid, dtype=np.float32) + np.float32(0.5)
    inside_x = (centres > x) & (centres < x2)
    inside_y = (centres > y) & (centres < y2)
    mask = inside_y[:, None] & inside_x[None, :]
    r, c = int((y + y2) / 2), int((x + x2) / 2)
    if 0 <= r < grid and 0 <= c < grid:
        mask[r, c] = True
    return mask.reshape(-1)


def iou_cxcywh(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of (N, 4) (cx, cy, w, h) boxes (any one unit, pixels or crop-normalised), row by row."""
    a1, a2 = a[:, :2] - a[:, 2:] / 2, a[:, :2] + a[:, 2:] / 2
    b1, b2 = b[:, :2] - b[:, 2:] / 2, b[:, :2] + b[:, 2:] / 2
    inter = np.clip(np.minimum(a2, b2) - np.maximum(a1, b1), 0, None).prod(axis=1)
    union = a[:, 2:].prod(axis=1) + b[:, 2:].prod(axis=1) - inter
    return inter / np.maximum(union, 1e-12)
