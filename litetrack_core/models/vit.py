"""ViT blocks with key masking and LiteTrack's channel self-attention (CSA), on timm layers.

Token tensors are (B, N, C). A ``visible`` mask is (B, N) bool, True where a token may be attended
to (a key that takes part); masked tokens are still computed as queries, as in UVLTrack.
Target caching passes the keys and values of tokens computed once per target as a ``prefix``:
the block's own tokens attend to [prefix, own] while the prefix itself is not recomputed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from timm.layers import DropPath, LayerScale, Mlp
from torch import nn

__all__ = [
    "LOGIT_SCALE_INIT",
    "Attention",
    "Block",
    "ChannelSelfAttention",
    "KeyValues",
    "init_linear_xavier",
    "sincos_pos_embed_2d",
]

# CLIP's initial temperature 0.07, stored as log(1/T) as in UVLTrack.
LOGIT_SCALE_INIT = math.log(1 / 0.07)


@dataclass
class KeyValues:
    """Keys and values (B, heads, N, head_dim) of N tokens in one block, and their visibility
    (B, N) bool, None when every one of them may be attended."""

    k: torch.Tensor
    v: torch.Tensor
    visible: torch.Tensor | None


class ChannelSelfAttention(nn.Module):
    """Squeeze-excitation over channels of the attention output (LiteTrack's CSA).

    The squeeze averages only over visible tokens, so padding and hidden modalities do not
    change the channel weights (the public LiteTrack code averages over all tokens). ``visible``
    may also be float weights (soft pruning gates): a weighted average.

    Args:
        dim: token width.
        hidden: bottleneck width.
    """

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor, visible: torch.Tensor | None = None) -> torch.Tensor:
        if visible is None:
            pooled = x.mean(dim=1)
        else:
            weights = visible.to(x.dtype).unsqueeze(-1)
            pooled = (x * weights).sum(dim=1) / weights.sum(dim=1).clamp_min(1e-6)
        gate = torch.sigmoid(self.fc2(F.relu(self.fc1(pooled))))
        return x * gate.unsqueeze(1)


class Attention(nn.Module):
    """Multi-head self-attention over (B, N, C) with an optional key mask and optional CSA.

    Args:
        dim: token width.
        num_heads: heads; ``dim`` must be divisible by it.
        qkv_bias: bias on the fused qkv projection.
        csa_hidden: CSA bottleneck width, or None for plain ViT attention.
    """

    def __init__(self, dim: int, num_heads: int, qkv_bias: bool = True, csa_hidden: int | None = None) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"dim={dim} must be divisible by num_heads={num_heads}")
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.csa = ChannelSelfAttention(dim, csa_hidden) if csa_hidden else None
        self.proj = nn.Linear(dim, dim)

    def forward(
        self,
        x: torch.Tensor,
        visible: torch.Tensor | None = None,
        prefix: KeyValues | None = None,
        key_bias: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, KeyValues]:
        """Attend from ``x`` to [``prefix``, ``x``]; returns (output (B, N, C), x's own keys/values).

        ``key_bias`` (B, N) is added to the attention logits of x's keys (soft pruning gates, as
        log-probabilities, in training). CSA pools over x's visible tokens only.
        """
        b, n, c = x.shape
        q, k, v = self.qkv(x).reshape(b, n, 3, self.num_heads, c // self.num_heads).permute(2, 0, 3, 1, 4)
        own = KeyValues(k, v, visible)
        keys, values, key_visible = k, v, visible
        if prefix is not None:
            keys, values = torch.cat([prefix.k, k], dim=2), torch.cat([prefix.v, v], dim=2)
            if prefix.visible is not None or visible is not None:
                key_visible = torch.cat([_all_if_none(prefix.visible, prefix.k), _all_if_none(visible, k)], dim=1)
        # No mask at all when every key may be attended: SDPA's fastest kernels.
        attn_mask = None if key_visible is None else key_visible[:, None, None, :]
        if key_bias is not None:
            bias = torch.zeros(b, keys.shape[2], dtype=q.dtype, device=x.device)
            bias[:, keys.shape[2] - n :] += key_bias.to(q.dtype)
            if key_visible is not None:
                bias = bias.masked_fill(~key_visible, float("-inf"))
            attn_mask = bias[:, None, None, :]
        out = F.scaled_dot_product_attention(q, keys, values, attn_mask=attn_mask)
        out = out.transpose(1, 2).reshape(b, n, c)
        if self.csa is not None:
            pooled = visible
            if key_bias is not None:
                # Soft pruning: a gated token counts in the channel squeeze by its gate, as in the
                # attention (hard pruning drops it from both).
                gate = key_bias.exp().to(out.dtype)
                pooled = gate if visible is None else visible * gate
            out = self.csa(out, pooled)
        return self.proj(out), own


def _all_if_none(visible: torch.Tensor | None, keys: torch.Tensor) -> torch.Tensor:
    """``visible``, or all-True (B, N) for keys (B, heads, N, d) when it is None."""
    if visible is not None:
        return visible
    return torch.ones(keys.shape[0], keys.shape[2], dtype=torch.bool, device=keys.device)


class Block(nn.Module):
    """Pre-norm transformer block (LayerNorm eps 1e-6, exact GELU), optional LayerScale.

    Args:
        dim: token width.
        num_heads: attention heads.
        mlp_ratio: MLP hidden width / dim.
        csa_hidden: CSA bottleneck width, or None.
        layer_scale: add DINOv2-style LayerScale after attention and MLP.
        drop_path: stochastic depth rate (training only).
    """

    def __init__(
        self,
        dim: int,
        num_heads: int,
        mlp_ratio: float = 4.0,
        csa_hidden: int | None = None,
        layer_scale: bool = False,
        drop_path: float = 0.0,
    ) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, num_heads, csa_hidden=csa_hidden)
        self.ls1 = LayerScale(dim, init_values=1e-5) if layer_scale else nn.Identity()
        self.drop_path1 = DropPath(drop_path) if drop_path > 0 else nn.Identity()
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), act_layer=nn.GELU)
        self.ls2 = LayerScale(dim, init_values=1e-5) if layer_scale else nn.Identity()
        self.drop_path2 = DropPath(drop_path) if drop_path > 0 else nn.Identity()

    def forward(
        self,
        x: torch.Tensor,
        visible: torch.Tensor | None = None,
        prefix: KeyValues | None = None,
        key_bias: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """x (B, N, C) -> (B, N, C); see ``Attention.forward`` for ``prefix`` and ``key_bias``."""
        return self.forward_kv(x, visible, prefix, key_bias)[0]

    def forward_kv(
        self,
        x: torch.Tensor,
        visible: torch.Tensor | None = None,
        prefix: KeyValues | None = None,
        key_bias: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, KeyValues]:
        """As ``forward``, also returning x's keys and values in this block (for target caching)."""
        out, kv = self.attn(self.norm1(x), visible, prefix, key_bias)
        x = x + self.drop_path1(self.ls1(out))
        return x + self.drop_path2(self.ls2(self.mlp(self.norm2(x)))), kv


def sincos_pos_embed_2d(dim: int, grid: int) -> torch.Tensor:
    """Fixed 2D sin-cos position table (1, grid*grid, dim), row-major tokens (MAE layout).

    The first half of the channels encodes the column, the second half the row; each half is
    [sin(p * w_k), cos(p * w_k)] with w_k = 10000^(-k / (dim/4)).
    """
    if dim % 4:
        raise ValueError(f"sin-cos position embedding needs dim divisible by 4, got {dim}")
    omega = 1.0 / 10000 ** (torch.arange(dim // 4, dtype=torch.float64) / (dim / 4))
    coords = torch.arange(grid, dtype=torch.float64)
    rows, cols = torch.meshgrid(coords, coords, indexing="ij")

    def encode(pos: torch.Tensor) -> torch.Tensor:
        angles = pos.reshape(-1, 1) * omega
        return torch.cat([angles.sin(), angles.cos()], dim=1)

    table = torch.cat([encode(cols), encode(rows)], dim=1)
    return table.float().unsqueeze(0)


def init_linear_xavier(module: nn.Module) -> None:
    """MAE-style init: xavier-uniform linears with zero bias, unit LayerNorms."""
    if isinstance(module, nn.Linear):
        nn.init.xavier_uniform_(module.weight)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.LayerNorm):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)
