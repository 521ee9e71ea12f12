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

Per target, ``encode_target`` computes what the target contributes; per frame, ``forward_search``
runs the search crop. Exact models (``cfg.asymmetric`` False, UVLTrack's computation and every
published checkpoint) let template and search attend to each other in every block, so only the
text layers and the template embedding are cached. Asymmetric models keep the target to itself
(target tokens attend to target tokens only), so its keys and values in every block are cached
and per frame only the search tokens run: exact for models trained that way, an approximation
for the others. Either kind can prune search tokens (``keep_ratio``, ``models/pruning.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from timm.layers import PatchEmbed, trunc_normal_
from torch import nn

from litetrack_core.models.configs import ModelConfig
from litetrack_core.models.head import CenterHead, ContrastivePrompter, Grounding, HeadOutput, grounding_of, select_by_flag
from litetrack_core.models.memory import encode_memory, with_memory
from litetrack_core.models.pruning import (
    PruneGate,
    SearchTokens,
    attention_scores,
    keep_count,
    scatter_tokens,
    similarity_scores,
)
from litetrack_core.models.stem import ConvPatchEmbed
from litetrack_core.models.text import TextEncoder, TokenizedText
from litetrack_core.models.vit import LOGIT_SCALE_INIT, Block, KeyValues, init_linear_xavier, sincos_pos_embed_2d

__all__ = ["BackboneOutput", "LiteTrack", "TargetState", "TextFeatures", "attention_visibility"]

BBOX, NL, NLBBOX = 0, 1, 2


@dataclass
class TextFeatures:
    """Text after the text-only layers: what a target's words contribute, computed once.

    tokens: (B, L, C) output of the last text-only layer.
    cls_per_layer: (B, fusion_start, C) the [CLS] token after each text-only layer.
    mask: (B, L) 1 on real tokens.
    """

    tokens: torch.Tensor
    cls_per_layer: torch.Tensor
    mask: torch.Tensor


@dataclass
class TargetState:
    """What the target contributes, computed once per target (``encode_target``).

    flag (B,), text features, template_tokens (B, Nz, C) entering block 0. Asymmetric models
    (``cfg.asymmetric``) also hold the target's pass through every block: per block the keys and
    values of the target tokens ([cls, template], then [cls, template, text] in fusion blocks)
    with their visibility to the search tokens, the reference tokens after each block
    (``vis_ref`` cls and ``txt_ref`` text [CLS], (B, depth, C)), the template's centre tokens
    after each block (B, depth, Q, C) for attention pruning, and the tokens after the last block.
    ``grounding`` records which samples are flag 1, so that per-frame calls never read the flag
    on the host (CUDA-graph capturable).
    """

    flag: torch.Tensor
    text: TextFeatures
    template_tokens: torch.Tensor
    kv: list[KeyValues] | None = None
    vis_ref: torch.Tensor | None = None
    txt_ref: torch.Tensor | None = None
    centre: torch.Tensor | None = None
    template_out: torch.Tensor | None = None
    text_out: torch.Tensor | None = None
    grounding: Grounding = "some"


@dataclass
class BackboneOutput:
    """Tokens after the last block (no final norm, as in UVLTrack).

    search (B, Nx, C), template (B, Nz, C), text (B, L, C), vis_token / txt_token (B, 1, C),
    logits (B, depth - contrastive_start, Gx, Gx): scaled cosine of search tokens to the
    reference token after each block from ``contrastive_start`` (training and conformance
    only; None when not asked for). With pruning: ``kept`` (B, k) the search tokens alive after
    the last pruning block (pruned ones hold their value from when they were pruned);
    ``keep_gates`` the soft gates per pruning block in gate training (for ``keep_regulariser``).
    """

    search: torch.Tensor
    template: torch.Tensor
    text: torch.Tensor
    vis_token: torch.Tensor
    txt_token: torch.Tensor
    logits: torch.Tensor | None
    kept: torch.Tensor | None = None
    keep_gates: list[torch.Tensor] | None = None


def attention_visibility(
    flag: torch.Tensor, text_mask: torch.Tensor, num_template: int, num_search: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Key visibility (True = may be attended) for [cls, template, search] and for [..., text].

    NL hides cls and template; BBOX hides all text; text padding is always hidden.
    Returns (visual (B, 1+Nz+Nx), joint (B, 1+Nz+Nx+L)).
    """
    b = flag.shape[0]
    search = torch.ones(b, num_search, dtype=torch.bool, device=flag.device)
    visual = torch.cat([_target_visibility(flag, num_template), search], dim=1)
    return visual, torch.cat([visual, _text_visibility(flag, text_mask)], dim=1)


def _target_visibility(flag: torch.Tensor, num_template: int) -> torch.Tensor:
    """(B, 1 + Nz): cls and template are hidden in NL mode."""
    return (flag != NL).view(-1, 1).expand(-1, 1 + num_template)


def _text_visibility(flag: torch.Tensor, text_mask: torch.Tensor) -> torch.Tensor:
    """(B, L): padding always hidden, all text hidden in BBOX mode."""
    return text_mask.bool() & (flag != BBOX).view(-1, 1)


def _visible_only(kv: KeyValues) -> KeyValues:
    """For a single target, drop the keys no search token may attend to (a hidden modality, text
    padding): fewer keys per frame and no attention mask. Batches keep the mask (rows differ)."""
    if kv.visible is None or kv.visible.shape[0] != 1:
        return kv
    keep = kv.visible[0].nonzero().squeeze(1)
    return KeyValues(kv.k[:, :, keep], kv.v[:, :, keep], None)


class LiteTrack(nn.Module):
    """The tracker network. See the module docstring for inputs and conventions."""

    def __init__(self, cfg: ModelConfig, drop_path: float = 0.0) -> None:
        super().__init__()
        self.cfg = cfg
        dim = cfg.embed_dim
        if cfg.patch_embed == "efficientnet-lite0":
            self.patch_embed = ConvPatchEmbed(dim)
        else:
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
        self.prune_gate = PruneGate(len(cfg.prune_blocks)) if cfg.prune_gate else None
        g = cfg.template_grid
        centre = [r * g + c for r in range((g - 1) // 2, g // 2 + 1) for c in range((g - 1) // 2, g // 2 + 1)]
        self.register_buffer("_centre", torch.tensor(centre), persistent=False)
        self._init_visual()

    def _init_visual(self) -> None:
        # MAE's initialisation for the ViT; BERT and the head keep their own.
        self.blocks.apply(init_linear_xavier)
        w = self.patch_embed.proj.weight.data
        nn.init.xavier_uniform_(w.view(w.shape[0], -1))
        trunc_normal_(self.cls_token, std=0.02)
        trunc_normal_(self.modal_embed, std=0.02)

    # ------------------------------------------------------------------ target

    def encode_text(self, text: TokenizedText) -> TextFeatures:
        """Run the text-only layers. Depends on the words alone: compute once per target."""
        outs = self.text.layers(self.text.embed(text.ids), text.mask)
        return TextFeatures(outs[-1], torch.stack([o[:, 0] for o in outs], dim=1), text.mask)

    def encode_template(self, template: torch.Tensor) -> torch.Tensor:
        """Template crop (B, 3, Tz, Tz) -> its tokens entering block 0 (B, Nz, C); once per target."""
        self._check_size("template", template, self.cfg.template_size)
        return self.patch_embed(template) + self.pos_embed_z

    def encode_target(
        self, template: torch.Tensor, text: TokenizedText | TextFeatures, flag: torch.Tensor
    ) -> TargetState:
        """Everything the target contributes, once per target (template crop (B, 3, Tz, Tz)).

        Exact models (UVLTrack's computation) let template and search attend to each other, so
        only the text layers and the template embedding can be cached; asymmetric models also
        run the target through every block here (see ``TargetState``).
        """
        flag = self._check_flag(flag, template.shape[0])
        if isinstance(text, TokenizedText):
            text = self.encode_text(text)
        target = TargetState(flag, text, self.encode_template(template), grounding=grounding_of(flag))
        if self.cfg.asymmetric:
            self._encode_target_blocks(target)
        return target

    def _encode_target_blocks(self, target: TargetState) -> None:
        cfg = self.cfg
        nz = cfg.template_grid**2
        shows_target = _target_visibility(target.flag, nz)
        v = torch.cat([self.cls_token.expand(target.flag.shape[0], -1, -1), target.template_tokens], dim=1)
        t = target.text.tokens
        kvs, vis_ref, txt_ref, centre = [], [], [], []
        for i, block in enumerate(self.blocks):
            if i < cfg.fusion_start:
                # No key mask among cls and template: hidden in NL mode, they would have no key to
                # attend to; hidden tokens are never read by search or text anyway.
                v, kv = block.forward_kv(v)
                kv = KeyValues(kv.k, kv.v, shows_target)
                txt = target.text.cls_per_layer[:, i]
            else:
                joint = torch.cat([v + self.modal_embed[0], t + self.modal_embed[1]], dim=1)
                visible = torch.cat([shows_target, _text_visibility(target.flag, target.text.mask)], dim=1)
                out, kv = block.forward_kv(joint, visible)
                v, t = out.split([v.shape[1], t.shape[1]], dim=1)
                txt = t[:, 0]
            kvs.append(_visible_only(kv))
            vis_ref.append(v[:, 0])
            txt_ref.append(txt)
            centre.append(v[:, 1 + self._centre])
        target.kv = kvs
        target.vis_ref, target.txt_ref = torch.stack(vis_ref, 1), torch.stack(txt_ref, 1)
        target.centre = torch.stack(centre, 1)
        target.template_out, target.text_out = v, t

    # ------------------------------------------------------------------ per frame

    def embed_search(self, search: torch.Tensor) -> torch.Tensor:
        """Search crop (B, 3, Tx, Tx) -> its tokens entering block 0 (B, Nx, C)."""
        self._check_size("search", search, self.cfg.search_size)
        # PatchEmbed returns a transposed view; made contiguous here, else that layout carries
        # through every residual add of the search-only (asymmetric) path and slows it down.
        return (self.patch_embed(search) + self.pos_embed_x).contiguous()

    def forward_backbone(
        self,
        target: TargetState,
        search: torch.Tensor,
        keep_ratio: float = 1.0,
        with_logits: bool = True,
    ) -> BackboneOutput:
        """All ViT blocks for this search crop with the target's state; see ``BackboneOutput``.

        ``keep_ratio`` < 1 prunes search tokens after ``cfg.prune_blocks`` (per-stage ratio);
        in training with ``cfg.prune_gate`` the learnable soft gate is used instead.
        """
        if not 0.0 < keep_ratio <= 1.0:
            raise ValueError(f"keep_ratio={keep_ratio} must be in (0, 1]")
        if self.cfg.asymmetric and target.kv is None:
            raise ValueError("this model is asymmetric: make the target with encode_target")
        tokens = SearchTokens(self.embed_search(search))
        soft = self.training and self.prune_gate is not None
        prune = soft or (keep_ratio < 1.0 and bool(self.cfg.prune_blocks))
        if self.cfg.asymmetric:
            return self._search_blocks_asymmetric(target, tokens, keep_ratio if prune else 1.0, soft, with_logits)
        return self._search_blocks_exact(target, tokens, keep_ratio if prune else 1.0, soft, with_logits)

    def _search_blocks_exact(
        self, target: TargetState, tokens: SearchTokens, keep_ratio: float, soft: bool, with_logits: bool
    ) -> BackboneOutput:
        cfg, flag = self.cfg, target.flag
        nz, nx = cfg.template_grid**2, cfg.search_grid**2
        npre = 1 + nz
        shows_target = _target_visibility(flag, nz)
        text_visible = _text_visibility(flag, target.text.mask)
        cls = self.cls_token.expand(flag.shape[0], -1, -1)
        v = torch.cat([cls, target.template_tokens, tokens.full], dim=1)
        t = target.text.tokens
        key_bias = None
        logits = []
        visible = torch.cat([shows_target, torch.ones_like(tokens.full[..., 0], dtype=torch.bool)], dim=1)
        joint_visible = torch.cat([visible, text_visible], dim=1)  # rebuilt only when tokens are pruned
        for i, block in enumerate(self.blocks):
            bias = None if key_bias is None else F.pad(key_bias, (npre, 0))
            if i < cfg.fusion_start:
                v = block(v, visible, key_bias=bias)
                txt = target.text.cls_per_layer[:, i]
            else:
                joint = torch.cat([v + self.modal_embed[0], t + self.modal_embed[1]], dim=1)
                bias = None if bias is None else F.pad(bias, (0, t.shape[1]))
                v, t = block(joint, joint_visible, key_bias=bias).split(
                    [v.shape[1], t.shape[1]], dim=1
                )
                txt = t[:, 0]
            if with_logits and i >= cfg.contrastive_start:
                logits.append(self._contrast_logits(v[:, 0], txt, self._all_search(tokens, v[:, npre:]), flag))
            if i in cfg.prune_blocks and (soft or keep_ratio < 1.0):
                scores = self._prune_scores(i, v[:, npre:], v[:, 0], txt, v[:, 1 + self._centre], flag)
                live, key_bias = self._prune_step(tokens, v[:, npre:], scores, keep_ratio, soft, nx)
                v = torch.cat([v[:, :npre], live], dim=1)
                visible = visible[:, : v.shape[1]]
                joint_visible = torch.cat([visible, text_visible], dim=1)
        return self._output(tokens, v[:, npre:], v[:, 1:npre], t, v[:, :1], t[:, :1], logits)

    def _search_blocks_asymmetric(
        self, target: TargetState, tokens: SearchTokens, keep_ratio: float, soft: bool, with_logits: bool
    ) -> BackboneOutput:
        cfg, flag = self.cfg, target.flag
        nx = cfg.search_grid**2
        x = tokens.full
        key_bias = None
        logits = []
        for i, block in enumerate(self.blocks):
            if i >= cfg.fusion_start:
                x = x + self.modal_embed[0]
            x = block(x, None, prefix=target.kv[i], key_bias=key_bias)
            vis, txt = target.vis_ref[:, i], target.txt_ref[:, i]
            if with_logits and i >= cfg.contrastive_start:
                logits.append(self._contrast_logits(vis, txt, self._all_search(tokens, x), flag))
            if i in cfg.prune_blocks and (soft or keep_ratio < 1.0):
                scores = self._prune_scores(i, x, vis, txt, target.centre[:, i], flag)
                x, key_bias = self._prune_step(tokens, x, scores, keep_ratio, soft, nx)
        v = target.template_out
        return self._output(tokens, x, v[:, 1:], target.text_out, v[:, :1], target.text_out[:, :1], logits)

    def _prune_scores(
        self, i: int, live: torch.Tensor, vis: torch.Tensor, txt: torch.Tensor, centre: torch.Tensor, flag: torch.Tensor
    ) -> torch.Tensor:
        """(B, k) ranking of the live search tokens after block ``i`` (higher = keep)."""
        if self.cfg.prune_score == "attention":
            # The attention the template centre pays them in the next block (OSTrack-style), from
            # the inputs that block receives: a fusion block adds the visual modal embedding first.
            if i + 1 >= self.cfg.fusion_start:
                centre, live = centre + self.modal_embed[0], live + self.modal_embed[0]
            return attention_scores(self.blocks[i + 1], centre, live)
        return similarity_scores(live, vis, txt, flag)

    def _prune_step(
        self, tokens: SearchTokens, live: torch.Tensor, scores: torch.Tensor, keep_ratio: float, soft: bool, nx: int
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Hard top-k (returns the kept tokens, no key bias) or a soft gate (all tokens, key bias)."""
        if soft:
            return live, tokens.gate(live, self.prune_gate(scores, tokens.stage))
        return tokens.prune(live, scores, keep_count(nx, keep_ratio, tokens.stage)), None

    @staticmethod
    def _all_search(tokens: SearchTokens, live: torch.Tensor) -> torch.Tensor:
        return live if tokens.index is None else scatter_tokens(tokens.full, tokens.index, live)

    def _output(self, tokens, live, template, text, vis_token, txt_token, logits) -> BackboneOutput:
        grid = self.cfg.search_grid
        return BackboneOutput(
            search=tokens.finish(live),
            template=template,
            text=text,
            vis_token=vis_token,
            txt_token=txt_token,
            logits=torch.stack(logits, dim=1).reshape(live.shape[0], -1, grid, grid) if logits else None,
            kept=tokens.index,
            keep_gates=tokens.gates or None,
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
        keep_ratio: float = 1.0,
        memory: torch.Tensor | None = None,
        memory_mask: torch.Tensor | None = None,
    ) -> tuple[BackboneOutput, HeadOutput, torch.Tensor]:
        """Training / reference forward: prompts from this frame's own search as context.

        ``text`` may be already encoded (``encode_text``), as a tracker keeps it per target.
        ``memory`` (B, K, 3, Tz, Tz) and ``memory_mask`` (B, K, Gz*Gz): past frames' template crops and
        their cells read with the target (``models/memory.py``; asymmetric models).
        Returns (backbone output, head output with 2-column cont_score, prompts (B, 3, C)).
        """
        target = self.encode_target(template, text, flag)
        if memory is not None:
            target = with_memory(target, encode_memory(self, memory, memory_mask))
        feats = self.forward_backbone(target, search, keep_ratio)
        prompts = self.make_prompts(feats, template_mask, feats.search, context_mask, target.flag)
        head = self.head(feats.search, prompts, target.flag, grounding=target.grounding, kept=feats.kept)
        return feats, head, prompts

    def forward_search(
        self,
        target: TargetState,
        search: torch.Tensor,
        prompts: torch.Tensor,
        keep_ratio: float = 1.0,
        with_logits: bool = False,
    ) -> tuple[BackboneOutput, HeadOutput]:
        """Per-frame tracking step: the target's state (``encode_target``) and prompts with this
        frame's search crop (3-column cont_score, as the reference's forward_test).
        The per-layer contrastive logits, a training signal, are skipped unless asked for."""
        feats = self.forward_backbone(target, search, keep_ratio, with_logits)
        head = self.head(feats.search, prompts, target.flag, null_column=True, grounding=target.grounding, kept=feats.kept)
        return feats, head

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
