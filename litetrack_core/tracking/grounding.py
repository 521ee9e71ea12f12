"""The tracking model's own grounding: words -> box on the whole frame (NL mode, UVLTrack's grounding),
and a region score for any box, which the proposal ranking uses as one of its features."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from litetrack_core.models.litetrack import NL, LiteTrack, TextFeatures
from litetrack_core.tracking.crop import letterbox, to_model_input
from litetrack_core.tracking.inputs import Box

__all__ = ["RegionScore", "model_grounding"]

RegionScore = Callable[[Box], float]


def model_grounding(model: LiteTrack, frame: np.ndarray, text_feats: TextFeatures) -> tuple[Box, float, RegionScore]:
    """The model's grounding of the words (``text_feats``) on the whole RGB uint8 frame: (box in image
    pixels, score at the chosen cell, region score: a box's peak of the grounding map, score x target
    probability, over the cells whose centres lie in it, or the cell under its centre). Runs on the
    model's device, in the caller's no_grad and autocast."""
    cfg, device = model.cfg, model.cls_token.device
    lb = letterbox(frame, cfg.search_size)
    zeros = torch.zeros(1, 3, cfg.template_size, cfg.template_size, device=device)
    no_z = torch.zeros(1, cfg.template_grid**2, dtype=torch.bool, device=device)
    no_x = torch.zeros(1, cfg.search_grid**2, dtype=torch.bool, device=device)
    flag = torch.tensor([NL], device=device)
    _, head, _ = model(zeros, to_model_input(lb.image).to(device), text_feats, no_z, no_x, flag)
    merged = head.score_map[0].reshape(-1) * head.target_prob[0]
    cx, cy, w, h = (head.pred_boxes[0, 0].double().cpu().numpy() * cfg.search_size).tolist()
    # Undo the letterbox exactly (the reference subtracts (W - H) / 2 in image pixels, which
    # is off by the rounding of the padding: 0.47 px on the fixture's frame).
    left, top = lb.rect_xywh_px[:2]
    box = ((cx - w / 2 - left) / lb.scale, (cy - h / 2 - top) / lb.scale, w / lb.scale, h / lb.scale)
    grid = cfg.search_grid
    cells = merged.double().cpu().numpy().reshape(grid, grid)
    centres = (np.arange(grid) + 0.5) * cfg.search_size / grid  # cell centres in the letterboxed square

    def region(b: Box) -> float:
        x0, y0 = b[0] * lb.scale + left, b[1] * lb.scale + top
        x1, y1 = x0 + b[2] * lb.scale, y0 + b[3] * lb.scale
        cols = np.flatnonzero((centres >= x0) & (centres <= x1))
        rows = np.flatnonzero((centres >= y0) & (centres <= y1))
        if cols.size and rows.size:
            return float(cells[np.ix_(rows, cols)].max())
        r = min(grid - 1, max(0, int((y0 + y1) / 2 * grid / cfg.search_size)))
        c = min(grid - 1, max(0, int((x0 + x1) / 2 * grid / cfg.search_size)))
        return float(cells[r, c])

    return box, float(merged.max()), region
