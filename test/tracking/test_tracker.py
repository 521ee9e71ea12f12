"""The Tracker API end to end on real frames: modes, caching, bad input, LOST and re-grounding.

A tiny random model keeps these fast; what they check (control flow, shapes, coordinates,
errors, state transitions) does not depend on trained weights.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
import torch

from conftest import tiny_config
from litetrack_core.models import create_model
from litetrack_core.tracking.tracker import Tracker, TrackerConfig
from litetrack_core.tracking.types import TrackState

SENTENCE = "the person in the light blue jacket"  # the packaged clip's language.txt
FIRST_BOX = (593.6, 189.7, 37.5, 68.4)  # its groundtruth.txt, frame 1


@pytest.fixture(scope="module")
def frames(clip):
    """The packaged clip's 100 frames, RGB."""
    return [cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB) for p in sorted((clip / "img").glob("*.jpg"))]


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return create_model(tiny_config(csa=True))


def _calls(module: torch.nn.Module) -> list[int]:
    """A real forward hook counting how often ``module`` runs."""
    count = [0]
    module.register_forward_hook(lambda *_: count.__setitem__(0, count[0] + 1))
    return count


def _free_and_changed(model, frames, clip, **changes):
    """Two trackers started on frame 50 of the clip (the walker mid-frame, no clipping at the border)
    from its groundtruth.txt box: one with the loop's size and shape rules off, one with ``changes``
    over those. The start box, the trackers and their results on frame 51."""
    start = tuple(float(v) for v in (clip / "groundtruth.txt").read_text().splitlines()[49].split(","))
    free = dict(lost_after=0, scale_lr=1.0, scale_step=0.0, aspect_anchor=0.0)
    trackers = Tracker(model, TrackerConfig(**free)), Tracker(model, TrackerConfig(**{**free, **changes}))
    for tracker in trackers:
        tracker.set_target(frames[49], box=start)
    a, b = (tracker.track(frames[50]) for tracker in trackers)
    assert a.cell_index == b.cell_index  # the same choice of cell on the same frame
    return start, trackers, a, b


def test_scale_lr_moves_the_size_part_of_the_way_and_leaves_the_centre(model, frames, clip):
    start, _, a, b = _free_and_changed(model, frames, clip, scale_lr=0.25)
    (ax, ay, aw, ah), (bx, by, bw, bh) = a.box_xywh_px, b.box_xywh_px
    assert abs(aw - start[2]) > 1 and abs(ah - start[3]) > 1  # the model did change the size
    assert bw == pytest.approx(start[2] + 0.25 * (aw - start[2]))
    assert bh == pytest.approx(start[3] + 0.25 * (ah - start[3]))
    assert (bx + bw / 2, by + bh / 2) == pytest.approx((ax + aw / 2, ay + ah / 2))


def test_scale_step_bounds_the_size_change_of_one_frame_and_leaves_the_centre(model, frames, clip):
    start, (_, bounded), a, b = _free_and_changed(model, frames, clip, scale_step=0.05)
    (ax, ay, aw, ah), (bx, by, bw, bh) = a.box_xywh_px, b.box_xywh_px
    for model_side, side, first in ((aw, bw, start[2]), (ah, bh, start[3])):
        assert abs(math.log(model_side / first)) > math.log(1.05)  # the model changed it by more than the bound
        assert side == pytest.approx(first * 1.05 if model_side > first else first / 1.05)
    assert (bx + bw / 2, by + bh / 2) == pytest.approx((ax + aw / 2, ay + ah / 2))
    for frame in frames[51:54]:  # and on every later frame, from the box the tracker holds
        last = b.box_xywh_px
        b = bounded.track(frame)
        for now, before in zip(b.box_xywh_px[2:], last[2:]):
            assert 1 / 1.05 - 1e-9 <= now / before <= 1.05 + 1e-9


@pytest.mark.parametrize("anchor", [0.5, 1.0])
def test_aspect_anchor_pulls_the_shape_to_the_first_frames_and_keeps_area_and_centre(model, frames, clip, anchor):
    start, _, a, b = _free_and_changed(model, frames, clip, aspect_anchor=anchor)
    (ax, ay, aw, ah), (bx, by, bw, bh) = a.box_xywh_px, b.box_xywh_px
    first, model_aspect = start[2] / start[3], aw / ah
    assert abs(math.log(model_aspect / first)) > 0.05  # the model did change the shape
    assert bw / bh == pytest.approx(first**anchor * model_aspect ** (1 - anchor))
    assert bw * bh == pytest.approx(aw * ah)
    assert (bx + bw / 2, by + bh / 2) == pytest.approx((ax + aw / 2, ay + ah / 2))


