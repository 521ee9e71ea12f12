"""Choosing the pruning keep ratio at run time to hold a per-frame latency budget.

The controller sees one measured step time (ms) per frame. Over a window of frames at the
current ratio it compares the p90 with the budget: over it, the next lower ratio is taken; well
under it (below ``budget * (1 - hysteresis)``), the next higher one, unless that ratio was
itself over budget within the last ``retry_after`` frames. Samples are collected afresh after
every change, so one slow frame never moves the ratio, and a ratio that did not fit is not
retried at once (no oscillation between two neighbours).
"""

from __future__ import annotations

from collections import deque
from typing import Sequence

import numpy as np

__all__ = ["KEEP_RATIOS", "KeepRatioController"]

# Per-stage keep ratios the controller moves between, fastest last.
KEEP_RATIOS = (1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3)


class KeepRatioController:
    """Keep-ratio choice for a per-frame budget.

    Args:
        budget_ms: the p90 step time to stay within, ms (> 0).
        ratios: candidate keep ratios, in decreasing order.
        start: the ratio to begin with (must be one of ``ratios``; default the highest).
        window: frames measured at a ratio before it is judged.
        hysteresis: fraction of the budget that must be free before a higher ratio is tried.
        retry_after: frames before a ratio found over budget may be tried again.
    """

    def __init__(
        self,
        budget_ms: float,
        ratios: Sequence[float] = KEEP_RATIOS,
        start: float | None = None,
        window: int = 20,
        hysteresis: float = 0.2,
        retry_after: int = 300,
    ) -> None:
        if not budget_ms > 0:
            raise ValueError(f"budget_ms={budget_ms} must be > 0")
        ratios = tuple(float(r) for r in ratios)
        if not ratios or list(ratios) != sorted(set(ratios), reverse=True) or not all(0 < r <= 1 for r in ratios):
            raise ValueError(f"ratios={ratios} must be distinct, decreasing and in (0, 1]")
        if window < 1 or not 0 <= hysteresis < 1 or retry_after < 0:
            raise ValueError("window must be >= 1, hysteresis in [0, 1), retry_after >= 0")
        if start is not None and float(start) not in ratios:
            raise ValueError(f"start={start} is not one of {ratios}")
        self.budget_ms = float(budget_ms)
        self.ratios = ratios
        self.window = window
        self.hysteresis = hysteresis
        self.retry_after = retry_after
        self._level = ratios.index(float(start)) if start is not None else 0
        self._times: deque[float] = deque(maxlen=window)
        self._frame = 0
        self._over_budget_at: dict[int, int] = {}  # level -> frame it was last found over budget
        self.last_p90_ms = float("nan")

    @property
    def ratio(self) -> float:
        """The keep ratio to use for the next frame."""
        return self.ratios[self._level]

    def update(self, step_ms: float) -> float:
        """Record one frame's step time (ms); returns the keep ratio for the next frame."""
        self._frame += 1
        self._times.append(float(step_ms))
        if len(self._times) < self.window:
            return self.ratio
        p90 = float(np.percentile(self._times, 90))
        self.last_p90_ms = p90
        if p90 > self.budget_ms:
            self._over_budget_at[self._level] = self._frame
            if self._level + 1 < len(self.ratios):
                self._move(+1)
        elif p90 < self.budget_ms * (1 - self.hysteresis) and self._level > 0:
            failed = self._over_budget_at.get(self._level - 1)
            if failed is None or self._frame - failed >= self.retry_after:
                self._move(-1)
        return self.ratio

    def _move(self, step: int) -> None:
        self._level += step
        self._times.clear()
