"""Training losses: values on cases computed by hand, masking of samples without the target,
gradients through a real tiny model, numerical safety, and a few optimiser steps.

The tiny model (``conftest.tiny_config``) has an 8 x 8 search grid; boxes are (cx, cy, w, h)
normalised to the search crop.
"""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch
import torch.nn.functional as F

from conftest import tiny_inputs, tiny_model
from litetrack_core.models.head import HeadOutput
from litetrack_core.models.litetrack import BackboneOutput
from litetrack_core.models.pruning import keep_regulariser
from litetrack_core.training.losses import (
    LossWeights,
    box_cells,
    centre_cell,
    compute_losses,
    cont_loss,
    contrastive_target,
    focal_loss,
    gaussian_radius,
    gaussian_target,
    giou_loss,
    l1_loss,
    layer_contrastive_loss,
)

G = 8  # search grid of the tiny model
BOXES = torch.tensor([[0.5, 0.45, 0.3, 0.25], [0.3, 0.6, 0.2, 0.4], [0.7, 0.3, 0.5, 0.3]])


def _batch(boxes: torch.Tensor, valid: list[bool], flag: list[int]) -> dict[str, torch.Tensor]:
    return {
        "search_box": boxes,
        "context_mask": box_cells(boxes, G),
        "flag": torch.tensor(flag),
        "valid": torch.tensor(valid),
    }


def _forward(model, batch, seed: int = 0):
    z, x, text, zmask, _ = tiny_inputs(model.cfg, batch=batch["search_box"].shape[0], seed=seed)
    return model(z, x, text, zmask, batch["context_mask"], batch["flag"])


# ---------------------------------------------------------------------- score map target


def test_gaussian_peaks_at_the_centre_cell_and_is_symmetric():
    # Centre (0.53, 0.47) * 16 = (8.48, 7.52): column 8, row 7. A box of 14.4 cells: radius 1.
    heat = gaussian_target(torch.tensor([[0.53, 0.47, 0.9, 0.9]]), 16)[0]
    assert heat.shape == (16, 16)
    assert divmod(int(heat.argmax()), 16) == (7, 8)
    assert heat[7, 8] == 1.0  # exactly: the focal loss's positive
    # sigma = (2 * 1 + 1) / 6 = 0.5: side neighbours exp(-2), diagonal ones exp(-4).
    assert heat[7, 7] == pytest.approx(math.exp(-2)) and heat[6, 8] == pytest.approx(math.exp(-2))
    assert heat[6, 7] == pytest.approx(math.exp(-4))
    window = heat[6:9, 7:10]
    assert torch.equal(window, window.flip(0)) and torch.equal(window, window.flip(1))
    assert torch.equal(window, window.T)
    assert heat.sum() == pytest.approx(1 + 4 * math.exp(-2) + 4 * math.exp(-4))  # zero outside 3 x 3


def test_gaussian_of_a_typical_target_is_one_hot_and_absent_target_is_zero():
    # 0.25 of a 16-cell crop: a 4 x 4 cell box, radius floor(0.33) = 0 (a one-cell shift gives IoU 0.6).
    boxes = torch.tensor([[0.3, 0.8, 0.25, 0.25], [0.5, 0.5, 0.25, 0.25], [1.0, 1.0, 0.2, 0.2]])
    heat = gaussian_target(boxes, 16, valid=torch.tensor([True, False, True]))
    assert heat[0].sum() == 1.0 and heat[0, 12, 4] == 1.0
    assert torch.count_nonzero(heat[1]) == 0
    assert heat[2, 15, 15] == 1.0  # a centre on the crop's edge is clamped onto the grid


