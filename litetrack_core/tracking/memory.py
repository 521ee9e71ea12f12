"""The tracker's target memory: what it writes, when, and what it evicts (the model side:
``models/memory.py``).

Between writes the memory keeps one candidate: the most confident frame since the last write whose
best cell also agrees with the target (its features' cosine to the first template's reference token,
and to the words' when the target was named, at least ``agreement`` times what the first frame's own
target cell had). Every ``interval`` frames the candidate, if any and if the tracker is not LOST, is
written: its template crop, cut around the tracker's box, runs once through the model's target pass,
and the keys of its cells inside that box join the memory.
The bank holds ``size`` entries; a full bank drops its oldest. The first frame's template is no
entry: it is the target itself, never evicted.

When the model reads the bank (``read``): "weak" (the default) only on a frame after one that scored
under ``score`` (the first template alone otherwise), "always" on every frame. Read on every frame,
the entries pull a confident track toward their views (girl_otb: the box leaves the girl when she
turns away); read only after a weak frame, they serve where the first template alone is failing
(docs/tracking.md, "Target memory": the held-out long sequences chose it).

A frame that reads the bank and whose box moves off the last one (IoU under ``check``) is checked:
the first template alone runs on the same crop, and where the two answers disagree (IoU under 0.5)
the first template's stands (``overrules``). The entries may refine the box and keep it where the
first template is failing, but not carry it elsewhere on their own (girl_otb: reading them, the box
jumped to another place as she turned away).

Per frame the memory costs a comparison, and a crop when the candidate improves; a write costs one
target pass of one template (every ``interval`` frames at most); a frame that reads the bank
attends to its keys as well, and a checked frame runs the first template's step besides.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from litetrack_core.models.memory import encode_memory, with_memory
from litetrack_core.models.vit import KeyValues
from litetrack_core.tracking.crop import iou_cxcywh

__all__ = ["READS", "MemoryConfig", "TargetMemory", "agreement", "overlap"]

READS = ("weak", "always")  # when the model reads the bank (module docstring)
_DISAGREE = 0.5  # IoU under which a checked answer and the first template's are two places


@dataclass(frozen=True)
class MemoryConfig:
    """size: entries besides the first template (0: no memory). interval: frames between writes.
    score: a frame's score must reach this to be written (and, read "weak", a frame under it makes the
    next frame read the bank). agreement: share of the first frame's own agreement (module docstring)
    that a frame must reach. read: "weak" or "always" (module docstring). check: IoU with the last
    box under which a box found reading the bank is checked against the first template alone (0:
    never; module docstring)."""

    size: int = 0
    interval: int = 10
    score: float = 0.5
    agreement: float = 0.8
    read: str = "weak"
    check: float = 0.5

    def __post_init__(self) -> None:
        if self.size < 0:
            raise ValueError(f"memory_size={self.size} must be >= 0 (0: no memory)")
        if self.interval < 1:
            raise ValueError(f"memory_interval={self.interval} must be >= 1")
        for name in ("score", "agreement", "check"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"memory_{name}={getattr(self, name)} must be in [0, 1]")
        if self.read not in READS:
            raise ValueError(f"memory_read={self.read!r} must be one of {', '.join(READS)}")


def overlap(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    """IoU of two (x, y, w, h) boxes (pixels)."""
    centred = np.array([[x + w / 2, y + h / 2, w, h] for x, y, w, h in (a, b)], dtype=np.float64)
    return float(iou_cxcywh(centred[:1], centred[1:])[0])


def agreement(cells: torch.Tensor, references: torch.Tensor) -> torch.Tensor:
    """Cosine of cells' features (..., C) to each reference token (R, C): (..., R)."""
    return F.normalize(cells.float(), dim=-1) @ F.normalize(references.float(), dim=-1).T


class TargetMemory:
    """One target's bank (module docstring). ``references`` (R, C): the first template's reference
    token and, for a named target, the words'; ``first`` (R,): the first frame's agreement with them."""

    def __init__(self, config: MemoryConfig, references: torch.Tensor, first: torch.Tensor) -> None:
        self.config = config
        self.references = references
        self.floor = config.agreement * first.clamp(min=0.0)
        self.entries: deque[list[KeyValues]] = deque(maxlen=config.size)
        self.last_write = -1  # frame index of the last write
        # (score, template crop (1, 3, Tz, Tz), its cells inside the box (1, Gz*Gz) bool)
        self._candidate: tuple[float, torch.Tensor, torch.Tensor] | None = None

    def __len__(self) -> int:
        return len(self.entries)

    def agrees(self, cell: torch.Tensor) -> bool:
        """Whether a frame's best cell features (C,) agree with the target (module docstring)."""
        return bool((agreement(cell, self.references) >= self.floor).all())

    def wants(self, score: float) -> bool:
        """Whether a frame of this score would replace the current candidate (it must reach the score
        floor; a crop is cut only then)."""
        return score >= self.config.score and (self._candidate is None or score > self._candidate[0])

    def offer(self, score: float, crop: torch.Tensor, cells: torch.Tensor) -> None:
        """A confident, agreeing frame (``wants`` said yes): its template crop (1, 3, Tz, Tz), normalised,
        and the crop's cells inside the tracker's box (1, Gz*Gz) bool."""
        self._candidate = (score, crop, cells)

    def drop_candidate(self) -> None:
        """Forget the candidate (the tracker is LOST: nothing from before is written after)."""
        self._candidate = None

    def reads_after(self, score: float) -> bool:
        """Whether the frame after one of this score reads the bank (``read``; an empty bank is never read)."""
        return bool(self.entries) and (self.config.read == "always" or score < self.config.score)

    def doubts(self, box: tuple[float, ...], last: tuple[float, ...]) -> bool:
        """Whether a box (x, y, w, h px) found reading the bank moved off the last box so far (IoU under
        ``check``) that the first template alone must confirm it (module docstring)."""
        return overlap(box, last) < self.config.check

    @staticmethod
    def overrules(plain: tuple[float, ...], box: tuple[float, ...]) -> bool:
        """Whether the first template's own box disagrees with a doubted one (module docstring)."""
        return overlap(plain, box) < _DISAGREE

    def write_due(self, frame_index: int) -> bool:
        return frame_index % self.config.interval == 0 and self._candidate is not None

    def write(self, model, frame_index: int) -> None:
        """Encode the candidate and add it, the oldest entry dropped when full."""
        assert self._candidate is not None
        _, crop, cells = self._candidate
        self.entries.append(encode_memory(model, crop.unsqueeze(1), cells.unsqueeze(1)))
        self.last_write, self._candidate = frame_index, None

    def state(self, target):
        """``target`` (the first template's ``TargetState``) with every entry's keys after its own."""
        if not self.entries:
            return target
        merged = [
            KeyValues(torch.cat([e[i].k for e in self.entries], dim=2), torch.cat([e[i].v for e in self.entries], dim=2), None)
            for i in range(len(self.entries[0]))
        ]
        return with_memory(target, merged)
