"""Search-token pruning: keep counts, which tokens survive, what pruned tokens hold, the soft gate.

The tiny model has 4 blocks (fusion from block 2), a 4x4 template and an 8x8 search grid (64
search tokens). Tokens that survive are checked against independent computations from the
blocks' own outputs (forward hooks) and against a masked full-sequence reference in which a
pruned search token stops being a key and keeps its value.
"""

from __future__ import annotations

import json
import math

import pytest
import torch
import torch.nn.functional as F

from conftest import tiny_config, tiny_inputs, tiny_model
from masked_reference import reference_block, sequence_layout
from litetrack_core.models import ModelConfig
from litetrack_core.models.pruning import PruneGate, keep_count, keep_regulariser
from litetrack_core.models.text import TokenizedText

NX = 64  # search tokens of the tiny config (128 / 16) ** 2




def _centre_cells(grid: int) -> list[int]:
    """The template's centre cells: the middle one (odd grid) or the middle 2x2 (even grid)."""
    rows = [grid // 2] if grid % 2 else [grid // 2 - 1, grid // 2]
    return [r * grid + c for r in rows for c in rows]


def _outputs_of(module):
    """Record every output of ``module`` (a real forward hook); returns (list, handle)."""
    seen = []
    return seen, module.register_forward_hook(lambda _m, _a, out: seen.append(out.detach().clone()))


def _cosine(tokens, ref):
    return F.normalize(tokens, dim=-1) @ F.normalize(ref, dim=-1).unsqueeze(-1)


def _next_block_attention(model, i, centre, search):
    """Mean over heads and queries of softmax(q k^T / sqrt(d)) in block i + 1, from the inputs that
    block receives (visual tokens get ``modal_embed[0]`` added before a fusion block)."""
    block = model.blocks[i + 1]
    if i + 1 >= model.cfg.fusion_start:
        centre, search = centre + model.modal_embed[0], search + model.modal_embed[0]
    heads = block.attn.num_heads
    c = centre.shape[-1]
    d = c // heads

    def project(tokens, which):
        qkv = block.attn.qkv(block.norm1(tokens))  # (B, N, 3C): [q | k | v] channel thirds
        part = qkv[..., which * c : (which + 1) * c]
        return part.reshape(tokens.shape[0], tokens.shape[1], heads, d).transpose(1, 2)

    q, k = project(centre, 0), project(search, 1)
    return torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(d), dim=-1).mean(dim=(1, 2))


def _top(scores, k):
    return sorted(scores.topk(k).indices.tolist())


# ---------------------------------------------------------------------------- keep counts


def test_keep_count_per_stage():
    assert [keep_count(64, 1.0, s) for s in range(3)] == [64, 64, 64]
    assert [keep_count(64, 0.5, s) for s in range(3)] == [32, 16, 8]
    assert [keep_count(100, 0.7, s) for s in range(3)] == [70, 49, 35]
    # 0.8 ** 2 * 100 is 64.00000000000001 in floats: still 64 tokens, not 65
    assert [keep_count(100, 0.8, s) for s in range(3)] == [80, 64, 52]
    assert keep_count(64, 0.7, 2) == 22  # ceil(21.952)
    assert keep_count(10, 0.01, 0) == 1  # never zero
    for bad in (0.0, -0.5, 1.5, float("nan")):
        with pytest.raises(ValueError, match="keep_ratio"):
            keep_count(64, bad, 0)


# ---------------------------------------------------------------------------- config


@pytest.mark.parametrize(
    "changes,message",
    [
        (dict(prune_blocks=(2, 1)), "prune_blocks"),
        (dict(prune_blocks=(1, 1)), "prune_blocks"),
        (dict(prune_blocks=(3,)), "prune_blocks"),  # the last block: nothing after it to save
        (dict(prune_blocks=(-1,)), "prune_blocks"),
        (dict(prune_gate=True), "prune_gate needs prune_blocks"),
        (dict(prune_blocks=(1,), prune_score="random"), "prune_score"),
    ],
)
def test_config_validation(changes, message):
    with pytest.raises(ValueError, match=message):
        tiny_config(**changes)