def test_gaussian_radius_solves_cornernets_three_cases():
    w, h, o = torch.tensor([4.0, 6.0, 13.0]), torch.tensor([4.0, 3.0, 10.0]), 0.7
    r = gaussian_radius(w, h, o)
    # The IoU of a box whose corners moved by r: one corner in and one out, both in, both out.
    one_each = (w - r) * (h - r) / (2 * w * h - (w - r) * (h - r))
    both_in = (w - 2 * r) * (h - 2 * r) / (w * h)
    both_out = w * h / ((w + 2 * r) * (h + 2 * r))
    ious = torch.stack([one_each, both_in, both_out])
    # r is the smallest shift at which one of the cases falls to IoU o; the others stay above.
    assert torch.allclose(ious.min(0).values, torch.full_like(r, o), atol=1e-5)
    assert (ious >= o - 1e-5).all()
    assert r[0] == pytest.approx(0.3267, abs=1e-4)


# ---------------------------------------------------------------------- focal loss


def test_focal_loss_on_a_two_by_two_map():
    pred = torch.tensor([[[0.8, 0.5], [0.1, 0.2]]])
    target = torch.tensor([[[1.0, 0.5], [0.0, 0.0]]])
    pos = -math.log(0.8) * 0.2**2
    neg = -math.log(0.5) * 0.5**2 * 0.5**4 - math.log(0.9) * 0.1**2 - math.log(0.8) * 0.2**2
    assert focal_loss(pred, target).item() == pytest.approx(pos + neg, rel=1e-5)  # one positive
    assert focal_loss(pred, target, normalise="elements").item() == pytest.approx((pos + neg) / 4, rel=1e-5)
    # Two positives halve it; no positive divides by 1.
    two = torch.cat([pred, pred]), torch.cat([target, target])
    assert focal_loss(*two).item() == pytest.approx(pos + neg, rel=1e-5)
    assert focal_loss(pred, torch.zeros_like(target)).item() == pytest.approx(
        -sum(math.log(1 - p) * p**2 for p in (0.8, 0.5, 0.1, 0.2)), rel=1e-5
    )


def test_focal_loss_is_finite_for_saturated_scores():
    pred = torch.tensor([[[1.0, 0.0], [1.0, 0.0]]], requires_grad=True)
    target = torch.tensor([[[1.0, 1.0], [0.0, 0.0]]])  # right and wrong at both extremes
    loss = focal_loss(pred, target)
    loss.backward()
    assert torch.isfinite(loss) and loss > 10  # the wrong cells cost about -log(1e-6) each
    assert torch.isfinite(pred.grad).all()


# ---------------------------------------------------------------------- box losses


def test_giou_and_l1_are_zero_for_a_perfect_box_and_known_otherwise():
    target = torch.tensor([[0.5, 0.5, 0.2, 0.2], [0.3, 0.7, 0.1, 0.3]])
    loss, iou = giou_loss(target.clone(), target)
    assert torch.allclose(loss, torch.zeros(2), atol=1e-6) and torch.allclose(iou, torch.ones(2))
    assert torch.equal(l1_loss(target.clone(), target), torch.zeros(2))
    # Shifted by half a width: IoU 0.02 / 0.06 = 1/3, enclosing box = union, so GIoU = 1/3.
    loss, iou = giou_loss(torch.tensor([[0.6, 0.5, 0.2, 0.2]]), target[:1])
    assert iou.item() == pytest.approx(1 / 3) and loss.item() == pytest.approx(2 / 3)
    assert l1_loss(torch.tensor([[0.6, 0.5, 0.2, 0.2]]), target[:1]).item() == pytest.approx(0.05)
    # Disjoint boxes: IoU 0 and a gap, so the loss exceeds 1.
    loss, _ = giou_loss(torch.tensor([[0.9, 0.5, 0.1, 0.1]]), target[:1])
    assert loss.item() == pytest.approx(1 + (0.55 * 0.2 - 0.05) / (0.55 * 0.2))  # enclosing 0.55 x 0.2


def test_box_losses_are_finite_for_degenerate_boxes():
    pred = torch.tensor([[0.5, 0.5, 0.0, 0.0], [0.2, 0.2, 0.0, 0.3]], requires_grad=True)
    target = torch.tensor([[0.5, 0.5, 0.0, 0.0], [0.8, 0.8, 0.1, 0.1]])
    loss, iou = giou_loss(pred, target)
    (loss.sum() + l1_loss(pred, target).sum()).backward()
    assert torch.isfinite(loss).all() and torch.isfinite(iou).all() and torch.isfinite(pred.grad).all()


