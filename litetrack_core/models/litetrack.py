"""LiteTrack / UVLTrack: one ViT over template, search and text, a contrastive prompter and a centre head.

Inputs (all batched, B samples):
    template: (B, 3, Tz, Tz) float, ImageNet-normalised RGB crop (``cfg.template_size``).
    search: (B, 3, Tx, Tx) float, normalised RGB crop (``cfg.search_size``).
    text: ``TokenizedText`` ids/mask (B, L).
    template_mask: (B, Gz*Gz) bool, template cells inside the target box.
    context_mask: (B, Gx*Gx) bool, context cells inside the target box.
    flag: (B,) int64 modality: 0 = BBOX, 1 = NL (grounding, template hidden), 2 = NLBBOX.

Blocks ``[0, fusion_start)`` run the ViT on [cls, template, search] and BERT on the text apart;
blocks ``[fusion_start, depth)`` run the ViT on [visual + modal_embed[0], text + modal_embed[1]]
with keys hidden by modality (``attention_visibility``). The modal embeddings are added again
before every joint block, as in the reference.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from timm.layers import PatchEmbed, trunc_normal_
from torch import nn

from litetrack_core.models.configs import ModelConfig
from litetrack_core.models.head import CenterHead, ContrastivePrompter, HeadOutput, select_by_flag
from litetrack_core.models.text import TextEncoder, TokenizedText
from litetrack_core.models.vit import LOGIT_SCALE_INIT, Block, init_linear_xavier, sincos_pos_embed_2d

__all__ = ["BackboneOutput", "LiteTrack", "TextFeatures", "attention_visibility"]

BBOX, NL, NLBBOX = 0, 1, 2


@dataclass
class TextFeatures:
    """Text after the text-only layers: what a target's words contribute, computed once.

    tokens: (B, L, C) output of the last text-only layer.
    cls_per_layer: (B, K, C) the [CLS] token after each text-only layer from ``contrastive_start``.
    mask: (B, L) 1 on real tokens.
    """

    tokens: torch.Tensor
    cls_per_layer: torch.Tensor
    mask: torch.Tensor


@dataclass
class BackboneOutput:
    """Tokens after the last block (no final norm, as in UVLTrack).

    search (B, Nx, C), template (B, Nz, C), text (B, L, C), vis_token / txt_token (B, 1, C),
    logits (B, depth - contrastive_start, Gx, Gx): scaled cosine of search tokens to the
    reference token after each block from ``contrastive_start`` (training and conformance
    only; None when not asked for).
    """

    search: torch.Tensor
    template: torch.Tensor
    text: torch.Tensor
    vis_token: torch.Tensor
    txt_token: torch.Tensor
    logits: torch.Tensor | None


def attention_visibility(
    flag: torch.Tensor, text_mask: torch.Tensor, num_template: int, num_search: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Key visibility (True = may be attended) for [cls, template, search] and for [..., text].

    NL hides cls and template; BBOX hides all text; text padding is always hidden.
    Returns (visual (B, 1+Nz+Nx), joint (B, 1+Nz+Nx+L)).
    """
    b = flag.shape[0]
    shows_template = (flag != NL).view(b, 1).expand(b, 1 + num_template)
    search = torch.ones(b, num_search, dtype=torch.bool, device=flag.device)
    visual = torch.cat([shows_template, search], dim=1)
    text = text_mask.bool() & (flag != BBOX).view(b, 1)
    return visual, torch.cat([visual, text], dim=1)


