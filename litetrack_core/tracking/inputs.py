"""Checks of what a caller hands the tracker: frames (RGB uint8, H x W x 3) and boxes (x, y, w, h pixels).
Each raises ValueError saying what is wrong, so that a bad request never reaches the model."""

from __future__ import annotations

import math

import numpy as np

__all__ = ["Box", "check_box", "check_frame"]

Box = tuple[float, float, float, float]


def check_frame(frame: object) -> np.ndarray:
    """Return ``frame`` if it is an RGB uint8 (H, W, 3) array with H, W > 0; else ``ValueError``."""
    if frame is None:
        raise ValueError("frame is None; expected an RGB uint8 array of shape (H, W, 3)")
    if not isinstance(frame, np.ndarray):
        raise ValueError(f"frame must be a numpy array (RGB uint8, H x W x 3), got {type(frame).__name__}")
    if frame.ndim != 3 or frame.shape[2] != 3:
        raise ValueError(f"frame must have shape (H, W, 3) (RGB), got {frame.shape}")
    if frame.shape[0] == 0 or frame.shape[1] == 0:
        raise ValueError(f"frame is empty: shape {frame.shape}")
    if frame.dtype != np.uint8:
        raise ValueError(f"frame must be uint8 (0-255 RGB), got dtype {frame.dtype}")
    return frame


def check_box(box: object, frame_shape: tuple[int, ...]) -> Box:
    """Validate an (x, y, w, h) pixel box against a frame; returns it as floats."""
    try:
        x, y, w, h = (float(v) for v in box)  # type: ignore[union-attr]
    except (TypeError, ValueError):
        raise ValueError(f"box must be 4 numbers (x, y, w, h) in pixels, got {box!r}") from None
    if not all(math.isfinite(v) for v in (x, y, w, h)):
        raise ValueError(f"box must be finite, got {(x, y, w, h)}")
    if w <= 0 or h <= 0:
        raise ValueError(f"box size must be positive, got w={w}, h={h}")
    fh, fw = frame_shape[:2]
    if x >= fw or y >= fh or x + w <= 0 or y + h <= 0:
        raise ValueError(f"box {(x, y, w, h)} lies outside the {fw}x{fh} frame")
    return x, y, w, h
