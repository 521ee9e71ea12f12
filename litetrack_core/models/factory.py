"""``create_model``: the one way to build a model from a config name or object."""

from __future__ import annotations

import copy
import dataclasses

from litetrack_core.models.configs import ModelConfig, get_config
from litetrack_core.models.litetrack import LiteTrack

__all__ = ["RUN_TIME_FIELDS", "count_parameters", "create_model", "run_variant"]

# Config fields that change how the weights are run, not which weights exist.
RUN_TIME_FIELDS = frozenset({"asymmetric", "prune_blocks", "prune_score"})


def create_model(config: str | ModelConfig, drop_path: float = 0.0) -> LiteTrack:
    """Build a model in eval mode, randomly initialised (pretrained parts and checkpoints are the
    weights layer's: ``weights.pretrained.create_pretrained_model``, ``weights.checkpoint.load_model``).

    Args:
        config: a registered name (see ``CONFIGS``) or a ``ModelConfig``.
        drop_path: stochastic depth rate of the last block (training).
    """
    cfg = get_config(config) if isinstance(config, str) else config
    return LiteTrack(cfg, drop_path=drop_path).eval()


def run_variant(model: LiteTrack, **changes: object) -> LiteTrack:
    """The same weights (shared, not copied) run under a config changed in ``RUN_TIME_FIELDS``.

    For measuring, e.g., asymmetric caching or another pruning schedule on a model trained
    without it (an approximation of what a model trained that way computes).
    """
    unknown = set(changes) - RUN_TIME_FIELDS
    if unknown:
        raise ValueError(f"only {sorted(RUN_TIME_FIELDS)} can change without new weights, not {sorted(unknown)}")
    variant = copy.copy(model)  # shares submodules and parameters
    variant.cfg = dataclasses.replace(model.cfg, **changes)
    return variant


def count_parameters(model: LiteTrack) -> dict[str, int]:
    """Parameter counts: total, trainable, and per part (visual, text, prompter, head)."""
    parts = {"visual": 0, "text": 0, "prompter": 0, "head": 0}
    total = trainable = 0
    for name, p in model.named_parameters():
        total += p.numel()
        trainable += p.numel() if p.requires_grad else 0
        part = name.split(".")[0]
        parts[part if part in parts else "visual"] += p.numel()
    return {"total": total, "trainable": trainable, **parts}
