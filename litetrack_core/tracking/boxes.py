"""From the model's box on the search crop to the box a user is told, in image pixels.

Boxes are (x, y, w, h) in image pixels unless named otherwise; the model's box is (cx, cy, w, h)
as fractions of the square search crop's side.
"""

from __future__ import annotations

import numpy as np

from litetrack_core.tracking.config import TrackerConfig
from litetrack_core.tracking.inputs import Box


def to_image(box_net: np.ndarray, crop_side: int, resize_factor: float, prev: np.ndarray,
             shape: tuple[int, ...], aspect: float, config: TrackerConfig) -> np.ndarray:
    """Crop-normalised (cx, cy, w, h) on a crop of ``crop_side`` px cut around ``prev`` (x, y, w, h)
    and scaled by ``resize_factor`` -> image (x, y, w, h), its size damped by ``scale_lr`` and bounded
    by ``scale_step``, its shape pulled toward ``aspect`` (w / h) by ``aspect_anchor``, kept
    ``clip_margin_px`` inside a frame of ``shape`` (H, W, ...)."""
    cx, cy, w, h = (box_net * np.float32(crop_side / resize_factor)).astype(np.float64)
    half = 0.5 * crop_side / resize_factor
    cx += prev[0] + prev[2] / 2 - half
    cy += prev[1] + prev[3] / 2 - half
    lr = config.scale_lr
    if lr < 1.0:  # at 1.0 the model's size as it is, bit for bit
        w, h = prev[2] + lr * (w - prev[2]), prev[3] + lr * (h - prev[3])
    step = config.scale_step
    if step > 0.0:  # at 0 no bound, bit for bit
        w = min(max(w, prev[2] / (1 + step)), prev[2] * (1 + step))
        h = min(max(h, prev[3] / (1 + step)), prev[3] * (1 + step))
    anchor = config.aspect_anchor
    if anchor > 0.0:  # at 0 the model's shape as it is, bit for bit
        # sqrt of the aspect's factor on each side: area unchanged; a zero side stays finite
        pull = (aspect * max(h, 1e-6) / max(w, 1e-6)) ** (anchor / 2)
        w, h = w * pull, h / pull
    fh, fw = shape[:2]
    m = config.clip_margin_px
    x1, y1 = min(max(0.0, cx - w / 2), fw - m), min(max(0.0, cy - h / 2), fh - m)
    x2, y2 = min(max(m, cx + w / 2), fw), min(max(m, cy + h / 2), fh)
    return np.array([x1, y1, max(m, x2 - x1), max(m, y2 - y1)])


def clip_to_frame(box: Box, shape: tuple[int, ...]) -> Box:
    """The part of ``box`` inside a frame of ``shape`` (H, W, ...): what a user is told; at least
    1 px wide and high."""
    fh, fw = shape[:2]
    x1, y1 = min(max(box[0], 0.0), fw - 1.0), min(max(box[1], 0.0), fh - 1.0)
    x2, y2 = min(max(box[0] + box[2], x1 + 1.0), float(fw)), min(max(box[1] + box[3], y1 + 1.0), float(fh))
    return (x1, y1, x2 - x1, y2 - y1)
