"""Modality-adaptive centre head and the contrastive prompter (UVLTrack's box head).

Conventions: search tokens (B, N, C) are row-major on a G x G grid (N = G*G, token k at row
k // G, column k % G). Boxes are (cx, cy, w, h) normalised to the search crop, in [0, 1].
``flag`` is (B,) int64: 0 = BBOX, 1 = NL (grounding), 2 = NLBBOX.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from timm.layers import Mlp
from torch import nn

from litetrack_core.models.vit import LOGIT_SCALE_INIT

Grounding = Literal["all", "none", "some"]

__all__ = ["CenterHead", "ContrastivePrompter", "Grounding", "HeadOutput", "grounding_of", "select_by_flag"]



def select_by_flag(vis: torch.Tensor, txt: torch.Tensor, flag: torch.Tensor) -> torch.Tensor:
    """Per sample: ``vis`` for flag 0, ``txt`` for flag 1, their mean for flag 2."""
    group = torch.stack([vis, txt, (vis + txt) / 2], dim=1)
    return group[torch.arange(flag.shape[0], device=flag.device), flag]


def _cosine(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Cosine similarity matrix (B, Na, Nb) of (B, Na, C) and (B, Nb, C)."""
    return F.normalize(a, dim=-1) @ F.normalize(b, dim=-1).transpose(-2, -1)


def _tower(in_ch: int, width: int, out_ch: int) -> nn.Sequential:
    """Four 3x3 conv-BN-ReLU layers (width, /2, /4, /8) and a 1x1 conv to ``out_ch``."""
    chans = [in_ch, width, width // 2, width // 4, width // 8]
    layers: list[nn.Module] = [
        nn.Sequential(nn.Conv2d(a, b, 3, padding=1), nn.BatchNorm2d(b), nn.ReLU(inplace=True))
        for a, b in zip(chans[:-1], chans[1:])
    ]
    layers.append(nn.Conv2d(chans[-1], out_ch, 1))
    return nn.Sequential(*layers)


@dataclass
class HeadOutput:
    """Per-cell predictions on the G x G search grid.

    score_map: (B, G, G) sigmoid classification score.
    bbox_map: (B, N, 4) normalised (cx, cy, w, h) per cell.
    cont_score: (B, N, 2) or (B, N, 3) contrastive logits [target, max(distractor, background, 0)
        (, 0 with a given prompt)].
    pred_boxes: (B, 1, 4) bbox_map at argmax of score * softmax(cont_score)[..., 0].
    """

    score_map: torch.Tensor
    bbox_map: torch.Tensor
    cont_score: torch.Tensor
    pred_boxes: torch.Tensor

    @property
    def target_prob(self) -> torch.Tensor:
        """(B, N) probability that each cell is the target: softmax(cont_score)[..., 0]."""
        return self.cont_score.softmax(-1)[..., 0]


class ContrastivePrompter(nn.Module):
    """Builds [target, distractor, background] prompts (B, 3, C) from template and context tokens.

    The similarity of a reference token to each template/context token splits them: cells inside
    the box give the target prompt; outside, the most similar cells (all but the least similar
    25 % of the probability mass) give the distractor prompt and the rest the background prompt.
    """

    def __init__(self, dim: int, mlp_ratio: float = 4.0) -> None:
        super().__init__()
        self.query_embed = nn.Embedding(3, dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), act_layer=nn.GELU)
        self.logit_scale = nn.Parameter(torch.tensor(LOGIT_SCALE_INIT))

    def forward(
        self,
        template: torch.Tensor,
        template_mask: torch.Tensor,
        context: torch.Tensor,
        context_mask: torch.Tensor,
        token: torch.Tensor,
        flag: torch.Tensor,
    ) -> torch.Tensor:
        """Prompts (B, 3, C).

        Args:
            template: (B, Nz, C) template tokens; template_mask (B, Nz) bool, True inside the box.
            context: (B, Nx, C) context tokens; context_mask (B, Nx) bool, True inside the box.
            token: (B, 1, C) reference token (see ``select_by_flag``).
            flag: (B,) modality; NL samples (1) get the bare queries, as nothing is known visually.
        """
        queries = self.query_embed.weight.unsqueeze(0).expand(token.shape[0], -1, -1)
        queries = torch.cat([queries[:, :1] + token, queries[:, 1:]], dim=1)
        targets = torch.cat([template, context], dim=1)
        inside = torch.cat([template_mask, context_mask], dim=1).bool().unsqueeze(1)
        sim = self.logit_scale.exp() * _cosine(token, targets)  # (B, 1, Nz+Nx)
        # The lowest value of the dtype: exp() of it is exactly 0, like the reference's -1e20
        # in float32, and it also fits in float16.
        masked = torch.finfo(sim.dtype).min

        target_w = sim.masked_fill(~inside, masked).softmax(-1)
        outside = sim.masked_fill(inside, masked)
        distractor = self._distractors(outside.softmax(-1))
        background_w = outside.masked_fill(distractor, masked).softmax(-1)
        distractor_w = outside.masked_fill(~distractor, masked).softmax(-1)

        weights = torch.cat([target_w, distractor_w, background_w], dim=1)  # (B, 3, Nz+Nx)
        prompts = weights @ targets + queries
        prompts = prompts + self.mlp(prompts)
        return torch.where((flag == 1).view(-1, 1, 1), queries, prompts)

    @staticmethod
    def _distractors(prob: torch.Tensor) -> torch.Tensor:
        """True where ``prob`` is at least the smallest value outside the lowest 25 % of mass."""
        values, _ = prob.sort(dim=-1)
        background = values.cumsum(dim=-1) < 0.25
        threshold = values.masked_fill(background, 1.0).amin(dim=-1, keepdim=True)
        return prob >= threshold


