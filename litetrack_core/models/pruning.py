"""Search-token pruning: score the search tokens after chosen blocks and keep the best ones.

Two scorers (``ModelConfig.prune_score``):
    "similarity": cosine of each search token to the target's reference token after the block
        (visual cls for BBOX, text [CLS] for NL, their mean for NLBBOX): the quantity UVLTrack's
        contrastive loss trains, so published checkpoints prune training-free. LiteTrack's idea.
    "attention": OSTrack's candidate elimination: mean attention (over heads) of the template's
        centre tokens to each search token in the block, recomputed from the block's own
        projections (softmax over the search keys).

At inference a fixed number of tokens survives each pruning block, ceil(N * keep^(s+1)) after
stage s (keep = the per-stage ratio, as OSTrack's 0.7), so shapes are static (graph-capturable).
Pruned tokens stop being updated; they keep the value they had when pruned and are scattered
back before the head (a conv head sees a continuous map rather than OSTrack's zero holes);
``SearchTokens`` carries the search tokens and this bookkeeping through the model's blocks.

For training, ``PruneGate`` turns the hard top-k into a differentiable gate with a learnable
threshold per pruning block, and ``keep_regulariser`` pulls the mean gate to a target ratio.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from litetrack_core.models.head import select_by_flag
from litetrack_core.models.vit import Block

__all__ = [
    "PruneGate",
    "SearchTokens",
    "attention_scores",
    "gather_tokens",
    "keep_count",
    "keep_regulariser",
    "scatter_tokens",
    "similarity_scores",
    "top_k_indices",
]


def keep_count(num_tokens: int, keep_ratio: float, stage: int) -> int:
    """Search tokens alive after pruning stage ``stage`` (0-based) at a per-stage ``keep_ratio``."""
    if not 0.0 < keep_ratio <= 1.0:
        raise ValueError(f"keep_ratio={keep_ratio} must be in (0, 1]")
    # The small epsilon keeps e.g. 0.7**1 * 100 = 70.00000000000001 at 70.
    return max(1, min(num_tokens, math.ceil(num_tokens * keep_ratio ** (stage + 1) - 1e-6)))


def similarity_scores(search: torch.Tensor, vis_ref: torch.Tensor, txt_ref: torch.Tensor, flag: torch.Tensor) -> torch.Tensor:
    """Cosine of search tokens (B, N, C) to the references (B, C) chosen by ``flag`` -> (B, N)."""
    search = F.normalize(search.float(), dim=-1)
    vis = (search @ F.normalize(vis_ref.float(), dim=-1).unsqueeze(-1)).squeeze(-1)
    txt = (search @ F.normalize(txt_ref.float(), dim=-1).unsqueeze(-1)).squeeze(-1)
    return select_by_flag(vis, txt, flag)


def attention_scores(block: Block, queries: torch.Tensor, search: torch.Tensor) -> torch.Tensor:
    """Mean attention of ``queries`` (B, Q, C) to ``search`` (B, N, C) in ``block`` -> (B, N),
    times N so that the mean score is 1 whatever N (a scale the soft gate's temperature suits).

    Both are the block's inputs; the block's norm and qkv projection are applied here.
    """
    attn = block.attn
    heads = attn.num_heads
    b, n, c = search.shape
    d = c // heads
    w_q, w_k, _ = attn.qkv.weight.chunk(3, dim=0)
    b_q, b_k, _ = attn.qkv.bias.chunk(3, dim=0) if attn.qkv.bias is not None else (None, None, None)
    q = F.linear(block.norm1(queries), w_q, b_q).reshape(b, -1, heads, d).transpose(1, 2)
    k = F.linear(block.norm1(search), w_k, b_k).reshape(b, n, heads, d).transpose(1, 2)
    probs = torch.softmax((q @ k.transpose(-2, -1)).float() / math.sqrt(d), dim=-1)  # (B, H, Q, N)
    return probs.mean(dim=(1, 2)) * n


def top_k_indices(scores: torch.Tensor, k: int) -> torch.Tensor:
    """Indices (B, k) of the ``k`` best scores, in ascending token order (keeps a stable layout)."""
    return scores.topk(k, dim=1).indices.sort(dim=1).values


def gather_tokens(tokens: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """tokens (B, N, C), index (B, k) -> (B, k, C)."""
    return tokens.gather(1, index.unsqueeze(-1).expand(-1, -1, tokens.shape[-1]))


def scatter_tokens(full: torch.Tensor, index: torch.Tensor, live: torch.Tensor) -> torch.Tensor:
    """Write ``live`` (B, k, C) into a copy of ``full`` (B, N, C) at ``index`` (B, k)."""
    return full.scatter(1, index.unsqueeze(-1).expand(-1, -1, full.shape[-1]), live.to(full.dtype))


class SearchTokens:
    """The search tokens through the blocks, with pruning bookkeeping.

    ``full`` (B, Nx, C) holds every token's latest value; ``index`` (B, k) names the live ones
    (None: all alive, no gather or scatter is paid). Soft gates (training) keep every token alive
    and record per stage the cumulative gate and the tokens' value at that point.
    """

    def __init__(self, tokens: torch.Tensor) -> None:
        self.full = tokens
        self.stage = 0  # pruning stages passed
        self.index: torch.Tensor | None = None
        self.gates: list[torch.Tensor] = []  # cumulative: the chance a token is still alive
        self.stage_gates: list[torch.Tensor] = []  # each stage's own gate
        self.snapshots: list[torch.Tensor] = []

    def prune(self, live: torch.Tensor, scores: torch.Tensor, k: int) -> torch.Tensor:
        """Keep the ``k`` best-scoring of ``live`` (B, k_old, C); returns the new live tokens."""
        self.full = live if self.index is None else scatter_tokens(self.full, self.index, live)
        self.stage += 1
        keep = top_k_indices(scores, k)
        self.index = keep if self.index is None else self.index.gather(1, keep)
        return gather_tokens(live, keep)

    def gate(self, live: torch.Tensor, gates: torch.Tensor) -> torch.Tensor:
        """Soft pruning: record the cumulative gate; returns the key bias log(gate)."""
        self.stage += 1
        cumulative = gates if not self.gates else self.gates[-1] * gates
        self.gates.append(cumulative)
        self.stage_gates.append(gates)
        self.snapshots.append(live)
        return torch.log(cumulative.clamp_min(1e-6))

    def finish(self, live: torch.Tensor) -> torch.Tensor:
        """All search tokens (B, Nx, C) after the last block."""
        if self.index is not None:
            return scatter_tokens(self.full, self.index, live)
        for gate, snapshot in zip(reversed(self.stage_gates), reversed(self.snapshots)):
            # A token gated off at a stage keeps its value from that stage, as at inference. Nested
            # per-stage blends weigh the last value by the cumulative gate (the cumulative gate
            # here would count earlier stages twice).
            live = gate.unsqueeze(-1) * live + (1 - gate.unsqueeze(-1)) * snapshot
        return live


class PruneGate(nn.Module):
    """Differentiable keep-gate for training: g = sigmoid((score - threshold) / temperature).

    One learnable threshold per pruning block (initialised at ``init_threshold``, a cosine).
    Gates multiply along the stages: a token dropped early stays dropped.
    """

    def __init__(self, stages: int, init_threshold: float = 0.0, temperature: float = 0.05) -> None:
        super().__init__()
        self.thresholds = nn.Parameter(torch.full((stages,), float(init_threshold)))
        self.temperature = temperature

    def forward(self, scores: torch.Tensor, stage: int) -> torch.Tensor:
        """scores (B, N) -> gates in (0, 1), (B, N)."""
        return torch.sigmoid((scores - self.thresholds[stage]) / self.temperature)


def keep_regulariser(gates: list[torch.Tensor], keep_ratio: float) -> torch.Tensor:
    """Mean over stages of (mean gate - keep_ratio^(s+1))^2: the keep-ratio regulariser."""
    if not gates:
        raise ValueError("no gates: the model has no pruning blocks")
    terms = [(g.mean() - keep_ratio ** (s + 1)) ** 2 for s, g in enumerate(gates)]
    return torch.stack(terms).mean()