@pytest.mark.parametrize("text,box", [(None, FIRST_BOX), (SENTENCE, None), (SENTENCE, FIRST_BOX)], ids=["bbox", "nl", "nlbbox"])
def test_every_mode_runs_on_real_frames(model, frames, text, box):
    tracker = Tracker(model, TrackerConfig(lost_after=0))
    first = tracker.set_target(frames[0], text=text, box=box)
    assert first.frame_index == 0 and first.state is TrackState.TRACKING
    if box is not None:
        assert first.box_xywh_px == pytest.approx(box)
        assert math.isnan(first.score)
    else:
        assert 0.0 <= first.score <= 1.0  # grounding's confidence
    h, w = frames[0].shape[:2]
    for i, frame in enumerate(frames[1:6], start=1):
        r = tracker.track(frame)
        x, y, bw, bh = r.box_xywh_px
        assert r.frame_index == i and 0 <= r.score <= 1 and 0 <= r.cell_index < model.cfg.search_grid**2
        assert 0 <= x and 0 <= y and bw >= 1 and bh >= 1 and x + bw <= w + 1e-6 and y + bh <= h + 1e-6
        assert r.timing.preprocess_ms > 0 and r.timing.model_ms > 0 and r.timing.postprocess_ms >= 0


@pytest.mark.parametrize("words_in_step", [True, False])
def test_target_is_encoded_once(model, frames, words_in_step):
    """Text and template embeddings run in set_target only; track runs the search alone. Words kept
    out of the step are encoded for re-grounding, and the step gets the empty text's encoding."""
    text_runs = _calls(model.text.bert.embeddings)
    patch_runs = _calls(model.patch_embed)
    tracker = Tracker(model, TrackerConfig(words_in_step=words_in_step))
    tracker.set_target(frames[0], text=SENTENCE, box=FIRST_BOX)
    after_init = (text_runs[0], patch_runs[0])
    for frame in frames[1:5]:
        tracker.track(frame)
    assert text_runs[0] == after_init[0] == (1 if words_in_step else 2)
    assert patch_runs[0] - after_init[1] == 4  # one search crop per frame, no template


@pytest.mark.parametrize(
    "frame,message",
    [
        (None, "frame is None"),
        (np.zeros((0, 10, 3), np.uint8), "frame is empty"),
        (np.zeros((10, 10), np.uint8), r"shape \(H, W, 3\)"),
        (np.zeros((10, 10, 4), np.uint8), r"shape \(H, W, 3\)"),
        (np.zeros((10, 10, 3), np.float32), "must be uint8"),
        ([[1, 2, 3]], "numpy array"),
    ],
)
def test_bad_frames_are_refused(model, frames, frame, message):
    tracker = Tracker(model)
    with pytest.raises(ValueError, match=message):
        tracker.set_target(frame, box=FIRST_BOX)
    tracker.set_target(frames[0], box=FIRST_BOX)
    with pytest.raises(ValueError, match=message):
        tracker.track(frame)
    assert tracker.track(frames[1]).frame_index == 1  # a refused frame loses nothing


@pytest.mark.parametrize(
    "box,message",
    [
        ((700.0, 10.0, 20.0, 20.0), "lies outside the 640x480 frame"),
        ((-50.0, 10.0, 20.0, 20.0), "lies outside"),
        ((10.0, 10.0, 0.0, 20.0), "size must be positive"),
        ((10.0, 10.0, -5.0, 20.0), "size must be positive"),
        ((10.0, 10.0, float("nan"), 20.0), "must be finite"),
        ((10.0, 10.0, 20.0), "4 numbers"),
        ("abcd", "4 numbers"),
    ],
)
def test_bad_boxes_are_refused(model, frames, box, message):
    with pytest.raises(ValueError, match=message):
        Tracker(model).set_target(frames[0], box=box)


def test_other_misuse(model, frames):
    tracker = Tracker(model)
    with pytest.raises(RuntimeError, match="call set_target"):
        tracker.track(frames[0])
    with pytest.raises(ValueError, match="needs text, a box, or both"):
        tracker.set_target(frames[0])
    with pytest.raises(ValueError, match="non-empty sentence"):
        tracker.set_target(frames[0], text="  ")
    with pytest.raises(ValueError, match="lost_after"):
        TrackerConfig(lost_after=-1)
    tracker.set_target(frames[0], box=FIRST_BOX)
    tracker.reset()
    assert not tracker.has_target


# The jacket's box in frame 41 of the clip (groundtruth.txt), in the columns that ``_leaving`` keeps.
LEAVING_BOX = (313.3 - 130.0, 145.1, 27.8, 60.5)


