"""The tracking loop's settings (``TrackerConfig``): LOST and re-grounding, prompt updates, the box's
size and shape smoothing, token pruning and its latency budget, the target memory."""

from __future__ import annotations

from dataclasses import dataclass

from litetrack_core.tracking.memory import MemoryConfig

__all__ = ["TrackerConfig"]


@dataclass(frozen=True)
class TrackerConfig:
    """Behaviour of the loop (the model's geometry comes from its own config).

    Args:
        lost_score: a frame whose score is below this is weak.
        lost_after: this many weak frames in a row make the state LOST (0: never).
        regrounding: look for a target named in words on the whole frame while LOST.
        reground_every: frames between grounding attempts while LOST.
        reground_score: grounding score needed to resume tracking from the grounded box.
        update_interval: frames between prompt updates from the best recent frame (0: never).
        update_score: the best recent score must exceed this for an update.
        clip_margin_px: the box keeps at least this much inside the frame (reference: 10).
        scale_lr: how far the box's width and height move toward the model's each frame (1.0: all
            the way, UVLTrack's loop; lower damps one-frame size jumps, as SiamRPN smooths size).
            0.3 was chosen on the real training corpus (docs/tracking.md), never the evaluation set.
        scale_step: the most the box's width and height may change from one frame to the next, as a
            fraction of the last box's (0.02: 2 %, after ``scale_lr``; 0: no bound). Why: on video
            it never saw, the model's box can swell within a few frames over a passing neighbour (or
            from a part to the whole), then follow the neighbour. Per tracked frame: at 30
            frames/s, 0.02 still lets the box double in 1.2 s. 0.02 was chosen on the real training corpus
            (docs/tracking.md), never the evaluation set.
        aspect_anchor: how strongly the box's aspect ratio (w / h) is held to the first frame's, in
            [0, 1]: the new aspect is first-frame^a x model's^(1 - a) (geometric), the area the
            model's (after ``scale_lr`` and ``scale_step``). 0: the model's shape (UVLTrack's loop); 1: the first
            frame's shape kept, as correlation-filter trackers (CSRT) keep it. The first frame's box
            is the one given, or grounding's for words alone. 0.5 was chosen on the real training
            corpus (docs/tracking.md), never the evaluation set.
        words_in_step: with both words and a box, the words also condition every frame's model call
            (UVLTrack's NL+BBOX, True), or only name the target for finding it again while LOST
            (False: each frame's call is box mode's). Words alone always condition it. False was
            chosen on the real training corpus (docs/tracking.md), never the evaluation set.
        keep_ratio: search tokens kept at each of the model's pruning blocks (1.0: no pruning).
        latency_budget_ms: when > 0, the keep ratio is chosen at run time so that the p90 of the
            per-frame step (pre-processing + model + post-processing) stays within this budget
            (``tracking/budget.py``); ``keep_ratio`` is then the starting point.
        memory_size: past frames the target memory holds besides the first template (0: no memory;
            asymmetric models; ``tracking/memory.py``). memory_interval: frames between writes.
        memory_score, memory_agreement: what a frame needs to be written (``MemoryConfig``).
        memory_read: when the model reads the memory, "weak" (on a frame after one scoring under
            memory_score) or "always" (every frame) (``MemoryConfig``). memory_check: IoU with the
            last box under which a box found reading the memory is checked against the first
            template alone, whose answer stands where they disagree (0: never; ``MemoryConfig``).
    """

    lost_score: float = 0.2
    lost_after: int = 10
    regrounding: bool = True
    reground_every: int = 5
    reground_score: float = 0.4
    update_interval: int = 20
    update_score: float = 0.5
    clip_margin_px: float = 10.0
    scale_lr: float = 0.3
    scale_step: float = 0.02
    aspect_anchor: float = 0.5
    words_in_step: bool = False
    keep_ratio: float = 1.0
    latency_budget_ms: float = 0.0
    memory_size: int = 0
    memory_interval: int = 10
    memory_score: float = 0.5
    memory_agreement: float = 0.8
    memory_read: str = "weak"
    memory_check: float = 0.5

    @property
    def memory(self) -> MemoryConfig:
        return MemoryConfig(self.memory_size, self.memory_interval, self.memory_score, self.memory_agreement,
                            self.memory_read, self.memory_check)

    def __post_init__(self) -> None:
        self.memory  # refuses bad memory settings now
        for name in ("lost_score", "reground_score", "update_score", "aspect_anchor"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name}={value} must be in [0, 1]")
        for name in ("lost_after", "update_interval"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name}={getattr(self, name)} must be >= 0")
        if self.reground_every < 1:
            raise ValueError(f"reground_every={self.reground_every} must be >= 1")
        if self.clip_margin_px < 0:
            raise ValueError(f"clip_margin_px={self.clip_margin_px} must be >= 0")
        if not 0.0 <= self.scale_step <= 1.0:
            raise ValueError(f"scale_step={self.scale_step} must be in [0, 1] (0: no bound)")
        for name in ("keep_ratio", "scale_lr"):
            if not 0.0 < getattr(self, name) <= 1.0:
                raise ValueError(f"{name}={getattr(self, name)} must be in (0, 1]")
        if not self.latency_budget_ms >= 0:  # also refuses NaN
            raise ValueError(f"latency_budget_ms={self.latency_budget_ms} must be >= 0 (0: off)")