def test_config_round_trip_keeps_a_tuple():
    cfg = tiny_config(prune_blocks=(0, 2), prune_score="attention", prune_gate=True, asymmetric=True)
    data = json.loads(json.dumps(cfg.to_dict()))  # as a checkpoint stores it: a list
    assert data["prune_blocks"] == [0, 2]
    back = ModelConfig.from_dict(data)
    assert back == cfg and back.prune_blocks == (0, 2) and isinstance(back.prune_blocks, tuple)
    assert hash(back) == hash(cfg)  # frozen config stays hashable


# ---------------------------------------------------------------------------- inference pruning


@pytest.mark.parametrize("asymmetric", [False, True], ids=["exact", "asym"])
@pytest.mark.parametrize("flag", [0, 1, 2])
def test_keep_ratio_one_equals_a_model_without_pruning(asymmetric, flag):
    pruning = tiny_model(csa=True, asymmetric=asymmetric, prune_blocks=(0, 2))
    plain = tiny_model(csa=True, asymmetric=asymmetric)
    plain.load_state_dict(pruning.state_dict())
    z, x, text, zmask, xmask = tiny_inputs(pruning.cfg)
    f = torch.tensor([flag])
    with torch.no_grad():
        a, ha, pa = pruning(z, x, text, zmask, xmask, f, keep_ratio=1.0)
        b, hb, pb = plain(z, x, text, zmask, xmask, f)
        c, _, _ = plain(z, x, text, zmask, xmask, f, keep_ratio=0.5)  # no pruning blocks: nothing to prune
        d, _, _ = pruning(z, x, text, zmask, xmask, f, keep_ratio=0.5)
    assert a.kept is None and a.keep_gates is None and c.kept is None
    assert torch.equal(a.search, b.search) and torch.equal(ha.bbox_map, hb.bbox_map) and torch.equal(pa, pb)
    assert torch.equal(a.logits, b.logits)
    assert torch.equal(c.search, b.search)
    assert d.kept is not None and (d.search - b.search).abs().max() > 1e-3  # pruning does change things


@pytest.mark.parametrize("asymmetric", [False, True], ids=["exact", "asym"])
def test_keeping_every_token_through_gather_and_scatter_changes_nothing(asymmetric):
    """A ratio just under 1 keeps all 64 tokens at each stage: the pruning path is then an identity."""
    model = tiny_model(csa=True, asymmetric=asymmetric, prune_blocks=(0, 1, 2))
    z, x, text, _, _ = tiny_inputs(model.cfg, batch=2)
    f = torch.tensor([0, 2])
    assert [keep_count(NX, 0.9999, s) for s in range(3)] == [NX] * 3
    with torch.no_grad():
        target = model.encode_target(z, text, f)
        full = model.forward_backbone(target, x)
        same = model.forward_backbone(target, x, keep_ratio=0.9999)
    assert same.kept.tolist() == [list(range(NX))] * 2
    torch.testing.assert_close(same.search, full.search, atol=1e-6, rtol=1e-6)
    torch.testing.assert_close(same.logits, full.logits, atol=1e-5, rtol=1e-6)


@pytest.mark.parametrize("asymmetric", [False, True], ids=["exact", "asym"])
@pytest.mark.parametrize("keep", [0.7, 0.5, 0.3])
def test_live_tokens_per_stage_follow_keep_count(asymmetric, keep):
    model = tiny_model(asymmetric=asymmetric, prune_blocks=(0, 1, 2))
    cfg = model.cfg
    z, x, text, _, _ = tiny_inputs(cfg, batch=2)
    f = torch.tensor([0, 1])
    npre, length = 1 + cfg.template_grid**2, cfg.max_text_tokens
    with torch.no_grad():
        target = model.encode_target(z, text, f)
    entering = []
    hooks = [blk.register_forward_pre_hook(lambda _m, args: entering.append(args[0].shape[1])) for blk in model.blocks]
    try:
        with torch.no_grad():
            out = model.forward_backbone(target, x, keep_ratio=keep)
    finally:
        for h in hooks:
            h.remove()
    if not asymmetric:  # [cls, template, search] (+ text in fusion blocks)
        entering = [n - npre - (length if i >= cfg.fusion_start else 0) for i, n in enumerate(entering)]
    assert entering == [NX] + [keep_count(NX, keep, s) for s in range(3)]
    assert out.kept.shape == (2, keep_count(NX, keep, 2))
    for row in out.kept.tolist():
        assert row == sorted(set(row)) and 0 <= row[0] and row[-1] < NX
    assert out.search.shape == (2, NX, cfg.embed_dim)