class CenterHead(nn.Module):
    """Centre-based box head: score, offset and size towers on the search feature map.

    Size comes from a tracking tower (flags 0, 2) or a grounding tower (flag 1). The contrastive
    score of each cell against the prompts is part of the head, as in UVLTrack.

    Args:
        dim: token width.
        channels: first conv width of each tower.
        grid: search tokens per side.
    """

    def __init__(self, dim: int, channels: int, grid: int) -> None:
        super().__init__()
        self.grid = grid
        self.score = _tower(dim, channels, 1)
        self.offset = _tower(dim, channels, 2)
        self.size = _tower(dim, channels, 2)
        self.size_grounding = _tower(dim, channels, 2)
        self.logit_scale = nn.Parameter(torch.tensor(LOGIT_SCALE_INIT))
        cells = torch.arange(grid * grid)
        self.register_buffer("cell_xy", torch.stack([cells % grid, cells // grid]).float(), persistent=False)

    def contrast(self, search: torch.Tensor, prompts: torch.Tensor, null_column: bool) -> torch.Tensor:
        """(B, N, 2|3) logits: [target, max(distractor, background, 0)] (+ a constant 0 column).

        ``null_column`` reproduces the reference at test time (prompt given), where a zero logit
        enters the softmax and lowers every target probability slightly.
        """
        sim = self.logit_scale.exp() * _cosine(search, prompts)
        zero = torch.zeros_like(sim[..., :1])
        rest = torch.cat([sim[..., 1:], zero], dim=-1).amax(dim=-1, keepdim=True)
        columns = [sim[..., :1], rest, zero] if null_column else [sim[..., :1], rest]
        return torch.cat(columns, dim=-1)

    def forward(
        self,
        search: torch.Tensor,
        prompts: torch.Tensor,
        flag: torch.Tensor,
        null_column: bool = False,
        grounding: Grounding | None = None,
        kept: torch.Tensor | None = None,
    ) -> HeadOutput:
        """Decode search tokens (B, N, C) with prompts (B, 3, C); see ``HeadOutput``.

        ``grounding`` says which samples have flag 1 ("all", "none" or "some"); given, the head
        runs without reading ``flag`` on the host (no device sync: CUDA-graph capturable).
        ``kept`` (B, k): indices of the cells that survived pruning; the others score 0 (they
        were pruned as unlike the target, and their features stopped early).
        """
        b, n, c = search.shape
        # A channels-last view of the tokens: no copy, and the layout fast convs want.
        fmap = search.reshape(b, self.grid, self.grid, c).permute(0, 3, 1, 2)
        score = self.score(fmap).sigmoid().reshape(b, n)
        if kept is not None:
            score = torch.zeros_like(score).scatter(1, kept, score.gather(1, kept))
        offset = self.offset(fmap).sigmoid().reshape(b, 2, n)
        size = self._size(fmap, flag, grounding or grounding_of(flag)).reshape(b, 2, n)
        centre = (self.cell_xy + offset) / self.grid
        bbox_map = torch.cat([centre, size], dim=1).transpose(1, 2)

        cont = self.contrast(search, prompts, null_column)
        best = (score * cont.softmax(-1)[..., 0]).argmax(dim=-1)
        pred = bbox_map[torch.arange(b, device=search.device), best].unsqueeze(1)
        return HeadOutput(score.reshape(b, self.grid, self.grid), bbox_map, cont, pred)

    def _size(self, fmap: torch.Tensor, flag: torch.Tensor, grounding: Grounding) -> torch.Tensor:
        """Sigmoid size map (B, 2, G, G); only the towers that some sample needs are run."""
        if grounding == "all":
            return self.size_grounding(fmap).sigmoid()
        if grounding == "none":
            return self.size(fmap).sigmoid()
        return torch.where(
            (flag == 1).view(-1, 1, 1, 1), self.size_grounding(fmap).sigmoid(), self.size(fmap).sigmoid()
        )


def grounding_of(flag: torch.Tensor) -> Grounding:
    """Which samples of ``flag`` (B,) are grounding (flag 1): "all", "none" or "some" (reads the host)."""
    grounding = flag == 1
    return "all" if bool(grounding.all()) else "none" if not bool(grounding.any()) else "some"
