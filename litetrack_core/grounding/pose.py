"""Where a person's head is: MoveNet's keypoints, and the box of a part word ("the face of the girl").

A part of a person (face, head, helmet) is rarely a detector class, and its place in the person's box
varies with pose and framing (a whole cyclist, a face in close-up). So the part's box is built from
the person's head keypoints: MoveNet SinglePose Lightning (``install.py``), run on a square crop
around the person's proposal, gives 17 COCO keypoints; the part's box is centred on the mean of the
five head keypoints (nose, eyes, ears) and sized by their span (the largest distance between two of
them), with an offset and a size in units of that span fitted on the real corpus's part sentences
(``training/ranking.py``; one place for all part words: the corpus holds 20 such frames).
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import torch

from litetrack_core.grounding.install import detector_files
from litetrack_core.grounding.tfjs import load_graph_model
from litetrack_core.grounding.tfjs_ops import resize_bilinear

__all__ = ["HEAD", "PoseEstimator", "part_box", "part_place", "pose_input"]

Box = tuple[float, float, float, float]
INPUT_SIZE = 192
# The crop around the person's box is this much larger than the box's longer side (MoveNet was
# trained on people with some room around them).
MARGIN = 1.25
# COCO keypoint order: nose, left eye, right eye, left ear, right ear, then shoulders ... ankles.
HEAD = (0, 1, 2, 3, 4)
# Head keypoints below this score are left out of the centre and span (all five are used when none
# reaches it), and the span is at least MIN_SPAN pixels.
MIN_KEYPOINT_SCORE = 0.2
MIN_SPAN = 2.0


def pose_input(frame: np.ndarray, box: Box) -> tuple[torch.Tensor, tuple[float, float, float]]:
    """MoveNet's input for the person in ``box`` (x, y, w, h pixels) on an RGB uint8 frame: the square
    crop around the box, ``MARGIN`` times its longer side, zero outside the frame, resized to 192x192
    (TF's bilinear resize) and rounded to int32, shape (1, 192, 192, 3); and the crop's (x, y, side)
    in frame pixels."""
    x, y, w, h = box
    side = max(1, int(round(max(w, h) * MARGIN)))
    x0, y0 = int(round(x + w / 2 - side / 2)), int(round(y + h / 2 - side / 2))
    height, width = frame.shape[:2]
    crop = np.zeros((side, side, 3), np.uint8)
    sx0, sy0, sx1, sy1 = max(x0, 0), max(y0, 0), min(x0 + side, width), min(y0 + side, height)
    if sx1 > sx0 and sy1 > sy0:
        crop[sy0 - y0 : sy1 - y0, sx0 - x0 : sx1 - x0] = frame[sy0:sy1, sx0:sx1]
    image = resize_bilinear(torch.from_numpy(crop), INPUT_SIZE).round().to(torch.int32)[None]
    return image, (float(x0), float(y0), float(side))


class PoseEstimator:
    """The pinned MoveNet Lightning on CPU. Raises ``install.DetectorError`` when its files are
    missing or altered."""

    def __init__(self, folder: str | Path | None = None) -> None:
        self.graph = load_graph_model(detector_files(folder) / "movenet-lightning.json")

    @torch.inference_mode()
    def __call__(self, frame: np.ndarray, box: Box) -> np.ndarray:
        """(17, 3) keypoints of the person in ``box`` on an RGB uint8 frame: x, y in frame pixels, score."""
        image, (x0, y0, side) = pose_input(frame, box)
        out = self.graph.run({"input": image}, ["Identity"])["Identity"][0, 0].numpy().astype(np.float64)
        return np.stack([x0 + out[:, 1] * side, y0 + out[:, 0] * side, out[:, 2]], axis=1)


def head_centre_and_span(keypoints: np.ndarray) -> tuple[np.ndarray, float]:
    """Mean (x, y) of the head keypoints and their span in pixels (see the module docstring)."""
    head = [i for i in HEAD if keypoints[i, 2] >= MIN_KEYPOINT_SCORE] or list(HEAD)
    points = keypoints[head, :2]
    span = max((float(np.hypot(*(a - b))) for a, b in itertools.combinations(points, 2)), default=0.0)
    return points.mean(axis=0), max(span, MIN_SPAN)


def part_box(keypoints: np.ndarray, place: tuple[float, float, float, float]) -> Box:
    """A part's box (x, y, w, h pixels) from a person's keypoints and the part's place: its centre's
    offset from the head keypoints' mean, its width and height, all in units of their span."""
    centre, span = head_centre_and_span(keypoints)
    dx, dy, w, h = (v * span for v in place)
    return (float(centre[0] + dx - w / 2), float(centre[1] + dy - h / 2), w, h)


def part_place(keypoints: np.ndarray, part: Box) -> tuple[float, float, float, float]:
    """The inverse of ``part_box``: where the box ``part`` lies relative to the head keypoints."""
    centre, span = head_centre_and_span(keypoints)
    x, y, w, h = part
    return ((x + w / 2 - centre[0]) / span, (y + h / 2 - centre[1]) / span, w / span, h / span)
