"""Reading, recognising, loading and writing model checkpoints.

A checkpoint is data from strangers: files are read with safetensors or with
``torch.load(..., weights_only=True)``, which refuses pickled objects other than tensors and
plain containers. Formats recognised:

- ``litetrack``: this project's ``.safetensors`` file, its config as JSON in the metadata.
  A file with metadata ``base = "packages"`` (``export_checkpoint``) holds only what differs from
  the config's pretrained initialisation from installed packages (``init_from_packages``),
  usually in float16: the loader initialises from the packages first, then applies the file.
- ``uvltrack`` / ``litetrack-ref``: the public UVLTrack / LiteTrack training files, weights
  under ``net`` (or a bare state dict with the same names).
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from litetrack_core.models.configs import DEFAULT_CONFIG, ModelConfig, get_config
from litetrack_core.models.factory import create_model
from litetrack_core.models.litetrack import LiteTrack
from litetrack_core.weights.files import CheckpointError, read_torch_file
from litetrack_core.weights.pretrained import init_from_packages
from litetrack_core.weights.uvltrack import has_csa, is_uvltrack_family, uvltrack_filter

__all__ = [
    "DEFAULT_CHECKPOINT",
    "CheckpointError",
    "LoadReport",
    "average_models",
    "export_checkpoint",
    "load_checkpoint",
    "load_model",
    "read_checkpoint",
    "read_torch_file",
    "save_checkpoint",
]

log = logging.getLogger(__name__)

Format = Literal["litetrack", "uvltrack", "litetrack-ref"]

# The project's trained default model, shipped inside the package (see MODEL_CARD.md beside it).
DEFAULT_CHECKPOINT = Path(__file__).parent / "default" / f"{DEFAULT_CONFIG}.safetensors"


@dataclass
class LoadReport:
    """What happened when a checkpoint met a model."""

    path: str
    format: Format
    loaded: int
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    dropped_unused: list[str] = field(default_factory=list)

    @property
    def exact(self) -> bool:
        """Every model entry came from the file and every file entry was used or known-unused."""
        return not self.missing and not self.unexpected

    def __str__(self) -> str:
        lines = [
            f"{self.path}: format {self.format}, {self.loaded} entries loaded, "
            f"{len(self.missing)} missing, {len(self.unexpected)} unexpected, "
            f"{len(self.dropped_unused)} dropped as unused by any output"
        ]
        lines += [f"  missing: {k}" for k in self.missing]
        lines += [f"  unexpected: {k}" for k in self.unexpected]
        return "\n".join(lines)


@dataclass
class Checkpoint:
    """A checkpoint read from disk, already in this project's parameter names."""

    path: str
    format: Format
    state_dict: dict[str, torch.Tensor]
    config: ModelConfig
    dropped_unused: list[str]
    base: str | None = None


def read_checkpoint(path: str | Path) -> Checkpoint:
    """Read a checkpoint of a known format and rename it to this project's names."""
    path = Path(path)
    if path.suffix == ".safetensors":
        return _read_safetensors(path)
    data = read_torch_file(path)
    if isinstance(data, dict) and "model" in data and "net" not in data:
        raise CheckpointError(
            f"{path} holds weights under 'model' (an MAE ViT file): it initialises a model for "
            "training (litetrack_core.weights.pretrained.load_mae_visual), it is not a tracker checkpoint"
        )
    state = data.get("net", data) if isinstance(data, dict) else None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        keys = sorted(data)[:8] if isinstance(data, dict) else type(data).__name__
        raise CheckpointError(
            f"{path} is not a checkpoint of a known format: expected a UVLTrack/LiteTrack file "
            f"(tensors under 'net') or a .safetensors file written by litetrack; found {keys}"
        )
    if not is_uvltrack_family(state):
        raise CheckpointError(
            f"{path} is not a UVLTrack/LiteTrack checkpoint: no 'backbone.vit.blocks.*' and "
            f"'box_head.*' entries among {len(state)} (first: {sorted(state)[:5]})"
        )
    csa = has_csa(state)
    renamed, dropped = uvltrack_filter(state)
    config = get_config("litetrack-b256" if csa else "uvltrack-b256")
    return Checkpoint(str(path), "litetrack-ref" if csa else "uvltrack", renamed, config, dropped)


def _read_safetensors(path: Path) -> Checkpoint:
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        state = load_file(path)
        with safe_open(path, framework="pt") as f:
            meta = f.metadata() or {}
    except (SafetensorError, OSError) as err:
        raise CheckpointError(f"{path} is not a readable safetensors file: {err}") from None
    if "config" not in meta:
        raise CheckpointError(f"{path} has no 'config' metadata: not a checkpoint written by litetrack")
    try:
        config = ModelConfig.from_dict(json.loads(meta["config"]))
    except (ValueError, TypeError) as err:
        raise CheckpointError(f"{path} has an invalid model config in its metadata: {err}") from None
    base = meta.get("base")
    if base not in (None, "packages"):
        raise CheckpointError(f"{path}: unknown base {base!r} in its metadata (known: 'packages')")
    return Checkpoint(str(path), "litetrack", state, config, [], base)