@pytest.mark.parametrize("asymmetric", [False, True], ids=["exact", "asym"])
def test_similarity_keeps_the_tokens_most_like_the_cls_token(asymmetric):
    """BBOX, prune after block 0 then block 1: top-k of the cosine to the cls token, recomputed here."""
    model = tiny_model(csa=True, asymmetric=asymmetric, prune_blocks=(0, 1))
    cfg = model.cfg
    npre = 1 + cfg.template_grid**2
    z, x, text, _, _ = tiny_inputs(cfg)
    out0, h0 = _outputs_of(model.blocks[0])
    out1, h1 = _outputs_of(model.blocks[1])
    try:
        with torch.no_grad():
            target = model.encode_target(z, text, torch.tensor([0]))
            feats = model.forward_backbone(target, x, keep_ratio=0.5)
    finally:
        h0.remove(), h1.remove()
    if asymmetric:  # hooks see the search pass; the target's cls after each block is cached
        (cls0, search0), (cls1, search1) = (target.vis_ref[:, 0], out0[0]), (target.vis_ref[:, 1], out1[0])
    else:
        (cls0, search0), (cls1, search1) = (out0[0][:, 0], out0[0][:, npre:]), (out1[0][:, 0], out1[0][:, npre:])
    first = _top(_cosine(search0, cls0)[0, :, 0], 32)
    assert search1.shape[1] == 32
    second = [first[j] for j in _top(_cosine(search1, cls1)[0, :, 0], 16)]
    assert feats.kept[0].tolist() == sorted(second)


@pytest.mark.parametrize("asymmetric", [False, True], ids=["exact", "asym"])
@pytest.mark.parametrize("block", [0, 1, 2], ids=["next-prefusion", "next-fusion", "fusion"])
def test_attention_keeps_what_the_template_centre_attends_to_in_the_next_block(asymmetric, block):
    model = tiny_model(asymmetric=asymmetric, prune_blocks=(block,), prune_score="attention")
    cfg = model.cfg
    npre = 1 + cfg.template_grid**2
    centre = [1 + c for c in _centre_cells(cfg.template_grid)]
    z, x, text, _, _ = tiny_inputs(cfg, batch=2)
    f = torch.tensor([0, 2])
    outs, hook = _outputs_of(model.blocks[block])
    try:
        with torch.no_grad():
            target = model.encode_target(z, text, f)
            feats = model.forward_backbone(target, x, keep_ratio=0.6)
    finally:
        hook.remove()
    if asymmetric:  # hooks see the search pass; the target's centre after each block is cached
        centre_tokens, search = target.centre[:, block], outs[0]
    else:
        centre_tokens, search = outs[0][:, centre], outs[0][:, npre : npre + NX]
    with torch.no_grad():
        scores = _next_block_attention(model, block, centre_tokens, search)
    k = keep_count(NX, 0.6, 0)
    for b in range(2):
        assert feats.kept[b].tolist() == _top(scores[b], k)


