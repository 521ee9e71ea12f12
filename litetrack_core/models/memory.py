"""Target memory of asymmetric models: the target's tokens on past frames as extra keys of every block.

An asymmetric model (``cfg.asymmetric``) caches the target's keys and values per block, and per
frame only the search tokens run, attending to [target keys, search keys]. A memory entry is a
template crop (``cfg.template_size``) cut around the tracker's own box on a past frame, run once
through the same target pass (box only, no text: in BBOX mode the text is hidden from the template
anyway); the keys and values of its cells inside that box (the target's features, as the memories
of CMEDFL and JointNLT hold, not the background around it) are appended to the target's in every
block. The search tokens then read the first template, the words and the memory in one attention:
the per-frame cost grows by the attention over the memory's keys (no more tokens run), bounded by
the memory's size whatever the sequence's length. The first frame's keys stay first and untouched.

Shapes: memory crops (B, K, 3, Tz, Tz) normalised as ``to_model_input``; ``mask`` (B, K, Gz*Gz) bool
marks the cells read (training batches: empty slots have none). At inference (batch 1) the hidden
cells are dropped, so that the keys carry no mask and the exported search graphs, whose key counts
are dynamic, take them as they are.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch
from torch import nn

from litetrack_core.models.vit import KeyValues

__all__ = ["encode_memory", "with_memory"]


def encode_memory(model: nn.Module, crops: torch.Tensor, mask: torch.Tensor | None = None) -> list[KeyValues]:
    """Per block of ``model`` (a ``LiteTrack``, untyped: models/litetrack.py imports this module), the
    keys and values (B, heads, N, d) of the memory crops' cells (module docstring); ``mask``
    (B, K, Gz*Gz) the cells read (None: all). Batch 1 keeps only the read cells (N = their count, no
    mask); larger batches keep every cell (N = K*Gz*Gz) and hide the others."""
    cfg = model.cfg
    if not cfg.asymmetric:
        raise ValueError(f"target memory needs an asymmetric model (target keys cached); {cfg.name} is not")
    if crops.ndim != 5:
        raise ValueError(f"memory crops must be (B, K, 3, {cfg.template_size}, {cfg.template_size}), got {tuple(crops.shape)}")
    b, k = crops.shape[:2]
    tokens = model.encode_template(crops.flatten(0, 1))
    v = torch.cat([model.cls_token.expand(b * k, -1, -1), tokens], dim=1)
    read = None if mask is None else mask.bool().reshape(b, k * tokens.shape[1])
    out = []
    for i, block in enumerate(model.blocks):
        # A fusion block sees the template with the visual modal embedding added (text hidden: BBOX).
        v, kv = block.forward_kv(v + model.modal_embed[0] if i >= cfg.fusion_start else v)
        keys, values = _merge_slots(kv.k[:, :, 1:], b, k), _merge_slots(kv.v[:, :, 1:], b, k)
        if read is not None and b == 1:
            out.append(KeyValues(keys[:, :, read[0]], values[:, :, read[0]], None))
        else:
            out.append(KeyValues(keys, values, read))
    return out


def with_memory(target: Any, memory: list[KeyValues] | None) -> Any:
    """``target`` (a ``TargetState``) whose keys in every block are followed by ``memory``'s (``encode_memory``); the
    target's own tensors are shared, not copied. None or an empty memory: ``target`` itself."""
    if not memory or target.kv is None:
        return target
    kv = []
    for own, mem in zip(target.kv, memory, strict=True):
        visible = None
        if own.visible is not None or mem.visible is not None:
            visible = torch.cat([_shown(own), _shown(mem)], dim=1)
        kv.append(KeyValues(torch.cat([own.k, mem.k], dim=2), torch.cat([own.v, mem.v], dim=2), visible))
    return dataclasses.replace(target, kv=kv)


def _merge_slots(t: torch.Tensor, b: int, k: int) -> torch.Tensor:
    """(B*K, heads, Nz, d) -> (B, heads, K*Nz, d), slot-major."""
    _, heads, n, d = t.shape
    return t.reshape(b, k, heads, n, d).transpose(1, 2).reshape(b, heads, k * n, d)


def _shown(kv: KeyValues) -> torch.Tensor:
    if kv.visible is not None:
        return kv.visible
    return torch.ones(kv.k.shape[0], kv.k.shape[2], dtype=torch.bool, device=kv.k.device)
