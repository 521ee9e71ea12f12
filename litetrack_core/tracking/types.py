"""What a tracker returns for every frame, and the interface every tracker offers.

Boxes are (x, y, w, h) in image pixels, top-left origin, floats. Frames are RGB uint8 arrays of
shape (H, W, 3).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Protocol

import numpy as np

__all__ = ["FrameTracker", "Timing", "TrackResult", "TrackState"]


class TrackState(str, Enum):
    """The one tracking state, from the tracker to the ROS message (TrackStatus has a constant of each name).

    IDLE: no target. TRACKING: the box follows the target. LOST: the score stayed low; the box is the
    last guess. GROUNDING: words are being looked for on the whole frame. A ``TrackResult`` is
    TRACKING or LOST; a program that drives the tracker (the node) is also IDLE or GROUNDING.
    """

    IDLE = "IDLE"
    TRACKING = "TRACKING"
    LOST = "LOST"
    GROUNDING = "GROUNDING"


@dataclass(frozen=True)
class Timing:
    """Wall-clock milliseconds of one call, by stage."""

    preprocess_ms: float = 0.0
    model_ms: float = 0.0
    postprocess_ms: float = 0.0

    @property
    def total_ms(self) -> float:
        return self.preprocess_ms + self.model_ms + self.postprocess_ms


@dataclass(frozen=True)
class TrackResult:
    """One frame's answer.

    frame_index: 0 for the frame the target was set on, then +1 per ``track`` call.
    box_xywh_px: (x, y, w, h) in image pixels, clipped to the frame.
    score: confidence in [0, 1] (the model's score at the chosen cell; NaN where none exists).
    state: TRACKING or LOST.
    timing: stage timings of this call.
    regrounded: True when words found the target again on this frame (after LOST).
    cell_index: the chosen cell of the search grid (row-major), -1 where none was chosen.
    keep_ratio: the share of search tokens kept at each pruning block for this frame (1.0: none pruned).
    grounding: how words placed the box on this frame: "proposals" (the detector's proposals ranked by
        the sentence), "model" (the tracking model's own grounding), "memory" (re-grounding: the sentence's best
        proposals scored by the tracking step, which reads the target memory), "" (no grounding on this frame).
    grounding_score: the probability that the proposal is the target ("proposals"), the model's
        grounding score ("model"), NaN without grounding.
    memory_entries: past frames in the target memory (besides the first template; 0 without memory).
    memory_last_write: frame index of the memory's last write, -1 when none (or no memory).
    memory_read: whether this frame's model call read the memory (``MemoryConfig.read``).
    memory_overruled: whether the box found reading the memory was checked and the first template's
        own answer taken instead (``MemoryConfig.check``).
    """

    frame_index: int
    box_xywh_px: tuple[float, float, float, float]
    score: float
    state: TrackState
    timing: Timing = Timing()
    regrounded: bool = False
    cell_index: int = -1
    keep_ratio: float = 1.0
    grounding: str = ""
    grounding_score: float = float("nan")
    memory_entries: int = 0
    memory_last_write: int = -1
    memory_read: bool = False
    memory_overruled: bool = False


class FrameTracker(Protocol):
    """A tracker that a program drives frame by frame (LiteTrack, or a baseline such as CSRT)."""

    def set_target(
        self, frame: np.ndarray, text: str | None = None, box: tuple[float, float, float, float] | None = None
    ) -> TrackResult:
        """Start tracking on an RGB uint8 (H, W, 3) frame, by words, by a box in pixels, or both."""
        ...

    def track(self, frame: np.ndarray) -> TrackResult:
        """The target's box on the next RGB uint8 (H, W, 3) frame."""
        ...
