"""The target memory (models/memory.py, tracking/memory.py) on the packaged clip's real frames.

A tiny random asymmetric model keeps these fast: what they check (what is written and when, what
is evicted, that the first template's keys stay first and untouched, that an unwritten memory
changes nothing, that batches with empty slots equal batch 1 with only the filled ones) does not
depend on trained weights.
"""

from __future__ import annotations

import dataclasses
import json

import cv2
import numpy as np
import pytest
import torch

from conftest import tiny_config
from litetrack_core.cli import main as cli
from litetrack_core.data.load import load_dataset
from litetrack_core.eval.metrics import iou
from litetrack_core.models import create_model
from litetrack_core.models.litetrack import BBOX
from litetrack_core.models.memory import encode_memory, with_memory
from litetrack_core.models.text import TokenizedText
from litetrack_core.tracking.crop import box_in_crop, cell_mask, crop_around, to_model_input
from litetrack_core.tracking.load import load_tracker
from litetrack_core.tracking.memory import MemoryConfig, TargetMemory, overlap
from litetrack_core.tracking.tracker import Tracker, TrackerConfig
from litetrack_core.tracking.types import TrackState
from litetrack_core.weights.checkpoint import DEFAULT_CHECKPOINT

FIRST_BOX = (593.6, 189.7, 37.5, 68.4)  # the clip's groundtruth.txt, frame 1
SENTENCE = "the person in the light blue jacket"
# Every frame written (score and agreement floors at 0), every 5 frames, and read on every frame
# (its answers unchecked).
ALWAYS = dict(memory_score=0.0, memory_agreement=0.0, memory_interval=5, lost_after=0, memory_read="always",
              memory_check=0.0)


@pytest.fixture(scope="module")
def frames(clip):
    return [cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB) for p in sorted((clip / "img").glob("*.jpg"))[:40]]


@pytest.fixture(scope="module")
def sequence(clip):
    return load_dataset(clip)[0]


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return create_model(tiny_config(csa=True, asymmetric=True, prune_blocks=(1,), prune_score="attention"))


def _keys(tracker: Tracker) -> list[torch.Tensor]:
    """The keys (1, heads, N, d) per block that the tracker's memory-reading step reads (the first
    template's step's before any write)."""
    target = tracker._target
    return [kv.k for kv in (target.read_step or target.step).target.kv]


def test_eviction_keeps_the_first_template(model, frames):
    tracker = Tracker(model, TrackerConfig(memory_size=2, **ALWAYS))
    tracker.set_target(frames[0], box=FIRST_BOX)
    first = [k.clone() for k in _keys(tracker)]
    results = [tracker.track(f) for f in frames[1:31]]
    # Written on frames 5, 10, ..., 30; two kept.
    assert [r.memory_entries for r in results[4::5]] == [1, 2, 2, 2, 2, 2]
    assert [r.memory_last_write for r in results[4::5]] == [5, 10, 15, 20, 25, 30]
    # The two entries are the last two writes, oldest first: each the target's cells of a template crop cut
    # around the tracker's box on a frame of its interval (frames 21-25, 26-30; the most confident agreeing
    # one), the older writes evicted.
    def encoded(frame: int) -> torch.Tensor:
        box = results[frame - 1].box_xywh_px
        crop = crop_around(frames[frame], box, model.cfg.template_factor, model.cfg.template_size)
        cells = torch.from_numpy(cell_mask(box_in_crop(box, crop.side_px), model.cfg.template_grid))
        with torch.no_grad():
            return encode_memory(model, to_model_input(crop.image).unsqueeze(1), cells.view(1, 1, -1))[0].k

    older = [encoded(f) for f in range(21, 26)]
    newer = [encoded(f) for f in range(26, 31)]
    keys = _keys(tracker)[0]
    matches = [(a, b) for a in older for b in newer
               if keys.shape[2] == first[0].shape[2] + a.shape[2] + b.shape[2]
               and torch.allclose(keys[:, :, first[0].shape[2]:], torch.cat([a, b], dim=2), atol=1e-5)]
    assert matches
    assert all(k.shape[2] < model.cfg.template_grid**2 for k in older + newer)  # the box's cells, not the crop's
    for before, now in zip(first, _keys(tracker)):
        assert torch.equal(now[:, :, : before.shape[2]], before)  # the first template's keys, first and intact
    evicted = [encoded(f) for f in range(1, 21)]
    assert not any(e.shape == a.shape and torch.allclose(e, a, atol=1e-5) for e in evicted for a, _ in matches)


