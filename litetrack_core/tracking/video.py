"""Frames in and annotated frames out: video files or frame folders, OpenCV underneath.

Frames handed to and from this module are RGB uint8 (H, W, 3); OpenCV's BGR stays inside.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from litetrack_core.tracking.types import TrackResult, TrackState

__all__ = ["FrameSource", "VideoSink", "draw_result"]

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp"}
COLOURS = {TrackState.TRACKING: (0, 220, 0), TrackState.LOST: (230, 40, 40)}  # RGB


class FrameSource:
    """Frames of a video file or of a folder of images (sorted by name), as RGB uint8.

    Raises ``FileNotFoundError`` / ``ValueError`` naming the path when there is nothing to read.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if not self.path.exists():
            raise FileNotFoundError(f"no video file or frame folder at {self.path}")
        if self.path.is_dir():
            self._files = sorted(p for p in self.path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
            if not self._files:
                raise ValueError(f"{self.path} holds no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
            self.fps = 30.0
        else:
            self._files = []
            cap = cv2.VideoCapture(str(self.path))
            if not cap.isOpened():
                raise ValueError(f"OpenCV cannot open {self.path} as a video")
            self.fps = cap.get(cv2.CAP_PROP_FPS) or 30.0
            self._count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
            cap.release()

    def __len__(self) -> int:
        return len(self._files) if self._files else self._count

    def __iter__(self) -> Iterator[np.ndarray]:
        if self._files:
            for f in self._files:
                image = cv2.imread(str(f), cv2.IMREAD_COLOR)
                if image is None:
                    raise ValueError(f"cannot decode image {f}")
                yield cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
            return
        cap = cv2.VideoCapture(str(self.path))
        try:
            while True:
                ok, image = cap.read()
                if not ok:
                    break
                yield cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
        finally:
            cap.release()


class VideoSink:
    """Writes RGB frames to an .mp4 (mp4v) or .avi (MJPG) file; opened on the first frame."""

    def __init__(self, path: str | Path, fps: float) -> None:
        self.path = Path(path)
        self.fps = fps
        self._writer: cv2.VideoWriter | None = None

    def write(self, frame: np.ndarray) -> None:
        if self._writer is None:
            fourcc = cv2.VideoWriter_fourcc(*("MJPG" if self.path.suffix.lower() == ".avi" else "mp4v"))
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._writer = cv2.VideoWriter(str(self.path), fourcc, self.fps, (frame.shape[1], frame.shape[0]))
            if not self._writer.isOpened():
                raise ValueError(f"OpenCV cannot write a video to {self.path}")
        self._writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))

    def close(self) -> None:
        if self._writer is not None:
            self._writer.release()

    def __enter__(self) -> "VideoSink":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def draw_result(frame: np.ndarray, result: TrackResult, label: str | None = None) -> np.ndarray:
    """A copy of an RGB frame with the box (green: TRACKING, red: LOST), score and label."""
    out = frame.copy()
    x, y, w, h = (int(round(v)) for v in result.box_xywh_px)
    colour = COLOURS[result.state]
    cv2.rectangle(out, (x, y), (x + w, y + h), colour, 2)
    caption = f"{label or 'target'} {result.score:.2f}" + (" LOST" if result.state is TrackState.LOST else "")
    cv2.putText(out, caption, (x, max(12, y - 5)), cv2.FONT_HERSHEY_SIMPLEX, 0.45, colour, 1, cv2.LINE_AA)
    return out
