"""Frames for pseudo labelling: video files, frame folders or arrays read as RGB uint8
(``iter_frames``), and the gray and RGB views of a frame.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence as SequenceOf
from pathlib import Path

import cv2
import numpy as np

__all__ = ["iter_frames"]

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")


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
