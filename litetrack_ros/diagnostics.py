"""Running statistics of the node and the 1 Hz diagnostic_msgs/DiagnosticArray built from them."""

from __future__ import annotations

import collections
import resource
import threading
import time
from dataclasses import dataclass

import numpy as np
import torch
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from std_msgs.msg import Header

from litetrack_core.tracking.types import TrackState

__all__ = ["DROP_REASONS", "NodeState", "NodeStats", "diagnostics"]

# bad_image: undecodable or malformed; too_large: over max_image_pixels; rate_limit: max_rate_hz;
# error: the tracker step failed on it.
DROP_REASONS = ("bad_image", "too_large", "rate_limit", "error")


class NodeStats:
    """Counters and recent timings; thread-safe (image callback and worker both write)."""

    def __init__(self, window: int = 100) -> None:
        self._lock = threading.Lock()
        self._arrivals: collections.deque[float] = collections.deque(maxlen=window)
        self._processed: collections.deque[float] = collections.deque(maxlen=window)
        self._window = window
        self._timings: dict[str, collections.deque[float]] = {}
        self.frames_received = 0
        self.frames_processed = 0
        # Frames dropped other than while busy (FrameSlot counts those), by reason.
        self.dropped = dict.fromkeys(DROP_REASONS, 0)

    def arrived(self) -> None:
        with self._lock:
            self.frames_received += 1
            self._arrivals.append(time.monotonic())

    def processed(self) -> int:
        """Count one processed frame (before its messages go out, which carry the count); the count."""
        with self._lock:
            self.frames_processed += 1
            self._processed.append(time.monotonic())
            return self.frames_processed

    def timed(self, **timings_ms: float) -> None:
        """A processed frame's timings in ms (latency_ms = image stamp -> published)."""
        with self._lock:
            for name, value in timings_ms.items():
                self._timings.setdefault(name, collections.deque(maxlen=self._window)).append(value)

    def drop(self, reason: str) -> None:
        """One frame dropped for ``reason`` (one of ``DROP_REASONS``)."""
        with self._lock:
            self.dropped[reason] += 1

    @property
    def bad_frames(self) -> int:
        return self.dropped["bad_image"]

    def snapshot(self) -> dict[str, float]:
        """input_fps, processing_fps, then p50 and p95 of every timing (``latency_p50_ms``, ...);
        NaN until there is data."""
        with self._lock:
            out = {"input_fps": _rate(self._arrivals), "processing_fps": _rate(self._processed)}
            for name in ("latency_ms", "transport_ms", "queue_ms", "step_ms", "node_ms"):
                values = np.array(self._timings.get(name) or [np.nan])
                base = name.removesuffix("_ms")
                out[f"{base}_p50_ms"] = float(np.percentile(values, 50))
                out[f"{base}_p95_ms"] = float(np.percentile(values, 95))
            return out


def _rate(times: collections.deque[float]) -> float:
    """Events per second over the window; 0 when the last event is older than 2 s (a stopped camera)."""
    if len(times) < 2 or time.monotonic() - times[-1] > 2.0:
        return 0.0
    return (len(times) - 1) / max(times[-1] - times[0], 1e-9)


def _memory(device: str) -> list[tuple[str, str]]:
    if device.startswith("cuda") and torch.cuda.is_available():
        return [
            ("gpu_memory_allocated_mib", f"{torch.cuda.memory_allocated() / 2**20:.0f}"),
            ("gpu_memory_peak_mib", f"{torch.cuda.max_memory_allocated() / 2**20:.0f}"),
        ]
    with open("/proc/self/statm") as f:  # resident pages are the second field
        rss = int(f.read().split()[1]) * resource.getpagesize()
    return [("cpu_rss_mib", f"{rss / 2**20:.0f}"), ("cpu_rss_peak_mib", f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f}")]


@dataclass(frozen=True)
class NodeState:
    """What the node reports besides its counters.

    name: the status name. dropped: frames dropped while busy (FrameSlot). device, precision, engine,
    threads: where and how the model runs (threads 0: every core). state: the tracking state. latency_warn_ms: WARN above this latency p95 (0:
    off). error: why the model is not loaded (None: it is). keep_ratio: the one the last frame was
    tracked with; latency_budget_ms: the per-frame step budget that chooses it (0: off). grounding:
    path and score of the last grounding by words (None: none yet). proposals: whether the object
    detector is there to ground words (else the model grounds alone).
    """

    name: str
    dropped: int
    device: str
    precision: str
    engine: str
    threads: int
    state: TrackState
    latency_warn_ms: float
    error: str | None
    keep_ratio: float = 1.0
    latency_budget_ms: float = 0.0
    grounding: tuple[str, float] | None = None
    proposals: bool = False


def diagnostics(stamp: object, stats: NodeStats, node: NodeState) -> DiagnosticArray:
    """One DiagnosticStatus: OK, WARN (latency p95 over ``latency_warn_ms``, or target lost) or ERROR
    (model not loaded)."""
    snap = stats.snapshot()
    state, error, latency_warn_ms, device = node.state.value, node.error, node.latency_warn_ms, node.device
    level, message = DiagnosticStatus.OK, f"{state.lower()}"
    if error:
        level, message = DiagnosticStatus.ERROR, error
    elif node.state is TrackState.LOST:
        level, message = DiagnosticStatus.WARN, "target lost"
    elif latency_warn_ms > 0 and snap["latency_p95_ms"] > latency_warn_ms:
        level, message = DiagnosticStatus.WARN, f"latency p95 {snap['latency_p95_ms']:.0f} ms over latency_warn_ms {latency_warn_ms:.0f} ms"
    values = [
        ("processing_fps", f"{snap['processing_fps']:.1f}"),
        ("input_fps", f"{snap['input_fps']:.1f}"),
        *((k, f"{v:.2f}") for k, v in snap.items() if k.endswith("_ms")),
        ("frames_received", str(stats.frames_received)),
        ("frames_processed", str(stats.frames_processed)),
        ("frames_dropped", str(node.dropped)),
        ("bad_frames", str(stats.bad_frames)),
        *((f"dropped_{reason}", str(count)) for reason, count in stats.dropped.items() if reason != "bad_image"),
        ("device", device),
        ("precision", node.precision),
        ("engine", node.engine),
        ("threads", str(node.threads) if node.threads else "all"),
        ("keep_ratio", f"{node.keep_ratio:g}"),
        ("latency_budget_ms", f"{node.latency_budget_ms:g}"),
        ("grounding_with", "proposals, else model" if node.proposals else "model (object detector not installed)"),
        ("last_grounding", "none" if node.grounding is None else f"{node.grounding[0]} {node.grounding[1]:.3f}"),
        ("state", state),
        *_memory(device),
    ]
    status = DiagnosticStatus(level=level, name=node.name, message=message, hardware_id=device)
    status.values = [KeyValue(key=k, value=v) for k, v in values]
    return DiagnosticArray(header=Header(stamp=stamp), status=[status])
