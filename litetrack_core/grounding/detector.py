"""Object proposals: the pinned COCO detector (``install.py``) run with PyTorch (``tfjs.py``).

As the package itself uses it: the RGB frame is resized to 512x512 (TF's bilinear resize), pixel
values 0..255; the graph's ``tower_0/detections`` gives 100 candidates (x1, y1, x2, y2 in the 512
square, score, class). Here the candidates above ``min_score`` are kept after per-class non-maximum
suppression, and their boxes mapped back to the frame.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torchvision.ops import batched_nms

from litetrack_core.grounding.install import detector_files
from litetrack_core.grounding.tfjs import load_graph_model
from litetrack_core.grounding.tfjs_ops import resize_bilinear

__all__ = ["Detector", "Proposal"]

INPUT_SIZE = 512
_OUTPUT = "tower_0/detections"
_INPUT = "tower_0/images"


@dataclass(frozen=True)
class Proposal:
    """One detected object: box (x, y, w, h) in frame pixels, the detector's score, its COCO class index."""

    box_xywh_px: tuple[float, float, float, float]
    score: float
    class_index: int


class Detector:
    """The pinned CenterNet on CPU (or another torch device). Raises ``install.DetectorError`` when its
    files are missing or altered.

    min_score: candidates below are dropped. nms_iou: per-class suppression threshold.
    """

    def __init__(self, folder: str | Path | None = None, min_score: float = 0.05, nms_iou: float = 0.5) -> None:
        self.graph = load_graph_model(detector_files(folder) / "centernet.json")
        self.min_score = min_score
        self.nms_iou = nms_iou

    @torch.inference_mode()
    def __call__(self, frame: np.ndarray) -> list[Proposal]:
        """Proposals on an RGB uint8 (H, W, 3) frame, best first."""
        height, width = frame.shape[:2]
        image = torch.from_numpy(np.ascontiguousarray(frame)).float()[None]
        out = self.graph.run({_INPUT: resize_bilinear(image, INPUT_SIZE)}, [_OUTPUT])[_OUTPUT][0]
        boxes, scores, classes = out[:, :4].float(), out[:, 4].float(), out[:, 5]
        keep = torch.isfinite(scores) & torch.isfinite(classes) & (scores >= self.min_score)
        boxes, scores, classes = boxes[keep], scores[keep], classes[keep].long()
        kept = batched_nms(boxes, scores, classes, self.nms_iou)
        sx, sy = width / INPUT_SIZE, height / INPUT_SIZE
        proposals = []
        for i in kept.tolist():
            x1, y1, x2, y2 = boxes[i].tolist()
            x1, x2 = max(0.0, x1 * sx), min(float(width), x2 * sx)
            y1, y2 = max(0.0, y1 * sy), min(float(height), y2 * sy)
            if x2 > x1 and y2 > y1:
                proposals.append(Proposal((x1, y1, x2 - x1, y2 - y1), float(scores[i]), int(classes[i])))
        return proposals