def test_nothing_is_written_while_lost(model, frames):
    # Every frame weak (lost_score 1): LOST from frame 2 on, so nothing reaches the memory.
    config = TrackerConfig(memory_size=3, memory_score=0.0, memory_agreement=0.0, memory_interval=1,
                           lost_score=1.0, lost_after=2, regrounding=False)
    tracker = Tracker(model, config)
    tracker.set_target(frames[0], box=FIRST_BOX)
    results = [tracker.track(f) for f in frames[1:12]]
    assert results[0].state is TrackState.TRACKING and results[0].memory_entries == 1  # frame 1: still tracking
    assert all(r.state is TrackState.LOST for r in results[1:])
    assert all(r.memory_entries == 1 and r.memory_last_write == 1 for r in results[1:])


@pytest.mark.parametrize("floor", [dict(memory_score=1.0, memory_agreement=0.0), dict(memory_score=0.0, memory_agreement=1.0)],
                         ids=["score", "agreement"])
def test_nothing_is_written_below_the_thresholds(model, frames, floor):
    # Words in the step: agreement is then measured against the template and the words.
    tracker = Tracker(model, TrackerConfig(memory_size=3, memory_interval=1, lost_after=0, words_in_step=True, **floor))
    tracker.set_target(frames[0], text=SENTENCE, box=FIRST_BOX)
    results = [tracker.track(f) for f in frames[1:15]]
    assert all(r.score < 1.0 for r in results)  # a score floor of 1 is never reached
    assert all(r.memory_entries == 0 and r.memory_last_write == -1 for r in results)


def test_an_unwritten_memory_and_memory_size_0_give_the_same_boxes(model, frames):
    off = Tracker(model, TrackerConfig(lost_after=0))
    assert off.config.memory_size == 0  # off by default
    unwritten = Tracker(model, TrackerConfig(memory_size=3, memory_score=1.0, lost_after=0))
    written = Tracker(model, TrackerConfig(memory_size=3, **ALWAYS))
    boxes = []
    for tracker in (off, unwritten, written):
        tracker.set_target(frames[0], box=FIRST_BOX)
        boxes.append([tracker.track(f).box_xywh_px for f in frames[1:20]])
        assert tracker.track(frames[20]).memory_entries == (0 if tracker is not written else 3)
    assert boxes[0] == boxes[1]  # exactly: the memory's bookkeeping never touches the loop
    assert boxes[2][:5] == boxes[0][:5]  # the first write is on frame 5 ...
    assert boxes[2] != boxes[0]  # ... and what is written is read


def test_read_weak_reads_the_memory_only_on_frames_after_a_weak_one(model, frames):
    """memory_read "weak": a frame reads the memory when the one before scored under memory_score
    (and something was written); the tiny model's scores on the clip lie around 0.42, so a floor
    of 0.42 makes frames of both kinds."""
    floor = 0.42
    tracker = Tracker(model, TrackerConfig(memory_size=2, memory_score=floor, memory_agreement=0.0, memory_interval=1,
                                           lost_after=0))
    assert tracker.config.memory_read == "weak"  # the default
    tracker.set_target(frames[0], box=FIRST_BOX)
    results = [tracker.track(f) for f in frames[1:30]]
    expected = [False] + [r.score < floor and r.memory_entries > 0 for r in results[:-1]]
    assert [r.memory_read for r in results] == expected
    assert any(expected) and not all(expected[2:])  # frames that read it and frames that did not


def test_read_weak_leaves_a_confident_track_as_without_a_memory(model, frames):
    """Every frame scores above a floor of 0 and is written, so "weak" never reads the memory: the
    boxes are exactly those without one, while the bank fills (and "always" reads it: other boxes)."""
    written = dict(memory_size=2, memory_score=0.0, memory_agreement=0.0, memory_interval=1, lost_after=0)
    boxes = {}
    for name, config in (("off", TrackerConfig(lost_after=0)), ("weak", TrackerConfig(**written)),
                         ("always", TrackerConfig(**written, memory_read="always"))):
        tracker = Tracker(model, config)
        tracker.set_target(frames[0], box=FIRST_BOX)
        results = [tracker.track(f) for f in frames[1:20]]
        boxes[name] = [r.box_xywh_px for r in results]
        assert results[-1].memory_entries == (0 if name == "off" else 2)
        assert any(r.memory_read for r in results) == (name == "always")
    assert boxes["weak"] == boxes["off"]
    assert boxes["always"] != boxes["off"]