@pytest.mark.parametrize("asymmetric", [False, True], ids=["exact", "asym"])
@pytest.mark.parametrize("score", ["similarity", "attention"])
def test_pruned_tokens_keep_their_value_from_the_pruning_block(asymmetric, score):
    """Prune after blocks 0 and 2: a token dropped at a stage ends with its value after that block."""
    model = tiny_model(csa=True, asymmetric=asymmetric, prune_blocks=(0, 2), prune_score=score)
    cfg = model.cfg
    npre = 1 + cfg.template_grid**2
    k1, k2 = keep_count(NX, 0.5, 0), keep_count(NX, 0.5, 1)
    z, x, text, _, _ = tiny_inputs(cfg, batch=2)
    f = torch.tensor([2, 0])
    with torch.no_grad():
        target = model.encode_target(z, text, f)
    out0, h0 = _outputs_of(model.blocks[0])
    in1, h1 = [], model.blocks[1].register_forward_pre_hook(lambda _m, a: in1.append(a[0].clone()))
    out2, h2 = _outputs_of(model.blocks[2])
    try:
        with torch.no_grad():
            feats = model.forward_backbone(target, x, keep_ratio=0.5)
    finally:
        h0.remove(), h1.remove(), h2.remove()
    after0 = out0[0] if asymmetric else out0[0][:, npre:]
    into1 = in1[0] if asymmetric else in1[0][:, npre:]
    after2 = out2[0] if asymmetric else out2[0][:, npre : npre + k1]
    assert after0.shape[1] == NX and into1.shape[1] == after2.shape[1] == k1
    for b in range(2):
        # The survivors of stage 1 are the rows of block 0's output that block 1 received.
        match = (into1[b][:, None, :] == after0[b][None, :, :]).all(dim=-1)  # (k1, NX)
        assert match.sum(dim=1).tolist() == [1] * k1
        alive1 = match.float().argmax(dim=1).tolist()
        assert alive1 == sorted(alive1)  # live tokens keep their grid order
        pruned0 = [j for j in range(NX) if j not in alive1]
        assert torch.equal(feats.search[b, pruned0], after0[b, pruned0])
        kept = feats.kept[b].tolist()
        assert len(kept) == k2 and set(kept) <= set(alive1)
        pruned2 = [pos for pos, j in enumerate(alive1) if j not in kept]
        assert torch.equal(feats.search[b, [alive1[p] for p in pruned2]], after2[b, pruned2])
        # the survivors went on through block 3
        survivors = [alive1.index(j) for j in kept]
        assert (feats.search[b, kept] - after2[b, survivors]).abs().max() > 1e-4


def reference_pruned(model, template, text_feats, search, flag, keep_ratio):
    """The whole backbone as masked passes over the full sequence, pruning by masking.

    A pruned search token stops being a key (and, in exact mode, a CSA pooling member) and keeps
    its value from the block after which it was pruned. Returns (search tokens (B, Nx, C), the
    alive mask (B, Nx) after the last stage).
    """
    cfg = model.cfg
    b, nz, nx, length, npre, target_keys, text_keys = sequence_layout(model, text_feats, flag)
    ones = lambda n: torch.ones(b, n, dtype=torch.bool)  # noqa: E731
    zeros = lambda n: torch.zeros(b, n, dtype=torch.bool)  # noqa: E731
    centre = [1 + c for c in _centre_cells(cfg.template_grid)]
    v = torch.cat(
        [
            model.cls_token.expand(b, -1, -1),
            model.patch_embed(template) + model.pos_embed_z,
            model.patch_embed(search) + model.pos_embed_x,
        ],
        dim=1,
    )
    t = text_feats.tokens
    alive = ones(nx)
    stage = 0
    for i, block in enumerate(model.blocks):
        fusion = i >= cfg.fusion_start
        if fusion:
            seq = torch.cat([v + model.modal_embed[0], t + model.modal_embed[1]], dim=1)
            is_target = torch.cat([ones(npre), zeros(nx), ones(length)], dim=1)
            keys = torch.cat([target_keys, alive, text_keys], dim=1)
            target_sees = torch.cat([target_keys, zeros(nx), text_keys], dim=1)
        else:
            seq = v
            is_target = torch.cat([ones(npre), zeros(nx)], dim=1)
            keys = torch.cat([target_keys, alive], dim=1)
            target_sees = is_target
        if cfg.asymmetric:
            mask = torch.where(is_target[:, :, None], target_sees[:, None, :], keys[:, None, :])
            live_rows = F.pad(alive, (npre, seq.shape[1] - npre - nx))  # pruned tokens leave the CSA squeeze
            groups = [(is_target, target_sees), (~is_target, live_rows)]
        else:
            mask = keys[:, None, :].expand(-1, seq.shape[1], -1)
            groups = [(ones(seq.shape[1]), keys)]
        out = reference_block(block, seq, mask, groups)
        new_search = torch.where(alive.unsqueeze(-1), out[:, npre : npre + nx], v[:, npre:])
        v = torch.cat([out[:, :npre], new_search], dim=1)
        if fusion:
            t = out[:, npre + nx :]
        if i in cfg.prune_blocks and keep_ratio < 1:
            if cfg.prune_score == "similarity":
                txt = t[:, 0] if fusion else text_feats.cls_per_layer[:, i]
                vis_s, txt_s = _cosine(v[:, npre:], v[:, 0])[..., 0], _cosine(v[:, npre:], txt)[..., 0]
                scores = torch.stack([vis_s, txt_s, (vis_s + txt_s) / 2], 1)[torch.arange(b), flag]
            else:  # softmax over the live search keys only
                nxt = model.blocks[i + 1]
                cen, srch = v[:, centre], v[:, npre:]
                if i + 1 >= cfg.fusion_start:
                    cen, srch = cen + model.modal_embed[0], srch + model.modal_embed[0]
                heads, c = nxt.attn.num_heads, v.shape[-1]
                d = c // heads
                q = nxt.attn.qkv(nxt.norm1(cen))[..., :c].reshape(b, -1, heads, d).transpose(1, 2)
                k = nxt.attn.qkv(nxt.norm1(srch))[..., c : 2 * c].reshape(b, nx, heads, d).transpose(1, 2)
                logits = (q @ k.transpose(-2, -1) / math.sqrt(d)).masked_fill(~alive[:, None, None, :], float("-inf"))
                scores = torch.softmax(logits, dim=-1).mean(dim=(1, 2))
            scores = scores.masked_fill(~alive, float("-inf"))
            best = scores.topk(keep_count(nx, keep_ratio, stage), dim=1).indices
            alive = zeros(nx).scatter(1, best, True)
            stage += 1
    return v[:, npre:], alive


