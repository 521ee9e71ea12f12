"""Training samples as UVLTrack makes them: template/search pairs, vision-language pairs, grounding.

What one sample holds: ``samples`` (``SAMPLE_KEYS``, ``SampleInfo``). Its crops: ``crops``; its
augmentation: ``augment``. How a sample is drawn (facts from the public UVLTrack training code,
reimplemented):

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
  search frames give samples with ``valid`` False, cropped around the template's box. Both frames
  are cropped around the jittered box (``crops``).
* Negative pairs (``negative_ratio``, ours; DaSiamRPN's "semantic negative pairs"): this share of the
  BBOX / NLBBOX pairs take their search frame from another sequence of the same pool, cropped around
  that sequence's target, with ``valid`` False: the score map must stay low on an object that is not
  the template's (the distractor a tracker drifts to). 0 draws no extra number: samples as before.
  With ``negative_same_category`` the other sequence's target is of the template's kind
  (``Sequence.category``: another person for a person), where the pool holds one; else any.
* NL (grounding): one visible frame among the sequence's ``Sequence.grounding_frames`` where it
  lists them (the frames where its sentence was checked to hold), else among its first
  ``grounding_frames`` frames (the reference takes them from the first 30: a sentence describes
  the start of a video), the whole frame letterboxed to the search size (``crops.whole_frame``),
  template zeros, flag 1.
* Memory (``memory_size`` K > 0, the tracker's target memory, ``models/memory.py``): BBOX / NLBBOX
  samples also get 0..K (uniformly) template crops of frames between template and search, within
  ``memory_window`` frames of the search frame, cut around the true box jittered as the tracker's
  own boxes would be (``Jitter.memory_*``); one in ``MEMORY_MISTAKES`` is cut around a wrong place of
  its frame, as a tracker writes its mistakes too. ``memory_mask`` marks each slot's cells inside that
  jittered box (what the tracker took for the target: only those are read). Empty slots are zeros with
  no cell marked; NL samples have none filled.

Randomness: every sample is a function of (seed, epoch, index) alone: ``set_epoch`` picks the
epoch (as ``DistributedSampler.set_epoch``), DDP ranks pass different seeds. Frame choice and
jitter use one random stream and augmentation another, so turning augmentation on or off leaves
the frames and crops of a sample as they were. Call ``set_epoch`` before the DataLoader iterator
is created (workers hold a copy of the dataset; with ``persistent_workers`` they keep the old one).

Bad data never stops training: an unreadable frame or a broken box is warned about once, naming
the sequence and the frame, and another sample is drawn (deterministically, from the same stream).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence as SequenceOf
from dataclasses import dataclass

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from litetrack_core.data.sequence import Sequence
from litetrack_core.models.configs import ModelConfig, get_config
from litetrack_core.models.litetrack import BBOX, NL, NLBBOX
from litetrack_core.models.text import Tokenizer
from litetrack_core.tracking.crop import cell_mask
from litetrack_core.training.augment import Augmentation, photometric, swap_directions
from litetrack_core.training.crops import Jitter, jittered_crop, mirror, whole_frame
from litetrack_core.training.samples import SampleInfo, pack_sample, to_input

__all__ = [
    "DEFAULT_TASK_MIX",
    "PairSampler",
    "SequencePool",
    "TrackingPairs",
]

log = logging.getLogger(__name__)

# UVLTrack's baseline: TRAIN.GROUNDING_RATIO 0.11, TRAIN.VL_RATIO 0.44, tracking the rest.
DEFAULT_TASK_MIX = (0.45, 0.11, 0.44)
# This share of memory crops is cut around a wrong place (module docstring).
MEMORY_MISTAKES = 0.1


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


def _check_counts(**counts: int) -> None:
    """Each count must be >= 1 (ValueError naming it)."""
    for name, value in counts.items():
        if value < 1:
            raise ValueError(f"{name}={value} must be >= 1")


class _BadData(Exception):
    """A frame or box that cannot be used; ``key`` names it for the once-only warning."""

    def __init__(self, sequence: str, frame: int, reason: str) -> None:
        super().__init__(f"sequence {sequence!r} frame {frame}: {reason}")
        self.key = (sequence, frame)


class TrackingPairs(Dataset):
    """Training samples drawn from tracking sequences (see the module docstring).

    Args:
        sequences: ``data.sequence.Sequence`` objects (``load_dataset``), or ``SequencePool`` objects
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
        memory_size: memory slots per sample (0: no ``memory`` / ``memory_mask`` keys).
        memory_window: memory crops come from at most this many frames before the search frame.
        negative_ratio: share of BBOX / NLBBOX pairs whose search shows another sequence's target
            (``valid`` False; module docstring).
        negative_same_category: a negative pair's other sequence has the template's
            ``Sequence.category`` where the pool holds one (module docstring).
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
        memory_size: int = 0,
        memory_window: int = 30,
        negative_ratio: float = 0.0,
        negative_same_category: bool = False,
    ) -> None:
        self.cfg = get_config(model_cfg) if isinstance(model_cfg, str) else model_cfg
        self.tokenizer = tokenizer if tokenizer is not None else Tokenizer(self.cfg.max_text_tokens)
        if self.tokenizer.max_tokens != self.cfg.max_text_tokens:
            raise ValueError(
                f"tokenizer makes {self.tokenizer.max_tokens} tokens, the model takes {self.cfg.max_text_tokens}"
            )
        _check_counts(samples_per_epoch=samples_per_epoch, max_gap=max_gap, grounding_frames=grounding_frames,
                      max_draws=max_draws)
        if seed < 0:
            raise ValueError(f"seed={seed} must be >= 0")
        if memory_size < 0:
            raise ValueError(f"memory_size={memory_size} must be >= 0 (0: no memory)")
        self.memory_size = int(memory_size)
        if memory_window < 1:
            raise ValueError(f"memory_window={memory_window} must be >= 1")
        self.memory_window = int(memory_window)
        if not 0.0 <= negative_ratio <= 1.0:
            raise ValueError(f"negative_ratio={negative_ratio} must be in [0, 1]")
        self.negative_ratio = float(negative_ratio)
        self.negative_same_category = bool(negative_same_category)
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

        self._add_pools(list(sequences))
        self._visible = [np.flatnonzero(~seq.absent) for seq in self.sequences]
        self._category = np.array([seq.category or "" for seq in self.sequences])
        self._warned: set[tuple[str, int]] = set()

    def _add_pools(self, pools: list) -> None:
        """``self.sequences`` (those with a visible target), their pools and the pools' draw probabilities."""
        if not all(isinstance(p, SequencePool) for p in pools):
            pools = [SequencePool(tuple(pools))]
        self.sequences: list[Sequence] = []
        self._pools: list[_Pool] = []
        weights = []
        for pool in pools:
            members = self._add_members(pool)
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

    def _add_members(self, pool: SequencePool) -> list[int]:
        """Append the pool's sequences that have a visible target to ``self.sequences``; their indices."""
        members = []
        for seq in pool.sequences:
            if not isinstance(seq, Sequence):
                raise TypeError(f"sequences must be data.sequence.Sequence objects, got {type(seq).__name__}")
            if (~seq.absent).any():
                members.append(len(self.sequences))
                self.sequences.append(seq)
            else:
                log.warning("sequence %r has no frame with a visible target; it gives no training samples", seq.name)
        return members

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
        other = self._negative(pool, si, rng)
        s_seq = seq if other is None else self.sequences[other]
        if other is not None:
            s = int(rng.choice(self._visible[other]))
        valid = other is None and not bool(seq.absent[s])
        aug = self.augmentation
        flip, gray = arng.random() < aug.flip, arng.random() < aug.grayscale

        t_frame = _read(seq, t)
        t_box = _usable_box(seq, t, t_frame.shape)
        s_frame = t_frame if s == t and other is None else _read(s_seq, s)
        s_box = _usable_box(seq, s, s_frame.shape) if valid else None
        # A negative's search is centred on the other sequence's target: the distractor, not background.
        around = s_box if valid else t_box if other is None else _usable_box(s_seq, s, s_frame.shape)

        cfg, jit = self.cfg, self.jitter
        template = jittered_crop(
            t_frame, t_box, t_box, jit.template_center, jit.template_scale, cfg.template_factor, cfg.template_size, rng
        )
        search = jittered_crop(
            s_frame,
            around,
            s_box,
            jit.search_center,
            jit.search_scale,
            cfg.search_factor,
            cfg.search_size,
            rng,
        )
        t_img = photometric(template.image, template.rect, gray, aug, arng)
        s_img = photometric(search.image, search.rect, gray, aug, arng)
        t_norm, s_norm = template.box, search.box
        if flip:
            t_img, s_img = np.fliplr(t_img), np.fliplr(s_img)
            t_norm, s_norm = mirror(t_norm), mirror(s_norm)
        text = _sentence(seq, True, rng) if flag == NLBBOX else None
        if text is not None and flip:
            text = swap_directions(text)
        sample = pack_sample(cfg, self.tokenizer, to_input(t_img), s_img, t_norm, s_norm, text, flag, valid)
        if self.memory_size:
            # A negative's memory frames would lie in another sequence: none (between t and t).
            sample.update(self._memory(seq, self._visible[si], t, s if other is None else t, flip, gray, rng, arng))
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
            None if other is None else s_seq.name,
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
        cfg = self.cfg
        image, rect, norm = whole_frame(frame, box, cfg.search_size, cfg.patch_size, aug.grounding_rescale, arng)
        image = photometric(image, rect, gray, aug, arng)
        if flip:
            image, norm = np.fliplr(image), mirror(norm)
        text = _sentence(seq, s == 0, rng)
        text = swap_directions(text) if flip else text
        z = cfg.template_size
        sample = pack_sample(cfg, self.tokenizer, torch.zeros(3, z, z), image, None, norm, text, NL, True)
        if self.memory_size:
            sample.update(self._empty_memory())
        info = SampleInfo(seq.name, NL, None, s, True, bool(flip), text, tuple(float(v) for v in box), None, None)
        return sample, info

    # ------------------------------------------------------------------ pieces

    def _memory(self, seq: Sequence, visible: np.ndarray, t: int, s: int, flip: bool, gray: bool,
                rng: np.random.Generator, arng: np.random.Generator) -> dict[str, torch.Tensor]:
        """``memory`` (K, 3, Tz, Tz) and ``memory_mask`` (K, Gz*Gz) of a pair sample (module docstring)."""
        out = self._empty_memory()
        lo, hi = (t, s) if t < s else (s, t)
        between = visible[(visible > lo) & (visible < hi) & (np.abs(visible - s) <= self.memory_window)]
        count = min(int(rng.integers(self.memory_size + 1)), between.size)
        cfg, jit, aug = self.cfg, self.jitter, self.augmentation
        for slot, m in enumerate(np.sort(rng.choice(between, count, replace=False)) if count else []):
            frame = _read(seq, int(m))
            box = _usable_box(seq, int(m), frame.shape)
            if rng.random() < MEMORY_MISTAKES:  # the same size somewhere else in the frame
                fh, fw = frame.shape[:2]
                box = (rng.random() * max(1.0, fw - box[2]), rng.random() * max(1.0, fh - box[3]), box[2], box[3])
            crop = jittered_crop(frame, box, None, jit.memory_center, jit.memory_scale, cfg.template_factor,
                                 cfg.template_size, rng)
            image = photometric(crop.image, crop.rect, gray, aug, arng)
            out["memory"][slot] = to_input(np.fliplr(image) if flip else image)
            out["memory_mask"][slot] = torch.from_numpy(cell_mask(crop.anchor, cfg.template_grid))
        return out

    def _empty_memory(self) -> dict[str, torch.Tensor]:
        z = self.cfg.template_size
        return {"memory": torch.zeros(self.memory_size, 3, z, z),
                "memory_mask": torch.zeros(self.memory_size, self.cfg.template_grid**2, dtype=torch.bool)}

    def _negative(self, pool: _Pool, si: int, rng: np.random.Generator) -> int | None:
        """Another member of the pool to take a negative pair's search frame from, or None."""
        if not self.negative_ratio or rng.random() >= self.negative_ratio:
            return None
        others = pool.members[pool.members != si]
        if self.negative_same_category and self._category[si]:
            same = others[self._category[others] == self._category[si]]
            others = same if same.size else others
        return int(rng.choice(others)) if others.size else None

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


PairSampler = TrackingPairs


def _sentence(seq: Sequence, any_holds: bool, rng: np.random.Generator) -> str:
    """One of the sequence's sentences at random where ``any_holds`` (and it has several), else the first."""
    if any_holds and len(seq.sentences) > 1:
        return seq.sentences[int(rng.integers(len(seq.sentences)))]
    return seq.language


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
