"""UVLTrack / LiteTrack checkpoint family -> this project's parameter names (a pure function).

UVLTrack files (``.pth.tar``) hold the weights under ``net`` with names such as
``backbone.vit.blocks.N.attn.qkv.weight``, ``backbone.bert.encoder.layer.N.*``,
``box_head.conv_cls.*`` and ``box_head.prompter.*``. LiteTrack files add the channel
self-attention of every block as ``backbone.vit.blocks.N.attn.fc1/fc2``.
"""

from __future__ import annotations

import re

import torch

__all__ = ["UNUSED_PREFIXES", "is_uvltrack_family", "has_csa", "uvltrack_filter"]

# Entries the reference stores but no output ever reads (see docs/weights.md); dropped on load.
UNUSED_PREFIXES = (
    "backbone.vit.norm.",
    "backbone.bert.pooler.",
    "box_head.prompter.q.",
    "box_head.prompter.kv.",
    "box_head.prompter.proj.",
    "box_head.prompter.norm.",
    "box_head.coodinate",  # (sic) the reference's cell-coordinate buffer; derived here
)

# Ordered: the first matching prefix wins (conv_bbox_grounding before conv_bbox).
_RENAMES = (
    ("backbone.vit.", ""),
    ("backbone.bert.", "text.bert."),
    ("backbone.logit_scale", "logit_scale"),
    ("box_head.prompter.", "prompter."),
    ("box_head.conv_cls.", "head.score."),
    ("box_head.conv_offset.", "head.offset."),
    ("box_head.conv_bbox_grounding.", "head.size_grounding."),
    ("box_head.conv_bbox.", "head.size."),
    ("box_head.logit_scale", "head.logit_scale"),
)
_CSA = re.compile(r"^backbone\.vit\.blocks\.(\d+)\.attn\.(fc[12])\.")


def is_uvltrack_family(state_dict: dict[str, torch.Tensor]) -> bool:
    """True when the names look like a UVLTrack or LiteTrack model state dict."""
    return any(k.startswith("backbone.vit.blocks.") for k in state_dict) and any(
        k.startswith("box_head.") for k in state_dict
    )


def has_csa(state_dict: dict[str, torch.Tensor]) -> bool:
    """True for LiteTrack checkpoints (channel self-attention weights present)."""
    return any(_CSA.match(k) for k in state_dict)


def uvltrack_filter(state_dict: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], list[str]]:
    """Rename a UVLTrack/LiteTrack state dict to this project's names.

    Returns (renamed state dict, names dropped as unused by any output). Names that match no
    rule are kept as they are, so that loading reports them as unexpected.
    """
    out: dict[str, torch.Tensor] = {}
    dropped: list[str] = []
    for name, value in state_dict.items():
        if name.startswith(UNUSED_PREFIXES):
            dropped.append(name)
            continue
        name = _CSA.sub(r"blocks.\1.attn.csa.\2.", name)
        for old, new in _RENAMES:
            if name.startswith(old):
                name = new + name[len(old) :]
                break
        out[name] = value
    return out, dropped
