"""Training samples from real frames (the packaged clip, and sequences made from it: see
``sequences``): shapes, geometry, augmentation, determinism, grounding samples and bad data."""

from __future__ import annotations

import dataclasses
import logging
import math
import shutil

import cv2
import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from litetrack_core.data.load import load_dataset
from litetrack_core.models.configs import get_config
from litetrack_core.models.text import Tokenizer
from litetrack_core.tracking.crop import letterbox, to_model_input
from litetrack_core.training.augment import Augmentation, swap_directions
from litetrack_core.training.crops import Jitter
from litetrack_core.training.samples import SAMPLE_KEYS
from litetrack_core.training.sampling import PairSampler, SequencePool, TrackingPairs

CFG = get_config("litetrack-s168")  # 84 / 168 px crops, 6x6 / 12x12 cells
BBOX_ONLY, NL_ONLY, NLBBOX_ONLY = (1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0)


@pytest.fixture(scope="module")
def sequences(clip, tmp_path_factory):
    """Four real sequences, all from the packaged clip (100 frames, 640x480), written to disk and read
    back with ``load_dataset``: ``jacket`` (the clip itself), ``jacket_reversed`` (frames and boxes in
    reverse order: the person walks in from the left and grows), ``jacket_early`` (frames 1-50) and
    ``jacket_late`` (frames 51-100: a smaller person, on the left)."""
    (src,) = load_dataset(clip)
    root = tmp_path_factory.mktemp("sequences")
    n = len(src)
    for name, frames in (("jacket", range(n)), ("jacket_reversed", range(n - 1, -1, -1)),
                         ("jacket_early", range(n // 2)), ("jacket_late", range(n // 2, n))):
        _copy_sequence(src, root / name, frames)
    seqs = load_dataset(root)
    assert [s.name for s in seqs] == ["jacket", "jacket_early", "jacket_late", "jacket_reversed"]
    return seqs


@pytest.fixture(scope="module")
def by_name(sequences):
    return {s.name: s for s in sequences}


@pytest.fixture(scope="module")
def tokenizer():
    return Tokenizer(CFG.max_text_tokens)


def pairs(seqs, tokenizer, n=16, mix=(0.45, 0.11, 0.44), seed=0, augment=True, **kw):
    return TrackingPairs(seqs, CFG, tokenizer, n, 200, task_mix=mix, seed=seed, augment=augment, **kw)


def cells_in(box_cxcywh, grid):
    """Independent statement of the mask rule: cells whose centre lies strictly inside the box,
    plus the cell under the box centre."""
    cx, cy, w, h = (float(v) for v in box_cxcywh)
    centres = (np.arange(grid) + 0.5) / grid
    inside_x = (centres > cx - w / 2) & (centres < cx + w / 2)
    inside_y = (centres > cy - h / 2) & (centres < cy + h / 2)
    mask = inside_y[:, None] & inside_x[None, :]
    r, c = int(cy * grid), int(cx * grid)
    if 0 <= r < grid and 0 <= c < grid:
        mask[r, c] = True
    return mask.reshape(-1)


def to_uint8(t: torch.Tensor) -> np.ndarray:
    mean = np.array([0.485, 0.456, 0.406], np.float32)
    std = np.array([0.229, 0.224, 0.225], np.float32)
    return np.clip(np.rint((t.permute(1, 2, 0).numpy() * std + mean) * 255), 0, 255).astype(np.uint8)


def test_every_key_has_its_shape_and_dtype(sequences, tokenizer):
    ds = pairs(sequences, tokenizer, n=24, seed=3)
    gz, gx, L = CFG.template_grid, CFG.search_grid, CFG.max_text_tokens
    expected = {
        "template": ((3, 84, 84), torch.float32),
        "search": ((3, 168, 168), torch.float32),
        "text_ids": ((L,), torch.int64),
        "text_mask": ((L,), torch.int64),
        "template_mask": ((gz * gz,), torch.bool),
        "context_mask": ((gx * gx,), torch.bool),
        "search_box": ((4,), torch.float32),
        "flag": ((), torch.int64),
        "valid": ((), torch.bool),
    }
    flags = set()
    for i in range(len(ds)):
        sample, info = ds.draw(i)
        assert tuple(sample) == SAMPLE_KEYS
        for key, (shape, dtype) in expected.items():
            assert tuple(sample[key].shape) == shape and sample[key].dtype == dtype, key
        flag = int(sample["flag"])
        flags.add(flag)
        assert flag == info.flag and bool(sample["valid"])
        box = sample["search_box"]
        assert ((box >= 0) & (box <= 1)).all() and box[2] > 0 and box[3] > 0
        assert torch.isfinite(sample["search"]).all() and torch.isfinite(sample["template"]).all()
        if flag == 0:
            assert not sample["text_mask"].any() and not sample["text_ids"].any()
        else:
            n = int(sample["text_mask"].sum())
            assert n > 2 and sample["text_ids"][0] == 101 and sample["text_ids"][n - 1] == 102
            assert torch.equal(sample["text_ids"], tokenizer(info.text).ids[0])
    assert flags == {0, 1, 2}


def test_full_size_config_gives_full_size_crops(sequences):
    cfg = get_config("uvltrack-b256")
    sample = TrackingPairs(sequences, cfg, None, 2, 200, seed=1).draw(0)[0]
    assert sample["template"].shape == (3, 128, 128) and sample["search"].shape == (3, 256, 256)
    assert sample["template_mask"].shape == (64,) and sample["context_mask"].shape == (256,)


def test_masks_are_the_cells_inside_the_boxes(sequences, by_name, tokenizer):
    ds = pairs(sequences, tokenizer, n=30, seed=5)
    for i in range(len(ds)):
        sample, info = ds.draw(i)
        np.testing.assert_array_equal(sample["context_mask"].numpy(), cells_in(sample["search_box"], CFG.search_grid))
        if info.flag == 1:
            assert not sample["template_mask"].any()
            continue
        # No template jitter (UVLTrack): the template box is centred, of size w / side.
        x, y, w, h = by_name[info.sequence].ground_truth[info.template_frame]
        side = math.ceil(math.sqrt(w * h) * CFG.template_factor)
        box = (0.5, 0.5, w / side, h / side)
        if info.flipped:
            box = (1 - box[0], *box[1:])
        np.testing.assert_array_equal(sample["template_mask"].numpy(), cells_in(box, CFG.template_grid))


def test_without_jitter_the_target_is_centred_at_a_quarter_of_the_crop(sequences, by_name, tokenizer):
    ds = pairs(sequences, tokenizer, n=12, mix=BBOX_ONLY, seed=2, augment=False, jitter=Jitter.off())
    for i in range(len(ds)):
        sample, info = ds.draw(i)
        cx, cy, w, h = sample["search_box"].tolist()
        x, y, bw, bh = by_name[info.sequence].ground_truth[info.search_frame]
        side = math.ceil(math.sqrt(bw * bh) * CFG.search_factor)
        assert info.crop_side_px == side
        assert cx == pytest.approx(0.5, abs=1e-6) and cy == pytest.approx(0.5, abs=1e-6)
        assert w == pytest.approx(bw / side, rel=1e-5) and h == pytest.approx(bh / side, rel=1e-5)
        # sqrt(w * h) is 1 / search_factor of the crop side, up to the rounding up of the side.
        assert 1 / CFG.search_factor * (1 - 1 / side) <= math.sqrt(w * h) <= 1 / CFG.search_factor + 1e-6
        # The crop is the tracker's own crop around the box.
        np.testing.assert_array_equal(
            to_uint8(sample["search"]), to_uint8(to_model_input(_crop(by_name, info))[0])
        )


def _crop(by_name, info):
    from litetrack_core.tracking.crop import crop_around

    seq = by_name[info.sequence]
    return crop_around(seq.frame(info.search_frame), tuple(seq.ground_truth[info.search_frame]), CFG.search_factor, 168).image


def test_jittered_crops_show_the_target_where_search_box_says(sequences, by_name, tokenizer):
    """The crop's pixels inside search_box are the frame's pixels inside the ground truth."""
    ds = pairs(sequences, tokenizer, n=40, mix=BBOX_ONLY, seed=11, augment=False)
    centres, checked = [], 0
    for i in range(len(ds)):
        sample, info = ds.draw(i)
        centres.append(sample["search_box"][:2].numpy())
        frame = by_name[info.sequence].frame(info.search_frame)
        x, y, w, h = info.box_px
        cx, cy, bw, bh = (sample["search_box"].numpy() * 168).tolist()
        fits_frame = x >= 0 and y >= 0 and x + w <= frame.shape[1] and y + h <= frame.shape[0]
        # The whole box inside the crop (search_box is clipped to it).
        (ccx, ccy), side = info.crop_center_px, info.crop_side_px
        fits_crop = ccx - side / 2 <= x and x + w <= ccx + side / 2 and ccy - side / 2 <= y and y + h <= ccy + side / 2
        if not (fits_frame and fits_crop and bw >= 12 and bh >= 12):
            continue
        m = 64  # room for the shifted places
        crop = cv2.copyMakeBorder(to_uint8(sample["search"]), m, m, m, m, cv2.BORDER_CONSTANT)
        target = _patch(frame, x, y, w, h)

        def error(dx, dy):
            return np.abs(_patch(crop, m + cx - bw / 2 + dx, m + cy - bh / 2 + dy, bw, bh) - target).mean()

        there = error(0, 0)
        # The claimed place matches the frame's target better than places a quarter box away.
        shifted = [error(dx, dy) for dx, dy in ((bw / 4, 0), (-bw / 4, 0), (0, bh / 4), (0, -bh / 4))]
        assert there < 25 and there < min(shifted), (info, there, shifted)
        checked += 1
    assert checked >= 10
    centres = np.array(centres)
    # Centre jitter: the target is not always in the middle, yet always inside the crop.
    assert centres.std(axis=0).min() > 0.04 and (centres > 0).all() and (centres < 1).all()


def _patch(image, x, y, w, h):
    """The (x, y, w, h) region of an image, resampled to 16x16 (float32)."""
    region = image[int(round(y)) : int(round(y + h)), int(round(x)) : int(round(x + w))]
    return cv2.resize(region, (16, 16), interpolation=cv2.INTER_AREA).astype(np.float32)


def test_flip_mirrors_images_and_box_and_swaps_left_and_right(by_name, tokenizer):
    seq = dataclasses.replace(by_name["jacket"], language="The person on the Left, right of the LEFTMOST car")
    plain = pairs([seq], tokenizer, n=6, mix=(0.0, 0.5, 0.5), seed=4, augment=False)
    flipped = pairs([seq], tokenizer, n=6, mix=(0.0, 0.5, 0.5), seed=4, augmentation=Augmentation(
        flip=1.0, grayscale=0.0, color=0.0, blur=0.0, grounding_rescale=False
    ))
    kinds = set()
    for i in range(len(plain)):
        a, ia = plain.draw(i)
        b, ib = flipped.draw(i)
        assert (ia.sequence, ia.template_frame, ia.search_frame) == (ib.sequence, ib.template_frame, ib.search_frame)
        assert ib.flipped and not ia.flipped
        kinds.add(ia.flag)
        assert torch.equal(b["search"], a["search"].flip(-1))
        assert torch.equal(b["template"], a["template"].flip(-1))
        ca, cb = a["search_box"].tolist(), b["search_box"].tolist()
        assert cb[0] == pytest.approx(1 - ca[0], abs=1e-6) and cb[1:] == ca[1:]
        assert ib.text == "The person on the Right, left of the RIGHTMOST car"
        assert torch.equal(b["text_ids"], tokenizer(ib.text).ids[0])
        np.testing.assert_array_equal(b["context_mask"].numpy(), cells_in(b["search_box"], CFG.search_grid))
    assert kinds == {1, 2}


def test_swap_directions_keeps_case_and_other_words():
    assert swap_directions("left Left LEFT leftmost Rightmost right-hand") == "right Right RIGHT rightmost Leftmost left-hand"
    assert swap_directions("the leftover bright copyright") == "the leftover bright copyright"


def test_samples_depend_on_seed_epoch_and_index_only(sequences, tokenizer):
    a = pairs(sequences, tokenizer, n=6, seed=7)
    b = pairs(sequences, tokenizer, n=6, seed=7)
    other = pairs(sequences, tokenizer, n=6, seed=8)
    for i in (5, 0, 3):  # any order
        sa, sb = a[i], b[i]
        assert all(torch.equal(sa[k], sb[k]) for k in SAMPLE_KEYS)
    assert any(not torch.equal(a[i]["search"], other[i]["search"]) for i in range(6))
    again = a[2]
    a.set_epoch(1)
    assert not torch.equal(a[2]["search"], again["search"])
    a.set_epoch(0)
    assert torch.equal(a[2]["search"], again["search"])


def test_augmentation_changes_pixels_not_frames(sequences, by_name, tokenizer):
    plain = pairs(sequences, tokenizer, n=20, seed=9, augment=False)
    strong = pairs(sequences, tokenizer, n=20, seed=9, augmentation=Augmentation(
        flip=0.0, grayscale=0.3, color=1.0, brightness=0.4, contrast=0.4, saturation=0.4, blur=0.5, grounding_rescale=False
    ))
    changed = 0
    for i in range(len(plain)):
        (a, ia), (b, ib) = plain.draw(i), strong.draw(i)
        assert (ia.sequence, ia.search_frame, ia.flag) == (ib.sequence, ib.search_frame, ib.flag)
        assert torch.equal(a["search_box"], b["search_box"]) and torch.equal(a["context_mask"], b["context_mask"])
        changed += not torch.equal(a["search"], b["search"])
        if ia.flag != 1:  # padding stays black, as in the tracker's crops
            padding = _padding(by_name[ia.sequence].frame(ia.search_frame).shape, ia.crop_center_px, ia.crop_side_px)
            assert (to_uint8(b["search"])[padding] == 0).all()
    assert changed >= 15


def _padding(shape, center, side):
    """Pixels of a search crop at ``center`` with ``side`` that lie well outside the frame."""
    from litetrack_core.tracking.crop import crop_around

    white = np.full(shape, 255, np.uint8)
    half = side / CFG.search_factor / 2
    crop = crop_around(white, (center[0] - half, center[1] - half, 2 * half, 2 * half), CFG.search_factor, 168)
    assert crop.side_px == side
    outside = (crop.image == 0).all(axis=2).astype(np.uint8)
    return cv2.erode(outside, np.ones((5, 5), np.uint8)).astype(bool)


def test_grounding_samples_letterbox_the_whole_frame_without_template(sequences, by_name, tokenizer):
    ds = pairs(sequences, tokenizer, n=10, mix=NL_ONLY, seed=6, augment=False)
    for i in range(len(ds)):
        sample, info = ds.draw(i)
        assert int(sample["flag"]) == 1 and info.template_frame is None and info.search_frame < 30
        assert not sample["template"].any() and not sample["template_mask"].any()
        assert sample["text_mask"].sum() > 2
        frame = by_name[info.sequence].frame(info.search_frame)
        lb = letterbox(frame, CFG.search_size)
        assert torch.equal(sample["search"], to_model_input(lb.image)[0])
        left, top, w, h = lb.rect_xywh_px
        x, y, bw, bh = info.box_px
        sx, sy = w / frame.shape[1], h / frame.shape[0]
        want = [(x * sx + left + bw * sx / 2) / 168, (y * sy + top + bh * sy / 2) / 168, bw * sx / 168, bh * sy / 168]
        assert sample["search_box"].tolist() == pytest.approx(want, abs=1e-5)


def test_augmented_grounding_rescales_and_places_the_frame(sequences, tokenizer):
    ds = pairs(sequences, tokenizer, n=12, mix=NL_ONLY, seed=6)
    extents = set()
    for i in range(len(ds)):
        sample, _ = ds.draw(i)
        seen = np.flatnonzero((to_uint8(sample["search"]) > 0).any(axis=2).any(axis=0))
        extents.add((int(seen[0]) // 4, int(seen[-1]) // 4))
        box = sample["search_box"]
        assert ((box >= 0) & (box <= 1)).all()
    assert len(extents) > 3


def test_sequences_without_words_give_bbox_samples(sequences, tokenizer, caplog):
    silent = [dataclasses.replace(s, language=None) for s in sequences[:2]]
    with caplog.at_level(logging.WARNING):
        ds = pairs(silent, tokenizer, n=6, mix=(0.0, 0.5, 0.5))
    assert "BBOX" in caplog.text
    assert all(int(ds[i]["flag"]) == 0 for i in range(len(ds)))
    mixed = pairs([silent[0], *sequences[2:4]], tokenizer, n=30, mix=(0.2, 0.4, 0.4), seed=1)
    for i in range(len(mixed)):
        _, info = mixed.draw(i)
        assert info.flag == 0 or info.sequence != silent[0].name


def test_pools_share_samples_by_weight_and_keep_their_task_mix(by_name, tokenizer):
    forward, backward = by_name["jacket"], by_name["jacket_reversed"]
    ds = pairs([SequencePool((forward,), 3.0), SequencePool((backward,), 1.0, NL_ONLY)], tokenizer, n=400,
               mix=BBOX_ONLY, augment=False)
    infos = [ds.draw(i)[1] for i in range(len(ds))]
    from_forward = [i for i in infos if i.sequence == "jacket"]
    assert 0.68 < len(from_forward) / len(infos) < 0.82  # 0.75 expected; 400 draws: sd 0.022
    assert all(i.flag == 0 for i in from_forward)
    assert all(i.flag == 1 for i in infos if i.sequence == "jacket_reversed")
    with pytest.raises(ValueError, match="weight"):
        SequencePool((forward,), 0.0)
    with pytest.raises(ValueError, match="task_mix"):
        SequencePool((forward,), 1.0, (0.0, 0.0, 0.0))


def test_grounding_frames_and_several_sentences(by_name, tokenizer):
    """NL samples come from the frames a sequence lists; the first frame takes any of its sentences,
    later frames the first (the one the frames were checked against); NLBBOX samples any."""
    seq = dataclasses.replace(by_name["jacket"], sentences=("a person walking left", "the light blue jacket"),
                              language="a person walking left", grounding_frames=(0, 40, 80))
    assert seq.sentences == ("a person walking left", "the light blue jacket")
    ds = pairs([seq], tokenizer, n=60, mix=NL_ONLY, augment=False)
    seen = {}
    for i in range(len(ds)):
        _, info = ds.draw(i)
        seen.setdefault(info.search_frame, set()).add(info.text)
    assert set(seen) == {0, 40, 80}
    assert seen[0] == {"a person walking left", "the light blue jacket"}
    assert seen[40] == seen[80] == {"a person walking left"}
    ds = pairs([seq], tokenizer, n=30, mix=NLBBOX_ONLY, augment=False)
    assert {ds.draw(i)[1].text for i in range(len(ds))} == {"a person walking left", "the light blue jacket"}
    with pytest.raises(ValueError, match="grounding_frames"):
        dataclasses.replace(seq, grounding_frames=(0, len(seq)))


def test_absent_search_frames_give_invalid_samples(by_name, tokenizer):
    seq = by_name["jacket"]
    absent = np.ones(len(seq), dtype=bool)
    absent[10] = False  # only frame 10 shows the target
    seq = dataclasses.replace(seq, absent=absent)
    ds = pairs([seq], tokenizer, n=5, mix=BBOX_ONLY, visible_search_only=False)
    for i in range(len(ds)):
        sample, info = ds.draw(i)
        assert info.template_frame == 10 and info.search_frame != 10
        assert not bool(sample["valid"]) and not sample["context_mask"].any()
        assert not sample["search_box"].any() and sample["template_mask"].any()


def test_negative_pairs_search_another_sequences_target_as_absent(by_name, tokenizer):
    early, late = by_name["jacket_early"], by_name["jacket_late"]
    ds = pairs([early, late], tokenizer, n=12, mix=BBOX_ONLY, seed=4, jitter=Jitter.off(), negative_ratio=1.0)
    for i in range(len(ds)):
        sample, info = ds.draw(i)
        other = late if info.sequence == "jacket_early" else early
        assert info.negative_from == other.name and not info.valid and info.box_px is None
        assert not bool(sample["valid"]) and not sample["search_box"].any() and not sample["context_mask"].any()
        x, y, w, h = other.ground_truth[info.search_frame]
        assert info.crop_center_px == pytest.approx((x + w / 2, y + h / 2))  # centred on the distractor
        assert sample["template_mask"].any()
    alone = pairs([early], tokenizer, n=6, mix=BBOX_ONLY, seed=4, negative_ratio=1.0)
    assert all(alone.draw(i)[1].negative_from is None for i in range(len(alone)))  # no other sequence


def test_same_category_negatives_take_the_templates_kind_where_the_pool_has_one(by_name, tokenizer):
    kinds = {"jacket": "person", "jacket_reversed": "person", "jacket_early": "vehicle", "jacket_late": "animal"}
    seqs = [dataclasses.replace(by_name[name], category=kind) for name, kind in kinds.items()]
    same = pairs(seqs, tokenizer, n=40, mix=BBOX_ONLY, seed=6, negative_ratio=1.0, negative_same_category=True)
    drawn = {}
    for i in range(len(same)):
        info = same.draw(i)[1]
        drawn.setdefault(info.sequence, set()).add(info.negative_from)
    assert drawn["jacket"] == {"jacket_reversed"} and drawn["jacket_reversed"] == {"jacket"}
    # The only vehicle and the only animal have no other of their kind: any other sequence serves.
    assert drawn["jacket_early"] & {"jacket", "jacket_reversed"} and drawn["jacket_late"] & {"jacket", "jacket_reversed"}
    any_kind = pairs(seqs, tokenizer, n=40, mix=BBOX_ONLY, seed=6, negative_ratio=1.0)
    infos = [any_kind.draw(i)[1] for i in range(len(any_kind))]
    assert {info.negative_from for info in infos if info.sequence == "jacket"} > {"jacket_reversed"}


def test_negative_ratio_sets_their_share_and_zero_leaves_samples_as_before(sequences, tokenizer):
    some = pairs(sequences, tokenizer, n=60, mix=BBOX_ONLY, seed=5, negative_ratio=0.3)
    share = sum(some.draw(i)[1].negative_from is not None for i in range(len(some))) / len(some)
    assert 0.1 < share < 0.5
    before, zero = pairs(sequences, tokenizer, n=6, seed=5), pairs(sequences, tokenizer, n=6, seed=5, negative_ratio=0.0)
    for i in range(len(before)):
        a, b = before[i], zero[i]
        assert all(torch.equal(a[k], b[k]) for k in a)
    with pytest.raises(ValueError, match="negative_ratio"):
        pairs(sequences, tokenizer, negative_ratio=1.5)


def _copy_sequence(src, dst, frames):
    """Frames ``frames`` of ``src`` (a count: the first ones; or the indices, in order) as a sequence
    folder ``dst``, numbered from 000001.jpg."""
    frames = range(frames) if isinstance(frames, int) else frames
    (dst / "img").mkdir(parents=True)
    for k, i in enumerate(frames, start=1):
        shutil.copy(src.frame_paths[i], dst / "img" / f"{k:06d}.jpg")
    lines = [",".join(f"{v:g}" for v in src.ground_truth[i]) for i in frames]
    (dst / "groundtruth.txt").write_text("\n".join(lines) + "\n")
    (dst / "language.txt").write_text(src.language + "\n")


def test_missing_and_corrupt_frames_are_skipped_with_a_warning(by_name, tokenizer, tmp_path, caplog):
    _copy_sequence(by_name["jacket"], tmp_path / "data" / "broken", 6)
    _copy_sequence(by_name["jacket_reversed"], tmp_path / "data" / "partly", 6)
    broken, partly = load_dataset(tmp_path / "data")
    for p in broken.frame_paths:
        p.unlink()  # every frame of "broken" is gone
    partly.frame_paths[2].unlink()
    partly.frame_paths[4].write_bytes(b"not a jpeg")
    ds = pairs([broken, partly], tokenizer, n=40, seed=2)
    with caplog.at_level(logging.WARNING):
        infos = [ds.draw(i)[1] for i in range(len(ds))]
    assert all(i.sequence == "partly" for i in infos)
    assert all(i.search_frame not in (2, 4) and i.template_frame not in (2, 4) for i in infos)
    assert "'broken' frame" in caplog.text and "'partly' frame 2" in caplog.text and "'partly' frame 4" in caplog.text
    assert "000003.jpg" in caplog.text


def test_broken_boxes_are_skipped_with_a_warning(by_name, tokenizer, caplog):
    seq = by_name["jacket"]
    gt = seq.ground_truth.copy()
    gt[:60] = [5000.0, 5000.0, 20.0, 20.0]  # outside the 640x480 frame, yet "visible"
    seq = dataclasses.replace(seq, ground_truth=gt)
    ds = pairs([seq], tokenizer, n=20, mix=BBOX_ONLY, seed=3)
    with caplog.at_level(logging.WARNING):
        infos = [ds.draw(i)[1] for i in range(len(ds))]
    assert all(i.template_frame >= 60 and i.search_frame >= 60 for i in infos)
    assert "'jacket' frame" in caplog.text and "outside" in caplog.text


def test_hopeless_data_raises_instead_of_looping(by_name, tokenizer):
    seq = by_name["jacket"]
    gt = np.tile([5000.0, 5000.0, 20.0, 20.0], (len(seq), 1))
    ds = pairs([dataclasses.replace(seq, ground_truth=gt)], tokenizer, n=1, max_draws=5)
    with pytest.raises(RuntimeError, match="no usable training sample after 5 draws"):
        ds[0]


def test_arguments_are_checked(sequences, tokenizer):
    with pytest.raises(ValueError, match="task_mix"):
        pairs(sequences, tokenizer, mix=(0.5, -0.1, 0.6))
    with pytest.raises(ValueError, match="tokenizer"):
        pairs(sequences, Tokenizer(20))
    none_visible = dataclasses.replace(sequences[0], absent=np.ones(len(sequences[0]), dtype=bool))
    with pytest.raises(ValueError, match="no sequence"):
        pairs([none_visible], tokenizer)
    with pytest.raises(IndexError):
        pairs(sequences, tokenizer, n=3)[3]
    assert PairSampler is TrackingPairs


def test_default_collate_batches_four_samples(sequences, tokenizer):
    ds = pairs(sequences, tokenizer, n=8, seed=1)
    batch = next(iter(DataLoader(ds, batch_size=4, num_workers=0)))
    assert tuple(batch) == SAMPLE_KEYS
    assert batch["template"].shape == (4, 3, 84, 84) and batch["search"].shape == (4, 3, 168, 168)
    assert batch["text_ids"].shape == (4, 40) and batch["text_mask"].dtype == torch.int64
    assert batch["template_mask"].shape == (4, 36) and batch["context_mask"].shape == (4, 144)
    assert batch["search_box"].shape == (4, 4) and batch["flag"].shape == (4,) and batch["valid"].dtype == torch.bool


def test_memory_slots_hold_past_crops_of_pair_samples_only(sequences, tokenizer):
    """memory_size K: every sample has K template-sized slots; pair samples fill 0..K of them (real
    crops, each with the cells of the box it was cut around: centred), grounding samples none; empty
    slots are zeros with no cell; without a memory there are no such keys."""
    k, z, gz = 3, CFG.template_size, CFG.template_grid
    ds = pairs(sequences, tokenizer, n=48, seed=5, memory_size=k)
    filled = []
    for i in range(len(ds)):
        sample, info = ds.draw(i)
        memory, mask = sample["memory"], sample["memory_mask"]
        assert memory.shape == (k, 3, z, z) and memory.dtype == torch.float32
        assert mask.shape == (k, gz * gz) and mask.dtype == torch.bool
        valid = mask.any(dim=1)
        assert torch.isfinite(memory).all()
        assert not memory[~valid].any()  # empty slots: zeros
        for j in np.flatnonzero(valid.numpy()):
            assert memory[j].std() > 0.1  # filled: an image
            cells = mask[j].view(gz, gz)
            rows, cols = np.flatnonzero(cells.any(dim=1)), np.flatnonzero(cells.any(dim=0))
            assert cells[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1].all()  # one box of cells ...
            assert abs(rows[0] + rows[-1] + 1 - gz) <= 1 and abs(cols[0] + cols[-1] + 1 - gz) <= 1  # ... centred
        assert not valid[int(valid.sum()):].any()  # filled slots first
        if info.flag == 1:  # grounding: no past frames
            assert not valid.any()
        else:
            filled.append(int(valid.sum()))
    assert set(filled) == {0, 1, 2, 3}
    again, _ = pairs(sequences, tokenizer, n=48, seed=5, memory_size=k).draw(7)
    assert torch.equal(again["memory"], ds.draw(7)[0]["memory"])  # a function of seed, epoch and index
    assert "memory" not in pairs(sequences, tokenizer, n=4, seed=5).draw(0)[0]
    with pytest.raises(ValueError, match="memory_size=-1 must be >= 0"):
        pairs(sequences, tokenizer, memory_size=-1)


def test_memory_window_bounds_how_far_back_memory_crops_come_from(sequences, tokenizer):
    """memory_window 1: only the frame next to the search frame (toward the template) may be a memory
    crop, so no sample fills more than one slot, and some fill it; 0 is refused."""
    ds = pairs(sequences, tokenizer, n=48, seed=5, memory_size=3, memory_window=1)
    filled = [int(ds.draw(i)[0]["memory_mask"].any(dim=1).sum()) for i in range(len(ds))]
    assert set(filled) == {0, 1}
    with pytest.raises(ValueError, match="memory_window=0 must be >= 1"):
        pairs(sequences, tokenizer, memory_window=0)
