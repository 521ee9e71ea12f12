"""Classical trackers behind the ``FrameTracker`` interface, for comparison with LiteTrack."""

from __future__ import annotations

import time

import cv2
import numpy as np

from litetrack_core.tracking.types import Timing, TrackResult, TrackState

__all__ = ["CsrtTracker"]

Box = tuple[float, float, float, float]


def _check_frame(frame: object) -> np.ndarray:
    if not isinstance(frame, np.ndarray) or frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
        got = f"{frame.dtype} {frame.shape}" if isinstance(frame, np.ndarray) else type(frame).__name__
        raise ValueError(f"frame must be an RGB uint8 (H, W, 3) array, got {got}")
    return frame


def _clip(box: Box, shape: tuple[int, ...]) -> Box:
    """``box`` (x, y, w, h pixels) cut to the frame; at least 1 px wide and high."""
    fh, fw = shape[:2]
    x1, y1 = min(max(box[0], 0.0), fw - 1.0), min(max(box[1], 0.0), fh - 1.0)
    x2 = min(max(box[0] + box[2], x1 + 1.0), float(fw))
    y2 = min(max(box[1] + box[3], y1 + 1.0), float(fh))
    return (x1, y1, x2 - x1, y2 - y1)


class CsrtTracker:
    """OpenCV's CSRT (discriminative correlation filter with channel and spatial reliability).

    Box mode only: ``set_target`` needs ``box`` (x, y, w, h pixels) and ignores ``text``. Frames are
    RGB uint8 (H, W, 3); they are converted to the BGR order OpenCV's trackers are built for.
    CSRT has no confidence: score is 1.0 while it tracks; when it reports a failure the result is
    the last box, LOST, score 0.
    """

    def __init__(self) -> None:
        self._tracker: cv2.Tracker | None = None
        self._box: Box | None = None
        self._index = 0

    def set_target(self, frame: np.ndarray, text: str | None = None, box: Box | None = None) -> TrackResult:
        """Start on ``frame`` at ``box``. Raises ValueError without a box, or for a bad box or frame."""
        if box is None:
            raise ValueError("CsrtTracker needs box=(x, y, w, h); it cannot start from text alone")
        values = np.asarray(box, dtype=np.float64)
        if values.shape != (4,) or not np.isfinite(values).all() or values[2] <= 0 or values[3] <= 0:
            raise ValueError(f"box must be 4 finite numbers x, y, w, h with w, h > 0, got {box!r}")
        start = time.perf_counter()
        bgr = cv2.cvtColor(_check_frame(frame), cv2.COLOR_RGB2BGR)
        prepared = time.perf_counter()
        self._box = _clip(tuple(float(v) for v in values), frame.shape)
        self._tracker = cv2.TrackerCSRT.create()
        # OpenCV's binding takes an integer rectangle.
        self._tracker.init(bgr, tuple(int(round(v)) for v in self._box))
        self._index = 0
        done = time.perf_counter()
        timing = Timing(preprocess_ms=(prepared - start) * 1e3, model_ms=(done - prepared) * 1e3)
        return TrackResult(frame_index=0, box_xywh_px=self._box, score=1.0, state=TrackState.TRACKING, timing=timing)

    def track(self, frame: np.ndarray) -> TrackResult:
        """The target's box on the next frame. Raises RuntimeError before ``set_target``."""
        if self._tracker is None or self._box is None:
            raise RuntimeError("track() called before set_target()")
        start = time.perf_counter()
        bgr = cv2.cvtColor(_check_frame(frame), cv2.COLOR_RGB2BGR)
        prepared = time.perf_counter()
        ok, rect = self._tracker.update(bgr)
        done = time.perf_counter()
        self._index += 1
        timing = Timing(preprocess_ms=(prepared - start) * 1e3, model_ms=(done - prepared) * 1e3)
        if ok:
            self._box = _clip(tuple(float(v) for v in rect), frame.shape)
        state, score = (TrackState.TRACKING, 1.0) if ok else (TrackState.LOST, 0.0)
        return TrackResult(frame_index=self._index, box_xywh_px=self._box, score=score, state=state, timing=timing)