def test_box_losses_read_the_chosen_cell():
    """"prediction" reads pred_boxes; "target_centre" the bbox_map cell holding the centre."""
    model = tiny_model().train()
    batch = _batch(BOXES, [True, True, True], [0, 1, 2])
    feats, head, _ = _forward(model, batch)
    cells = centre_cell(BOXES, G)
    assert cells.tolist() == [3 * 8 + 4, 4 * 8 + 2, 2 * 8 + 5]
    bbox_map = head.bbox_map.detach().clone()
    bbox_map[torch.arange(3), cells] = BOXES  # the right box exactly where the target's centre is
    exact = dataclasses.replace(head, bbox_map=bbox_map)
    _, parts = compute_losses(feats, exact, batch, LossWeights(box_at="target_centre"))
    assert parts["giou"] == pytest.approx(0.0, abs=1e-6) and parts["l1"] == pytest.approx(0.0, abs=1e-7)
    assert parts["iou"] == pytest.approx(1.0)
    # The same outputs with the reference's choice: the argmax cell's box, not the planted one.
    _, parts = compute_losses(feats, exact, batch)
    expected, _ = giou_loss(head.pred_boxes[:, 0].detach(), BOXES)
    assert parts["giou"] == pytest.approx(expected.mean().item(), rel=1e-5)
    assert parts["giou"] > 0.1


# ---------------------------------------------------------------------- contrastive losses


def test_contrastive_target_cells():
    # Box 0.5 x 0.5 at the centre: grid units [2, 6]; cell centres 2.5..5.5 are inside (4 x 4).
    # Shrunk by 0.75: [2.5, 5.5], strict, so only centres 3.5 and 4.5: rows and columns 3-4.
    target = contrastive_target(torch.tensor([[0.5, 0.5, 0.5, 0.5]] * 2), G, 0.75, torch.tensor([True, False]))
    grid = target[0].view(G, G)
    expected = torch.ones(G, G, dtype=torch.long)
    expected[2:6, 2:6] = -1
    expected[3:5, 3:5] = 0
    assert torch.equal(grid, expected)
    assert torch.equal(target[1], torch.ones(G * G, dtype=torch.long))  # no target: all background
    # A box smaller than a cell still has its centre cell as target.
    tiny = contrastive_target(torch.tensor([[0.3, 0.3, 0.01, 0.01]]), G)
    assert (tiny == 0).nonzero()[:, 1].tolist() == [2 * 8 + 2] and (tiny == -1).sum() == 0


def test_cont_loss_matches_weighted_cross_entropy():
    g = torch.Generator().manual_seed(1)
    score = torch.randn(2, 16, 2, generator=g) * 5
    target = torch.randint(-1, 2, (2, 16), generator=g)
    weights = LossWeights().cont_class_weights
    assert weights == pytest.approx((16 / 16.5625, 0.5625 / 16.5625))
    expected = F.cross_entropy(score.reshape(-1, 2), target.reshape(-1), torch.tensor(weights), ignore_index=-1)
    assert cont_loss(score, target, weights).item() == pytest.approx(expected.item(), rel=1e-5)
    assert cont_loss(score, torch.full_like(target, -1), weights).item() == 0.0  # not NaN
    with pytest.raises(ValueError, match="2 columns"):
        cont_loss(torch.zeros(1, 4, 3), torch.zeros(1, 4, dtype=torch.long))


