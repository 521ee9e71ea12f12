"""What one training sample is: a dict of tensors with exactly the keys of ``SAMPLE_KEYS`` (the default
collate batches them; losses and the training loop consume them):

    template       (3, Tz, Tz) float32, normalised as ``to_model_input``; zeros for NL samples
    search         (3, Tx, Tx) float32, normalised
    text_ids       (L,) int64, ``[CLS] ... [SEP]`` zero-padded; all zero for BBOX samples
    text_mask      (L,) int64, 1 on real tokens; all zero for BBOX samples
    template_mask  (Gz*Gz,) bool, template cells whose centre lies inside the target box
                   (all False for NL samples, which have no template)
    context_mask   (Gx*Gx,) bool, search cells whose centre lies inside the target box
    search_box     (4,) float32, the target in the search crop, normalised (cx, cy, w, h),
                   clipped to [0, 1] (as the reference clamps its targets); zeros when not valid
    flag           () int64, 0 = BBOX, 1 = NL (grounding), 2 = NLBBOX
    valid          () bool, False when the target is absent in the search frame

and, when the sampler has a memory (``memory_size`` K > 0), ``MEMORY_KEYS``:

    memory         (K, 3, Tz, Tz) float32, normalised template crops of past frames; zeros when empty
    memory_mask    (K, Gz*Gz) bool, per slot the cells inside the box it was cut around (none: an empty slot)

``SampleInfo`` says where a sample came from. How samples are drawn: ``sampling``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from litetrack_core.models.configs import ModelConfig
from litetrack_core.models.text import Tokenizer
from litetrack_core.tracking.crop import cell_mask, to_model_input

__all__ = ["MEMORY_KEYS", "SAMPLE_KEYS", "SampleInfo", "pack_sample", "to_input"]

SAMPLE_KEYS = (
    "template",
    "search",
    "text_ids",
    "text_mask",
    "template_mask",
    "context_mask",
    "search_box",
    "flag",
    "valid",
)
MEMORY_KEYS = ("memory", "memory_mask")


@dataclass(frozen=True)
class SampleInfo:
    """Where a sample came from (for logs and tests; not part of the batch).

    template_frame is None for NL samples; box_px is the target's (x, y, w, h) in the search frame
    (None when absent); crop_center_px and crop_side_px locate the search crop in that frame
    (None for NL samples, which show the whole frame). negative_from names the sequence a negative
    pair's search frame came from (None: the sample's own).
    """

    sequence: str
    flag: int
    template_frame: int | None
    search_frame: int
    valid: bool
    flipped: bool
    text: str | None
    box_px: tuple[float, float, float, float] | None
    crop_center_px: tuple[float, float] | None
    crop_side_px: int | None
    negative_from: str | None = None


def to_input(image: np.ndarray) -> torch.Tensor:
    """RGB uint8 (H, W, 3) -> float32 (3, H, W), normalised as the tracker's input."""
    return to_model_input(image)[0]


def pack_sample(
    cfg: ModelConfig, tokenizer: Tokenizer, template, search_img, t_norm, s_norm, text, flag, valid
) -> dict[str, torch.Tensor]:
    """The sample dict (module docstring): ``template`` already a tensor, ``search_img`` RGB uint8,
    ``t_norm`` / ``s_norm`` the target's normalised (x, y, w, h) in each crop or None, ``text`` the
    sentence or None."""
    if text is None:
        ids = torch.zeros(cfg.max_text_tokens, dtype=torch.long)
        mask = torch.zeros_like(ids)
    else:
        tokens = tokenizer(text)
        ids, mask = tokens.ids[0], tokens.mask[0]
    gz, gx = cfg.template_grid, cfg.search_grid
    template_mask = cell_mask(t_norm, gz) if t_norm is not None else np.zeros(gz * gz, dtype=bool)
    context_mask = cell_mask(s_norm, gx) if s_norm is not None else np.zeros(gx * gx, dtype=bool)
    if s_norm is None:
        search_box = torch.zeros(4)
    else:
        x, y, w, h = (float(v) for v in s_norm)
        search_box = torch.tensor([x + w / 2, y + h / 2, w, h], dtype=torch.float32)
    return {
        "template": template.float(),
        "search": to_input(search_img),
        "text_ids": ids.long(),
        "text_mask": mask.long(),
        "template_mask": torch.from_numpy(template_mask),
        "context_mask": torch.from_numpy(context_mask),
        "search_box": search_box,
        "flag": torch.tensor(flag, dtype=torch.long),
        "valid": torch.tensor(valid, dtype=torch.bool),
    }
