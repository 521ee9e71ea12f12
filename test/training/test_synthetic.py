"""Synthetic vision-language sequences (training/synthetic/): the project layout, exact boxes,
unambiguous sentences, determinism, absence under occlusion and exit, photo backgrounds."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from litetrack_core.data.load import load_dataset
from litetrack_core.training.synthetic.backgrounds import Backgrounds
from litetrack_core.training.synthetic.render import synthesize
from litetrack_core.training.synthetic.shapes import CATEGORIES, COLOURS
from litetrack_core.training.synthetic.write import render_dataset, render_sequence, sequence_seed

SIZE = (320, 240)
FLAT = (37, 201, 90)  # a background colour far from every palette colour


def flat(size=SIZE) -> np.ndarray:
    return np.full((size[1], size[0], 3), FLAT, np.uint8)


def painted(image: np.ndarray) -> np.ndarray:
    """Pixels that differ from the flat background."""
    return np.any(image != np.array(FLAT, np.uint8), axis=2)


def bbox(mask: np.ndarray) -> tuple[int, int, int, int] | None:
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        return None
    return int(cols[0]), int(rows[0]), int(cols[-1] - cols[0] + 1), int(rows[-1] - rows[0] + 1)


def box_mask(boxes, shape, pad: int = 0) -> np.ndarray:
    m = np.zeros(shape[:2], bool)
    for x, y, w, h in boxes:
        if w > 0:
            m[max(0, y - pad) : y + h + pad, max(0, x - pad) : x + w + pad] = True
    return m


# --- layout --------------------------------------------------------------------------------------


def test_rendered_dataset_loads_as_project_sequences(tmp_path):
    folders = render_dataset(tmp_path, 3, seed=5, frames=(12, 18))
    assert [f.name for f in folders] == ["synth_000001", "synth_000002", "synth_000003"]
    sequences = load_dataset(tmp_path)
    assert [s.name for s in sequences] == [f.name for f in folders]
    for number, (seq, folder) in enumerate(zip(sequences, folders), start=1):
        seed = sequence_seed(5, number)
        images, info = synthesize(seed, size=None, frames=(12, 18))  # what render_dataset drew
        assert len(seq) == info.frames == len(images)
        assert 12 <= len(seq) <= 18
        np.testing.assert_array_equal(seq.ground_truth, info.ground_truth)
        np.testing.assert_array_equal(seq.absent, info.ground_truth[:, 2] == 0)
        assert not seq.absent[0]
        assert seq.language == info.sentence and seq.language
        frame = seq.frame(0)  # RGB from the JPEG on disk
        assert frame.shape == (info.size[1], info.size[0], 3)
        assert np.abs(frame.astype(int) - images[0].astype(int)).mean() < 4  # a BGR/RGB swap is far off
        lines = (folder / "groundtruth.txt").read_text().splitlines()
        assert len(lines) == len(seq) and all(re.fullmatch(r"\d+,\d+,\d+,\d+", line) for line in lines)
        source = (folder / "SOURCE.txt").read_text().splitlines()
        assert source[0] == f"rendered by litetrack_core.training.synthetic, seed {seed}"
    # Rendering again keeps finished sequences (resume after an interruption).
    stamp = (folders[0] / "img" / "000001.jpg").stat().st_mtime_ns
    shutil.rmtree(folders[2])
    render_dataset(tmp_path, 3, seed=5, frames=(12, 18))
    assert (folders[0] / "img" / "000001.jpg").stat().st_mtime_ns == stamp
    assert len(load_dataset(tmp_path)) == 3


def test_sampler_draws_language_samples_from_rendered_sequences(tmp_path):
    from litetrack_core.models.configs import get_config
    from litetrack_core.models.text import Tokenizer
    from litetrack_core.training.sampling import TrackingPairs

    render_dataset(tmp_path, 2, seed=9, size=SIZE, frames=16)
    cfg = get_config("litetrack-s168")
    pairs = TrackingPairs(load_dataset(tmp_path), cfg, Tokenizer(cfg.max_text_tokens), 6, task_mix=(0, 1, 1), seed=3)
    for i in range(len(pairs)):
        sample, info = pairs.draw(i)
        assert info.text and sample["text_mask"].sum() > 2
        assert bool(sample["valid"]) and float(sample["search_box"][2]) > 0


# --- boxes ---------------------------------------------------------------------------------------


def test_boxes_are_the_tight_boxes_of_the_drawn_pixels():
    checked = target_checked = 0
    for seed in range(4):
        images, info = synthesize(seed, backgrounds=[flat()], size=SIZE, frames=20, occlusion=0, exit=0,
                                  min_visible=0)
        for t, image in enumerate(images):
            diff = painted(image)
            boxes = [tuple(int(v) for v in o.boxes[t]) for o in info.objects]
            # Nothing is painted outside the boxes ...
            assert not (diff & ~box_mask(boxes, image.shape)).any(), (seed, t)
            # ... and an object away from the others fills its box to every edge.
            for i, box in enumerate(boxes):
                if box[2] == 0:
                    continue
                near = box_mask([box], image.shape, pad=4)
                if any(box_mask([b], image.shape)[near].any() for j, b in enumerate(boxes) if j != i and b[2] > 0):
                    continue
                assert bbox(diff & near) == box, (seed, t, i)
                checked += 1
                target_checked += i == 0
    assert checked > 150 and target_checked > 40


def test_box_is_clipped_to_the_frame_and_visible_share_is_measured():
    clipped = 0
    for seed in range(6):
        images, info = synthesize(seed, backgrounds=[flat()], size=SIZE, frames=30, occlusion=0, exit=0,
                                  min_visible=0)
        for o in info.objects:
            for t in np.flatnonzero(o.present):
                x, y, w, h = (int(v) for v in o.boxes[t])
                assert 0 <= x and 0 <= y and x + w <= SIZE[0] and y + h <= SIZE[1]
                cx, cy = o.centers[t]
                r = o.radii[t]
                if cx - r < -1 or cy - r < -1 or cx + r > SIZE[0] + 1 or cy + r > SIZE[1] + 1:
                    clipped += x == 0 or y == 0 or x + w == SIZE[0] or y + h == SIZE[1]
                else:  # whole shape in the frame: its box lies within its circle (rasterised: +- 1.5 px)
                    assert cx - r - 1.5 <= x and x + w <= cx + r + 1.5 and cy - r - 1.5 <= y and y + h <= cy + r + 1.5
            assert (o.visible[~o.present] == 0).all() and (o.visible[o.present] > 0).all()
    assert clipped > 0  # objects do reach the borders


# --- sentences -----------------------------------------------------------------------------------

_COLOUR = {"grey": "gray", **{c: c for c in COLOURS}}
_CATEGORY = {"ellipse": "oval", **{k: k for k in CATEGORIES}}
_NOUN = re.compile(
    r"\b(" + "|".join(_COLOUR) + r")\s+(" + "|".join(_CATEGORY) + r")(?:es|s)?\b"
)
_LARGE = {"large", "larger", "largest", "big", "bigger", "biggest"}
_SMALL = {"small", "smaller", "smallest", "little"}
_UP = {"top", "upper", "higher", "highest", "topmost", "uppermost"}
_DOWN = {"bottom", "lower", "lowest", "bottommost"}


def phrases(sentence: str) -> list[tuple[str, str]]:
    return [(_COLOUR[c], _CATEGORY[k]) for c, k in _NOUN.findall(sentence)]


def separates(sentence, ref, state, t_idx, other, size) -> bool:
    """Whether a word of ``sentence`` tells object ``t_idx`` from ``other`` in the right direction
    (an independent reading: sizes, positions, or the relation to ``ref``)."""
    words = set(re.findall(r"[a-z]+", sentence))
    (tx, ty, tr), (ox, oy, orr) = state[t_idx], state[other]
    if ref is not None:
        rx, ry, _ = state[ref]
        if re.search(r"\bleft of\b", sentence):
            return tx < rx and rx - tx > rx - ox
        if re.search(r"\bright of\b", sentence):
            return tx > rx and tx - rx > ox - rx
        if "above" in words:
            return ty < ry and ry - ty > ry - oy
        if words & {"below", "under", "beneath"}:
            return ty > ry and ty - ry > oy - ry
        assert words & {"next", "near", "closest", "beside"}, sentence
        return math_dist(tx, ty, rx, ry) < math_dist(ox, oy, rx, ry)
    ok = False
    if words & _LARGE:
        ok |= tr > orr
    if words & _SMALL:
        ok |= tr < orr
    if words & {"left", "leftmost"}:
        ok |= tx < ox
    if words & {"right", "rightmost"}:
        ok |= tx > ox
    if words & _UP:
        ok |= ty < oy
    if words & _DOWN:
        ok |= ty > oy
    if words & {"middle", "centre", "center"}:
        w, h = size
        ok |= math_dist(tx / w, ty / h, 0.5, 0.5) < math_dist(ox / w, oy / h, 0.5, 0.5)
    return ok


def math_dist(ax, ay, bx, by) -> float:
    return float(np.hypot(ax - bx, ay - by))


def test_sentence_names_the_target_unambiguously():
    kinds, twins_seen, shared = set(), 0, 0
    for seed in range(36):
        _, info = synthesize(seed, size=SIZE, frames=20, twin=1.0 if seed % 3 else 0.0)
        target = info.objects[0]
        attrs = [(o.colour, o.category) for o in info.objects]
        found = phrases(info.sentence)
        assert found and found[0] == (target.colour, target.category), info.sentence
        ref = None
        if len(found) > 1:  # a relation to an object that is unique by colour and category
            assert len(found) == 2 and attrs.count(found[1]) == 1 and found[1] != found[0], info.sentence
            ref = attrs.index(found[1])
        # Neither the colour nor the category alone names the target.
        shared += any(a[0] == target.colour for a in attrs[1:]) and any(a[1] == target.category for a in attrs[1:])
        kinds.add(next((k for k in info.description if k not in ("colour", "category")), "plain"))
        for t in range(min(info.frames, info.describe_frames)):
            if not info.objects[0].present[t] or (ref is not None and not info.objects[ref].present[t]):
                assert t > 0, "the target (and what the sentence refers to) shows in the first frame"
                continue
            state = {}
            for i, o in enumerate(info.objects):
                if o.present[t]:
                    x, y, w, h = o.boxes[t]
                    state[i] = (x + w / 2, y + h / 2, o.radii[t])
            twins = [i for i in state if i != 0 and attrs[i] == attrs[0]]
            twins_seen += bool(twins) and t == 0
            for other in twins:
                assert separates(info.sentence, ref, state, 0, other, info.size), (seed, t, info.sentence)
            m = re.search(r"\b(?:on|at|in|near) the (top |bottom |upper |lower )?"
                          r"(left|right|top|bottom|middle|centre|center)\b(?! of)", info.sentence)
            if m and ref is None and not re.search(r"\bof the two\b", info.sentence):  # a place in the image
                cx, cy = state[0][0] / info.size[0], state[0][1] / info.size[1]
                where = (m.group(1) or "") + m.group(2)
                assert ("left" not in where or cx < 0.5) and ("right" not in where or cx > 0.5), info.sentence
                assert (not re.search("top|upper", where) or cy < 0.5), info.sentence
                assert (not re.search("bottom|lower", where) or cy > 0.5), info.sentence
    assert twins_seen >= 10 and shared >= 30
    assert kinds == {"plain", "size", "region", "extreme", "relation"}, kinds


def test_sentences_mix_phrasings():
    sentences = {synthesize(seed, size=SIZE, frames=10, occlusion=0, exit=0)[1].sentence for seed in range(30)}
    assert len(sentences) == 30
    starts = {s.split()[0] for s in sentences}
    assert "the" in starts and len(starts) >= 3


# --- determinism ---------------------------------------------------------------------------------


def test_same_seed_same_sequence_other_seed_other_sequence(tmp_path):
    a_images, a = synthesize(11, size=SIZE, frames=15)
    b_images, b = synthesize(11, size=SIZE, frames=15)
    assert a.sentence == b.sentence
    np.testing.assert_array_equal(a.ground_truth, b.ground_truth)
    assert all(np.array_equal(x, y) for x, y in zip(a_images, b_images))
    firsts = [synthesize(seed, size=SIZE, frames=3)[0][0] for seed in (12, 13, 14)]
    for first in firsts:
        assert not np.array_equal(first, a_images[0])
    assert not np.array_equal(firsts[0], firsts[1])
    render_sequence(tmp_path / "one", 11, size=SIZE, frames=15)
    render_sequence(tmp_path / "two", 11, size=SIZE, frames=15)
    for path in sorted((tmp_path / "one").rglob("*")):
        if path.is_file():
            twin = tmp_path / "two" / path.relative_to(tmp_path / "one")
            if path.name == "SOURCE.txt":
                continue
            assert path.read_bytes() == twin.read_bytes(), path.name


# --- absence -------------------------------------------------------------------------------------


def test_fully_occluded_frames_are_absent(tmp_path):
    found = 0
    for seed in range(12):
        kw = dict(backgrounds=[flat()], size=SIZE, frames=40, occlusion=1.0, full_occlusion=1.0, exit=0.0,
                  min_visible=0.0, describe_frames=10)
        images, info = synthesize(seed, **kw)
        if not info.events or not info.events[0]["full"]:
            continue
        event = info.events[0]
        target, occluder = info.objects[0], info.objects[event["occluder"]]
        assert occluder.z > target.z and occluder.role == "occluder"
        hidden, _ = synthesize(seed, hide=(0,), **kw)  # the same scene without the target painted
        absent = ~target.present
        assert absent[event["hold"][0] : event["hold"][1]].all(), seed
        for t in range(info.frames):
            if absent[t]:
                assert np.array_equal(images[t], hidden[t])  # not one pixel of the target shows
            else:
                diff = np.any(images[t] != hidden[t], axis=2)
                assert diff.any() and not (diff & ~box_mask([target.boxes[t]], diff.shape)).any()
        for t in range(*event["hold"]):  # the target is inside the frame: hidden, not outside
            cx, cy = target.centers[t]
            assert 0 <= cx < SIZE[0] and 0 <= cy < SIZE[1] and occluder.present[t]
        found += 1
        if found == 1:
            render_sequence(tmp_path / "occluded", seed, **kw)
            lines = (tmp_path / "occluded" / "groundtruth.txt").read_text().splitlines()
            assert [line == "0,0,0,0" for line in lines] == absent.tolist()
            (seq,) = load_dataset(tmp_path / "occluded")
            np.testing.assert_array_equal(seq.absent, absent)
        if found == 3:
            break
    assert found == 3


def test_target_outside_the_frame_is_absent():
    found = 0
    for seed in range(8):
        kw = dict(backgrounds=[flat()], size=SIZE, frames=40, occlusion=0.0, exit=1.0, min_visible=0.0,
                  describe_frames=10)
        images, info = synthesize(seed, **kw)
        if not info.events:
            continue
        event, target = info.events[0], info.objects[0]
        assert event["kind"] == "exit"
        hidden, _ = synthesize(seed, hide=(0,), **kw)
        for t in range(*event["hold"]):
            cx, cy = target.centers[t]
            r = target.radii[t]
            assert cx + r <= 0 or cy + r <= 0 or cx - r >= SIZE[0] or cy - r >= SIZE[1]
            assert not target.present[t] and tuple(target.boxes[t]) == (0, 0, 0, 0)
        for t in np.flatnonzero(~target.present):
            assert np.array_equal(images[t], hidden[t])
        assert target.present[event["end"] :].any() or event["end"] >= info.frames  # it comes back
        found += 1
    assert found >= 6


def test_slivers_below_min_visible_are_absent():
    slivers = 0
    for seed in range(6):
        _, strict = synthesize(seed, size=SIZE, frames=40, occlusion=0.5, exit=0.5, min_visible=0.0)
        _, info = synthesize(seed, size=SIZE, frames=40, occlusion=0.5, exit=0.5, min_visible=0.2)
        t_strict, t = strict.objects[0], info.objects[0]
        np.testing.assert_array_equal(t.present, t_strict.present & (t_strict.visible >= 0.2))
        slivers += int((t_strict.present & ~t.present).sum())
    assert slivers > 0


# --- backgrounds ---------------------------------------------------------------------------------


def test_photo_backgrounds_from_a_folder_are_used(clip, tmp_path):
    photos = tmp_path / "photos"
    (photos / "a").mkdir(parents=True)
    (photos / "b" / "c").mkdir(parents=True)
    # Two different real photos from the packaged clip: its first frame as a JPEG, and a 480x360 crop
    # of its last frame (another size, other content) as a PNG.
    shutil.copy(clip / "img" / "000001.jpg", photos / "a" / "one.jpg")
    last = cv2.imread(str(clip / "img" / "000100.jpg"))
    cv2.imwrite(str(photos / "b" / "c" / "two.png"), last[0:360, 80:560])
    (photos / "notes.txt").write_text("not an image")
    assert len(Backgrounds.from_folder(photos)) == 2

    used = set()
    for seed in range(6):
        images, info = synthesize(seed, backgrounds=photos, size=SIZE, frames=6, min_visible=0.0)
        bg = info.background
        source = Path(bg["source"])
        used.add(source.name)
        photo = cv2.cvtColor(cv2.imread(str(source)), cv2.COLOR_BGR2RGB)
        x, y, w, h = bg["crop"]
        canvas = cv2.resize(photo[y : y + h, x : x + w], tuple(bg["canvas"]),
                            interpolation=getattr(cv2, bg["interpolation"]))
        if bg["flip"]:
            canvas = canvas[:, ::-1]
        for t, image in enumerate(images):
            ox, oy = (int(v) for v in bg["offsets"][t])
            expected = canvas[oy : oy + SIZE[1], ox : ox + SIZE[0]]
            free = ~box_mask([o.boxes[t] for o in info.objects], image.shape)
            assert free.mean() > 0.3
            np.testing.assert_array_equal(image[free], expected[free])
    assert used == {"one.jpg", "two.png"}

    _, procedural = synthesize(0, size=SIZE, frames=2)
    assert procedural.background["source"] == "procedural"
    info = render_sequence(tmp_path / "seq", 3, backgrounds=photos, size=SIZE, frames=4)
    assert Path(info.background["source"]).name in (tmp_path / "seq" / "SOURCE.txt").read_text()


def test_procedural_backgrounds_vary_and_are_not_flat():
    firsts = [synthesize(seed, size=SIZE, frames=1, distractors=(0, 0), occlusion=0, exit=0)[0][0] for seed in range(3)]
    for image in firsts:
        assert image.std(axis=(0, 1)).max() > 5
    assert np.abs(firsts[0].astype(int) - firsts[1].astype(int)).mean() > 10


# --- arguments -------------------------------------------------------------------------


def test_bad_arguments_are_refused(tmp_path):
    with pytest.raises(ValueError):
        synthesize(-1)
    with pytest.raises(ValueError):
        synthesize(0, size=(10, 10))
    with pytest.raises(ValueError):
        synthesize(0, frames=0)
    with pytest.raises(ValueError):
        synthesize(0, occlusion=0.8, exit=0.5)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError):
        Backgrounds.from_folder(tmp_path / "empty")
    render_sequence(tmp_path / "seq", 1, size=SIZE, frames=2)
    with pytest.raises(FileExistsError):
        render_sequence(tmp_path / "seq", 1, size=SIZE, frames=2)
    render_sequence(tmp_path / "seq", 2, size=SIZE, frames=3, overwrite=True)
    assert len(list((tmp_path / "seq" / "img").iterdir())) == 3
