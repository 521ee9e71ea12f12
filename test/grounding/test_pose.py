"""Head keypoints for part words: MoveNet Lightning run by our TF.js executor equals TensorFlow.js
(fixtures/movenet_reference.npz, see fixtures/README.md), and part boxes follow the head."""

from __future__ import annotations

import hashlib
from pathlib import Path

import cv2
import numpy as np
import pytest

from litetrack_core.grounding.pose import HEAD, PoseEstimator, part_box, part_place, pose_input
from litetrack_core.tracking.load import load_tracker

REPO = Path(__file__).resolve().parents[2]
REFERENCE = np.load(Path(__file__).parent / "fixtures" / "movenet_reference.npz")


@pytest.fixture(scope="module")
def pose(movenet_json) -> PoseEstimator:
    return PoseEstimator(movenet_json.parent)


def _rgb(path: Path) -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)


@pytest.mark.parametrize("index", range(len(REFERENCE["paths"])))
def test_movenet_equals_tensorflow_js(pose, index):
    frame = _rgb(REPO / str(REFERENCE["paths"][index]))
    box = tuple(REFERENCE["boxes"][index])
    image, (x0, y0, side) = pose_input(frame, box)
    # Both runtimes were given the same crop: ours is reproduced bit for bit.
    assert hashlib.sha1(image.numpy().astype("<i4").tobytes()).hexdigest() == str(REFERENCE["input_sha1"][index])
    out = pose.graph.run({"input": image}, ["Identity"])["Identity"][0, 0].numpy()
    reference = REFERENCE["keypoints"][index]  # y, x in 0..1 of the crop, score
    assert np.abs(out[:, :2] - reference[:, :2]).max() < 1e-4  # 0.02 px of the 192-pixel input
    assert np.abs(out[:, 2] - reference[:, 2]).max() < 1e-4
    keypoints = pose(frame, box)  # in frame pixels
    assert np.allclose(keypoints[:, 0], x0 + reference[:, 1] * side, atol=0.05)
    assert np.allclose(keypoints[:, 1], y0 + reference[:, 0] * side, atol=0.05)


@pytest.mark.parametrize("index", range(len(REFERENCE["paths"])))
def test_the_head_keypoints_lie_at_the_top_of_the_person(pose, index):
    frame = _rgb(REPO / str(REFERENCE["paths"][index]))
    x, y, w, h = REFERENCE["boxes"][index]  # the clip's walker, head to feet
    head = pose(frame, (x, y, w, h))[list(HEAD)]
    assert np.all((head[:, 0] > x - 0.1 * w) & (head[:, 0] < x + 1.1 * w))
    assert np.all((head[:, 1] > y - 0.05 * h) & (head[:, 1] < y + 0.2 * h))


def test_part_boxes_follow_the_head_and_scale_with_it():
    keypoints = np.zeros((17, 3))
    keypoints[list(HEAD)] = [[100, 60, 0.9], [104, 56, 0.9], [96, 56, 0.9], [110, 58, 0.9], [90, 58, 0.9]]
    face = (88.0, 44.0, 24.0, 30.0)
    place = part_place(keypoints, face)
    assert np.allclose(part_box(keypoints, place), face)
    # The same head twice as large, moved: the part box doubles and moves with it.
    larger = keypoints.copy()
    larger[:, :2] = keypoints[:, :2] * 2 + [50, 10]
    assert np.allclose(part_box(larger, place), (88.0 * 2 + 50, 44.0 * 2 + 10, 48.0, 60.0))
    # A keypoint the model is unsure of does not move the box.
    unsure = keypoints.copy()
    unsure[0] = [300, 300, 0.05]
    assert np.allclose(part_box(unsure, place)[2:], face[2:], rtol=0.3)


def test_a_part_word_boxes_the_head_of_the_person_it_names(clip):
    tracker = load_tracker(device="cpu")
    frame = _rgb(clip / "img" / "000011.jpg")
    x, y, w, h = [float(v) for v in (clip / "groundtruth.txt").read_text().splitlines()[10].split(",")]
    whole = tracker.set_target(frame, text="the person in the light blue jacket")
    head = tracker.set_target(frame, text="the head of the person in the light blue jacket")
    assert whole.grounding == head.grounding == "proposals"
    hx, hy, hw, hh = head.box_xywh_px
    assert x < hx + hw / 2 < x + w and y - 0.05 * h < hy + hh / 2 < y + 0.25 * h  # in the top of the person
    assert hw * hh < 0.25 * w * h
