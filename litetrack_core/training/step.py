"""One training step's forward, between the sampler's batch and the loop (pytracking's "actor").

``TrainStep`` owns the batch -> (loss, stats) contract: it takes a batch as ``TrackingPairs``
yields it (collated by a DataLoader: the ``SAMPLE_KEYS`` of ``samples.py``), moves it to the
device, runs the model and ``losses.loss_terms``, and returns the loss to back-propagate and the
stats as detached 0-d tensors on the device. Nothing is copied to the host here: the loop reads the
stats only when it logs them.

``check_finite`` is the loop's guard before ``backward`` and the optimizer: a NaN or infinite loss
stops training with ``NonFiniteLossError`` naming the step (and the non-finite loss terms), so the
weights, the optimizer state and the last checkpoint stay as they were. It costs one scalar copy
to the host per step (and, under DDP, one all-reduce, so that every process stops at the same step).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from contextlib import AbstractContextManager, nullcontext
from typing import NamedTuple

import torch
import torch.distributed as dist
from torch import nn

from litetrack_core.models.text import TokenizedText
from litetrack_core.training.losses import LossWeights, loss_terms
from litetrack_core.training.samples import SAMPLE_KEYS

__all__ = ["NonFiniteLossError", "StepOutput", "TrainStep", "check_finite"]

# Stats that are no loss term: never named as the non-finite term.
_NOT_TERMS = ("total", "iou")


class NonFiniteLossError(ValueError):
    """The loss of a training step is NaN or infinite; training stopped before the optimizer used it.

    A ValueError, so that ``litetrack train`` reports it as ``error: ...`` like a bad setting.
    ``step`` is the optimizer step (1-based, as ``metrics.jsonl`` counts) that was not taken.
    """

    def __init__(self, message: str, step: int) -> None:
        super().__init__(message)
        self.step = step


class StepOutput(NamedTuple):
    """loss: the scalar to back-propagate. stats: detached 0-d float32 tensors on the device, the
    same names at every step of a run (each loss term unweighted, "total", "iou": NaN when no sample
    of the batch has the target). samples: the batch's size."""

    loss: torch.Tensor
    stats: dict[str, torch.Tensor]
    samples: int


class TrainStep:
    """batch -> ``StepOutput`` for one model (plain or DDP-wrapped) on one device.

    Args:
        net: the model to call (``LiteTrack`` in train mode, or its DistributedDataParallel wrapper).
        device: where the batch goes.
        weights: the loss weights (``TrainConfig.losses``).
        keep_ratio_target: for models with soft pruning gates (``TrainConfig.keep_ratio_target``).
        autocast: the context the forward and the losses run in (bf16 autocast, or none).
    """

    def __init__(
        self,
        net: nn.Module,
        device: torch.device,
        weights: LossWeights = LossWeights(),
        keep_ratio_target: float | None = None,
        autocast: AbstractContextManager | None = None,
    ) -> None:
        self.net = net
        self.device = torch.device(device)
        self.weights = weights
        self.keep_ratio_target = keep_ratio_target
        self.autocast = autocast if autocast is not None else nullcontext()

    def __call__(self, batch: Mapping[str, torch.Tensor]) -> StepOutput:
        missing = [k for k in SAMPLE_KEYS if k not in batch]
        if missing:
            raise ValueError(f"a training batch needs {list(SAMPLE_KEYS)}; missing {missing}")
        batch = {k: v.to(self.device, non_blocking=True) for k, v in batch.items()}
        with self.autocast:
            feats, head, _ = self.net(
                batch["template"],
                batch["search"],
                TokenizedText(batch["text_ids"], batch["text_mask"]),
                batch["template_mask"],
                batch["context_mask"],
                batch["flag"],
                memory=batch.get("memory"),
                memory_mask=batch.get("memory_mask"),
            )
            loss, stats = loss_terms(feats, head, batch, self.weights, self.keep_ratio_target)
        if "iou" not in stats:  # no sample with the target: keep the names fixed (DDP averages them)
            stats["iou"] = torch.full((), math.nan, device=loss.device)
        return StepOutput(loss, stats, int(batch["flag"].shape[0]))


def check_finite(loss: torch.Tensor, stats: Mapping[str, torch.Tensor], step: int, world: int = 1) -> None:
    """Raise ``NonFiniteLossError`` naming ``step`` when ``loss`` is NaN or infinite on this process
    or (``world`` > 1, inside a process group) on any other; call it before ``backward``."""
    bad = (~torch.isfinite(loss.detach())).reshape(1).float()
    if world > 1:
        dist.all_reduce(bad)  # every process learns it at the same step, none waits in backward
    if not bad.item():  # the step's one copy to the host
        return
    value = float(loss.detach())
    if math.isfinite(value):
        where = f"on {int(bad.item())} of {world} processes, not this one"
    else:
        terms = [f"{k}={float(v)}" for k, v in stats.items() if k not in _NOT_TERMS and not math.isfinite(float(v))]
        where = f"total={value}" + (f"; non-finite terms: {', '.join(terms)}" if terms else "")
    raise NonFiniteLossError(
        f"non-finite loss at step {step} ({where}); training stopped before the optimizer applied it, "
        "the last checkpoint is the last good state (lower lr, check the data's boxes, or amp)",
        step,
    )