def test_layer_contrastive_loss_by_hand():
    logits = torch.arange(16.0).view(1, 1, 4, 4) / 4  # cell (r, c) holds (4r + c) / 4
    # Centre on the centre of cell (row 1, column 2) = ((2 + 0.5) / 4, (1 + 0.5) / 4); a box
    # smaller than a cell, so only that cell is excluded from the negatives.
    box = torch.tensor([[2.5 / 4, 1.5 / 4, 0.1, 0.1]])
    positive = 6 / 4
    negatives = sorted([v / 4 for v in range(16) if v != 6], reverse=True)[:9]
    scores = torch.tensor([positive, *negatives])
    expected = torch.logsumexp(scores, 0) - positive
    assert layer_contrastive_loss(logits, box).item() == pytest.approx(expected.item(), rel=1e-6)
    # Midway between two cells: the mean of the two (bilinear), still excluding the centre's cell.
    box = torch.tensor([[2.0 / 4, 1.5 / 4, 0.01, 0.01]])  # centre cell: column 2
    positive = (5 + 6) / 2 / 4
    negatives = sorted([v / 4 for v in range(16) if v != 6], reverse=True)[:9]
    expected = torch.logsumexp(torch.tensor([positive, *negatives]), 0) - positive
    assert layer_contrastive_loss(logits, box).item() == pytest.approx(expected.item(), rel=1e-6)


def test_layer_contrastive_loss_with_few_outside_cells_and_no_target():
    logits = torch.randn(2, 3, 4, 4, requires_grad=True)
    whole = torch.tensor([[0.5, 0.5, 1.0, 1.0], [0.5, 0.5, 0.9, 0.9]])  # every cell inside
    loss = layer_contrastive_loss(logits, whole)
    loss.backward()
    assert loss.item() == pytest.approx(0.0, abs=1e-6) and torch.isfinite(logits.grad).all()
    none = layer_contrastive_loss(logits, whole, valid=torch.tensor([False, False]))
    assert none.item() == 0.0 and none.requires_grad


# ---------------------------------------------------------------------- compute_losses


def test_samples_without_the_target_have_no_box_or_layer_loss():
    model = tiny_model().train()
    batch = _batch(BOXES[:2], [True, False], [0, 2])
    feats, head, _ = _forward(model, batch)
    total, parts = compute_losses(feats, head, batch)
    pred = head.pred_boxes[:, 0]
    giou, _ = giou_loss(pred[:1].detach(), BOXES[:1])
    assert parts["giou"] == pytest.approx(giou.item(), rel=1e-5)
    assert parts["l1"] == pytest.approx(l1_loss(pred[:1].detach(), BOXES[:1]).item(), rel=1e-5)
    assert parts["aux"] == pytest.approx(layer_contrastive_loss(feats.logits[:1].detach(), BOXES[:1]).item(), rel=1e-5)
    d_boxes, d_logits = torch.autograd.grad(total, [head.pred_boxes, feats.logits], retain_graph=True)
    assert torch.count_nonzero(d_boxes[1]) == 0 and torch.count_nonzero(d_boxes[0]) > 0
    assert torch.count_nonzero(d_logits[1]) == 0 and torch.count_nonzero(d_logits[0]) > 0
    # The score map of the absent target is still pushed towards zero everywhere.
    (d_score,) = torch.autograd.grad(total, [head.score_map])
    assert (d_score[1] >= 0).all() and torch.count_nonzero(d_score[1]) > 0
    # No target anywhere: finite, box terms zero, score map and cell contrast still trained.
    nobody = dict(batch, valid=torch.tensor([False, False]))
    total, parts = compute_losses(feats, head, nobody)
    assert parts["giou"] == 0.0 and parts["l1"] == 0.0 and parts["aux"] == 0.0 and "iou" not in parts
    assert math.isfinite(parts["total"]) and parts["focal"] > 0 and parts["cont"] > 0


def test_total_is_the_weighted_sum_and_gradients_reach_the_model():
    model = tiny_model().train()
    batch = _batch(BOXES, [True, True, True], [0, 1, 2])
    feats, head, _ = _forward(model, batch)
    weights = LossWeights()
    total, parts = compute_losses(feats, head, batch, weights)
    expected = sum(getattr(weights, k) * parts[k] for k in ("giou", "l1", "focal", "aux", "cont"))
    assert parts["total"] == pytest.approx(expected, rel=1e-5) and total.item() == pytest.approx(expected, rel=1e-5)
    assert set(parts) == {"giou", "l1", "focal", "aux", "cont", "total", "iou"}
    total.backward()
    grads = {n: p.grad for n, p in model.named_parameters() if p.requires_grad}
    assert all(g is None or torch.isfinite(g).all() for g in grads.values())
    for prefix in (
        "patch_embed.",
        "blocks.0.",
        "blocks.3.",
        "text.",
        "modal_embed",
        "logit_scale",  # the backbone's contrastive scale: only the per-layer loss reaches it
        "prompter.",
        "head.score.",
        "head.offset.",
        "head.size.",
        "head.size_grounding.",  # the NL sample
        "head.logit_scale",
    ):
        group = [g for n, g in grads.items() if n.startswith(prefix)]
        assert group, prefix
        assert any(g is not None and torch.count_nonzero(g) > 0 for g in group), f"no gradient reaches {prefix}"


