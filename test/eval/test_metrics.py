"""OPE metrics against hand-computed cases (pytracking / LaSOT toolkit conventions)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from litetrack_core.eval.metrics import (
    OVERLAP_THRESHOLDS,
    aggregate,
    centre_error,
    iou,
    normalised_centre_error,
    sequence_scores,
)

GT = np.array([10.0, 10.0, 20.0, 20.0])  # x 10..29, y 10..29 with x2 = x + w - 1; centre (19.5, 19.5)


def boxes(*rows) -> np.ndarray:
    return np.array(rows, dtype=np.float64).reshape(-1, 4)


def test_thresholds_are_the_toolkits_21_values():
    assert len(OVERLAP_THRESHOLDS) == 21
    assert OVERLAP_THRESHOLDS[0] == 0.0 and OVERLAP_THRESHOLDS[-1] == 1.0
    assert OVERLAP_THRESHOLDS[12] == 0.6  # the double nearest 0.6, as 300 / 500 below


def test_perfect_track_scores_20_of_21():
    # IoU 1.0 on every frame: > t for t = 0 .. 0.95 (20 thresholds), not > 1.0 (strict, as both toolkits).
    gt = np.tile(GT, (5, 1))
    s = sequence_scores(gt.copy(), gt)
    assert s.success_curve == (1.0,) * 20 + (0.0,)
    assert s.auc == pytest.approx(20 / 21)
    assert s.precision_20px == 1.0 and s.norm_precision_020 == 1.0
    assert s.frames == 5 and s.sequences == 1


def test_constant_offset_hand_computed():
    # Prediction shifted 5 px right on frames 1..4 (frame 0 is the given box):
    # intersection x: max(10, 15) = 15 .. min(29, 34) = 29 -> 15 px; y: 20 px -> 300.
    # union = 400 + 400 - 300 = 500 -> IoU = 0.6. Centre error 5 px; normalised 5 / 20 = 0.25.
    gt = np.tile(GT, (5, 1))
    pred = gt + [5.0, 0.0, 0.0, 0.0]
    np.testing.assert_allclose(iou(pred, gt), 0.6)
    np.testing.assert_allclose(centre_error(pred, gt), 5.0)
    np.testing.assert_allclose(normalised_centre_error(pred, gt), 0.25)
    s = sequence_scores(pred, gt)
    # t = 0 .. 0.55 (12 thresholds): all 5 frames; t = 0.6 .. 0.95 (8): only frame 0, as 0.6 > 0.6 is
    # false; t = 1.0: none. AUC = (12 * 1 + 8 * 0.2) / 21 = 13.6 / 21.
    assert s.success_curve[11] == 1.0 and s.success_curve[12] == pytest.approx(0.2)
    assert s.auc == pytest.approx(13.6 / 21)
    assert s.precision_20px == 1.0
    assert s.precision_curve[4] == pytest.approx(0.2) and s.precision_curve[5] == 1.0
    assert s.norm_precision_020 == pytest.approx(0.2)  # 0.25 > 0.20: only frame 0
    assert s.norm_precision_curve[25] == 1.0


def test_centre_uses_size_minus_one_convention():
    # gt centre (10 + 19/2, 10 + 19/2) = (19.5, 19.5); pred (0, 0, 40, 40) centre (19.5, 19.5).
    # IoU = 400 / 1600 = 0.25 (gt lies inside the prediction).
    pred, gt = boxes([0, 0, 40, 40]), boxes(GT)
    assert centre_error(pred, gt)[0] == 0.0
    assert iou(pred, gt)[0] == pytest.approx(0.25)


def test_frame_zero_is_the_given_box():
    gt = np.tile(GT, (4, 1))
    pred = gt.copy()
    pred[0] = [500, 500, 1, 1]  # ignored: frame 0 is replaced by the ground truth and still counted
    assert sequence_scores(pred, gt).auc == pytest.approx(20 / 21)


def test_absent_frames_count_as_failures():
    # Frames 2 (all-zero ground truth), 3 (NaN) and 4 (flagged absent) are in the denominator and fail
    # even where the prediction equals the ground truth: 2 of 5 frames succeed.
    gt = boxes(GT, GT, [0, 0, 0, 0], [np.nan] * 4, GT)
    absent = np.array([False, False, False, False, True])
    pred = np.nan_to_num(gt)
    assert np.isinf(centre_error(pred, gt)[2:4]).all()
    s = sequence_scores(pred, gt, absent)
    assert s.success_curve[0] == pytest.approx(0.4)
    assert s.auc == pytest.approx(0.4 * 20 / 21)
    assert s.precision_20px == pytest.approx(0.4) and s.norm_precision_020 == pytest.approx(0.4)
    assert s.frames == 5


def test_zero_and_negative_size_predictions_score_iou_zero_without_crashing():
    # pred (20, 20, 0, 0): centre (20 - 0.5, 20 - 0.5) = (19.5, 19.5) -> error 0 px, IoU 0.
    # pred (30, 30, -10, -10): centre (30 - 5.5, 30 - 5.5) = (24.5, 24.5) -> error 5 * sqrt(2), IoU 0.
    # pred NaN: IoU 0, infinite error.
    pred = boxes([20, 20, 0, 0], [30, 30, -10, -10], [np.nan] * 4)
    gt = np.tile(GT, (3, 1))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_array_equal(iou(pred, gt), [0.0, 0.0, 0.0])
        np.testing.assert_allclose(centre_error(pred, gt), [0.0, 5 * np.sqrt(2), np.inf])
        s = sequence_scores(np.vstack([GT, pred]), np.tile(GT, (4, 1)))
    assert s.success_curve[0] == pytest.approx(0.25)  # frame 0 only
    assert s.precision_20px == pytest.approx(0.75)  # frames 0, 1, 2


def test_aggregate_averages_per_sequence_curves_not_frames():
    # A: 2 frames, perfect -> rate 1 for t < 1. B: 4 frames, frames 1..3 far off -> rate 1/4 for t < 1.
    # Mean of curves: (1 + 0.25) / 2 = 0.625 (pooling the 6 frames would give 3 / 6 = 0.5).
    a = sequence_scores(np.tile(GT, (2, 1)), np.tile(GT, (2, 1)))
    far = np.tile(GT + [200, 200, 0, 0], (4, 1))
    far[0] = GT
    b = sequence_scores(far, np.tile(GT, (4, 1)))
    total = aggregate([a, b])
    assert total.success_curve[0] == pytest.approx(0.625)
    assert total.auc == pytest.approx(0.625 * 20 / 21) == pytest.approx((a.auc + b.auc) / 2)
    assert total.precision_20px == pytest.approx(0.625)
    assert total.frames == 6 and total.sequences == 2


def test_bad_inputs_raise_value_error():
    with pytest.raises(ValueError, match="shape"):
        iou(boxes(GT), boxes(GT, GT))
    with pytest.raises(ValueError, match=r"\(N, 4\)"):
        sequence_scores(np.zeros((3, 5)), np.zeros((3, 5)))
    with pytest.raises(ValueError, match="absent"):
        sequence_scores(boxes(GT), boxes(GT), np.zeros(2, bool))
    with pytest.raises(ValueError, match="at least one"):
        aggregate([])
