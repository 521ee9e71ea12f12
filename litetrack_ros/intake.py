"""Frames on their way from the image callback to the worker, without ROS.

``Intake`` holds three views of the incoming frames, kept consistent under one lock:
- the newest one (``slot``, a ``FrameSlot``: a slow model sees the newest frame, stale ones dropped);
- the recent ones, so that a target request can name a frame that was received, even dropped;
- while a target is being set, the ones that arrive meanwhile (the catch-up): setting a target by
  words takes about 0.4 s on a CPU, a dozen frames at 30 Hz, and a tracker that jumps from the set
  frame to the newest searches where the target was, not where it went (the packaged clip's named
  walker, set on frame 0 and first tracked on frame 13, is behind another walker there and lost for
  good; tracked through frames in between, it is followed; docs/engines.md has the corpus's
  figures). The worker steps through some of them, evenly spaced (more after a long wait, so that
  they stay at most ``CATCH_UP_STRIDE`` frames apart), then (``chase``) through half as many of those
  that arrived during that, and so on, before it goes on with the newest.

Frames are items ``(message, arrival time in ns)``; ``stamp_of(message)`` is the message's stamp in ns.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

from litetrack_ros.frame_slot import FrameSlot
from litetrack_ros.target_requests import TargetRequest, TargetRequests

__all__ = ["CATCH_UP_HELD", "CATCH_UP_STRIDE", "Intake"]

M = TypeVar("M")
CATCH_UP_HELD = 32  # frames held for a catch-up at most; beyond, every other one is let go
# After a set, at most this many frames between two stepped ones: a slow set (3 s under load, 90
# frames) spread over 8 steps moved a walker 80 px between them and lost him (docs/engines.md).
CATCH_UP_STRIDE = 4


class Intake(Generic[M]):
    """The worker's frames: ``receive`` (image callback), ``queue`` (service), ``serve`` and the
    catch-up (worker). ``recent``: how many received frames a request may name."""

    def __init__(self, stamp_of: Callable[[M], int], recent: int = 8) -> None:
        self.slot: FrameSlot[tuple[M, int]] = FrameSlot()
        self._stamp = stamp_of
        self._recent: deque[tuple[M, int]] = deque(maxlen=recent)
        self._catch_up: list[tuple[int, tuple[M, int]]] | None = None  # (arrival count, item) while a target is set
        self._arrivals = 0  # frames received since the catch-up opened
        self._every = 1  # of which every so many are held (doubled at each thinning)
        # One lock for all three views: otherwise a request could look for its frame just before the
        # frame arrives and be queued just after the worker took (and dropped) it, then wait for a
        # frame that nobody offers again (seen once in CI).
        self._lock = threading.Lock()

    def receive(self, msg: M, arrived_ns: int) -> None:
        """A frame from the camera: the newest, one of the recent ones, and one to catch up through."""
        item = (msg, arrived_ns)
        with self._lock:
            self._recent.append(item)
            if self._catch_up is not None:
                self._hold(item)
            self.slot.put(item)

    def queue(self, request: TargetRequest, requests: TargetRequests) -> bool:
        """Hand ``request`` to the worker through ``requests`` (False: the queue is full). A request
        naming a received frame has it offered again; a stamp older than every recent frame is
        answered (refused) at once."""
        with self._lock:
            named = None
            if request.stamp_ns:
                named = next((item for item in self._recent if self._stamp(item[0]) == request.stamp_ns), None)
                if named is None and self._recent and request.stamp_ns < self._stamp(self._recent[-1][0]):
                    request.answer(False, f"no frame with stamp {request.stamp_ns} ns among the recent ones")
                    return True
            if not requests.submit(request):
                return False
            if named is not None:  # already received: offered again, even if the camera has stopped
                self.slot.put(named)
        return True

    def serve(self, requests: TargetRequests, msg: M) -> tuple[TargetRequest, tuple[M, int]] | None:
        """The request to serve now that ``msg`` is at hand, with its frame (this one or a recent one)."""
        with self._lock:
            frames = {self._stamp(item[0]): item for item in self._recent}
        return requests.take(self._stamp(msg), frames)

    def open_catch_up(self, after_ns: int) -> None:
        """A target is being set on the frame stamped ``after_ns``: keep the frames received since
        (the recent ones already here, and those that arrive until ``close_catch_up``)."""
        with self._lock:
            self._catch_up, self._arrivals, self._every = [], 0, 1
            for item in self._recent:
                if self._stamp(item[0]) > after_ns:
                    self._hold(item)

    def close_catch_up(self, count: int, after_ns: int, max_stride: int = 0) -> list[tuple[M, int]]:
        """Stop keeping frames; ``count`` of the kept ones stamped after ``after_ns``, oldest first,
        evenly spaced and ending with the newest kept (all of them when there are no more).
        ``max_stride`` > 0 (and ``count`` > 0): more than ``count`` where the wait was long, so that
        the chosen ones are at most that many arrivals apart, as far as the held frames allow."""
        with self._lock:
            held, self._catch_up = self._catch_up or [], None
        held = [(n, item) for n, item in held if self._stamp(item[0]) > after_ns]
        if count and max_stride and held:
            count = max(count, -(-held[-1][0] // max_stride))  # held[-1][0]: the wait, in arrivals
        items = [item for _, item in held]
        if len(items) <= count:
            return items
        n = len(items)
        return [items[n - 1 - (j * n) // count] for j in reversed(range(count))]

    def chase(self, frames: Sequence[tuple[M, int]], step: Callable[[tuple[M, int]], bool]) -> None:
        """Step (``step(item)``; False stops it) through ``frames``, the catch-up just closed, then
        through half as many of the frames that arrived meanwhile (chosen as ``close_catch_up``
        chooses), and so on until a round has no frame left. Each round spans the time the one before
        took at twice the stride a live step has, so the lag behind the camera halves each round,
        however slow the step; then the worker goes on with the newest frame (the slot's) without
        the jump that waits after a single catch-up. At most twice ``len(frames)`` steps in all."""
        while frames:
            count, after = len(frames) // 2, self._stamp(frames[-1][0])
            if count:
                self.open_catch_up(after)
            try:
                stepped = all(step(item) for item in frames)  # stops at the first False
            finally:
                frames = self.close_catch_up(count, after) if count else []
            if not stepped:
                return

    def _hold(self, item: tuple[M, int]) -> None:
        """Hold every ``_every``-th frame; past ``CATCH_UP_HELD``, every other held one goes and the
        stride doubles, so that the held frames stay evenly spaced over the whole wait."""
        self._arrivals += 1
        if self._arrivals % self._every:
            return
        self._catch_up.append((self._arrivals, item))
        if len(self._catch_up) > CATCH_UP_HELD:
            self._every *= 2
            self._catch_up = [(n, kept) for n, kept in self._catch_up if n % self._every == 0]