def load_checkpoint(model: LiteTrack, path: str | Path, strict: bool = True) -> LoadReport:
    """Load a checkpoint into ``model`` and report what matched.

    Shapes that disagree always fail with a ``CheckpointError`` listing them. With ``strict``,
    missing or unexpected entries fail too; otherwise they are only reported.
    """
    ckpt = read_checkpoint(path)
    return _apply(model, ckpt, strict)


def _apply(model: LiteTrack, ckpt: Checkpoint, strict: bool) -> LoadReport:
    own = model.state_dict()
    from_packages: set[str] = set()
    if ckpt.base == "packages":
        from_packages = set(init_from_packages(model))
    bad = [
        f"{k}: file {tuple(v.shape)} vs model {tuple(own[k].shape)}"
        for k, v in ckpt.state_dict.items()
        if k in own and v.shape != own[k].shape
    ]
    if bad:
        raise CheckpointError(
            f"{ckpt.path}: {len(bad)} shapes disagree with model config {model.cfg.name!r}:\n  "
            + "\n  ".join(bad[:20])
        )
    report = LoadReport(
        path=ckpt.path,
        format=ckpt.format,
        loaded=sum(k in own for k in ckpt.state_dict),
        missing=sorted(set(own) - set(ckpt.state_dict) - from_packages),
        unexpected=sorted(set(ckpt.state_dict) - set(own)),
        dropped_unused=ckpt.dropped_unused,
    )
    if strict and not report.exact:
        raise CheckpointError(f"checkpoint does not match model config {model.cfg.name!r}:\n{report}")
    usable = {k: v for k, v in ckpt.state_dict.items() if k in own}
    model.load_state_dict(usable, strict=False)
    return report


def load_model(
    path: str | Path, config: str | ModelConfig | None = None, strict: bool = True
) -> tuple[LiteTrack, LoadReport]:
    """Build the model a checkpoint was made for (or ``config``) and load it."""
    ckpt = read_checkpoint(path)
    cfg = ckpt.config if config is None else get_config(config) if isinstance(config, str) else config
    model = create_model(cfg)
    return model, _apply(model, ckpt, strict)


def save_checkpoint(model: LiteTrack, path: str | Path, metadata: dict[str, str] | None = None) -> Path:
    """Write weights and config to ``path`` (.safetensors) atomically (temp file, then rename)."""
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    return _write(state, Path(path), model.cfg, metadata or {})


def average_models(models: list[LiteTrack]) -> LiteTrack:
    """A uniform model soup (Wortsman et al., 2022): the first model with every floating-point
    entry replaced by the mean over ``models``, computed in float32. The models must share a
    config (fine-tuned from one start, as soups need); other entries (integer buffers) must agree,
    except BatchNorm's count of training batches, of which the largest is kept: runs of other seeds
    count differently (a head sees only its task's batches), and it is read only without a momentum.
    """
    first = models[0]
    for other in models[1:]:
        if other.cfg != first.cfg:
            raise ValueError(f"cannot average models of configs {first.cfg.name!r} and {other.cfg.name!r}")
    states = [m.state_dict() for m in models]
    mean = {}
    for name, value in states[0].items():
        if value.is_floating_point():
            mean[name] = (sum(s[name].float() for s in states) / len(states)).to(value.dtype)
        elif name.endswith(".num_batches_tracked"):
            mean[name] = torch.stack([s[name] for s in states]).max()
        elif any(not torch.equal(s[name], value) for s in states[1:]):
            raise ValueError(f"cannot average models whose {name} differs (not floating point)")
    first.load_state_dict(mean, strict=False)
    return first


def export_checkpoint(
    model: LiteTrack, path: str | Path, metadata: dict[str, str] | None = None, dtype: torch.dtype = torch.float16
) -> tuple[Path, int]:
    """Write the small, shippable form of a trained model: only the entries that differ from the
    config's initialisation from installed packages (the frozen pretrained parts stay in the
    packages they ship in), floating-point entries as ``dtype``. Returns (path, entries omitted).
    """
    reference = create_model(model.cfg)
    provided = set(init_from_packages(reference))
    ref = reference.state_dict()
    state = {}
    for name, value in model.state_dict().items():
        value = value.detach().cpu()
        if name in provided and torch.equal(value, ref[name]):
            continue
        state[name] = (value.to(dtype) if value.is_floating_point() else value).contiguous()
    return _write(state, Path(path), model.cfg, {"base": "packages", **(metadata or {})}), len(ref) - len(state)


def _write(state: dict[str, torch.Tensor], path: Path, cfg: ModelConfig, metadata: dict[str, str]) -> Path:
    """safetensors with the model's config in its metadata, written atomically (temp file, then rename)."""
    if path.suffix != ".safetensors":
        raise ValueError(f"checkpoints are written as .safetensors, got {path}")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    save_file(state, tmp, metadata={"config": json.dumps(cfg.to_dict()), "format": "litetrack", **metadata})
    os.replace(tmp, path)
    return path
