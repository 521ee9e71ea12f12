"""Model configurations as data: one frozen dataclass per named model.

Sizes are in pixels (crops are square), token counts follow from ``size // patch_size``.
Every checkpoint the project writes stores its config as a plain dict beside the weights.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["CONFIGS", "DEFAULT_CONFIG", "IMAGENET_MEAN", "IMAGENET_STD", "ModelConfig", "get_config"]

# Every model reads RGB crops normalised as (pixel / 255 - mean) / std with ImageNet's statistics,
# the normalisation its pretrained backbones were trained with.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

PruneScore = Literal["similarity", "attention"]
TextInit = Literal["none", "minilm"]
VisualInit = Literal["none", "dinov2-vits14", "efficientnet-lite0"]
PatchEmbedKind = Literal["linear", "efficientnet-lite0"]


@dataclass(frozen=True)
class ModelConfig:
    """Architecture of one LiteTrack / UVLTrack variant.

    Args:
        name: registry name.
        patch_size: ViT patch side in pixels.
        template_size: template crop side in pixels (context factor ``template_factor``).
        search_size: search crop side in pixels (context factor ``search_factor``).
        template_factor: template crop side = sqrt(w*h) * factor.
        search_factor: search crop side = sqrt(w*h) * factor.
        embed_dim: token width, shared by the visual and text encoders.
        depth: number of ViT blocks.
        num_heads: attention heads of the ViT blocks.
        mlp_ratio: MLP hidden width / embed_dim in the ViT blocks.
        layer_scale: ViT blocks with LayerScale (DINOv2-initialised models).
        learnable_pos: position embeddings trained (True) or fixed 2D sin-cos (False).
        csa: LiteTrack's channel self-attention in every ViT block.
        csa_hidden: hidden width of the CSA squeeze-excitation (768 -> 48 in LiteTrack).
        fusion_start: blocks ``[fusion_start, depth)`` attend jointly over image and text;
            the text encoder has exactly ``fusion_start`` layers that run before them.
        contrastive_start: contrastive logits are produced after blocks ``[contrastive_start, depth)``.
        text_heads, text_intermediate: BERT layer geometry (width is ``embed_dim``).
        text_vocab_size, text_max_positions: BERT embedding tables.
        max_text_tokens: tokens per sentence including [CLS] and [SEP].
        head_channels: width of the first conv of each head tower (then halved three times).
        asymmetric: target tokens (cls, template, text) attend to target tokens only, so the
            target is encoded once and per frame only the search tokens run (AsymTrack's idea).
            False is UVLTrack's exact computation, the one published checkpoints were trained with.
        prune_blocks: search tokens are pruned after these blocks when a keep ratio < 1 is asked.
        prune_score: how search tokens are ranked there (see ``litetrack_core.models.pruning``).
        prune_gate: learnable keep thresholds (a soft gate in training; top-k at inference).
        patch_embed: "linear" (the ViT's patch embedding) or "efficientnet-lite0" (a CNN to
            stride 16, ``models/stem.py``; ``patch_size`` must then be 16).
        text_init, visual_init: pretrained initialisation that ships inside a package
            (see ``litetrack_core.weights.pretrained``); "none" for random / checkpoint-only.
    """

    name: str
    patch_size: int = 16
    template_size: int = 128
    search_size: int = 256
    template_factor: float = 2.0
    search_factor: float = 4.0
    embed_dim: int = 768
    depth: int = 12
    num_heads: int = 12
    mlp_ratio: float = 4.0
    layer_scale: bool = False
    learnable_pos: bool = False
    csa: bool = False
    csa_hidden: int = 48
    fusion_start: int = 6
    contrastive_start: int = 3
    text_heads: int = 12
    text_intermediate: int = 3072
    text_vocab_size: int = 30522
    text_max_positions: int = 512
    max_text_tokens: int = 40
    head_channels: int = 256
    asymmetric: bool = False
    prune_blocks: tuple[int, ...] = ()
    prune_score: PruneScore = "similarity"
    prune_gate: bool = False
    patch_embed: PatchEmbedKind = "linear"
    text_init: TextInit = "none"
    visual_init: VisualInit = "none"

    def __post_init__(self) -> None:
        object.__setattr__(self, "prune_blocks", tuple(int(b) for b in self.prune_blocks))  # JSON gives lists
        if list(self.prune_blocks) != sorted(set(self.prune_blocks)) or any(
            not 0 <= b < self.depth - 1 for b in self.prune_blocks
        ):
            raise ValueError(
                f"prune_blocks={self.prune_blocks} must be increasing block indices in [0, depth - 1 = {self.depth - 1})"
            )
        if self.prune_score not in ("similarity", "attention"):
            raise ValueError(f"prune_score={self.prune_score!r} must be 'similarity' or 'attention'")
        if self.patch_embed not in ("linear", "efficientnet-lite0"):
            raise ValueError(f"patch_embed={self.patch_embed!r} must be 'linear' or 'efficientnet-lite0'")
        if self.patch_embed == "efficientnet-lite0" and self.patch_size != 16:
            raise ValueError(f"patch_embed='efficientnet-lite0' has stride 16; patch_size={self.patch_size}")
        if self.visual_init == "efficientnet-lite0" and self.patch_embed != "efficientnet-lite0":
            raise ValueError("visual_init='efficientnet-lite0' needs patch_embed='efficientnet-lite0'")
        if self.prune_gate and not self.prune_blocks:
            raise ValueError("prune_gate needs prune_blocks")
        for field in ("template_size", "search_size"):
            size = getattr(self, field)
            if size <= 0 or size % self.patch_size:
                raise ValueError(f"{field}={size} must be a positive multiple of patch_size={self.patch_size}")
        if self.embed_dim % self.num_heads or self.embed_dim % self.text_heads:
            raise ValueError(
                f"embed_dim={self.embed_dim} must be divisible by num_heads={self.num_heads} "
                f"and text_heads={self.text_heads}"
            )
        if not 0 < self.fusion_start <= self.depth:
            raise ValueError(f"fusion_start={self.fusion_start} must be in [1, depth={self.depth}]")
        if not 0 <= self.contrastive_start < self.depth:
            raise ValueError(f"contrastive_start={self.contrastive_start} must be in [0, depth={self.depth})")
        if self.head_channels % 8 or self.head_channels <= 0:
            raise ValueError(f"head_channels={self.head_channels} must be a positive multiple of 8")
        if not 3 <= self.max_text_tokens <= self.text_max_positions:
            raise ValueError(
                f"max_text_tokens={self.max_text_tokens} must be in [3, text_max_positions={self.text_max_positions}]"
            )

    @property
    def template_grid(self) -> int:
        """Template tokens per side."""
        return self.template_size // self.patch_size

    @property
    def search_grid(self) -> int:
        """Search tokens per side (also the side of the score map)."""
        return self.search_size // self.patch_size

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ModelConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown model config fields {unknown}; known fields: {sorted(known)}")
        return cls(**data)


# UVLTrack-Base exactly as published: ViT-B/16 (MAE), BERT-base cut to 6 layers, 128/256 crops.
# Pruning (only when a keep ratio < 1 is asked): the template centre's attention after blocks 3,
# 6, 9, chosen by measurement (docs/benchmarks.md): training-free it keeps the target's features
# where similarity scoring does not, and at keep 0.5 it meets the cost goal where one stage after
# block 2 does not.
_UVLTRACK_B256 = ModelConfig(name="uvltrack-b256", prune_blocks=(3, 6, 9), prune_score="attention")

CONFIGS: dict[str, ModelConfig] = {
    _UVLTRACK_B256.name: _UVLTRACK_B256,
    # LiteTrack: the same network plus channel self-attention in every block.
    "litetrack-b256": dataclasses.replace(_UVLTRACK_B256, name="litetrack-b256", csa=True),
    # For a 2-core CPU: DINOv2 ViT-S/14 (first 6 blocks) + MiniLM-L6 (first 3 layers), both width 384.
    # 84/168 crops give 6x6 template and 12x12 search tokens: ~1/3 of the base model's sequence.
    "litetrack-s168": ModelConfig(
        name="litetrack-s168",
        patch_size=14,
        template_size=84,
        search_size=168,
        embed_dim=384,
        depth=6,
        num_heads=6,
        layer_scale=True,
        learnable_pos=True,
        csa=True,
        csa_hidden=24,
        fusion_start=3,
        contrastive_start=2,
        text_heads=12,
        text_intermediate=1536,
        head_channels=128,
        # Trained asymmetric (target cached; the project trains it) and pruned by attention after
        # block 2: at keep 0.7 the target's features are unchanged (docs/benchmarks.md).
        asymmetric=True,
        prune_blocks=(2,),
        prune_score="attention",
        text_init="minilm",
        visual_init="dinov2-vits14",
    ),
}
# The EfficientNet-Lite0 candidate for the default model, for comparison with litetrack-s168:
# the same transformer, text encoder and head; the visual tokens come from Lite0's ImageNet CNN
# (stride 16; 96/192 crops give the same 6x6 / 12x12 grids) and the ViT blocks start untrained.
CONFIGS["litetrack-e192"] = dataclasses.replace(
    CONFIGS["litetrack-s168"],
    name="litetrack-e192",
    patch_size=16,
    template_size=96,
    search_size=192,
    layer_scale=False,
    patch_embed="efficientnet-lite0",
    visual_init="efficientnet-lite0",
)


# What runs when a user names no config and no checkpoint: the CPU-sized model.
DEFAULT_CONFIG = "litetrack-s168"


def get_config(name: str) -> ModelConfig:
    """Return the named configuration; raises ``ValueError`` listing the known names."""
    try:
        return CONFIGS[name]
    except KeyError:
        raise ValueError(f"unknown model config {name!r}; known: {sorted(CONFIGS)}") from None