def test_a_box_moved_by_the_memory_is_checked_against_the_first_template(model, frames):
    """memory_check: an answer found reading the memory whose box overlaps the last box by IoU under
    the check is compared with the first template's own answer on the same crop, which stands where
    the two disagree (IoU < 0.5). At 1.0 every read answer is checked: up to the first overruled
    frame the boxes are those of no check, and there the box taken is another place."""
    results = {}
    for check in (0.0, 1.0):
        tracker = Tracker(model, TrackerConfig(memory_size=3, **{**ALWAYS, "memory_check": check}))
        tracker.set_target(frames[0], box=FIRST_BOX)
        results[check] = [tracker.track(f) for f in frames[1:40]]
    unchecked, checked = results[0.0], results[1.0]
    assert not any(r.memory_overruled for r in unchecked)
    overruled = [i for i, r in enumerate(checked) if r.memory_overruled]
    assert overruled and all(checked[i].memory_read for i in overruled)
    first = overruled[0]
    assert [r.box_xywh_px for r in checked[:first]] == [r.box_xywh_px for r in unchecked[:first]]
    moved = iou(np.array([checked[first].box_xywh_px]), np.array([unchecked[first].box_xywh_px]))[0]
    assert moved < 0.5


def test_the_check_doubts_boxes_that_moved_and_overrules_those_elsewhere():
    memory = TargetMemory(MemoryConfig(size=1, check=0.5), torch.ones(1, 4), torch.ones(1))
    last = (0.0, 0.0, 10.0, 10.0)
    assert overlap(last, last) == pytest.approx(1.0)
    assert overlap(last, (5.0, 0.0, 10.0, 10.0)) == pytest.approx(50 / 150)  # half of each: 50 px of 150
    assert overlap(last, (20.0, 0.0, 10.0, 10.0)) == 0.0
    assert not memory.doubts((1.0, 0.0, 10.0, 10.0), last)  # IoU 0.82
    assert memory.doubts((5.0, 0.0, 10.0, 10.0), last)
    assert memory.overrules((5.0, 0.0, 10.0, 10.0), last) and not memory.overrules((1.0, 0.0, 10.0, 10.0), last)
    never = TargetMemory(MemoryConfig(size=1, check=0.0), torch.ones(1, 4), torch.ones(1))
    assert not never.doubts((20.0, 0.0, 10.0, 10.0), last)


def test_memory_needs_an_asymmetric_model(frames):
    exact = create_model(tiny_config(csa=True))
    with pytest.raises(ValueError, match="memory_size needs an asymmetric model"):
        Tracker(exact, TrackerConfig(memory_size=2))
    for bad, message in [(dict(memory_size=-1), "memory_size=-1"), (dict(memory_interval=0), "memory_interval=0"),
                         (dict(memory_score=1.5), "memory_score=1.5"), (dict(memory_read="never"), "memory_read='never'"),
                         (dict(memory_check=-0.1), "memory_check=-0.1")]:
        with pytest.raises(ValueError, match=message):
            TrackerConfig(**bad)