@pytest.mark.parametrize("keep", [0.5, 0.8])
@pytest.mark.parametrize("score", ["similarity", "attention"])
@pytest.mark.parametrize("asymmetric", [False, True], ids=["exact", "asym"])
def test_pruned_backbone_equals_masked_full_sequence_reference(asymmetric, score, keep):
    """Every flag in one batch; pruning before fusion (block 0) and inside it (block 2)."""
    model = tiny_model(csa=True, asymmetric=asymmetric, prune_blocks=(0, 2), prune_score=score)
    z, x, text, _, _ = tiny_inputs(model.cfg, batch=3)
    flag = torch.tensor([0, 1, 2])
    with torch.no_grad():
        text_feats = model.encode_text(text)
        ref_search, ref_alive = reference_pruned(model, z, text_feats, x, flag, keep)
        feats = model.forward_backbone(model.encode_target(z, text_feats, flag), x, keep_ratio=keep)
    assert feats.kept.tolist() == [row.nonzero()[:, 0].tolist() for row in ref_alive]
    torch.testing.assert_close(feats.search, ref_search, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("score", ["similarity", "attention"])
@pytest.mark.parametrize("asymmetric", [False, True], ids=["exact", "asym"])
def test_pruned_batch_equals_singles(asymmetric, score):
    model = tiny_model(csa=True, asymmetric=asymmetric, prune_blocks=(0, 2), prune_score=score)
    z, x, text, zmask, xmask = tiny_inputs(model.cfg, batch=2, seed=1)
    flag = torch.tensor([1, 2])
    prompts = torch.randn(2, 3, model.cfg.embed_dim)
    with torch.no_grad():
        both, head = model.forward_search(model.encode_target(z, text, flag), x, prompts, keep_ratio=0.6)
        for i in range(2):
            s = slice(i, i + 1)
            one = model.encode_target(z[s], TokenizedText(text.ids[s], text.mask[s]), flag[s])
            feats, single = model.forward_search(one, x[s], prompts[s], keep_ratio=0.6)
            assert torch.equal(both.kept[s], feats.kept)
            torch.testing.assert_close(both.search[s], feats.search, atol=1e-5, rtol=1e-5)
            torch.testing.assert_close(head.score_map[s], single.score_map, atol=1e-5, rtol=1e-5)
            torch.testing.assert_close(head.bbox_map[s], single.bbox_map, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("keep", [0.0, -0.1, 1.5, float("nan")])
def test_invalid_keep_ratio_is_refused(keep):
    model = tiny_model(prune_blocks=(1,))
    z, x, text, zmask, xmask = tiny_inputs(model.cfg)
    f = torch.tensor([0])
    with torch.no_grad():
        target = model.encode_target(z, text, f)
        with pytest.raises(ValueError, match="keep_ratio"):
            model.forward_backbone(target, x, keep_ratio=keep)
        with pytest.raises(ValueError, match="keep_ratio"):
            model(z, x, text, zmask, xmask, f, keep_ratio=keep)


@pytest.mark.parametrize("flag", [0, 1, 2])
def test_pruned_tracking_step_is_finite_in_every_mode(flag):
    model = tiny_model(csa=True, asymmetric=True, prune_blocks=(0, 1, 2), prune_score="attention")
    z, x, text, zmask, xmask = tiny_inputs(model.cfg)
    f = torch.tensor([flag])
    with torch.no_grad():
        target = model.encode_target(z, text, f)
        ctx = model.forward_backbone(target, x)
        prompts = model.make_prompts(ctx, zmask, ctx.search, xmask, f)
        feats, head = model.forward_search(target, x, prompts, keep_ratio=0.3)
    assert feats.kept.shape == (1, keep_count(NX, 0.3, 2))
    for tensor in (feats.search, head.score_map, head.bbox_map, head.cont_score):
        assert bool(torch.isfinite(tensor).all())


# ---------------------------------------------------------------------------- soft gate (training)


def _gated(asymmetric=False, score="similarity", blocks=(0, 2)):
    return tiny_model(csa=True, asymmetric=asymmetric, prune_blocks=blocks, prune_score=score, prune_gate=True)


def _backbone(model, z, text_feats, x, flag, keep=0.5):
    return model.forward_backbone(model.encode_target(z, text_feats, flag), x, keep_ratio=keep)


@pytest.mark.parametrize("asymmetric", [False, True], ids=["exact", "asym"])
def test_gradients_of_the_output_reach_the_thresholds(asymmetric):
    model = _gated(asymmetric).train()
    z, x, text, _, _ = tiny_inputs(model.cfg, batch=2)
    with torch.no_grad():
        text_feats = model.encode_text(text)
    feats = _backbone(model, z, text_feats, x, torch.tensor([0, 2]))
    assert feats.kept is None and len(feats.keep_gates) == 2
    assert all(g.shape == (2, NX) for g in feats.keep_gates)
    assert all(bool(((g > 0) & (g < 1)).any()) for g in feats.keep_gates)  # soft, not already saturated
    feats.search.square().mean().backward()  # a task loss, no regulariser
    grad = model.prune_gate.thresholds.grad
    assert grad is not None and bool(torch.isfinite(grad).all()) and bool((grad != 0).all())


@pytest.mark.parametrize("score", ["similarity", "attention"])
@pytest.mark.parametrize("asymmetric", [False, True], ids=["exact", "asym"])
def test_open_gates_equal_the_unprunedtiny_model(asymmetric, score):
    """Thresholds far below every score: all gates are 1, so training output = unpruned output."""
    model = _gated(asymmetric, score)
    z, x, text, _, _ = tiny_inputs(model.cfg, batch=3)
    flag = torch.tensor([0, 1, 2])
    with torch.no_grad():
        text_feats = model.encode_text(text)  # BERT (with dropout in training) runs outside
        plain = _backbone(model.eval(), z, text_feats, x, flag, keep=1.0)
        model.prune_gate.thresholds.fill_(-100.0)
        gated = _backbone(model.train(), z, text_feats, x, flag)
    assert plain.kept is None and plain.keep_gates is None
    assert all(bool((g == 1).all()) for g in gated.keep_gates)
    torch.testing.assert_close(gated.search, plain.search, atol=1e-6, rtol=1e-6)


@pytest.mark.parametrize("asymmetric", [False, True], ids=["exact", "asym"])
def test_closed_gates_hold_tokens_at_their_pruning_value(asymmetric):
    """Thresholds far above every score: every token is gated off at the first stage and ends
    with its value after that block (as a hard-pruned token would)."""
    model = _gated(asymmetric)
    z, x, text, _, _ = tiny_inputs(model.cfg, batch=2)
    with torch.no_grad():
        text_feats = model.encode_text(text)
        model.prune_gate.thresholds.fill_(100.0)
        outs, hook = _outputs_of(model.blocks[0])
        try:
            gated = _backbone(model.train(), z, text_feats, x, torch.tensor([0, 2]))
        finally:
            hook.remove()
    after0 = outs[0] if asymmetric else outs[0][:, 1 + model.cfg.template_grid**2 :]
    assert all(bool((g == 0).all()) for g in gated.keep_gates)
    torch.testing.assert_close(gated.search, after0, atol=1e-6, rtol=0)


@pytest.mark.parametrize("asymmetric", [False, True], ids=["exact", "asym"])
def test_a_step_gate_at_the_top_k_boundary_is_hard_pruning(asymmetric):
    """Temperature ~0 and the threshold between the k-th and (k+1)-th score: the soft path (key bias
    log(gate), final blend) computes what eval-mode top-k computes, up to the gate's 1e-6 floor."""
    model = _gated(asymmetric, blocks=(0,))
    npre = 1 + model.cfg.template_grid**2
    z, x, text, _, _ = tiny_inputs(model.cfg)
    flag = torch.tensor([0])
    k = keep_count(NX, 0.5, 0)
    with torch.no_grad():
        text_feats = model.encode_text(text)
        outs, hook = _outputs_of(model.blocks[0])
        try:
            hard = _backbone(model.eval(), z, text_feats, x, flag)
        finally:
            hook.remove()
        target = model.encode_target(z, text_feats, flag)
        search, cls = (outs[0], target.vis_ref[:, 0]) if asymmetric else (outs[0][:, npre:], outs[0][:, 0])
        ranked = _cosine(search, cls)[0, :, 0].sort(descending=True).values
        assert ranked[k - 1] - ranked[k] > 1e-4
        model.prune_gate.thresholds.fill_(float(ranked[k - 1] + ranked[k]) / 2)
        model.prune_gate.temperature = 1e-7
        soft = _backbone(model.train(), z, text_feats, x, flag)
    gate = soft.keep_gates[0][0]
    assert gate.sum() == k and set(gate.nonzero()[:, 0].tolist()) == set(hard.kept[0].tolist())
    torch.testing.assert_close(soft.search, hard.search, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("asymmetric", [False, True], ids=["exact", "asym"])
def test_a_stage_whose_gate_is_open_changes_nothing(asymmetric):
    """Gates (0, 2) with the block-2 gate fully open compute what gate (0,) alone computes: a
    token's final value blends its last value and its block-0 value by its block-0 gate only."""
    two = _gated(asymmetric, blocks=(0, 2))
    one = _gated(asymmetric, blocks=(0,))
    one.load_state_dict({**two.state_dict(), "prune_gate.thresholds": two.prune_gate.thresholds[:1]})
    z, x, text, _, _ = tiny_inputs(two.cfg, batch=2)
    flag = torch.tensor([0, 2])
    with torch.no_grad():
        text_feats = two.encode_text(text)
        two.prune_gate.thresholds.copy_(torch.tensor([0.0, -100.0]))
        one.prune_gate.thresholds.copy_(torch.tensor([0.0]))
        a = _backbone(two.train(), z, text_feats, x, flag)
        b = _backbone(one.train(), z, text_feats, x, flag)
    g0 = b.keep_gates[0]
    assert bool(((g0 > 0.05) & (g0 < 0.95)).any())  # the block-0 gate is really soft here
    torch.testing.assert_close(a.keep_gates[0], g0)
    torch.testing.assert_close(a.keep_gates[1], g0)  # cumulative: stage 2 keeps what stage 0 kept
    torch.testing.assert_close(a.search, b.search, atol=1e-6, rtol=1e-6)


def test_cumulative_gates_never_grow():
    model = _gated(blocks=(0, 1, 2)).train()
    z, x, text, _, _ = tiny_inputs(model.cfg, batch=2)
    with torch.no_grad():
        gates = _backbone(model, z, model.encode_text(text), x, torch.tensor([0, 2])).keep_gates
    assert len(gates) == 3
    for early, late in zip(gates, gates[1:]):
        assert bool((late <= early).all()) and bool((late < early).any())


@pytest.mark.parametrize("asymmetric", [False, True], ids=["exact", "asym"])
def test_regulariser_pulls_the_mean_gate_to_the_keep_ratio(asymmetric):
    model = _gated(asymmetric).train()
    z, x, text, _, _ = tiny_inputs(model.cfg, batch=2)
    flag = torch.tensor([0, 2])
    keep = 0.6
    with torch.no_grad():
        text_feats = model.encode_text(text)
    opt = torch.optim.SGD([model.prune_gate.thresholds], lr=0.1)
    errors = []
    for _ in range(40):
        gates = _backbone(model, z, text_feats, x, flag, keep).keep_gates
        errors.append([abs(float(g.detach().mean()) - keep ** (s + 1)) for s, g in enumerate(gates)])
        loss = keep_regulariser(gates, keep)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert max(errors[0]) > 0.05  # it started away from the target ...
    assert max(errors[-1]) < 0.02  # ... and got there
    assert max(errors[-1]) < max(errors[0]) / 3


def test_keep_regulariser_value_and_empty_input():
    gates = [torch.full((2, 8), 0.6), torch.full((2, 8), 0.3)]
    # stage targets keep^1 = 0.5 and keep^2 = 0.25
    assert float(keep_regulariser(gates, 0.5)) == pytest.approx(((0.6 - 0.5) ** 2 + (0.3 - 0.25) ** 2) / 2)
    assert float(keep_regulariser([torch.full((1, 4), 0.7), torch.full((1, 4), 0.49)], 0.7)) == pytest.approx(0)
    with pytest.raises(ValueError, match="no gates"):
        keep_regulariser([], 0.5)


def test_prune_gate_is_a_sigmoid_of_the_margin():
    gate = PruneGate(2, init_threshold=0.1, temperature=0.05)
    scores = torch.tensor([[0.1, 0.15, 0.05]])
    torch.testing.assert_close(gate(scores, 0), torch.sigmoid(torch.tensor([[0.0, 1.0, -1.0]])))
    with torch.no_grad():
        gate.thresholds[1] = 0.15
    torch.testing.assert_close(gate(scores, 1), torch.sigmoid(torch.tensor([[-1.0, 0.0, -2.0]])))


@pytest.mark.parametrize("asymmetric", [False, True], ids=["exact", "asym"])
def test_eval_mode_uses_hard_top_k(asymmetric):
    """In eval the thresholds play no part: the gated model prunes exactly as the ungated one."""
    gated = _gated(asymmetric)
    hard = tiny_model(csa=True, asymmetric=asymmetric, prune_blocks=(0, 2))
    hard.load_state_dict({k: v for k, v in gated.state_dict().items() if not k.startswith("prune_gate.")})
    z, x, text, _, _ = tiny_inputs(gated.cfg, batch=2)
    flag = torch.tensor([0, 2])
    with torch.no_grad():
        gated.prune_gate.thresholds.fill_(100.0)  # would close every gate in training
        a = _backbone(gated.eval(), z, text, x, flag)
        b = _backbone(hard.eval(), z, text, x, flag)
        full = _backbone(gated, z, text, x, flag, keep=1.0)
    assert a.keep_gates is None and a.kept.shape == (2, keep_count(NX, 0.5, 1))
    assert torch.equal(a.kept, b.kept) and torch.equal(a.search, b.search)
    assert full.kept is None


def test_hard_pruning_in_training_without_a_gate():
    """Without prune_gate, training prunes by top-k too (and gradients still flow to the weights)."""
    model = tiny_model(prune_blocks=(1,)).train()
    z, x, text, _, _ = tiny_inputs(model.cfg, batch=2)
    with torch.no_grad():
        text_feats = model.encode_text(text)
    feats = _backbone(model, z, text_feats, x, torch.tensor([0, 1]))
    assert feats.keep_gates is None and feats.kept.shape == (2, keep_count(NX, 0.5, 0))
    feats.search.sum().backward()
    assert model.blocks[0].attn.qkv.weight.grad.abs().sum() > 0