class LiteTrack(nn.Module):
    """The tracker network. See the module docstring for inputs and conventions."""

    def __init__(self, cfg: ModelConfig, drop_path: float = 0.0) -> None:
        super().__init__()
        self.cfg = cfg
        dim = cfg.embed_dim
        self.patch_embed = PatchEmbed(
            img_size=None, patch_size=cfg.patch_size, in_chans=3, embed_dim=dim, strict_img_size=False
        )
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed_z = nn.Parameter(
            sincos_pos_embed_2d(dim, cfg.template_grid), requires_grad=cfg.learnable_pos
        )
        self.pos_embed_x = nn.Parameter(sincos_pos_embed_2d(dim, cfg.search_grid), requires_grad=cfg.learnable_pos)
        self.modal_embed = nn.Parameter(torch.zeros(2, dim))
        rates = torch.linspace(0, drop_path, cfg.depth).tolist()
        self.blocks = nn.ModuleList(
            Block(
                dim,
                cfg.num_heads,
                cfg.mlp_ratio,
                csa_hidden=cfg.csa_hidden if cfg.csa else None,
                layer_scale=cfg.layer_scale,
                drop_path=rate,
            )
            for rate in rates
        )
        self.text = TextEncoder(cfg)
        self.logit_scale = nn.Parameter(torch.tensor(LOGIT_SCALE_INIT))
        self.prompter = ContrastivePrompter(dim)
        self.head = CenterHead(dim, cfg.head_channels, cfg.search_grid)
        self._init_visual()

    def _init_visual(self) -> None:
        # MAE's initialisation for the ViT; BERT and the head keep their own.
        self.blocks.apply(init_linear_xavier)
        w = self.patch_embed.proj.weight.data
        nn.init.xavier_uniform_(w.view(w.shape[0], -1))
        trunc_normal_(self.cls_token, std=0.02)
        trunc_normal_(self.modal_embed, std=0.02)

    # ------------------------------------------------------------------ backbone

    def encode_text(self, text: TokenizedText) -> TextFeatures:
        """Run the text-only layers. Depends on the words alone: compute once per target."""
        outs = self.text.layers(self.text.embed(text.ids), text.mask)
        first = self.cfg.contrastive_start
        cls = [o[:, 0] for o in outs[first:]] if first < len(outs) else []
        empty = outs[-1].new_zeros(outs[-1].shape[0], 0, outs[-1].shape[-1])
        return TextFeatures(outs[-1], torch.stack(cls, dim=1) if cls else empty, text.mask)

    def encode_template(self, template: torch.Tensor) -> torch.Tensor:
        """Template crop (B, 3, Tz, Tz) -> its tokens entering block 0 (B, Nz, C); once per target."""
        self._check_size("template", template, self.cfg.template_size)
        return self.patch_embed(template) + self.pos_embed_z

    def embed_search(self, search: torch.Tensor) -> torch.Tensor:
        """Search crop (B, 3, Tx, Tx) -> its tokens entering block 0 (B, Nx, C)."""
        self._check_size("search", search, self.cfg.search_size)
        return self.patch_embed(search) + self.pos_embed_x

    def forward_backbone(
        self,
        template_tokens: torch.Tensor,
        search: torch.Tensor,
        text: TextFeatures,
        flag: torch.Tensor,
        with_logits: bool = True,
    ) -> BackboneOutput:
        """All ViT blocks on [cls, template tokens (``encode_template``), search] with the text
        features; see ``BackboneOutput``. Blocks let template and search attend to each other
        (UVLTrack's exact computation), so everything after the embeddings runs per frame."""
        cfg = self.cfg
        nz, nx = cfg.template_grid**2, cfg.search_grid**2
        visible_v, visible_j = attention_visibility(flag, text.mask, nz, nx)
        x = self.embed_search(search)
        v = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), template_tokens, x], dim=1)
        t = text.tokens
        logits = []
        for i, block in enumerate(self.blocks):
            if i < cfg.fusion_start:
                v = block(v, visible_v)
                txt_cls = text.cls_per_layer[:, i - cfg.contrastive_start] if i >= cfg.contrastive_start else None
            else:
                joint = torch.cat([v + self.modal_embed[0], t + self.modal_embed[1]], dim=1)
                v, t = block(joint, visible_j).split([v.shape[1], t.shape[1]], dim=1)
                txt_cls = t[:, 0]
            if with_logits and i >= cfg.contrastive_start:
                logits.append(self._contrast_logits(v[:, 0], txt_cls, v[:, 1 + nz :], flag))
        grid = cfg.search_grid
        return BackboneOutput(
            search=v[:, 1 + nz :],
            template=v[:, 1 : 1 + nz],
            text=t,
            vis_token=v[:, :1],
            txt_token=t[:, :1],
            logits=torch.stack(logits, dim=1).reshape(v.shape[0], -1, grid, grid) if logits else None,
        )

    def _contrast_logits(
        self, vis: torch.Tensor, txt: torch.Tensor, search: torch.Tensor, flag: torch.Tensor
    ) -> torch.Tensor:
        """Scaled cosine of each search token to the cls (BBOX), text [CLS] (NL) or both, averaged."""
        search = F.normalize(search, dim=-1)
        scale = self.logit_scale.exp()
        vis_logit = scale * (search @ F.normalize(vis, dim=-1).unsqueeze(-1)).squeeze(-1)
        txt_logit = scale * (search @ F.normalize(txt, dim=-1).unsqueeze(-1)).squeeze(-1)
        return select_by_flag(vis_logit, txt_logit, flag)

    # ------------------------------------------------------------------ prompts and head

    def reference_token(self, feats: BackboneOutput, flag: torch.Tensor) -> torch.Tensor:
        """(B, 1, C): visual cls (BBOX), text [CLS] (NL) or their mean (NLBBOX)."""
        return select_by_flag(feats.vis_token, feats.txt_token, flag)

    def make_prompts(
        self,
        feats: BackboneOutput,
        template_mask: torch.Tensor,
        context: torch.Tensor,
        context_mask: torch.Tensor,
        flag: torch.Tensor,
    ) -> torch.Tensor:
        """Prompts (B, 3, C) from this pass's template tokens and ``context`` tokens (B, Nx, C)."""
        token = self.reference_token(feats, flag)
        return self.prompter(feats.template, template_mask, context, context_mask, token, flag)

    def forward(
        self,
        template: torch.Tensor,
        search: torch.Tensor,
        text: TokenizedText | TextFeatures,
        template_mask: torch.Tensor,
        context_mask: torch.Tensor,
        flag: torch.Tensor,
    ) -> tuple[BackboneOutput, HeadOutput, torch.Tensor]:
        """Training / reference forward: prompts from this frame's own search as context.

        ``text`` may be already encoded (``encode_text``), as a tracker keeps it per target.
        Returns (backbone output, head output with 2-column cont_score, prompts (B, 3, C)).
        """
        flag = self._check_flag(flag, search.shape[0])
        if isinstance(text, TokenizedText):
            text = self.encode_text(text)
        feats = self.forward_backbone(self.encode_template(template), search, text, flag)
        prompts = self.make_prompts(feats, template_mask, feats.search, context_mask, flag)
        return feats, self.head(feats.search, prompts, flag), prompts

    def forward_search(
        self,
        template_tokens: torch.Tensor,
        search: torch.Tensor,
        text: TextFeatures,
        prompts: torch.Tensor,
        flag: torch.Tensor,
        with_logits: bool = False,
    ) -> tuple[BackboneOutput, HeadOutput]:
        """Per-frame tracking step: the target's cached template tokens, text features and prompts
        with this frame's search crop (3-column cont_score, as the reference's forward_test).
        The per-layer contrastive logits, a training signal, are skipped unless asked for."""
        flag = self._check_flag(flag, search.shape[0])
        feats = self.forward_backbone(template_tokens, search, text, flag, with_logits)
        return feats, self.head(feats.search, prompts, flag, null_column=True)

    # ------------------------------------------------------------------ checks

    @staticmethod
    def _check_size(name: str, image: torch.Tensor, size: int) -> None:
        if image.ndim != 4 or image.shape[1] != 3 or image.shape[-2:] != (size, size):
            raise ValueError(f"{name} must be (B, 3, {size}, {size}), got {tuple(image.shape)}")

    @staticmethod
    def _check_flag(flag: torch.Tensor, batch: int) -> torch.Tensor:
        flag = flag.reshape(-1).long()
        if flag.shape[0] != batch:
            raise ValueError(f"flag has {flag.shape[0]} entries for a batch of {batch}")
        if bool(((flag < 0) | (flag > 2)).any()):
            raise ValueError(f"flag values must be 0 (BBOX), 1 (NL) or 2 (NLBBOX), got {flag.tolist()}")
        return flag