@pytest.mark.parametrize("words_in_step", [True, False])
def test_words_with_a_box_condition_the_step_unless_kept_for_regrounding(model, frames, words_in_step):
    """Words + box: with ``words_in_step`` off, every frame is tracked as in box mode, to the pixel;
    on, the words change what the model finds."""
    box_only, both = Tracker(model, TrackerConfig(lost_after=0)), Tracker(model, TrackerConfig(
        lost_after=0, words_in_step=words_in_step))
    box_only.set_target(frames[0], box=FIRST_BOX)
    both.set_target(frames[0], text=SENTENCE, box=FIRST_BOX)
    assert both.target_text == SENTENCE
    pairs = [(box_only.track(f), both.track(f)) for f in frames[1:6]]
    same = all(a.box_xywh_px == b.box_xywh_px and a.score == b.score for a, b in pairs)
    assert same is not words_in_step


def _leaving(frames):
    """Frames 41..100 of the clip cropped to columns 130..639: the person in the light blue jacket
    walks out on the left (~frame 71, index 30 here) and stays out."""
    return [np.ascontiguousarray(f[:, 130:]) for f in frames[40:100]]


def test_target_leaving_the_frame_keeps_boxes_inside(model, frames):
    cut = _leaving(frames)
    tracker = Tracker(model, TrackerConfig(lost_after=0))
    tracker.set_target(cut[0], box=LEAVING_BOX)
    h, w = cut[0].shape[:2]
    for frame in cut[1:]:
        x, y, bw, bh = tracker.track(frame).box_xywh_px
        assert x >= 0 and y >= 0 and x + bw <= w + 1e-6 and y + bh <= h + 1e-6


@pytest.mark.parametrize("words_in_step", [True, False])
def test_lost_and_regrounding_transitions(model, frames, words_in_step):
    """With every frame weak (lost_score 1), LOST comes after ``lost_after`` frames; words bring the
    target back on every ``reground_every``-th lost frame (reground_score 0: always confident),
    whether or not they condition each frame's step."""
    cut = _leaving(frames)
    config = TrackerConfig(lost_score=1.0, lost_after=2, reground_every=2, reground_score=0.0, words_in_step=words_in_step)
    tracker = Tracker(model, config)
    tracker.set_target(cut[0], text=SENTENCE, box=LEAVING_BOX)
    results = [tracker.track(f) for f in cut[1:9]]
    assert [r.state.value for r in results] == ["TRACKING", "LOST", "TRACKING"] * 2 + ["TRACKING", "LOST"]
    assert [r.regrounded for r in results] == [False, False, True] * 2 + [False, False]


def test_box_only_targets_stay_lost(model, frames):
    cut = _leaving(frames)
    tracker = Tracker(model, TrackerConfig(lost_score=1.0, lost_after=2, reground_every=1, reground_score=0.0))
    tracker.set_target(cut[0], box=LEAVING_BOX)
    states = [tracker.track(f).state for f in cut[1:6]]
    assert states == [TrackState.TRACKING] + [TrackState.LOST] * 4


def test_grounding_confidence_gates_resumption(model, frames):
    cut = _leaving(frames)
    tracker = Tracker(model, TrackerConfig(lost_score=1.0, lost_after=1, reground_every=1, reground_score=1.0))
    tracker.set_target(cut[0], text=SENTENCE, box=LEAVING_BOX)
    results = [tracker.track(f) for f in cut[1:5]]
    assert all(r.state is TrackState.LOST and not r.regrounded for r in results)


def test_bf16_autocast_tracks(model, frames):
    tracker = Tracker(model, TrackerConfig(lost_after=0), precision="bf16")
    tracker.set_target(frames[0], text=SENTENCE, box=FIRST_BOX)
    result = tracker.track(frames[1])
    assert all(math.isfinite(v) for v in result.box_xywh_px) and 0 <= result.score <= 1
    with pytest.raises(ValueError, match="precision 'int4'"):
        Tracker(model, precision="int4")


def test_a_frame_enters_autocast_and_no_grad_once(model, frames, monkeypatch):
    # Each entry costs host time on every frame: one of each around all of the frame's model work
    # (the step, a prompt update, a re-grounding), plus, on a frame that looks for the words again,
    # the float32 (autocast off) of the grounding itself.
    config = TrackerConfig(lost_score=1.0, lost_after=1, reground_every=2, update_interval=1, update_score=0.0)
    tracker = Tracker(model, config, precision="bf16")
    tracker.set_target(frames[0], text=SENTENCE, box=FIRST_BOX)
    entered = {"autocast": 0, "no_grad": 0}
    for name, kind in (("autocast", torch.autocast), ("no_grad", torch.no_grad)):
        def counting(self, _enter=kind.__enter__, _name=name):
            entered[_name] += 1
            return _enter(self)

        monkeypatch.setattr(kind, "__enter__", counting)
    looked = []
    for frame in frames[1:4]:
        entered.update(autocast=0, no_grad=0)
        result = tracker.track(frame)
        looked.append(result.grounding == "model")  # the words were looked for again on this frame
        assert entered == {"autocast": 1 + looked[-1], "no_grad": 1}
    assert any(looked) and not all(looked)
