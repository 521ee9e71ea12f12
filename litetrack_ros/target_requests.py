"""Target requests (``track_target``) between the service and the worker, without ROS.

A request is checked when it arrives (``parse_request``: a clear refusal at once, before any image
is waited for), then queued (``TargetRequests``, at most ``depth`` waiting; more are refused at
once) until the worker serves it on the frame it names (stamp, in ns; 0: the next frame) or it
times out. The service thread that waits for the answer is one of a pool kept apart from the
threads that images need (tracker_node sizes its executor for ``depth`` waiting calls).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["MAX_BOX_PX", "MAX_TEXT", "TargetRequest", "TargetRequests", "parse_request"]

Box = tuple[float, float, float, float]
MAX_TEXT = 10_000  # characters; the text encoder reads the first words of a longer text, beyond this it is no sentence
MAX_BOX_PX = 100_000.0  # no camera image is wider or taller; larger boxes (1e300...) are input errors


@dataclass
class TargetRequest:
    """A target to set on the frame stamped ``stamp_ns`` (0: the next frame), answered via ``done``.
    text: words or None; box: (x, y, w, h) pixels or None; detection: what the worker answers with."""

    text: str | None
    box: Box | None
    stamp_ns: int
    done: threading.Event = field(default_factory=threading.Event)
    success: bool = False
    message: str = ""
    detection: Any = None

    def answer(self, success: bool, message: str, detection: Any = None) -> None:
        self.success, self.message, self.detection = success, message, detection
        self.done.set()


def parse_request(text: str, centre_x: float, centre_y: float, size_x: float, size_y: float, theta: float) -> tuple[str | None, Box | None]:
    """(text or None, box (x, y, w, h) pixels or None) of a ``SetTarget`` request: the box as
    centre and full size in pixels, a size of 0 meaning "no box". Raises ValueError, with a message
    for the caller, on anything that cannot name a target."""
    if len(text) > MAX_TEXT:
        raise ValueError(f"text is {len(text)} characters long; at most {MAX_TEXT}")
    if not text.isprintable():
        raise ValueError("text holds control characters (newlines, tabs, NUL...); give one plain sentence")
    words = text.strip() or None
    numbers = {"box.center.position.x": centre_x, "box.center.position.y": centre_y, "box.size_x": size_x,
               "box.size_y": size_y, "box.center.theta": theta}
    for name, value in numbers.items():
        if not math.isfinite(value):
            raise ValueError(f"{name} is {value}; box values must be finite numbers (pixels)")
    if theta != 0.0:
        raise ValueError(f"box.center.theta is {theta}; rotated boxes are not supported, it must be 0")
    box = None
    if size_x != 0.0 and size_y != 0.0:
        if size_x < 0 or size_y < 0:
            raise ValueError(f"box size {size_x:g} x {size_y:g}: sizes must be positive (full width and height in pixels)")
        if max(size_x, size_y, abs(centre_x), abs(centre_y)) > MAX_BOX_PX:
            raise ValueError(f"box centre ({centre_x:g}, {centre_y:g}) size {size_x:g} x {size_y:g} px: "
                             f"values beyond {MAX_BOX_PX:g} px cannot be in an image")
        box = (centre_x - size_x / 2, centre_y - size_y / 2, size_x, size_y)
    if words is None and box is None:
        raise ValueError("give text, a box (size > 0), or both")
    return words, box


class TargetRequests:
    """The requests waiting for the worker, oldest first, at most ``depth`` of them. Thread-safe."""

    def __init__(self, depth: int) -> None:
        self.depth = depth
        self._waiting: list[TargetRequest] = []
        self._lock = threading.Lock()

    def __len__(self) -> int:
        with self._lock:
            return len(self._waiting)

    def submit(self, request: TargetRequest) -> bool:
        """Queue ``request``; False (and nothing queued) when ``depth`` requests already wait."""
        with self._lock:
            if len(self._waiting) >= self.depth:
                return False
            self._waiting.append(request)
            return True

    def take(self, stamp_ns: int, frames: Mapping[int, Any]) -> tuple[TargetRequest, Any] | None:
        """The oldest request that can be served now, with its frame from ``frames`` (stamp ns ->
        frame; a request with stamp 0 takes the frame stamped ``stamp_ns``, the one at hand).
        Requests for a frame older than ``stamp_ns`` that is no longer in ``frames`` are refused."""
        with self._lock:
            for request in list(self._waiting):
                frame = frames.get(stamp_ns if request.stamp_ns == 0 else request.stamp_ns)
                if frame is not None:
                    self._waiting.remove(request)
                    return request, frame
                if request.stamp_ns and request.stamp_ns < stamp_ns:
                    self._waiting.remove(request)
                    request.answer(False, f"no frame with stamp {request.stamp_ns} ns among the recent ones")
        return None

    def withdraw(self, request: TargetRequest) -> None:
        """Remove ``request`` if it still waits (its caller stopped waiting)."""
        with self._lock:
            if request in self._waiting:
                self._waiting.remove(request)

    def refuse_all(self, message: str) -> None:
        """Answer every waiting request with ``message`` (the worker stops)."""
        with self._lock:
            waiting, self._waiting = self._waiting, []
        for request in waiting:
            request.answer(False, message)