def test_masked_cells_in_a_batch_equal_batch_one_with_only_the_read_cells(model):
    """Training batches hide empty slots and the cells outside each box with masks; the tracker (batch 1)
    passes only the read cells."""
    cfg = model.cfg
    g = torch.Generator().manual_seed(0)
    z = torch.randn(1, 3, cfg.template_size, cfg.template_size, generator=g)
    x = torch.randn(1, 3, cfg.search_size, cfg.search_size, generator=g)
    memory = torch.randn(1, 3, 3, cfg.template_size, cfg.template_size, generator=g)
    ids = torch.zeros(1, cfg.max_text_tokens, dtype=torch.long)
    cells = torch.from_numpy(cell_mask(np.array([0.3, 0.2, 0.4, 0.6], np.float32), cfg.template_grid))
    mask = torch.zeros(2, 3, cfg.template_grid**2, dtype=torch.bool)
    mask[0, :2] = cells  # two filled slots; the second sample has none
    model.eval()
    with torch.no_grad():
        one = model.encode_target(z, TokenizedText(ids, ids), torch.tensor([BBOX]))
        read = encode_memory(model, memory[:, :2], mask[:1, :2])
        assert read[0].k.shape[2] == 2 * int(cells.sum()) and read[0].visible is None
        alone = model.forward_backbone(with_memory(one, read), x, with_logits=False)
        bare = model.forward_backbone(one, x, with_logits=False)
        two = model.encode_target(z.repeat(2, 1, 1, 1), TokenizedText(ids.repeat(2, 1), ids.repeat(2, 1)),
                                  torch.tensor([BBOX, BBOX]))
        batch = model.forward_backbone(with_memory(two, encode_memory(model, memory.repeat(2, 1, 1, 1, 1), mask)),
                                       x.repeat(2, 1, 1, 1), with_logits=False)
    torch.testing.assert_close(batch.search[0], alone.search[0], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(batch.search[1], bare.search[0], atol=1e-5, rtol=1e-5)  # no slot filled: no memory
    assert (alone.search - bare.search).abs().max() > 1e-3


def test_the_onnx_engine_reads_the_memory_as_torch_does(model, frames):
    pytest.importorskip("onnxruntime")
    config = TrackerConfig(memory_size=2, **ALWAYS)
    trackers = [Tracker(model, config), Tracker(model, config, engine="onnxruntime")]
    results = []
    for tracker in trackers:
        tracker.set_target(frames[0], box=FIRST_BOX)
        results.append([tracker.track(f) for f in frames[1:16]])
    assert results[1][-1].memory_entries == 2
    np.testing.assert_allclose(np.array([r.box_xywh_px for r in results[0]]),
                               np.array([r.box_xywh_px for r in results[1]]), atol=0.05)


def test_regrounding_scores_the_sentences_candidates_with_the_memory(sequence):
    """The default model and the object detector: the target written to the memory, then LOST (black
    frames); on a real frame moved 300 px left, its old place blacked out, re-grounding takes the
    sentence's proposals scored by the tracking step that reads the memory ("memory") and finds the
    person again; without a memory, the proposals alone ("proposals")."""
    truth = sequence.ground_truth
    moved = np.roll(sequence.frame(11), -300, axis=1)
    for size, path in ((2, "memory"), (0, "proposals")):
        config = TrackerConfig(memory_size=size, memory_score=0.0, memory_agreement=0.0, memory_interval=5,
                               lost_after=1, reground_every=1)
        tracker = load_tracker(tracker_config=config)
        assert tracker.grounder is not None
        tracker.set_target(sequence.frame(0), text=sequence.language, box=tuple(truth[0]))
        assert [tracker.track(sequence.frame(i)).memory_entries for i in range(1, 11)][-1] == size
        black = np.zeros_like(moved)
        lost = [tracker.track(black) for _ in range(2)]
        assert all(r.state is TrackState.LOST for r in lost)
        x, y, w, h = lost[-1].box_xywh_px
        frame = moved.copy()
        cx, cy = x + w / 2, y + h / 2  # its search region (4x the box) blacked out
        frame[int(max(0, cy - 2.5 * h)):int(cy + 2.5 * h), int(max(0, cx - 2.5 * w)):int(cx + 2.5 * w)] = 0
        found = tracker.track(frame)
        assert found.grounding == path and found.regrounded and found.state is TrackState.TRACKING
        assert iou(np.array([found.box_xywh_px]), truth[11:12] - (300, 0, 0, 0))[0] > 0.7


def test_regrounding_falls_back_to_the_best_proposal_with_one_detector_run(sequence):
    """With a memory whose candidates all fail the step's score (``lost_score`` raised to 1
    after the target is lost), re-grounding takes the sentence's best proposal, from the same single
    run of the object detector that ranked the memory's candidates."""
    truth = sequence.ground_truth
    config = TrackerConfig(memory_size=2, memory_score=0.0, memory_agreement=0.0, memory_interval=5,
                           lost_after=1, reground_every=1)
    tracker = load_tracker(tracker_config=config)
    tracker.set_target(sequence.frame(0), text=sequence.language, box=tuple(truth[0]))
    assert [tracker.track(sequence.frame(i)).memory_entries for i in range(1, 11)][-1] == 2
    black = np.zeros_like(sequence.frame(0))
    assert tracker.track(black).state is TrackState.LOST
    detector, runs = tracker.grounder.detector, []
    tracker.grounder._detector = lambda frame: runs.append(1) or detector(frame)  # counts the runs
    tracker.config = dataclasses.replace(config, lost_score=1.0)  # no step score reaches it
    found = tracker.track(sequence.frame(80))
    assert found.grounding == "proposals" and found.regrounded and len(runs) == 1
    assert iou(np.array([found.box_xywh_px]), truth[80:81])[0] > 0.7


def test_bench_times_memory_sizes_as_cases_and_samples_resident_memory(tmp_path, capsys):
    out = tmp_path / "bench.json"
    args = ["bench", "--checkpoint", str(DEFAULT_CHECKPOINT), "--memory-size", "0", "3", "--frames", "30",
            "--warmup", "2", "--threads", "2", "--json", str(out)]
    assert cli([*args, "--attention", "exact"]) == 2
    assert "needs --attention asymmetric" in capsys.readouterr().err
    assert cli([*args, "--attention", "asymmetric"]) == 0
    report = json.loads(out.read_text())
    assert [r["memory_size"] for r in report["rows"]] == [0, 3]
    assert report["rows"][1]["case"].endswith("memory 3")
    assert all(r["step_vs_torch"] == 1.0 for r in report["rows"])  # each against itself: no memory-0 mix-up
    # The memory case against the case without one, on the calls its next frame would make: they read the
    # memory (written within the 32 frames), so their features differ.
    assert 0.0 <= report["rows"][1]["same_cell"] <= 1.0 and report["rows"][1]["target_cos"] < 0.9999
    assert [n for n, _ in report["rss_mib"]] == [0, 30] and all(m > 0 for _, m in report["rss_mib"])
