"""Image preprocessing: letterbox for grounding, normalisation to model input.

Frames are RGB uint8 arrays of shape (H, W, 3). Conventions follow the public UVLTrack
reference so that its checkpoints see the inputs they were trained on (bilinear OpenCV
resizes on uint8, constant-zero padding before normalisation).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch

__all__ = ["IMAGENET_MEAN", "IMAGENET_STD", "Letterbox", "letterbox", "to_model_input"]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


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


def to_model_input(image: np.ndarray) -> torch.Tensor:
    """RGB uint8 (H, W, 3) -> float32 (1, 3, H, W), (pixel/255 - mean) / std per channel."""
    x = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1).float().div_(255.0)
    mean = torch.tensor(IMAGENET_MEAN).view(3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(3, 1, 1)
    return ((x - mean) / std).unsqueeze(0)
