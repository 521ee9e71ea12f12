"""Latest frame wins: a one-slot buffer between the image callback and the inference worker."""

from __future__ import annotations

import threading
from typing import Generic, TypeVar

__all__ = ["FrameSlot"]

T = TypeVar("T")


class FrameSlot(Generic[T]):
    """Holds at most one item. ``put`` replaces an item nobody took (counted in ``dropped``);
    ``take`` waits for one. Frames are never queued: a slow model sees the newest frame."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._item: T | None = None
        self.dropped = 0

    def put(self, item: T) -> None:
        with self._cond:
            if self._item is not None:
                self.dropped += 1
            self._item = item
            self._cond.notify()

    def take(self, timeout: float) -> T | None:
        """The waiting item, or None after ``timeout`` seconds without one."""
        with self._cond:
            if self._item is None:
                self._cond.wait(timeout)
            item, self._item = self._item, None
            return item
