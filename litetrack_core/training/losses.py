"""UVLTrack's training losses, reimplemented from the published recipe (facts only, no code taken).

What one training step is penalised for, per sample of a batch (B samples, search grid G x G,
N = G*G cells, row-major: cell k at row k // G, column k % G; boxes (cx, cy, w, h) normalised to
the search crop):

    total = giou * GIoU + l1 * L1                    box at one cell, valid samples only
          + focal * Gaussian focal                    score map vs a Gaussian heat map
          + aux * per-layer contrastive               backbone logits after each block
          + cont * cell contrastive                   head's target-vs-rest logits per cell
          + keep * keep-ratio regulariser             only with soft pruning gates (ours)

Defaults (``LossWeights``) are UVLTrack's ``experiments/uvltrack/baseline_base.yaml``: GIOU_WEIGHT
2, L1_WEIGHT 5, focal ("cls") 1, AUX_WEIGHT 0.1, CONT_WEIGHT 1, CTR_RATIO 0.75, GAUSSIAN_IOU 0.7
(with DYNAMIC_CLS), DATA.SEARCH.FACTOR 4. That config also sets CIB_WEIGHT 0.01, but its actor
never computes a "cib" term, so there is none here. The keep-ratio weight is ours (UVLTrack does
not prune); 2.0 is DynamicViT's ratio-loss weight.

Where this module knowingly departs from the reference (details in the functions' docstrings):
    * focal loss normalised by the number of positive cells (CornerNet / OSTrack) rather than by
      every cell of the batch (UVLTrack's REDUCTION "mean"), which makes UVLTrack's focal term
      about G*G times weaker than its weight suggests; ``focal_norm="elements"`` gives theirs.
    * the focal loss clamps the score on both sides (no log(0) for a saturated sigmoid).
    * the per-layer positive is sampled at the box centre with the pixel-centre convention
      (``align_corners=False``); the reference's ``align_corners=True`` is off by up to half a
      cell towards the crop's centre.
    * the per-layer positive sits at the box's centre (the heat map's peak and the centre cell
      of every other term); the reference takes the centre of the box clipped to the crop.
    * the cell holding the target centre is never a negative of the per-layer loss (the
      reference can pick it for boxes too small to cover a cell centre).
    * samples without the target (``valid`` False, which UVLTrack's sampler never produces)
      contribute no box or per-layer loss; their heat map is all zeros and every cell is
      background for the cell contrastive loss.

Batch keys read here (from the sampler): ``search_box`` (B, 4) float and ``valid`` (B,) bool.
``flag`` and ``context_mask`` are the model's inputs; every loss applies to every mode, as in the
reference, and the cells inside the box are recomputed from ``search_box`` with the sampler's
rule (``box_cells``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F

from litetrack_core.models.head import HeadOutput
from litetrack_core.models.litetrack import BackboneOutput
from litetrack_core.models.pruning import keep_regulariser

__all__ = [
    "LossWeights", "box_cells", "centre_cell", "clip_box", "compute_losses", "cont_loss", "contrastive_target",
    "cxcywh_to_xyxy", "focal_loss", "gaussian_radius", "gaussian_target", "generalized_iou", "giou_loss",
    "l1_loss", "layer_contrastive_loss", "loss_terms", "select_boxes",
]

FocalNorm = Literal["positives", "elements"]
BoxAt = Literal["prediction", "target_centre"]


@dataclass(frozen=True)
class LossWeights:
    """Weights of the loss terms and the constants that shape their targets.

    Args:
        giou, l1: box losses (UVLTrack GIOU_WEIGHT 2, L1_WEIGHT 5).
        focal: Gaussian focal loss on the score map (UVLTrack's "cls" weight, 1).
        aux: per-layer contrastive loss on ``BackboneOutput.logits`` (AUX_WEIGHT 0.1).
        cont: cell contrastive loss on ``HeadOutput.cont_score`` (CONT_WEIGHT 1).
        keep: keep-ratio regulariser of the soft pruning gates (ours; DynamicViT's 2.0).
        gaussian_iou: IoU a box centred on a neighbouring cell must keep to get a soft label
            (GAUSSIAN_IOU 0.7; sets the heat map's radius, see ``gaussian_radius``).
        centre_ratio: the cell contrastive loss's target cells lie in the box shrunk by this
            factor about its centre (CTR_RATIO 0.75); the rest of the box is ignored.
        search_factor: search crop side / sqrt(target area) (DATA.SEARCH.FACTOR 4), used only
            for the class weights of the cell contrastive loss (``cont_class_weights``).
        num_negatives: hardest background cells per layer in the per-layer loss (9, as the
            reference: one positive against nine negatives).
        focal_norm: "positives" (CornerNet, OSTrack) or "elements" (UVLTrack's "mean").
        box_at: which cell's box the box losses see: "prediction" (``pred_boxes``, the cell with
            the best score * target probability: UVLTrack and OSTrack) or "target_centre" (the
            cell holding the target's centre, CenterNet's choice).
    """

    giou: float = 2.0
    l1: float = 5.0
    focal: float = 1.0
    aux: float = 0.1
    cont: float = 1.0
    keep: float = 2.0
    gaussian_iou: float = 0.7
    centre_ratio: float = 0.75
    search_factor: float = 4.0
    num_negatives: int = 9
    focal_norm: FocalNorm = "positives"
    box_at: BoxAt = "prediction"

    def __post_init__(self) -> None:
        for name in ("giou", "l1", "focal", "aux", "cont", "keep"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"loss weight {name}={value} must be finite and >= 0")
        if not 0.0 < self.gaussian_iou < 1.0:
            raise ValueError(f"gaussian_iou={self.gaussian_iou} must be in (0, 1)")
        if not 0.0 < self.centre_ratio <= 1.0:
            raise ValueError(f"centre_ratio={self.centre_ratio} must be in (0, 1]")
        if not self.search_factor > 0:
            raise ValueError(f"search_factor={self.search_factor} must be > 0")
        if self.num_negatives < 1:
            raise ValueError(f"num_negatives={self.num_negatives} must be >= 1")
        if self.focal_norm not in ("positives", "elements"):
            raise ValueError(f"focal_norm={self.focal_norm!r} must be 'positives' or 'elements'")
        if self.box_at not in ("prediction", "target_centre"):
            raise ValueError(f"box_at={self.box_at!r} must be 'prediction' or 'target_centre'")

    @property
    def cont_class_weights(self) -> tuple[float, float]:
        """(target, background) class weights of the cell contrastive loss, summing to 1.

        As the reference: proportional to (search_factor^2, centre_ratio^2). The crop holds
        about search_factor^2 target areas and the target class covers centre_ratio^2 of one,
        so the two classes weigh about the same in total (16 * 0.5625 vs 0.5625 * 15 at the
        defaults).
        """
        t, b = self.search_factor**2, self.centre_ratio**2
        return t / (t + b), b / (t + b)


# ---------------------------------------------------------------------- boxes and cells


def cxcywh_to_xyxy(boxes: torch.Tensor) -> torch.Tensor:
    """(..., 4) (cx, cy, w, h) -> (x1, y1, x2, y2)."""
    cx, cy, w, h = boxes.unbind(-1)
    return torch.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], dim=-1)


def _xyxy_to_cxcywh(boxes: torch.Tensor) -> torch.Tensor:
    x1, y1, x2, y2 = boxes.unbind(-1)
    return torch.stack([(x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1], dim=-1)


def clip_box(boxes: torch.Tensor) -> torch.Tensor:
    """(..., 4) (cx, cy, w, h) -> the part inside the crop [0, 1]^2, as (cx, cy, w, h).

    The regression target, as in the reference (its corners are clamped to [0, 1]).
    """
    return _xyxy_to_cxcywh(cxcywh_to_xyxy(boxes).clamp(0.0, 1.0))


def centre_cell(search_box: torch.Tensor, grid: int) -> torch.Tensor:
    """(B,) flat index of the cell holding each box's centre (clamped to the grid).

    Cell (r, c) covers [c, c+1) x [r, r+1) in grid units, so the centre's cell is the floor of
    centre * G; the head decodes centre = (cell + offset) / G with offset in (0, 1), so only this
    cell can put its box centre exactly on the target's. (UVLTrack takes the floor as well;
    OSTrack rounds, which names the neighbouring cell whenever the centre is in a cell's right
    or lower half.)
    """
    cell = torch.floor(search_box[:, :2].float() * grid).long().clamp(0, grid - 1)
    return cell[:, 1] * grid + cell[:, 0]


def box_cells(search_box: torch.Tensor, grid: int, scale: float = 1.0) -> torch.Tensor:
    """(B, G*G) bool: cells whose centre lies strictly inside the box, and the centre cell.

    ``scale`` shrinks (or grows) the box about its centre first. The reference's rule for the
    prompter's masks and the contrastive targets: cell centres (k + 0.5) / G compared with the
    box edges, strict on both sides, and the cell holding the centre always included, so that
    a box smaller than a cell still has one cell.
    """
    box = search_box.float()
    box = torch.cat([box[:, :2], box[:, 2:] * scale], dim=1)
    x1, y1, x2, y2 = (cxcywh_to_xyxy(box) * grid).unbind(-1)
    coords = torch.arange(grid, device=box.device, dtype=box.dtype) + 0.5
    cols = (coords > x1[:, None]) & (coords < x2[:, None])  # (B, G)
    rows = (coords > y1[:, None]) & (coords < y2[:, None])
    inside = (rows[:, :, None] & cols[:, None, :]).flatten(1)
    centre = F.one_hot(centre_cell(search_box, grid), grid * grid).bool()
    return inside | centre


# ---------------------------------------------------------------------- score map


def gaussian_radius(width: torch.Tensor, height: torch.Tensor, min_overlap: float = 0.7) -> torch.Tensor:
    """Largest shift r (in cells) of a (width, height) box that keeps IoU >= ``min_overlap``.

    CornerNet's three cases (both corners shifted inwards, outwards, or one of each), each a
    quadratic in r; the smallest root wins. These are the quadratic formula's true roots (the
    form UVLTrack and mmdetection use). CornerNet's and OSTrack's code ("bug-version" in
    OSTrack's own comment) take the larger root in the first two cases and divide by 2 instead
    of 2a in the last two, which gives much larger radii: 1.8 instead of 0.33 for a box of
    4 x 4 cells.
    """
    w, h = width.float().clamp_min(0), height.float().clamp_min(0)
    o = min_overlap
    b1 = h + w
    c1 = w * h * (1 - o) / (1 + o)
    r1 = (b1 - torch.sqrt(b1**2 - 4 * c1)) / 2
    b2 = 2 * (h + w)
    c2 = (1 - o) * w * h
    r2 = (b2 - torch.sqrt(b2**2 - 16 * c2)) / 8
    a3 = 4 * o
    b3 = -2 * o * (h + w)
    c3 = (o - 1) * w * h
    r3 = (b3 + torch.sqrt(b3**2 - 4 * a3 * c3)) / (2 * a3)
    return torch.minimum(r1, torch.minimum(r2, r3))


def gaussian_target(
    search_box: torch.Tensor,
    grid: int,
    min_overlap: float = 0.7,
    valid: torch.Tensor | None = None,
) -> torch.Tensor:
    """(B, G, G) heat map: 1 at the centre cell, a truncated Gaussian around it, 0 elsewhere.

    The rule (UVLTrack's ``generate_cls_label`` with DYNAMIC_CLS, CenterNet's drawing):
        centre cell  (floor(cx * G), floor(cy * G)), clamped to the grid (``centre_cell``);
        radius r     = floor(gaussian_radius(w * G, h * G, min_overlap)), at least 0;
        sigma        = (2r + 1) / 6 cells;
        value        exp(-(dx^2 + dy^2) / (2 sigma^2)) for |dx| <= r and |dy| <= r, else 0,
    where dx, dy are cell offsets from the centre cell. The peak is exactly 1: the focal loss's
    one positive per sample. A target of 4 x 4 cells (a search factor of 4 on any grid of 16)
    has r = floor(0.33) = 0: a single hot cell, since a box one cell off already has IoU 0.6
    < 0.7. Targets above about 12 cells wide get soft neighbours.
    (CenterNet's zeroing of values below float eps * peak never fires: the window's corner
    value is at least exp(-9).) Samples with ``valid`` False get an all-zero map.
    """
    box = search_box.float()
    b = box.shape[0]
    centre = centre_cell(box, grid)
    cx, cy = (centre % grid).float(), torch.div(centre, grid, rounding_mode="floor").float()
    radius = torch.floor(gaussian_radius(box[:, 2] * grid, box[:, 3] * grid, min_overlap)).clamp_min(0)
    sigma = (2 * radius + 1) / 6
    coords = torch.arange(grid, device=box.device, dtype=torch.float32)
    dx = coords[None, :] - cx[:, None]  # (B, G) over columns
    dy = coords[None, :] - cy[:, None]  # (B, G) over rows
    window = (dy.abs() <= radius[:, None])[:, :, None] & (dx.abs() <= radius[:, None])[:, None, :]
    dist2 = dy[:, :, None] ** 2 + dx[:, None, :] ** 2
    heat = torch.exp(-dist2 / (2 * sigma[:, None, None] ** 2)) * window
    if valid is not None:
        heat = heat * valid.to(heat.device).view(b, 1, 1).float()
    return heat


def focal_loss(
    pred_score: torch.Tensor,
    target: torch.Tensor,
    alpha: float = 2.0,
    beta: float = 4.0,
    normalise: FocalNorm = "positives",
    eps: float = 1e-6,
) -> torch.Tensor:
    """CornerNet's Gaussian focal loss of a sigmoid score map (B, G, G) against a heat map.

    Positives are cells where ``target`` is exactly 1: -(1 - p)^alpha log p. Every other cell is
    a negative, down-weighted near a peak: -(1 - y)^beta p^alpha log(1 - p). The sum is divided
    by the number of positives (at least 1), or by the number of cells with
    ``normalise="elements"`` (UVLTrack). Computed in float32 with p clamped to [eps, 1 - eps];
    Reference: UVLTrack does not clamp and OSTrack clamps below only, so a score of exactly 1
    on a negative cell gives an infinite loss there.
    """
    p = pred_score.float().clamp(eps, 1.0 - eps)
    y = target.float().to(p.device)
    pos = y.eq(1.0)
    pos_loss = -torch.log(p) * (1 - p) ** alpha
    neg_loss = -torch.log1p(-p) * p**alpha * (1 - y) ** beta
    total = torch.where(pos, pos_loss, neg_loss).sum()
    if normalise == "elements":
        return total / p.numel()
    if normalise != "positives":
        raise ValueError(f"normalise={normalise!r} must be 'positives' or 'elements'")
    return total / pos.sum().clamp_min(1)


# ---------------------------------------------------------------------- box losses


def generalized_iou(boxes1: torch.Tensor, boxes2: torch.Tensor, eps: float = 1e-7) -> tuple[torch.Tensor, torch.Tensor]:
    """(GIoU, IoU), each (N,), of (N, 4) boxes in (x1, y1, x2, y2); zero-area boxes give no NaN."""
    area1 = (boxes1[:, 2:] - boxes1[:, :2]).clamp_min(0).prod(-1)
    area2 = (boxes2[:, 2:] - boxes2[:, :2]).clamp_min(0).prod(-1)
    lt = torch.maximum(boxes1[:, :2], boxes2[:, :2])
    rb = torch.minimum(boxes1[:, 2:], boxes2[:, 2:])
    inter = (rb - lt).clamp_min(0).prod(-1)
    union = area1 + area2 - inter
    iou = inter / union.clamp_min(eps)
    enclosing = (torch.maximum(boxes1[:, 2:], boxes2[:, 2:]) - torch.minimum(boxes1[:, :2], boxes2[:, :2]))
    enclosing = enclosing.clamp_min(0).prod(-1)
    return iou - (enclosing - union) / enclosing.clamp_min(eps), iou


def giou_loss(pred: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per box 1 - GIoU of (N, 4) (cx, cy, w, h) boxes -> (loss (N,), IoU (N,))."""
    giou, iou = generalized_iou(cxcywh_to_xyxy(pred.float()), cxcywh_to_xyxy(target.float()))
    return 1.0 - giou, iou


def l1_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per box mean |difference| of the corners (x1, y1, x2, y2), (N, 4) (cx, cy, w, h) -> (N,).

    On corners, as the reference (its L1 sees the same (x1, y1, x2, y2) vectors as its GIoU).
    """
    return (cxcywh_to_xyxy(pred.float()) - cxcywh_to_xyxy(target.float())).abs().mean(-1)


def select_boxes(head: HeadOutput, search_box: torch.Tensor, box_at: BoxAt = "prediction") -> torch.Tensor:
    """(B, 4) the predicted box the box losses see.

    "prediction": ``head.pred_boxes``, the box of the cell with the best score times target
    probability. This is what UVLTrack (and OSTrack) train: the same cell the tracker reads at
    test time. The cell choice itself gets no gradient (argmax); only that cell's offset and
    size are trained, and early in training, when the best cell is far from the target, its
    offset cannot reach the target's centre (it is confined to its cell) and is pushed to
    saturate, while its size still learns the target's size. Once the score map peaks at the
    target, both choices coincide.
    "target_centre": the box of the cell holding the target's centre (CenterNet): a target
    every step can reach exactly, independent of the score map; the better-conditioned choice
    for training from scratch.
    """
    if box_at == "prediction":
        return head.pred_boxes[:, 0]
    if box_at != "target_centre":
        raise ValueError(f"box_at={box_at!r} must be 'prediction' or 'target_centre'")
    grid = head.score_map.shape[-1]
    index = centre_cell(search_box, grid).to(head.bbox_map.device)
    return head.bbox_map[torch.arange(index.shape[0], device=index.device), index]


# ---------------------------------------------------------------------- contrastive losses


def layer_contrastive_loss(
    logits: torch.Tensor,
    search_box: torch.Tensor,
    valid: torch.Tensor | None = None,
    num_negatives: int = 9,
) -> torch.Tensor:
    """Per-layer contrastive loss on the backbone's logits (B, D, G, G) -> scalar.

    For each layer of each sample with the target, a (1 + k)-way cross-entropy with the
    positive first: the logit map sampled bilinearly at the target's centre, against the k
    largest logits among cells outside the box (``box_cells``: cell centre strictly inside the
    box, plus the centre cell, are not negatives). Mean over samples and layers, as the
    reference (``contractive_learning`` in its actor: k = 9, weight AUX_WEIGHT).
    Reference: its positive uses ``grid_sample(..., align_corners=True)`` on ``2 * centre - 1``,
    which puts centre c at cell coordinate c * (G - 1) rather than c * G - 0.5 (the cell-centre
    convention of the rest of the model); here ``align_corners=False``. Its negatives exclude
    only the cells inside the box, so for a box smaller than a cell the centre's own cell could
    be a negative; here it never is. Its positive is at the centre of the box clipped to the
    crop; here at the box's own centre (clamped into the crop), the cell every other term
    treats as the target's, so that the positive and the excluded cell always agree.
    """
    b, d, g, _ = logits.shape
    box = search_box.float().to(logits.device)
    valid = torch.ones(b, dtype=torch.bool, device=logits.device) if valid is None else valid.to(logits.device).bool()
    flat = logits.float().flatten(2)  # (B, D, N)
    if not bool(valid.any()):
        return flat.sum() * 0.0  # keeps the graph (every parameter gets a zero gradient)
    centre = box[:, :2].clamp(0.0, 1.0)
    points = (centre * 2 - 1).view(b, 1, 1, 2)  # grid_sample takes (x, y)
    positive = F.grid_sample(logits.float(), points, mode="bilinear", padding_mode="border", align_corners=False)
    positive = positive.view(b, d, 1)
    inside = box_cells(box, g)[:, None, :]  # (B, 1, N)
    k = min(num_negatives, g * g - 1)
    # The lowest float: exp() of it is 0, so a sample with fewer than k cells outside the box
    # has only as many real negatives (no NaN: the positive stays finite).
    negatives = flat.masked_fill(inside, torch.finfo(flat.dtype).min).topk(k, dim=-1).values
    scores = torch.cat([positive, negatives], dim=-1)  # (B, D, 1 + k)
    ce = torch.logsumexp(scores, dim=-1) - scores[..., 0]  # (B, D)
    return ce[valid].mean()


def contrastive_target(
    search_box: torch.Tensor,
    grid: int,
    centre_ratio: float = 0.75,
    valid: torch.Tensor | None = None,
) -> torch.Tensor:
    """(B, G*G) int64 class per cell for the cell contrastive loss: 0 target, 1 background, -1 ignored.

    As the reference (``cont_gt``): target = cells inside the box shrunk by ``centre_ratio``
    about its centre, plus the centre cell; ignored = the rest of the box (its border, where
    target and background mix); background = outside the box. Samples with ``valid`` False are
    all background.
    """
    inside = box_cells(search_box, grid)
    core = box_cells(search_box, grid, scale=centre_ratio)
    target = torch.where(core, 0, torch.where(inside, -1, 1)).long()
    if valid is not None:
        target = torch.where(valid.to(target.device).bool().view(-1, 1), target, torch.ones_like(target))
    return target


def cont_loss(
    cont_score: torch.Tensor, target: torch.Tensor, class_weights: tuple[float, float] = (0.5, 0.5)
) -> torch.Tensor:
    """Class-weighted cross-entropy of (B, N, 2) logits [target, rest] against (B, N) classes.

    Cells of class -1 are ignored. Weighted mean: sum(w_y * nll) / sum(w_y) over the cells not
    ignored, as torch's ``cross_entropy(weight=..., ignore_index=-1)``, but 0 (not NaN) when
    every cell is ignored.
    """
    if cont_score.shape[-1] != 2:
        raise ValueError(
            f"cont_score must have 2 columns [target, rest] (the training forward), got {cont_score.shape[-1]}"
        )
    logp = F.log_softmax(cont_score.float(), dim=-1)
    target = target.to(logp.device)
    used = target >= 0
    cls = target.clamp_min(0)
    nll = -logp.gather(-1, cls.unsqueeze(-1)).squeeze(-1)
    weights = torch.tensor(class_weights, dtype=logp.dtype, device=logp.device)[cls] * used
    return (weights * nll).sum() / weights.sum().clamp_min(1e-12)


# ---------------------------------------------------------------------- all together


def compute_losses(
    feats: BackboneOutput,
    head: HeadOutput,
    batch: Mapping[str, torch.Tensor],
    weights: LossWeights = LossWeights(),
    keep_ratio_target: float | None = None,
) -> tuple[torch.Tensor, dict[str, float]]:
    """``loss_terms`` with the parts copied to the host as floats (one sync), for tests and tools."""
    total, parts = loss_terms(feats, head, batch, weights, keep_ratio_target)
    return total, dict(zip(parts, torch.stack(list(parts.values())).tolist()))


def loss_terms(
    feats: BackboneOutput,
    head: HeadOutput,
    batch: Mapping[str, torch.Tensor],
    weights: LossWeights = LossWeights(),
    keep_ratio_target: float | None = None,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The training loss of one forward (``LiteTrack.forward`` in train mode) and its parts.

    Args:
        feats, head: the model's outputs; ``feats.logits`` is needed when ``weights.aux`` > 0,
            ``head.cont_score`` must be the training forward's 2 columns.
        batch: ``search_box`` (B, 4) normalised (cx, cy, w, h) and ``valid`` (B,) bool (False:
            the target is absent from the search crop).
        keep_ratio_target: per-stage keep ratio for ``keep_regulariser``; required when
            ``feats.keep_gates`` is set (a model with soft pruning gates in train mode).

    Returns:
        (total, parts): the scalar to back-propagate, and for logging detached 0-d float32 tensors
        on the model's device (not copied to the host): each term unweighted ("giou", "l1", "focal",
        "aux", "cont", "keep" when gated), "total", "iou" (mean IoU where the target is; else absent).
    """
    score_map = head.score_map
    b, grid = score_map.shape[0], score_map.shape[-1]
    box = batch["search_box"].to(score_map.device).float()
    valid = batch["valid"].to(score_map.device).bool().reshape(-1)
    if box.shape != (b, 4) or valid.shape != (b,):
        raise ValueError(f"search_box must be ({b}, 4) and valid ({b},), got {tuple(box.shape)} and {tuple(valid.shape)}")
    parts: dict[str, torch.Tensor] = {}
    heat = gaussian_target(box, grid, weights.gaussian_iou, valid)
    parts["focal"] = focal_loss(score_map, heat, normalise=weights.focal_norm)

    pred = select_boxes(head, box, weights.box_at).float()
    giou_each, iou = giou_loss(pred, clip_box(box))
    l1_each = l1_loss(pred, clip_box(box))
    any_valid = bool(valid.any())  # the losses' one host sync
    if any_valid:
        parts["giou"], parts["l1"] = giou_each[valid].mean(), l1_each[valid].mean()
    else:
        # No target in any sample: zero, still connected to the graph (DDP expects every
        # parameter that took part in the forward to receive a gradient).
        parts["giou"] = parts["l1"] = pred.sum() * 0.0
    if weights.aux > 0:
        if feats.logits is None:
            raise ValueError("feats.logits is None: run the forward with logits, or set LossWeights(aux=0)")
        parts["aux"] = layer_contrastive_loss(feats.logits, box, valid, weights.num_negatives)
    cells = contrastive_target(box, grid, weights.centre_ratio, valid)
    parts["cont"] = cont_loss(head.cont_score, cells, weights.cont_class_weights)
    if feats.keep_gates:
        if keep_ratio_target is None:
            raise ValueError("the model has soft pruning gates: pass keep_ratio_target for the keep regulariser")
        parts["keep"] = keep_regulariser(feats.keep_gates, keep_ratio_target)

    total = sum(getattr(weights, name) * value for name, value in parts.items())
    logged = dict(parts, total=total)
    if any_valid:
        logged["iou"] = iou[valid].mean()
    return total, {name: v.detach().float().reshape(()) for name, v in logged.items()}