def test_keep_regulariser_joins_with_soft_gates():
    model = tiny_model(prune_blocks=(1,), prune_gate=True).train()
    batch = _batch(BOXES, [True, True, True], [0, 1, 2])
    feats, head, _ = _forward(model, batch)
    assert feats.keep_gates
    with pytest.raises(ValueError, match="keep_ratio_target"):
        compute_losses(feats, head, batch)
    total, parts = compute_losses(feats, head, batch, keep_ratio_target=0.5)
    assert parts["keep"] == pytest.approx(keep_regulariser(feats.keep_gates, 0.5).item(), rel=1e-6)
    without = parts["total"] - LossWeights().keep * parts["keep"]
    _, plain = compute_losses(feats, head, batch, LossWeights(keep=0.0), keep_ratio_target=0.5)
    assert plain["total"] == pytest.approx(without, rel=1e-5)
    total.backward()
    assert model.prune_gate.thresholds.grad is not None and torch.count_nonzero(model.prune_gate.thresholds.grad) > 0


def test_extreme_outputs_give_finite_losses_and_gradients():
    b, n = 2, G * G
    score = torch.zeros(b, G, G)
    score[0] = 1.0  # certain everywhere, including the wrong cells
    score.requires_grad_(True)
    bbox = torch.zeros(b, n, 4, requires_grad=True)  # zero-size boxes at the corner
    cont = torch.tensor([1e4, -1e4]).repeat(b, n, 1).requires_grad_(True)
    logits = torch.full((b, 3, G, G), -1e4)
    logits[:, :, 0, 0] = 1e4
    logits.requires_grad_(True)
    head = HeadOutput(score, bbox, cont, bbox[:, :1])
    tokens = torch.zeros(b, n, 4)
    feats = BackboneOutput(tokens, tokens, tokens, tokens[:, :1], tokens[:, :1], logits)
    batch = _batch(BOXES[:2], [True, False], [0, 0])
    for box_at in ("prediction", "target_centre"):
        total, parts = compute_losses(feats, head, batch, LossWeights(box_at=box_at))
        assert all(math.isfinite(v) for v in parts.values()), parts
        score.grad = bbox.grad = cont.grad = logits.grad = None
        total.backward()
        for t in (score, bbox, cont, logits):
            assert torch.isfinite(t.grad).all()


def test_a_few_sgd_steps_reduce_the_loss():
    model = tiny_model().train()
    batch = _batch(BOXES, [True, False, True], [0, 1, 2])
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.SGD(params, lr=0.01)
    losses = []
    for _ in range(4):
        opt.zero_grad()
        feats, head, _ = _forward(model, batch)
        total, parts = compute_losses(feats, head, batch)
        total.backward()
        opt.step()
        losses.append(parts["total"])
    assert losses[-1] < 0.6 * losses[0], losses


def test_loss_weights_defaults_and_checks():
    w = LossWeights()
    assert (w.giou, w.l1, w.focal, w.aux, w.cont, w.centre_ratio, w.gaussian_iou, w.num_negatives) == (
        2.0, 5.0, 1.0, 0.1, 1.0, 0.75, 0.7, 9,
    )
    with pytest.raises(dataclasses.FrozenInstanceError):
        w.giou = 1.0  # type: ignore[misc]
    for bad in ({"l1": -1.0}, {"gaussian_iou": 1.0}, {"focal_norm": "sum"}, {"box_at": "best"}, {"num_negatives": 0}):
        with pytest.raises(ValueError):
            LossWeights(**bad)
