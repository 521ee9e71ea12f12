"""Training samples as UVLTrack makes them: template/search pairs, vision-language pairs, grounding.

One sample is a dict of tensors with exactly the keys of ``SAMPLE_KEYS`` (the default collate
batches them; losses and the training loop consume them):

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

How a sample is made (facts from the public UVLTrack training code, reimplemented):

* Pools (``SequencePool``): sequences may come in pools (one per dataset of a training config),
  each with a weight (its share of the samples) and optionally its own task mix; a pool is drawn
  first by weight. Plain sequences form one pool.
* Task mix (``task_mix``, default UVLTrack's GROUNDING_RATIO 0.11, VL_RATIO 0.44, tracking the
  rest): the task is drawn next, then a sequence of the pool that can serve it. Sequences without a
  sentence serve BBOX samples only.
* Sentences: a sequence may have several (``Sequence.sentences``, all written for its first frame);
  NLBBOX samples and NL samples of the first frame take one at random, NL samples of later frames
  the first (the one ``grounding_frames`` were checked against).
* BBOX / NLBBOX: a visible template frame, then a search frame after it within ``max_gap`` frames
  (UVLTrack's MAX_SAMPLE_INTERVAL is 200; its "causal" mode). Only frames where the target is
  visible are searched, as in the reference, unless ``visible_search_only=False``: then absent
  search frames give samples with ``valid`` False, cropped around the template's box.
* Crops: the box is jittered, size ``wh * exp(N(0, 1) * scale_jitter)`` and centre
  ``c + sqrt(w'h') * center_jitter * (U(0, 1) - 0.5)`` per axis (UVLTrack: template 0 / 0,
  search 3.5 / 0.5), and the square of side ``ceil(sqrt(w'h') * factor)`` around the jittered
  box is cropped exactly as the tracker does at test time (``crop_around``). The target's box in
  the crop uses the tracker's convention (crop centre = jittered centre), so training labels and
  test-time decoding agree.
* NL (grounding): one visible frame among the sequence's ``Sequence.grounding_frames`` where it
  lists them (the frames where its sentence was checked to hold), else among its first
  ``grounding_frames`` frames (the reference takes them from the first 30: a sentence describes
  the start of a video), the whole
  frame letterboxed to the search size, template zeros, flag 1. With augmentation the frame's long
  side is drawn from ``S, S - p, ... `` (p = patch size, down to about two thirds of S) and the
  scaled frame is placed at a random position in the square, as the reference does.
* Augmentation: horizontal flip of template and search together (p 0.5) with "left"/"right"
  (and "leftmost"/"rightmost") swapped in the sentence, joint grayscale (p 0.05), colour jitter
  (brightness, contrast, saturation in random order, each factor in [1 - x, 1 + x]) of each crop
  apart (the padding outside the frame stays black, as at test time), and occasional Gaussian blur
  of each crop. The reference flips grounding sentences'
  "left"/"right" tokens; it also flips template and search crops independently, which would
  contradict the words, so that is not done here.

Randomness: every sample is a function of (seed, epoch, index) alone: ``set_epoch`` picks the
epoch (as ``DistributedSampler.set_epoch``), DDP ranks pass different seeds. Frame choice and
jitter use one random stream and augmentation another, so turning augmentation on or off leaves
the frames and crops of a sample as they were. Call ``set_epoch`` before the DataLoader iterator
is created (workers hold a copy of the dataset; with ``persistent_workers`` they keep the old one).

Bad data never stops training: an unreadable frame or a broken box is warned about once, naming
the sequence and the frame, and another sample is drawn (deterministically, from the same stream).
"""

from __future__ import annotations

import dataclasses
import logging
import math
import re
from collections.abc import Sequence as SequenceOf
from dataclasses import dataclass

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from litetrack_core.eval.datasets import Sequence
from litetrack_core.models.configs import ModelConfig, get_config
from litetrack_core.models.litetrack import BBOX, NL, NLBBOX
from litetrack_core.models.text import Tokenizer
from litetrack_core.tracking.crop import cell_mask, crop_around, letterbox, to_model_input

__all__ = [
    "Augmentation",
    "Jitter",
    "PairSampler",
    "SAMPLE_KEYS",
    "SampleInfo",
    "SequencePool",
    "TrackingPairs",
    "swap_directions",
]

