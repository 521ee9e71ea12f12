"""LiteTrack's hierarchical freezing for fine-tuning (what stays fixed, what adapts).

Low layers keep generic features: the patch and position embeddings and the first
``frozen_blocks`` ViT blocks are frozen except their LayerNorms and channel self-attention (new
in LiteTrack, so never pretrained), and the BERT embeddings and
first ``frozen_text_layers`` BERT layers are frozen. Everything above trains. Behind a CNN
patch embedding (``cfg.patch_embed``) only the pretrained CNN is frozen: the projection, position
tables and ViT blocks behind it start untrained.
"""

from __future__ import annotations

from litetrack_core.models.litetrack import LiteTrack

__all__ = ["apply_litetrack_freezing"]


def apply_litetrack_freezing(model: LiteTrack, frozen_blocks: int = 4, frozen_text_layers: int = 1) -> int:
    """Set ``requires_grad`` per LiteTrack's recipe; returns the number of trainable parameters."""
    conv_stem = model.cfg.patch_embed != "linear"
    for name, p in model.named_parameters():
        parts = name.split(".")
        if conv_stem and name.startswith("patch_embed.cnn."):
            p.requires_grad_(False)
        elif not conv_stem and parts[0] in ("patch_embed", "pos_embed_z", "pos_embed_x"):
            p.requires_grad_(False)
        elif (
            parts[0] == "blocks" and not conv_stem and int(parts[1]) < frozen_blocks
            and not parts[2].startswith("norm") and parts[2:4] != ["attn", "csa"]
        ):
            p.requires_grad_(False)
        elif name.startswith("text.bert.embeddings."):
            p.requires_grad_(False)
        elif name.startswith("text.bert.encoder.layer.") and int(parts[4]) < frozen_text_layers:
            p.requires_grad_(False)
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
