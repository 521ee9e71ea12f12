"""Target caching (``ModelConfig.asymmetric``): the target is encoded once, per frame only the search runs.

The asymmetric computation is defined as one pass over the whole sequence in which target
tokens (cls, template and, in fusion blocks, text) attend only to target keys, and search tokens
attend to the visible target keys and to every search key. The reference below builds exactly
that pass with an explicit 2D attention mask from the blocks' own parameters; the cached path
(``encode_target`` + ``forward_search``) must reproduce it.
"""

from __future__ import annotations

import dataclasses

import pytest
import torch
import torch.nn.functional as F

from conftest import tiny_inputs, tiny_model
from masked_reference import reference_block, sequence_layout
from litetrack_core.models.text import TokenizedText





def reference_asymmetric(model, template, text_feats, search, flag):
    """The asymmetric model as one masked pass over [cls, template, search] (+ text in fusion blocks).

    Returns a dict: search / template / text tokens after the last block, cls and text [CLS]
    after every block (B, depth, C), the template's centre cells after every block (B, depth, Q, C).
    """
    cfg = model.cfg
    b, nz, nx, length, npre, target_keys, text_keys = sequence_layout(model, text_feats, flag)
    ones = lambda n: torch.ones(b, n, dtype=torch.bool)  # noqa: E731
    zeros = lambda n: torch.zeros(b, n, dtype=torch.bool)  # noqa: E731
    cls = model.cls_token.expand(b, -1, -1)
    z = model.patch_embed(template) + model.pos_embed_z
    x = model.patch_embed(search) + model.pos_embed_x
    v = torch.cat([cls, z, x], dim=1)
    t = text_feats.tokens
    vis_ref, txt_ref, centre = [], [], []
    g = cfg.template_grid
    middle = [g // 2] if g % 2 else [g // 2 - 1, g // 2]
    centre_cells = [1 + r * g + c for r in middle for c in middle]
    for i, block in enumerate(model.blocks):
        fusion = i >= cfg.fusion_start
        if fusion:
            seq = torch.cat([v + model.modal_embed[0], t + model.modal_embed[1]], dim=1)
            is_target = torch.cat([ones(npre), zeros(nx), ones(length)], dim=1)
            target_sees = torch.cat([target_keys, zeros(nx), text_keys], dim=1)
            search_sees = torch.cat([target_keys, ones(nx), text_keys], dim=1)
        else:
            seq = v
            is_target = torch.cat([ones(npre), zeros(nx)], dim=1)
            target_sees = is_target  # every cls / template key, whatever the flag
            search_sees = torch.cat([target_keys, ones(nx)], dim=1)
        mask = torch.where(is_target[:, :, None], target_sees[:, None, :], search_sees[:, None, :])
        out = reference_block(block, seq, mask, [(is_target, target_sees), (~is_target, ~is_target)])
        v = out[:, : npre + nx]
        if fusion:
            t = out[:, npre + nx :]
        vis_ref.append(v[:, 0])
        centre.append(v[:, centre_cells])
        txt_ref.append(t[:, 0] if fusion else text_feats.cls_per_layer[:, i])
    return {
        "search": v[:, npre:],
        "template": v[:, 1:npre],
        "text": t,
        "vis_ref": torch.stack(vis_ref, 1),
        "txt_ref": torch.stack(txt_ref, 1),
        "centre": torch.stack(centre, 1),
    }


def _by_flag(vis, txt, flag):
    out = torch.where((flag == 0).view(-1, 1, 1), vis, txt)
    return torch.where((flag == 2).view(-1, 1, 1), (vis + txt) / 2, out)


@pytest.mark.parametrize("csa", [False, True], ids=["plain", "csa"])
@pytest.mark.parametrize("flags", [[0], [1], [2], [0, 1, 2]], ids=["bbox", "nl", "nlbbox", "mixed"])
def test_cached_target_equals_masked_full_sequence(csa, flags):
    model = tiny_model(asymmetric=True, csa=csa)
    cfg = model.cfg
    flag = torch.tensor(flags)
    z, x, text, _, _ = tiny_inputs(cfg, batch=len(flags))
    with torch.no_grad():
        text_feats = model.encode_text(text)
        ref = reference_asymmetric(model, z, text_feats, x, flag)
        target = model.encode_target(z, text_feats, flag)
        feats = model.forward_backbone(target, x, with_logits=True)
    tol = dict(atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(feats.search, ref["search"], **tol)
    torch.testing.assert_close(feats.template, ref["template"], **tol)
    torch.testing.assert_close(feats.text, ref["text"], **tol)
    torch.testing.assert_close(feats.vis_token[:, 0], ref["vis_ref"][:, -1], **tol)
    torch.testing.assert_close(feats.txt_token[:, 0], ref["txt_ref"][:, -1], **tol)
    torch.testing.assert_close(target.vis_ref, ref["vis_ref"], **tol)
    torch.testing.assert_close(target.txt_ref, ref["txt_ref"], **tol)
    torch.testing.assert_close(target.centre, ref["centre"], **tol)  # the template's centre cells, per block
    # The contrastive logits after the last block: scaled cosine of the search tokens to the
    # reference token(s) chosen by the flag.
    search = F.normalize(ref["search"], dim=-1)
    vis = search @ F.normalize(ref["vis_ref"][:, -1], dim=-1).unsqueeze(-1)
    txt = search @ F.normalize(ref["txt_ref"][:, -1], dim=-1).unsqueeze(-1)
    expected = model.logit_scale.exp() * _by_flag(vis, txt, flag).squeeze(-1)
    g = cfg.search_grid
    assert feats.logits.shape == (len(flags), cfg.depth - cfg.contrastive_start, g, g)
    torch.testing.assert_close(feats.logits[:, -1].reshape(len(flags), -1), expected, atol=1e-4, rtol=1e-5)


def test_per_frame_pass_runs_only_search_tokens():
    """After encode_target, every block sees the Nx search tokens alone, and no template is embedded."""
    model = tiny_model(asymmetric=True, csa=True)
    cfg = model.cfg
    z, x, text, _, _ = tiny_inputs(cfg, batch=2)
    flag = torch.tensor([0, 2])
    with torch.no_grad():
        target = model.encode_target(z, text, flag)
    seen, embeds = [], [0]
    hooks = [blk.register_forward_pre_hook(lambda _m, args: seen.append(tuple(args[0].shape))) for blk in model.blocks]
    hooks.append(model.patch_embed.register_forward_hook(lambda *_: embeds.__setitem__(0, embeds[0] + 1)))
    text_runs = [0]
    hooks.append(model.text.register_forward_hook(lambda *_: text_runs.__setitem__(0, text_runs[0] + 1)))
    try:
        with torch.no_grad():
            for _ in range(2):
                model.forward_search(target, x, torch.zeros(2, 3, cfg.embed_dim))
    finally:
        for h in hooks:
            h.remove()
    assert seen == [(2, cfg.search_grid**2, cfg.embed_dim)] * (2 * cfg.depth)
    assert embeds[0] == 2  # the search crop, once per frame
    assert len(target.kv) == cfg.depth
    # The cached keys: [cls, template] before fusion, [cls, template, text] in fusion blocks.
    heads, d = cfg.num_heads, cfg.embed_dim // cfg.num_heads
    npre = 1 + cfg.template_grid**2
    for i, kv in enumerate(target.kv):
        n = npre + (cfg.max_text_tokens if i >= cfg.fusion_start else 0)
        assert kv.k.shape == kv.v.shape == (2, heads, n, d)
        assert kv.visible.shape == (2, n)


def test_target_state_does_not_depend_on_the_search():
    model = tiny_model(asymmetric=True, csa=True)
    z, x, text, _, _ = tiny_inputs(model.cfg, batch=2)
    other = torch.randn_like(x) * 2
    flag = torch.tensor([0, 2])
    with torch.no_grad():
        target = model.encode_target(z, text, flag)
        before = [(kv.k.clone(), kv.v.clone(), kv.visible.clone()) for kv in target.kv]
        a = model.forward_backbone(target, x)
        b = model.forward_backbone(target, other)
        again = model.encode_target(z, text, flag)
    # forward_search neither changes the cache ...
    for (k, v, vis), kv in zip(before, target.kv):
        assert torch.equal(k, kv.k) and torch.equal(v, kv.v) and torch.equal(vis, kv.visible)
    # ... nor reads the search into the target's tokens
    assert torch.equal(a.template, b.template) and torch.equal(a.text, b.text)
    assert torch.equal(a.vis_token, b.vis_token) and torch.equal(a.txt_token, b.txt_token)
    assert (a.search - b.search).abs().max() > 1e-3
    torch.testing.assert_close(again.vis_ref, target.vis_ref, atol=0, rtol=0)

    # The exact model, for contrast: there the template does read the search.
    exact = tiny_model(csa=True)
    with torch.no_grad():
        t_exact = exact.encode_target(z, text, flag)
        ea = exact.forward_backbone(t_exact, x)
        eb = exact.forward_backbone(t_exact, other)
    assert (ea.template - eb.template).abs().max() > 1e-3


@pytest.mark.parametrize("flags", [(0, 2), (1, 0)], ids=["bbox+nlbbox", "nl+bbox"])
def test_batch_of_two_equals_singles(flags):
    model = tiny_model(asymmetric=True, csa=True)
    cfg = model.cfg
    z, x, text, zmask, xmask = tiny_inputs(cfg, batch=2, seed=3)
    flag = torch.tensor(flags)
    with torch.no_grad():
        target = model.encode_target(z, text, flag)
        ctx = model.forward_backbone(target, x)
        prompts = model.make_prompts(ctx, zmask, ctx.search, xmask, flag)
        both, head = model.forward_search(target, x, prompts)
        for i in range(2):
            s = slice(i, i + 1)
            one = model.encode_target(z[s], TokenizedText(text.ids[s], text.mask[s]), flag[s])
            feats, single = model.forward_search(one, x[s], prompts[s])
            torch.testing.assert_close(both.search[s], feats.search, atol=1e-5, rtol=1e-5)
            torch.testing.assert_close(head.score_map[s], single.score_map, atol=1e-5, rtol=1e-5)
            torch.testing.assert_close(head.bbox_map[s], single.bbox_map, atol=1e-5, rtol=1e-5)
            for kv_batch, kv_one in zip(target.kv, one.kv):
                # A single target keeps only the keys a search token may attend to (no mask).
                assert kv_one.visible is None
                shown = kv_batch.visible[i]
                torch.testing.assert_close(kv_batch.k[s][:, :, shown], kv_one.k, atol=1e-5, rtol=1e-5)
                torch.testing.assert_close(kv_batch.v[s][:, :, shown], kv_one.v, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("flag", [0, 1, 2])
def test_csa_asymmetric_tracks_every_flag(flag):
    """CSA on, asymmetric: the whole per-frame step (head included) is finite in every mode."""
    model = tiny_model(asymmetric=True, csa=True)
    cfg = model.cfg
    z, x, text, zmask, xmask = tiny_inputs(cfg)
    f = torch.tensor([flag])
    with torch.no_grad():
        target = model.encode_target(z, text, f)
        ctx = model.forward_backbone(target, x, with_logits=False)
        prompts = model.make_prompts(ctx, zmask, ctx.search, xmask, f)
        feats, head = model.forward_search(target, torch.randn_like(x), prompts)
    for tensor in (feats.search, prompts, head.score_map, head.bbox_map, head.cont_score, head.pred_boxes):
        assert bool(torch.isfinite(tensor).all())
    assert head.cont_score.shape == (1, cfg.search_grid**2, 3)


def test_template_reaches_the_search_unless_hidden():
    """BBOX / NLBBOX searches read the cached template; NL hides it, so any template gives the same result."""
    model = tiny_model(asymmetric=True, csa=True)
    z, x, text, _, _ = tiny_inputs(model.cfg)
    z2 = torch.randn_like(z) * 3
    with torch.no_grad():
        outs = {}
        for flag in (0, 1, 2):
            f = torch.tensor([flag])
            outs[flag] = [model.forward_backbone(model.encode_target(t, text, f), x).search for t in (z, z2)]
    assert (outs[0][0] - outs[0][1]).abs().max() > 1e-3
    assert (outs[2][0] - outs[2][1]).abs().max() > 1e-3
    torch.testing.assert_close(outs[1][0], outs[1][1], atol=1e-5, rtol=0)


def test_exact_model_caches_no_blocks_and_sees_the_template():
    model = tiny_model(csa=True)
    z, x, text, _, _ = tiny_inputs(model.cfg)
    f = torch.tensor([0])
    with torch.no_grad():
        target = model.encode_target(z, text, f)
        a = model.forward_backbone(target, x).search
        b = model.forward_backbone(model.encode_target(torch.randn_like(z) * 3, text, f), x).search
    assert target.kv is None and target.vis_ref is None and target.template_out is None
    assert (a - b).abs().max() > 1e-3


def test_asymmetric_and_exact_differ_with_the_same_weights():
    """Caching is a different computation, not a cache of the exact one (so it needs its own training)."""
    exact = tiny_model(csa=True)
    asym = tiny_model(asymmetric=True, csa=True)
    asym.load_state_dict(exact.state_dict())
    z, x, text, _, _ = tiny_inputs(exact.cfg)
    f = torch.tensor([2])
    with torch.no_grad():
        a = exact.forward_backbone(exact.encode_target(z, text, f), x).search
        b = asym.forward_backbone(asym.encode_target(z, text, f), x).search
    assert (a - b).abs().max() > 1e-3


def test_asymmetric_model_refuses_a_target_without_cache():
    model = tiny_model(asymmetric=True)
    z, x, text, _, _ = tiny_inputs(model.cfg)
    with torch.no_grad():
        target = model.encode_target(z, text, torch.tensor([0]))
        with pytest.raises(ValueError, match="asymmetric"):
            model.forward_backbone(dataclasses.replace(target, kv=None), x)


def test_training_forward_of_an_asymmetric_model_backpropagates_into_the_target():
    """The full forward (training) goes through the cache: losses on search outputs reach the template."""
    model = tiny_model(asymmetric=True, csa=True).train()
    z, x, text, zmask, xmask = tiny_inputs(model.cfg, batch=2)
    z.requires_grad_(True)
    feats, head, prompts = model(z, x, text, zmask, xmask, torch.tensor([0, 2]))
    head.score_map.sum().backward()
    assert z.grad is not None and z.grad.abs().sum() > 0
    assert model.blocks[0].attn.qkv.weight.grad.abs().sum() > 0
