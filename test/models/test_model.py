"""Shapes, modality masks, text padding and CSA behaviour of the model (tiny config)."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from conftest import tiny_config
from litetrack_core.models import create_model
from litetrack_core.models.litetrack import attention_visibility
from litetrack_core.models.text import TokenizedText
from litetrack_core.models.vit import ChannelSelfAttention


def _inputs(cfg, batch=1, seed=0):
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(batch, 3, cfg.template_size, cfg.template_size, generator=g)
    x = torch.randn(batch, 3, cfg.search_size, cfg.search_size, generator=g)
    ids = torch.zeros(batch, cfg.max_text_tokens, dtype=torch.long)
    ids[:, :6] = torch.tensor([101, 1996, 2417, 2482, 2006, 102])
    zmask = torch.zeros(batch, cfg.template_grid**2, dtype=torch.bool)
    xmask = torch.zeros(batch, cfg.search_grid**2, dtype=torch.bool)
    zmask[:, 27:29] = True
    xmask[:, 40:44] = True
    return z, x, TokenizedText(ids, (ids > 0).long()), zmask, xmask


@pytest.fixture(scope="module", params=[False, True], ids=["uvltrack", "csa"])
def model(request):
    torch.manual_seed(0)
    return create_model(tiny_config(csa=request.param))


@pytest.mark.parametrize("flag", [0, 1, 2])
def test_output_shapes_per_mode(model, flag):
    cfg = model.cfg
    z, x, text, zmask, xmask = _inputs(cfg, batch=2)
    with torch.no_grad():
        feats, head, prompts = model(z, x, text, zmask, xmask, torch.tensor([flag, flag]))
    g, c = cfg.search_grid, cfg.embed_dim
    assert feats.search.shape == (2, g * g, c)
    assert feats.template.shape == (2, cfg.template_grid**2, c)
    assert feats.text.shape == (2, cfg.max_text_tokens, c)
    assert feats.vis_token.shape == feats.txt_token.shape == (2, 1, c)
    assert feats.logits.shape == (2, cfg.depth - cfg.contrastive_start, g, g)
    assert head.score_map.shape == (2, g, g) and head.bbox_map.shape == (2, g * g, 4)
    assert head.cont_score.shape == (2, g * g, 2) and prompts.shape == (2, 3, c)
    assert head.pred_boxes.shape == (2, 1, 4)
    assert bool(((head.bbox_map >= 0) & (head.bbox_map <= 1)).all())
    # Box centres stay inside their own cell: cell + sigmoid offset, divided by the grid.
    cells = torch.arange(g * g)
    offset_x = head.bbox_map[0, :, 0] * g - cells % g
    offset_y = head.bbox_map[0, :, 1] * g - cells // g
    assert bool(((offset_x >= 0) & (offset_x <= 1) & (offset_y >= 0) & (offset_y <= 1)).all())


def test_mixed_batch_equals_separate_samples(model):
    z, x, text, zmask, xmask = _inputs(model.cfg, batch=3)
    flags = torch.tensor([0, 1, 2])
    with torch.no_grad():
        _, mixed, _ = model(z, x, text, zmask, xmask, flags)
        for i in range(3):
            one = TokenizedText(text.ids[i : i + 1], text.mask[i : i + 1])
            _, single, _ = model(z[i : i + 1], x[i : i + 1], one, zmask[i : i + 1], xmask[i : i + 1], flags[i : i + 1])
            torch.testing.assert_close(mixed.bbox_map[i], single.bbox_map[0], atol=1e-5, rtol=1e-5)
            torch.testing.assert_close(mixed.score_map[i], single.score_map[0], atol=1e-5, rtol=1e-5)


def test_visibility_masks_per_mode():
    text_mask = torch.tensor([[1, 1, 1, 0]] * 3)
    visual, joint = attention_visibility(torch.tensor([0, 1, 2]), text_mask, num_template=2, num_search=3)
    # [cls, z, z, x, x, x] then 4 text tokens
    assert visual.tolist() == [[True] * 6, [False, False, False, True, True, True], [True] * 6]
    assert joint[0, 6:].tolist() == [False] * 4  # BBOX: no text
    assert joint[1, 6:].tolist() == joint[2, 6:].tolist() == [True, True, True, False]  # padding hidden


def test_nl_mode_ignores_template(model):
    """Flag 1 hides cls and template keys, so the template image cannot reach the search tokens."""
    z, x, text, zmask, xmask = _inputs(model.cfg)
    flag = torch.tensor([1])
    with torch.no_grad():
        a, _, _ = model(z, x, text, zmask, xmask, flag)
        b, _, _ = model(torch.randn_like(z) * 3, x, text, zmask, xmask, flag)
        c, _, _ = model(z, x, text, zmask, xmask, torch.tensor([2]))
    torch.testing.assert_close(a.search, b.search, atol=1e-5, rtol=0)
    torch.testing.assert_close(a.text, b.text, atol=1e-5, rtol=0)
    assert (a.search - c.search).abs().max() > 1e-3  # NLBBOX does see it


def test_bbox_mode_ignores_text(model):
    z, x, text, zmask, xmask = _inputs(model.cfg)
    other_ids = text.ids.clone()
    other_ids[0, 1:5] = torch.tensor([3899, 2058, 1996, 2723])
    flag = torch.tensor([0])
    with torch.no_grad():
        a, _, _ = model(z, x, text, zmask, xmask, flag)
        b, _, _ = model(z, x, TokenizedText(other_ids, text.mask), zmask, xmask, flag)
    torch.testing.assert_close(a.search, b.search, atol=1e-5, rtol=0)
    torch.testing.assert_close(a.vis_token, b.vis_token, atol=1e-5, rtol=0)


@pytest.mark.parametrize("flag", [1, 2])
def test_text_padding_does_not_matter(model, flag):
    """Ids under a zero mask (padding) change nothing the model outputs for real tokens."""
    z, x, text, zmask, xmask = _inputs(model.cfg)
    noisy = text.ids.clone()
    noisy[0, 6:] = torch.randint(1000, 29000, (noisy.shape[1] - 6,))
    f = torch.tensor([flag])
    with torch.no_grad():
        a, ha, pa = model(z, x, text, zmask, xmask, f)
        b, hb, pb = model(z, x, TokenizedText(noisy, text.mask), zmask, xmask, f)
    torch.testing.assert_close(a.search, b.search, atol=1e-5, rtol=0)
    torch.testing.assert_close(a.text[:, :6], b.text[:, :6], atol=1e-5, rtol=0)
    torch.testing.assert_close(ha.bbox_map, hb.bbox_map, atol=1e-5, rtol=0)
    torch.testing.assert_close(pa, pb, atol=1e-5, rtol=0)


def test_csa_pools_only_visible_tokens():
    csa = ChannelSelfAttention(8, 4)
    x = torch.randn(2, 5, 8)
    visible = torch.tensor([[True, True, True, False, False]] * 2)
    y = csa(x, visible)
    x2 = x.clone()
    x2[:, 3:] = 100.0  # hidden tokens change wildly
    y2 = csa(x2, visible)
    torch.testing.assert_close(y[:, :3], y2[:, :3])
    # ... and the unmasked mean over visible tokens is what the gate sees
    torch.testing.assert_close(csa(x[:, :3]), y[:, :3])
    assert (csa(x2)[:, :3] - y[:, :3]).abs().max() > 1e-4  # ignoring the mask would leak them


def test_csa_changes_the_model():
    torch.manual_seed(0)
    plain = create_model(tiny_config())
    torch.manual_seed(0)
    with_csa = create_model(tiny_config(csa=True))
    assert sum("attn.csa." in k for k in with_csa.state_dict()) == 4 * plain.cfg.depth
    assert not any("attn.csa." in k for k in plain.state_dict())


def test_invalid_inputs_are_refused(model):
    cfg = model.cfg
    z, x, text, zmask, xmask = _inputs(cfg)
    with pytest.raises(ValueError, match="flag values"):
        model(z, x, text, zmask, xmask, torch.tensor([3]))
    with pytest.raises(ValueError, match=rf"search must be \(B, 3, {cfg.search_size}, {cfg.search_size}\)"):
        model(z, x[..., :-16], text, zmask, xmask, torch.tensor([0]))
    with pytest.raises(ValueError, match="flag has 2 entries"):
        model(z, x, text, zmask, xmask, torch.tensor([0, 0]))


def test_config_validation():
    with pytest.raises(ValueError, match="search_size=250 must be a positive multiple of patch_size=16"):
        tiny_config(search_size=250)
    with pytest.raises(ValueError, match="fusion_start"):
        tiny_config(fusion_start=9)
    cfg = tiny_config()
    assert type(cfg).from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError, match="unknown model config fields"):
        type(cfg).from_dict({**cfg.to_dict(), "colour": "red"})
    assert dataclasses.replace(cfg, csa=True).csa


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_runs_every_mode(dtype):
    """Masked logits must fit the dtype (float16 overflowed on a fixed -1e20 before)."""
    torch.manual_seed(0)
    model = create_model(tiny_config(csa=True)).to(dtype)
    z, x, text, zmask, xmask = _inputs(model.cfg, batch=3)
    with torch.no_grad():
        feats, head, prompts = model(z.to(dtype), x.to(dtype), text, zmask, xmask, torch.tensor([0, 1, 2]))
    assert head.bbox_map.dtype == dtype
    assert bool(torch.isfinite(head.bbox_map).all() and torch.isfinite(prompts).all())
    assert bool(torch.isfinite(head.cont_score).all())
