"""A training run as data: one YAML file (configs/train/*.yaml) read into ``TrainConfig``.

Every field has a default; a file names only what differs. Unknown keys are refused, so a typo
never silently trains something else.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from litetrack_core.models.configs import ModelConfig, get_config
from litetrack_core.training.losses import LossWeights

__all__ = ["DatasetSpec", "TrainConfig", "load_train_config"]


@dataclass(frozen=True)
class DatasetSpec:
    """One dataset folder (any layout ``data.load.load_dataset`` reads).

    names: only these sequences (None: all). exclude: leave these out (held-out sequences).
    split: the split folder where the layout has several (train / val / test).
    weight: this dataset's share of the samples, relative to the other datasets' weights. Either
        every dataset of a config has one or none has; without weights a dataset's share is its
        number of sequences times ``repeat`` (sequences drawn uniformly over all datasets).
    repeat: without weights, each sequence counts this many times (to weigh a small real set
        against a large rendered one); with weights it must stay 1.
    task_mix: (BBOX, NL, NLBBOX) probabilities of this dataset's samples (default: the config's).
        The same folder may be listed twice, e.g. once for tracking and once with [0, 1, 0] for
        grounding samples from its sentences.
    """

    path: str
    names: tuple[str, ...] | None = None
    exclude: tuple[str, ...] = ()
    split: str | None = None
    repeat: int = 1
    weight: float | None = None
    task_mix: tuple[float, float, float] | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.repeat, int) or self.repeat < 1:
            raise ValueError(f"dataset {self.path}: repeat={self.repeat!r} must be an integer >= 1")
        if self.weight is not None:
            if isinstance(self.weight, bool) or not isinstance(self.weight, (int, float)) or not 0 < self.weight < float("inf"):
                raise ValueError(f"dataset {self.path}: weight={self.weight!r} must be a number > 0")
            if self.repeat != 1:
                raise ValueError(f"dataset {self.path}: give weight or repeat, not both")
        if self.task_mix is not None:
            mix = self.task_mix
            if len(mix) != 3 or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0 for v in mix) \
                    or sum(mix) <= 0:
                raise ValueError(f"dataset {self.path}: task_mix={list(mix)} must be 3 numbers >= 0 (BBOX, NL, NLBBOX), sum > 0")


@dataclass(frozen=True)
class TrainConfig:
    """A training run.

    model: a registered config name or a full ``ModelConfig`` mapping.
    init: "packages" (pretrained backbones that ship in packages, see ``ModelConfig``),
        "random", or a checkpoint path to start from.
    datasets: where samples come from (``DatasetSpec`` mappings).
    epochs, samples_per_epoch, batch_size: per process; the global batch is batch_size x processes.
    lr: AdamW learning rate of the head, prompter and fusion; backbone_lr_scale multiplies it for
        the patch embedding, the ViT blocks before fusion and the text encoder (UVLTrack: 0.1).
    weight_decay, warmup_steps, grad_clip: AdamW decay, linear warm-up, then cosine to
        min_lr_ratio x lr; gradient norm clipping (0: off).
    freeze: LiteTrack's hierarchical freezing (``models/freezing.py``).
    keep_ratio_target: the pruning gate's target keep ratio (models with ``prune_gate`` only).
    amp: bf16 autocast ("auto": on CUDA only; "on" also on a CPU, worth it where the CPU has
        bf16 matrix units such as AMX: 1.2-1.3x faster steps measured on this project's Xeon).
    max_gap, task_mix, augment: the sampler's (``training/sampling.py``).
    memory_size: memory slots per tracking sample (0: no memory; ``models/memory.py``).
    memory_window: memory crops come from at most this many frames before the search frame (30:
        always recent views; up to ``max_gap``: views as old as the template's, which the model
        must learn to weigh).
    negative_ratio: share of tracking pairs whose search shows another sequence's target, to be
        scored as absent (``training/sampling.py``; 0: none, UVLTrack's recipe).
    negative_same_category: negative pairs show a target of the template's category (the
        sequences' ``category.txt``) where the pool holds one.
    ema_decay: when > 0, an exponential moving average of the weights (decay per optimizer step,
        e.g. 0.998: a half-life of about 350 steps) is kept beside them and written as
        ``ema.safetensors`` (Polyak averaging; a model soup along one run). 0: none.
    num_workers: DataLoader workers per process. seed: everything random derives from it.
    log_every, save_every: steps between metric lines and between checkpoints.
    """

    model: str | dict[str, Any] = "litetrack-s168"
    init: str = "packages"
    datasets: tuple[DatasetSpec, ...] = ()
    epochs: int = 10
    samples_per_epoch: int = 2000
    batch_size: int = 16
    lr: float = 4e-4
    backbone_lr_scale: float = 0.1
    weight_decay: float = 1e-4
    warmup_steps: int = 100
    min_lr_ratio: float = 0.01
    grad_clip: float = 0.1
    freeze: bool = False
    keep_ratio_target: float | None = None
    amp: str = "auto"
    max_gap: int = 100
    task_mix: tuple[float, float, float] = (0.45, 0.11, 0.44)
    augment: bool = True
    memory_size: int = 0
    memory_window: int = 30
    negative_ratio: float = 0.0
    negative_same_category: bool = False
    ema_decay: float = 0.0
    num_workers: int = 0
    seed: int = 0
    log_every: int = 10
    save_every: int = 200
    losses: LossWeights = field(default_factory=LossWeights)

    def __post_init__(self) -> None:
        if not self.datasets:
            raise ValueError("datasets: name at least one dataset folder")
        weighted = [d.weight is not None for d in self.datasets]
        if any(weighted) and not all(weighted):
            raise ValueError("datasets: give every dataset a weight, or none")
        if not isinstance(self.init, str) or not self.init:
            raise ValueError(f"init={self.init!r} must be packages, random or a checkpoint path")
        if self.memory_size < 0:
            raise ValueError(f"memory_size={self.memory_size} must be >= 0 (0: no memory)")
        if self.memory_window < 1:
            raise ValueError(f"memory_window={self.memory_window} must be >= 1")
        for name in ("epochs", "samples_per_epoch", "batch_size", "log_every", "save_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}={getattr(self, name)} must be >= 1")
        if not self.lr > 0 or not 0 < self.backbone_lr_scale <= 1:
            raise ValueError(f"lr={self.lr} must be > 0 and backbone_lr_scale={self.backbone_lr_scale} in (0, 1]")
        if not 0 <= self.ema_decay < 1:
            raise ValueError(f"ema_decay={self.ema_decay} must be in [0, 1) (0: no average)")
        if self.amp not in ("auto", "on", "off"):
            raise ValueError(f"amp={self.amp!r} must be auto, on or off")
        if self.keep_ratio_target is not None and not 0 < self.keep_ratio_target <= 1:
            raise ValueError(f"keep_ratio_target={self.keep_ratio_target} must be in (0, 1]")
        self.model_config()  # refuses an unknown name or field now, not after the data is loaded

    def model_config(self) -> ModelConfig:
        return get_config(self.model) if isinstance(self.model, str) else ModelConfig.from_dict(self.model)

    @property
    def total_steps(self) -> int:
        """Optimizer steps of the whole run for one process (the DataLoader drops no batch)."""
        return self.epochs * -(-self.samples_per_epoch // self.batch_size)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "TrainConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown training settings {unknown}; known: {sorted(known)}")
        data = dict(data)
        data["datasets"] = tuple(_dataset(d) for d in data.get("datasets", ()))
        if "task_mix" in data:
            data["task_mix"] = tuple(data["task_mix"])
        if "losses" in data:
            data["losses"] = LossWeights(**data["losses"])
        return cls(**data)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _dataset(entry: Any) -> DatasetSpec:
    if isinstance(entry, str):
        return DatasetSpec(entry)
    if not isinstance(entry, dict):
        raise ValueError(f"a dataset is a path or a mapping with 'path', got {entry!r}")
    entry = dict(entry)
    for key in ("names", "exclude", "task_mix"):
        if entry.get(key) is not None:
            entry[key] = tuple(entry[key])
    try:
        return DatasetSpec(**entry)
    except TypeError as err:
        raise ValueError(f"dataset entry {entry!r}: {err}") from None


def load_train_config(path: str | Path, overrides: dict[str, Any] | None = None) -> TrainConfig:
    """Read a YAML training config; dataset paths and a checkpoint ``init`` are relative to the
    file's folder."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as err:
        raise ValueError(f"cannot read training config {path}: {err}") from None
    if not isinstance(data, dict):
        raise ValueError(f"training config {path} must be a mapping of settings")
    data.update(overrides or {})

    def here(relative: str) -> str:
        return str((path.parent / relative).resolve())

    def dataset(entry: Any) -> Any:
        if isinstance(entry, str):
            return here(entry)
        if isinstance(entry, dict) and isinstance(entry.get("path"), str):
            return {**entry, "path": here(entry["path"])}
        return entry  # TrainConfig.from_dict says what is wrong with it

    data["datasets"] = [dataset(e) for e in data.get("datasets", ())]
    if isinstance(data.get("init"), str) and data["init"] not in ("packages", "random"):
        data["init"] = here(data["init"])
    return TrainConfig.from_dict(data)