log = logging.getLogger(__name__)

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

# UVLTrack's baseline: TRAIN.GROUNDING_RATIO 0.11, TRAIN.VL_RATIO 0.44, tracking the rest.
DEFAULT_TASK_MIX = (0.45, 0.11, 0.44)

# A crop wider than this many times the frame's long side is re-jittered (its buffer would be huge).
_MAX_CROP_TO_FRAME = 6.0
_JITTER_TRIES = 10


@dataclass(frozen=True)
class Jitter:
    """Centre and scale jitter of the box a crop is taken around (UVLTrack's CENTER_JITTER and
    SCALE_JITTER; defaults are its baseline's)."""

    template_center: float = 0.0
    template_scale: float = 0.0
    search_center: float = 3.5
    search_scale: float = 0.5

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"jitter {field.name}={value} must be a finite number >= 0")

    @classmethod
    def off(cls) -> "Jitter":
        """No jitter: every crop centred on the target, of side sqrt(w*h) * factor."""
        return cls(0.0, 0.0, 0.0, 0.0)


@dataclass(frozen=True)
class Augmentation:
    """Photometric and geometric augmentation.

    flip: probability of mirroring template and search (and the sentence's left/right).
    grayscale: probability of turning both frames gray (UVLTrack: 0.05).
    color: probability of colour jitter for each frame; brightness, contrast and saturation
        factors are then drawn in [1 - x, 1 + x] and applied in random order.
    blur: probability of a Gaussian blur for each crop, sigma drawn in ``blur_sigma`` (pixels of
        the crop).
    grounding_rescale: NL samples get a random scale and placement in the square.
    """

    flip: float = 0.5
    grayscale: float = 0.05
    color: float = 0.8
    brightness: float = 0.2
    contrast: float = 0.2
    saturation: float = 0.2
    blur: float = 0.1
    blur_sigma: tuple[float, float] = (0.1, 2.0)
    grounding_rescale: bool = True

    def __post_init__(self) -> None:
        for name in ("flip", "grayscale", "color", "blur"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"augmentation {name}={value} must be a probability in [0, 1]")
        for name in ("brightness", "contrast", "saturation"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"augmentation {name}={value} must be in [0, 1]")
        lo, hi = self.blur_sigma
        if not 0.0 < lo <= hi:
            raise ValueError(f"augmentation blur_sigma={self.blur_sigma} must be 0 < low <= high")

    @classmethod
    def off(cls) -> "Augmentation":
        """Nothing: crops exactly as the tracker makes them, grounding frames letterboxed."""
        return cls(flip=0.0, grayscale=0.0, color=0.0, blur=0.0, grounding_rescale=False)


