"""Failure sheets: spans where a tracker's box leaves the target, drawn on the packaged clip's frames."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from litetrack_core.data.load import load_dataset
from litetrack_core.eval.failures import FAILED_IOU, failure_sheet, failure_spans, kept_auc
from litetrack_core.eval.metrics import OVERLAP_THRESHOLDS, scored_overlaps, sequence_scores, success_auc


def test_spans_are_runs_of_low_overlap_while_the_target_is_visible():
    overlaps = np.array([0.8, 0.1, 0.1, 0.2, 0.0, 0.1, 0.9, 0.1, 0.1, 0.9, 0.2, 0.25, 0.05, 0.1, 0.1])
    visible = np.ones(len(overlaps), bool)
    visible[3] = False  # absent: neither breaks nor extends the first run
    spans = failure_spans(overlaps, visible, min_span=4)
    assert [(s.start, s.end, s.worst) for s in spans] == [(1, 5, 4), (10, 14, 12)]
    assert all(overlaps[s.worst] < FAILED_IOU for s in spans)
    assert failure_spans(overlaps, visible, min_span=6) == []


def test_kept_auc_fills_only_failure_spans_with_the_median_elsewhere():
    overlaps = np.full(60, 0.8)
    overlaps[:20] = 0.6  # the median of the frames outside the span is 0.8
    overlaps[30:40] = 0.0  # a failure span of 10 frames
    overlaps[50:53] = 0.1  # a dip too short to be a span: kept as it is
    visible = np.ones(60, bool)
    expected = overlaps.copy()
    expected[30:40] = 0.8
    rates = [(expected > t).mean() for t in OVERLAP_THRESHOLDS]
    assert kept_auc(overlaps, visible) == sum(rates) / len(rates)
    assert kept_auc(overlaps, visible) > success_auc(overlaps)
    untouched = np.full(60, 0.7)
    assert kept_auc(untouched, visible) == success_auc(untouched)


def test_success_auc_of_scored_overlaps_is_the_sequence_auc(clip):
    (seq,) = load_dataset(clip.parent, [clip.name])
    drifted = seq.ground_truth.copy()
    drifted[40:60, 0] += 3 * drifted[40:60, 2]
    drifted[0, 0] += 50  # frame 0 is the given box whatever the tracker wrote
    overlaps = scored_overlaps(drifted, seq.ground_truth, seq.absent)
    assert overlaps[0] == pytest.approx(1.0) and (overlaps[40:60] == 0.0).all()
    assert success_auc(overlaps) == sequence_scores(drifted, seq.ground_truth, seq.absent).auc


def _write_results(folder, name, tracker_boxes, baseline_boxes, tracker_auc, baseline_auc):
    for tracker, boxes in (("litetrack", tracker_boxes), ("csrt", baseline_boxes)):
        (folder / tracker).mkdir(parents=True, exist_ok=True)
        (folder / tracker / f"{name}.txt").write_text("".join(f"{x:.2f},{y:.2f},{w:.2f},{h:.2f}\n" for x, y, w, h in boxes))
    (folder / "summary.json").write_text(json.dumps({"trackers": {
        "litetrack": {"sequences": {name: {"auc": tracker_auc}}}, "csrt": {"sequences": {name: {"auc": baseline_auc}}}}}))


def test_a_sheet_is_drawn_where_the_box_leaves_the_walker(clip, tmp_path):
    (seq,) = load_dataset(clip.parent, [clip.name])
    drifted = seq.ground_truth.copy()
    drifted[40:60, 0] += 3 * drifted[40:60, 2]  # 20 frames three widths to the right of the walker
    path = failure_sheet(seq, {"litetrack": drifted, "csrt": seq.ground_truth}, "litetrack", tmp_path)
    assert path == tmp_path / f"{seq.name}.png"
    with Image.open(path) as image:
        assert image.format == "PNG" and image.size[0] >= 800
    assert failure_sheet(seq, {"litetrack": seq.ground_truth}, "litetrack", tmp_path / "none") is None


def test_the_command_explains_only_sequences_below_the_baseline(clip, tmp_path):
    (seq,) = load_dataset(clip.parent, [clip.name])
    drifted = seq.ground_truth.copy()
    drifted[40:60, 0] += 3 * drifted[40:60, 2]
    command = [sys.executable, "-m", "litetrack_core.cli", "failures", str(tmp_path / "results"), str(clip.parent),
               "--sequences", seq.name, "--baseline", "csrt", "--out", str(tmp_path / "sheets")]
    _write_results(tmp_path / "results", seq.name, drifted, seq.ground_truth, 0.6, 0.8)
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "sheets" / f"{seq.name}.png").is_file() and "1 failure sheets" in done.stdout
    now, kept = map(float, re.search(r"AUC ([\d.]+), ([\d.]+) if kept through its failure spans", done.stdout).groups())
    assert kept > now  # the 20 drifted frames, kept at the walker's IoU elsewhere
    _write_results(tmp_path / "results", seq.name, drifted, seq.ground_truth, 0.9, 0.8)  # ahead of the baseline
    (tmp_path / "sheets" / f"{seq.name}.png").unlink()
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and "0 failure sheets" in done.stdout


def test_results_that_do_not_match_the_sequence_are_skipped_with_the_reason(clip, tmp_path):
    (seq,) = load_dataset(clip.parent, [clip.name])
    _write_results(tmp_path / "results", seq.name, seq.ground_truth[:10], seq.ground_truth, 0.6, 0.8)
    done = subprocess.run([sys.executable, "-m", "litetrack_core.cli", "failures", str(tmp_path / "results"),
                           str(clip.parent), "--sequences", seq.name, "--baseline", "csrt", "--out", str(tmp_path / "s")],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and f"skipped {seq.name}" in done.stderr and "10 boxes" in done.stderr
