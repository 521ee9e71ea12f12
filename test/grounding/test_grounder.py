"""Grounding by words through proposals, in the tracker, on real frames."""

from __future__ import annotations

import logging

import cv2
import numpy as np
import pytest

from litetrack_core.eval.metrics import iou
from litetrack_core.grounding.grounder import RankingWeights, part_box, part_place
from litetrack_core.tracking import tracker as tracker_module
from litetrack_core.tracking.tracker import load_tracker


@pytest.fixture(scope="module")
def tracker():
    return load_tracker(device="cpu")


def _first(shared_data, name):
    seq = shared_data / "sequences" / name
    frame = cv2.cvtColor(cv2.imread(str(seq / "img/000001.jpg")), cv2.COLOR_BGR2RGB)
    truth = np.array([float(v) for v in (seq / "groundtruth.txt").read_text().splitlines()[0].split(",")])
    return frame, truth


def test_the_person_in_dark_clothes_is_found_by_proposals(tracker, shared_data):
    frame, truth = _first(shared_data, "crossing_otb")
    result = tracker.set_target(frame, text="the person in dark clothes")
    assert result.grounding == "proposals" and 0 < result.grounding_score <= 1
    assert iou(np.array([result.box_xywh_px]), truth[None])[0] > 0.5


def test_words_with_a_box_keep_the_box(tracker, shared_data):
    frame, truth = _first(shared_data, "crossing_otb")
    result = tracker.set_target(frame, text="the person in dark clothes", box=tuple(truth))
    assert result.grounding == "" and np.allclose(result.box_xywh_px, truth)


def test_no_class_named_falls_back_to_the_model(tracker, shared_data):
    frame, _ = _first(shared_data, "deer_otb")
    result = tracker.set_target(frame, text="the head of the deer running through the water")
    assert result.grounding == "model"


def test_without_the_detector_the_model_grounds_and_says_so_once(shared_data, monkeypatch, tmp_path, caplog):
    monkeypatch.setenv("LITETRACK_DETECTOR_DIR", str(tmp_path))  # an empty folder: nothing installed
    monkeypatch.setattr(tracker_module, "_warned_no_detector", False)
    with caplog.at_level(logging.WARNING):
        first = load_tracker(device="cpu")
        second = load_tracker(device="cpu")
    assert first.grounder is None and second.grounder is None
    assert caplog.text.count("grounding by words uses the model alone") == 1
    frame, _ = _first(shared_data, "crossing_otb")
    assert first.set_target(frame, text="the person in dark clothes").grounding == "model"


def test_part_boxes_scale_with_the_person():
    person = (100.0, 50.0, 40.0, 120.0)
    head = (112.0, 52.0, 16.0, 18.0)
    place = part_place(person, head)
    assert np.allclose(part_box(person, place), head)
    wide = (0.0, 0.0, 80.0, 60.0)  # the same place on a person twice as wide: a part twice as large
    assert np.allclose(part_box(wide, place)[2:], (32.0, 36.0))


def test_the_packaged_ranking_is_fitted():
    weights = RankingWeights.load()
    assert any(w != 0 for w in weights.weights) and "face" in weights.parts