@dataclass(frozen=True)
class SampleInfo:
    """Where a sample came from (for logs and tests; not part of the batch).

    template_frame is None for NL samples; box_px is the target's (x, y, w, h) in the search frame
    (None when absent); crop_center_px and crop_side_px locate the search crop in that frame
    (None for NL samples, which show the whole frame).
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


_DIRECTION = re.compile(r"\b(left|right)(most)?\b", re.IGNORECASE)
_SWAP = {"left": "right", "right": "left"}


def swap_directions(text: str) -> str:
    """Swap "left" and "right" (also in "leftmost"/"rightmost", "left-hand", ...), keeping case:
    what a sentence says about a horizontally mirrored image."""

    def repl(match: re.Match[str]) -> str:
        word = match.group(1)
        swapped = _SWAP[word.lower()] + (match.group(2) or "")
        whole = match.group(0)
        if whole.isupper():
            return swapped.upper()
        if word[0].isupper():
            return swapped[0].upper() + swapped[1:]
        return swapped

    return _DIRECTION.sub(repl, text)


@dataclass(frozen=True)
class SequencePool:
    """Sequences drawn from together (one dataset of a training config).

    weight: the pool's share of the samples, relative to the other pools' weights (> 0).
    task_mix: (BBOX, NL, NLBBOX) probabilities of this pool's samples; None: the sampler's.
    """

    sequences: tuple[Sequence, ...]
    weight: float = 1.0
    task_mix: tuple[float, float, float] | None = None

    def __post_init__(self) -> None:
        if not (math.isfinite(self.weight) and self.weight > 0):
            raise ValueError(f"pool weight={self.weight} must be a finite number > 0")
        if self.task_mix is not None:
            _task_probabilities(self.task_mix)


@dataclass(frozen=True)
class _Pool:
    members: np.ndarray  # indices into TrackingPairs.sequences
    with_text: np.ndarray  # the members with a sentence
    mix: np.ndarray  # normalised (BBOX, NL, NLBBOX)


def _task_probabilities(task_mix) -> np.ndarray:
    mix = np.asarray(task_mix, dtype=np.float64)
    if mix.shape != (3,) or not np.isfinite(mix).all() or (mix < 0).any() or mix.sum() <= 0:
        raise ValueError(f"task_mix={task_mix} must be 3 non-negative numbers (BBOX, NL, NLBBOX) with a positive sum")
    return mix / mix.sum()


class _BadData(Exception):
    """A frame or box that cannot be used; ``key`` names it for the once-only warning."""

    def __init__(self, sequence: str, frame: int, reason: str) -> None:
        super().__init__(f"sequence {sequence!r} frame {frame}: {reason}")
        self.key = (sequence, frame)


@dataclass
class _Crop:
    image: np.ndarray  # (S, S, 3) uint8
    box: np.ndarray | None  # (x, y, w, h) normalised to the crop, clipped to [0, 1]; None if absent
    center: tuple[float, float]
    side: int
    rect: tuple[int, int, int, int]  # rows r0:r1, columns c0:c1 of the image that show the frame


class TrackingPairs(Dataset):
    """Training samples drawn from tracking sequences (see the module docstring).

    Args:
        sequences: ``eval.datasets.Sequence`` objects (``load_dataset``), or ``SequencePool`` objects
            (weighted pools, each with an optional task mix); sequences without a visible frame are
            left out with a warning.
        model_cfg: the model's config (or its name): crop sizes, factors, grids, text length.
        tokenizer: a ``Tokenizer`` with ``max_tokens == model_cfg.max_text_tokens``; None builds one.
        samples_per_epoch: ``len(self)``.
        max_gap: largest frame distance between template and search frames.
        task_mix: probabilities of (BBOX, NL, NLBBOX) samples; normalised.
        seed: base seed; samples are a function of (seed, epoch, index).
        augment: apply ``augmentation`` (default ``Augmentation()``); False: none at all.
        jitter: crop jitter (default ``Jitter()``, UVLTrack's; ``Jitter.off()`` centres every crop).
        visible_search_only: search frames only where the target is visible (the reference);
            False also draws frames where it is absent, giving samples with ``valid`` False.
        grounding_frames: NL samples take a frame among the first this many of a sequence.
        max_draws: draws tried for one sample before giving up (RuntimeError) on unusable data.
    """

    def __init__(
        self,
        sequences: SequenceOf[Sequence] | SequenceOf[SequencePool],
        model_cfg: ModelConfig | str,
        tokenizer: Tokenizer | None = None,
        samples_per_epoch: int = 30000,
        max_gap: int = 200,
        task_mix: tuple[float, float, float] = DEFAULT_TASK_MIX,
        seed: int = 0,
        augment: bool = True,
        *,
        augmentation: Augmentation | None = None,
        jitter: Jitter | None = None,
        visible_search_only: bool = True,
        grounding_frames: int = 30,
        max_draws: int = 100,
    ) -> None:
        self.cfg = get_config(model_cfg) if isinstance(model_cfg, str) else model_cfg
        self.tokenizer = tokenizer if tokenizer is not None else Tokenizer(self.cfg.max_text_tokens)
        if self.tokenizer.max_tokens != self.cfg.max_text_tokens:
            raise ValueError(
                f"tokenizer makes {self.tokenizer.max_tokens} tokens, the model takes {self.cfg.max_text_tokens}"
            )
        if samples_per_epoch < 1:
            raise ValueError(f"samples_per_epoch={samples_per_epoch} must be >= 1")
        if max_gap < 1:
            raise ValueError(f"max_gap={max_gap} must be >= 1")
        if grounding_frames < 1:
            raise ValueError(f"grounding_frames={grounding_frames} must be >= 1")
        if max_draws < 1:
            raise ValueError(f"max_draws={max_draws} must be >= 1")
        if seed < 0:
            raise ValueError(f"seed={seed} must be >= 0")
        self.task_mix = _task_probabilities(task_mix)
        self.samples_per_epoch = int(samples_per_epoch)
        self.max_gap = int(max_gap)
        self.seed = int(seed)
        self.epoch = 0
        self.augmentation = (augmentation or Augmentation()) if augment else Augmentation.off()
        self.jitter = jitter or Jitter()
        self.visible_search_only = visible_search_only
        self.grounding_frames = int(grounding_frames)
        self.max_draws = int(max_draws)

        pools = list(sequences)
        if not all(isinstance(p, SequencePool) for p in pools):
            pools = [SequencePool(tuple(pools))]
        self.sequences: list[Sequence] = []
        self._pools: list[_Pool] = []
        weights = []
        for pool in pools:
            members = []
            for seq in pool.sequences:
                if not isinstance(seq, Sequence):
                    raise TypeError(f"sequences must be eval.datasets.Sequence objects, got {type(seq).__name__}")
                if (~seq.absent).any():
                    members.append(len(self.sequences))
                    self.sequences.append(seq)
                else:
                    log.warning("sequence %r has no frame with a visible target; it gives no training samples", seq.name)
            if not members:
                continue
            with_text = [i for i in members if self.sequences[i].language and self.sequences[i].language.strip()]
            mix = self.task_mix if pool.task_mix is None else _task_probabilities(pool.task_mix)
            if not with_text and mix[[NL, NLBBOX]].sum() > 0:
                log.warning("no sequence of a pool (%s, ...) has a sentence: its samples are BBOX samples",
                            self.sequences[members[0]].name)
            self._pools.append(_Pool(np.array(members), np.array(with_text, dtype=np.int64), mix))
            weights.append(pool.weight)
        if not self.sequences:
            raise ValueError("no sequence with a visible target to draw training samples from")
        self._pool_p = np.array(weights) / sum(weights)
        self._visible = [np.flatnonzero(~seq.absent) for seq in self.sequences]
        self._warned: set[tuple[str, int]] = set()

    # ------------------------------------------------------------------ Dataset

    def __len__(self) -> int:
        return self.samples_per_epoch

    def set_epoch(self, epoch: int) -> None:
        """Samples of another epoch (call before creating the DataLoader iterator)."""
        if epoch < 0:
            raise ValueError(f"epoch={epoch} must be >= 0")
        self.epoch = int(epoch)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return self.draw(index)[0]

    def draw(self, index: int) -> tuple[dict[str, torch.Tensor], SampleInfo]:
        """Sample ``index`` of the current epoch and where it came from."""
        index = int(index)
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} samples")
        geometry_seed, augment_seed = np.random.SeedSequence([self.seed, self.epoch, index]).spawn(2)
        rng, arng = np.random.default_rng(geometry_seed), np.random.default_rng(augment_seed)
        last: _BadData | None = None
        for _ in range(self.max_draws):
            # One pool: no draw, so that a single dataset's samples do not depend on pools existing.
            pool = self._pools[0] if len(self._pools) == 1 else self._pools[int(rng.choice(len(self._pools), p=self._pool_p))]
            flag = int(rng.choice(3, p=pool.mix))
            if flag != BBOX and not pool.with_text.size:
                flag = BBOX
            try:
                if flag == NL:
                    return self._grounding_sample(pool, rng, arng)
                return self._pair_sample(flag, pool, rng, arng)
            except _BadData as err:
                last = err
                if err.key not in self._warned:
                    self._warned.add(err.key)
                    log.warning("unusable training data, drawing another sample: %s", err)
                else:
                    log.debug("unusable training data, drawing another sample: %s", err)
        raise RuntimeError(f"no usable training sample after {self.max_draws} draws (last problem: {last})")

    # ------------------------------------------------------------------ sample kinds

    def _pair_sample(self, flag: int, pool: _Pool, rng: np.random.Generator, arng: np.random.Generator):
        si = int(rng.choice(pool.with_text if flag == NLBBOX else pool.members))
        seq = self.sequences[si]
        t, s = self._frame_pair(si, rng)
        valid = not bool(seq.absent[s])
        aug = self.augmentation
        flip, gray = arng.random() < aug.flip, arng.random() < aug.grayscale

        t_frame = _read(seq, t)
        t_box = _usable_box(seq, t, t_frame.shape)
        s_frame = t_frame if s == t else _read(seq, s)
        s_box = _usable_box(seq, s, s_frame.shape) if valid else None

        cfg, jit = self.cfg, self.jitter
        template = _jittered_crop(
            t_frame, t_box, t_box, jit.template_center, jit.template_scale, cfg.template_factor, cfg.template_size, rng
        )
        search = _jittered_crop(
            s_frame,
            s_box if valid else t_box,
            s_box,
            jit.search_center,
            jit.search_scale,
            cfg.search_factor,
            cfg.search_size,
            rng,
        )
        t_img = self._photometric(template.image, template.rect, gray, arng)
        s_img = self._photometric(search.image, search.rect, gray, arng)
        t_norm, s_norm = template.box, search.box
        if flip:
            t_img, s_img = np.fliplr(t_img), np.fliplr(s_img)
            t_norm, s_norm = _mirror(t_norm), _mirror(s_norm)
        text = _sentence(seq, True, rng) if flag == NLBBOX else None
        if text is not None and flip:
            text = swap_directions(text)
        sample = self._pack(_to_input(t_img), s_img, t_norm, s_norm, text, flag, valid)
        info = SampleInfo(
            seq.name,
            flag,
            t,
            s,
            valid,
            bool(flip),
            text,
            None if s_box is None else tuple(float(v) for v in s_box),
            search.center,
            search.side,
        )
        return sample, info

    def _grounding_sample(self, pool: _Pool, rng: np.random.Generator, arng: np.random.Generator):
        si = int(rng.choice(pool.with_text))
        seq = self.sequences[si]
        visible = self._visible[si]
        if seq.grounding_frames:
            candidates = np.intersect1d(visible, seq.grounding_frames)
        else:
            candidates = visible[visible < self.grounding_frames]
        s = int(rng.choice(candidates if candidates.size else visible))
        aug = self.augmentation
        flip, gray = arng.random() < aug.flip, arng.random() < aug.grayscale
        frame = _read(seq, s)
        box = _usable_box(seq, s, frame.shape)
        image, rect, norm = self._whole_frame(frame, box, arng)
        image = self._photometric(image, rect, gray, arng)
        if flip:
            image, norm = np.fliplr(image), _mirror(norm)
        text = _sentence(seq, s == 0, rng)
        text = swap_directions(text) if flip else text
        z = self.cfg.template_size
        sample = self._pack(torch.zeros(3, z, z), image, None, norm, text, NL, True)
        info = SampleInfo(seq.name, NL, None, s, True, bool(flip), text, tuple(float(v) for v in box), None, None)
        return sample, info

    def _pack(self, template, search_img, t_norm, s_norm, text, flag, valid) -> dict[str, torch.Tensor]:
        cfg = self.cfg
        if text is None:
            ids = torch.zeros(cfg.max_text_tokens, dtype=torch.long)
            mask = torch.zeros_like(ids)
        else:
            tokens = self.tokenizer(text)
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
            "search": _to_input(search_img),
            "text_ids": ids.long(),
            "text_mask": mask.long(),
            "template_mask": torch.from_numpy(template_mask),
            "context_mask": torch.from_numpy(context_mask),
            "search_box": search_box,
            "flag": torch.tensor(flag, dtype=torch.long),
            "valid": torch.tensor(valid, dtype=torch.bool),
        }

    # ------------------------------------------------------------------ pieces

    def _frame_pair(self, si: int, rng: np.random.Generator) -> tuple[int, int]:
        """(template, search) frames: template visible, search after it within max_gap (before it
        when nothing follows), visible unless ``visible_search_only`` is False."""
        seq, visible = self.sequences[si], self._visible[si]
        n = len(seq)
        t = int(rng.choice(visible))
        pool = visible if self.visible_search_only else np.arange(n)
        after = pool[(pool > t) & (pool <= t + self.max_gap)]
        if after.size:
            return t, int(rng.choice(after))
        before = pool[(pool < t) & (pool >= t - self.max_gap)]
        if before.size:
            return t, int(rng.choice(before))
        return t, t  # a single usable frame: the search is the template's frame (as for still images)

    def _photometric(
        self, image: np.ndarray, rect: tuple[int, int, int, int], gray: bool, arng: np.random.Generator
    ) -> np.ndarray:
        """Colour jitter, grayscale and blur of a crop whose frame pixels are rows ``rect[0]:rect[1]``,
        columns ``rect[2]:rect[3]``; the padding around them stays black, as at test time."""
        aug = self.augmentation
        apply_color = arng.random() < aug.color
        factors = [arng.uniform(1 - x, 1 + x) for x in (aug.brightness, aug.contrast, aug.saturation)]
        order = arng.permutation(3)
        blur = arng.random() < aug.blur
        sigma = arng.uniform(*aug.blur_sigma)
        if not (gray or apply_color or blur):
            return image
        r0, r1, c0, c1 = rect
        out = image.astype(np.float32)
        if apply_color:
            for op in order:
                f = float(factors[op])
                if op == 0:  # brightness
                    out *= f
                elif op == 1:  # contrast: towards the mean gray level of the frame's pixels
                    mean = float(cv2.cvtColor(out[r0:r1, c0:c1], cv2.COLOR_RGB2GRAY).mean())
                    out = (out - mean) * f + mean
                else:  # saturation: towards each pixel's gray level
                    g = cv2.cvtColor(out, cv2.COLOR_RGB2GRAY)[..., None]
                    out = (out - g) * f + g
                np.clip(out, 0.0, 255.0, out=out)
        out = np.rint(out).astype(np.uint8)
        if gray:
            out = np.repeat(cv2.cvtColor(out, cv2.COLOR_RGB2GRAY)[..., None], 3, axis=2)
        if blur:
            out = cv2.GaussianBlur(out, (0, 0), sigma)
        result = np.zeros_like(out)
        result[r0:r1, c0:c1] = out[r0:r1, c0:c1]
        return result

    def _whole_frame(self, frame: np.ndarray, box, arng: np.random.Generator):
        """The frame in the search square (letterboxed): (image, frame rows/columns there
        (r0, r1, c0, c1), its box there normalised (x, y, w, h))."""
        size, h, w = self.cfg.search_size, *frame.shape[:2]
        if self.augmentation.grounding_rescale:
            step = self.cfg.patch_size
            sizes = [size - step * i for i in range(max(1, size // (3 * step)))]
            long_side = int(arng.choice(sizes))
            if h >= w:
                new_h, new_w = long_side, max(1, int(long_side * w / h))
            else:
                new_h, new_w = max(1, int(long_side * h / w)), long_side
            left = int(arng.integers(0, size - new_w + 1))
            top = int(arng.integers(0, size - new_h + 1))
            image = np.zeros((size, size, 3), dtype=np.uint8)
            image[top : top + new_h, left : left + new_w] = cv2.resize(frame, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
        else:
            lb = letterbox(frame, size)
            image, (left, top, new_w, new_h) = lb.image, lb.rect_xywh_px
        bx, by, bw, bh = box
        sx, sy = new_w / w, new_h / h
        norm = np.array([(bx * sx + left) / size, (by * sy + top) / size, bw * sx / size, bh * sy / size])
        return image, (top, top + new_h, left, left + new_w), _clip_norm(norm)


PairSampler = TrackingPairs


def _sentence(seq: Sequence, any_holds: bool, rng: np.random.Generator) -> str:
    """One of the sequence's sentences at random where ``any_holds`` (and it has several), else the first."""
    if any_holds and len(seq.sentences) > 1:
        return seq.sentences[int(rng.integers(len(seq.sentences)))]
    return seq.language


def _to_input(image: np.ndarray) -> torch.Tensor:
    """RGB uint8 (H, W, 3) -> float32 (3, H, W), normalised as the tracker's input."""
    return to_model_input(image)[0]


def _read(seq: Sequence, index: int) -> np.ndarray:
    try:
        frame = seq.frame(index)
    except (OSError, cv2.error, ValueError) as err:
        raise _BadData(seq.name, index, f"cannot read {seq.frame_paths[index]}: {err}") from None
    if frame.ndim != 3 or frame.shape[2] != 3 or frame.shape[0] < 1 or frame.shape[1] < 1:
        raise _BadData(seq.name, index, f"frame has shape {frame.shape}, expected (H, W, 3)")
    return frame


def _usable_box(seq: Sequence, index: int, shape: tuple[int, ...]) -> tuple[float, float, float, float]:
    """The frame's ground truth if it describes a target in the frame; else ``_BadData``."""
    x, y, w, h = (float(v) for v in seq.ground_truth[index])
    fh, fw = shape[:2]
    if not all(math.isfinite(v) for v in (x, y, w, h)) or w < 1 or h < 1:
        raise _BadData(seq.name, index, f"box {(x, y, w, h)} is not a target of at least 1x1 px")
    if x >= fw or y >= fh or x + w <= 0 or y + h <= 0:
        raise _BadData(seq.name, index, f"box {(x, y, w, h)} lies outside the {fw}x{fh} frame")
    if w > 2 * fw or h > 2 * fh:
        raise _BadData(seq.name, index, f"box {(x, y, w, h)} is more than twice the {fw}x{fh} frame")
    return x, y, w, h


def _jittered_crop(
    frame: np.ndarray,
    anchor: tuple[float, float, float, float],
    target: tuple[float, float, float, float] | None,
    center_jitter: float,
    scale_jitter: float,
    factor: float,
    size: int,
    rng: np.random.Generator,
) -> _Crop:
    """Crop around ``anchor`` jittered (UVLTrack's formula), ``target`` in it normalised."""
    x, y, w, h = anchor
    cx, cy = x + w / 2, y + h / 2
    limit = _MAX_CROP_TO_FRAME * max(frame.shape[:2])
    jittered = (cx, cy, w, h)
    for _ in range(_JITTER_TRIES):
        jw, jh = w * math.exp(rng.standard_normal() * scale_jitter), h * math.exp(rng.standard_normal() * scale_jitter)
        reach = math.sqrt(jw * jh) * center_jitter
        jcx, jcy = cx + reach * (rng.random() - 0.5), cy + reach * (rng.random() - 0.5)
        side = math.ceil(math.sqrt(jw * jh) * factor)
        # The target's centre must stay inside the crop; a crop far larger than the frame is
        # redrawn (its buffer would be huge for nothing).
        inside = max(abs(jcx - cx), abs(jcy - cy)) < side / 2
        if inside and 1 <= side <= max(limit, math.ceil(math.sqrt(w * h) * factor)):
            jittered = (jcx, jcy, jw, jh)
            break
    jcx, jcy, jw, jh = jittered
    box = (jcx - jw / 2, jcy - jh / 2, jw, jh)
    crop = crop_around(frame, box, factor, size)
    norm = None
    if target is not None:
        tx, ty, tw, th = target
        side = crop.side_px
        # The tracker's convention: the crop's centre is the jittered box's centre.
        norm = _clip_norm(np.array([0.5 + (tx - jcx) / side, 0.5 + (ty - jcy) / side, tw / side, th / side]))
    return _Crop(crop.image, norm, (jcx, jcy), crop.side_px, _frame_rect(frame.shape, box, crop.side_px, size))


def _frame_rect(shape: tuple[int, ...], box: tuple[float, float, float, float], side: int, size: int):
    """Rows r0:r1 and columns c0:c1 of ``crop_around(frame, box, ., size)`` that show the frame
    (border pixels that blend frame and padding included)."""
    x, y, w, h = box
    x1, y1 = round(x + w / 2 - side / 2), round(y + h / 2 - side / 2)  # as crop_around
    fh, fw = shape[:2]
    scale = size / side
    c0, c1 = math.floor(max(0, -x1) * scale), math.ceil(min(side, fw - x1) * scale)
    r0, r1 = math.floor(max(0, -y1) * scale), math.ceil(min(side, fh - y1) * scale)
    return (min(max(r0, 0), size), min(max(r1, 0), size), min(max(c0, 0), size), min(max(c1, 0), size))


def _clip_norm(box: np.ndarray) -> np.ndarray:
    """Normalised (x, y, w, h) clipped to [0, 1] (float32)."""
    x1, y1 = np.clip(box[:2], 0.0, 1.0)
    x2, y2 = np.clip(box[:2] + box[2:], 0.0, 1.0)
    return np.array([x1, y1, x2 - x1, y2 - y1], dtype=np.float32)


def _mirror(box: np.ndarray | None) -> np.ndarray | None:
    """A normalised (x, y, w, h) box in the horizontally mirrored image."""
    if box is None:
        return None
    out = box.copy()
    out[0] = 1.0 - box[0] - box[2]
    return out
