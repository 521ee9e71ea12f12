"""The OPE runner and the ``eval`` command end to end, with OpenCV's CSRT on real frames."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from litetrack_core.eval.baselines import CsrtTracker
from litetrack_core.cli import main
from litetrack_core.data.load import load_dataset
from litetrack_core.eval.runner import evaluate, run_sequence
from litetrack_core.tracking.types import TrackState

FRAMES = 15


@pytest.fixture(scope="module")
def dataset(clip, tmp_path_factory) -> Path:
    """The first 15 frames of the packaged clip ('pale_jacket'), and the same frames without a sentence
    ('nolang'), both copied into tmp_path."""
    root = tmp_path_factory.mktemp("sequences")
    gt = (clip / "groundtruth.txt").read_text().splitlines()[:FRAMES]
    for name in ("pale_jacket", "nolang"):
        (root / name / "img").mkdir(parents=True)
        for frame in sorted((clip / "img").glob("*.jpg"))[:FRAMES]:
            shutil.copy(frame, root / name / "img" / frame.name)
        (root / name / "groundtruth.txt").write_text("\n".join(gt) + "\n")
    shutil.copy(clip / "language.txt", root / "pale_jacket" / "language.txt")
    return root


def _eval_command(argv: list[str]) -> int:
    return main(["eval", *argv])


def test_eval_command_csrt_bbox_end_to_end(dataset, tmp_path, capsys):
    out = tmp_path / "out"
    rc = _eval_command([str(dataset), "--mode", "bbox", "--sequences", "pale_jacket",
                        "--no-litetrack", "--baseline", "csrt", "--out", str(out)])
    assert rc == 0
    assert "pale_jacket" in capsys.readouterr().out

    lines = (out / "csrt" / "pale_jacket.txt").read_text().splitlines()
    assert len(lines) == FRAMES
    assert lines[0] == "593.60,189.70,37.50,68.40"  # frame 0 is the given box (line 1 of groundtruth.txt)
    assert all(len(line.split(",")) == 4 for line in lines)

    summary = json.loads((out / "summary.json").read_text())
    seq = summary["trackers"]["csrt"]["sequences"]["pale_jacket"]
    assert seq["frames"] == FRAMES and seq["fps"] > 0
    # CSRT holds the jacket for 15 frames, into the cover of the walker in black (frames 13-16).
    assert 0.5 < seq["auc"] <= 20 / 21 and seq["precision_20px"] == 1.0
    assert summary["trackers"]["csrt"]["overall"]["auc"] == pytest.approx(seq["auc"])
    assert summary["overall_sequences"] == ["pale_jacket"]
    assert "overall (1 sequences)" in (out / "summary.txt").read_text()

    for png in ("overall_success", "overall_precision", "sequences/pale_jacket_success",
                "sequences/pale_jacket_precision"):
        image = cv2.imread(str(out / "plots" / f"{png}.png"))
        assert image is not None and image.ndim == 3 and min(image.shape[:2]) > 100


def test_eval_command_refuses_nl_with_box_only_baseline(dataset, tmp_path, capsys):
    rc = _eval_command([str(dataset), "--mode", "nl", "--no-litetrack", "--baseline", "csrt", "--out", str(tmp_path)])
    assert rc == 2 and "no tracker to run in mode nl" in capsys.readouterr().err


@pytest.mark.parametrize("keep", ["0", "1.5"])
def test_eval_command_refuses_a_bad_keep_ratio(dataset, tmp_path, capsys, keep):
    rc = _eval_command([str(dataset), "--mode", "bbox", "--keep-ratio", keep, "--out", str(tmp_path)])
    assert rc == 2 and f"keep_ratio={float(keep)} must be in (0, 1]" in capsys.readouterr().err


def test_failures_and_missing_sentences_are_recorded_not_fatal(dataset, tmp_path, caplog):
    # nl mode: 'nolang' is skipped (no sentence); CSRT refuses to start without a box -> recorded as failed.
    with caplog.at_level(logging.WARNING):
        summary = evaluate({"csrt": CsrtTracker}, load_dataset(dataset), "nl", tmp_path)
    assert summary["skipped"] == {"nolang": "no language sentence"}
    assert summary["trackers"]["csrt"]["failed"]["pale_jacket"].startswith("ValueError")
    assert summary["trackers"]["csrt"]["overall"] is None
    assert "csrt failed on sequence pale_jacket" in caplog.text and "nolang" in caplog.text
    assert "FAILED" in (tmp_path / "summary.txt").read_text()
    assert not (tmp_path / "csrt" / "pale_jacket.txt").exists()


def test_run_sequence_and_bad_mode(dataset):
    seq = load_dataset(dataset, ["pale_jacket"])[0]
    boxes, fps = run_sequence(CsrtTracker(), seq, "bbox")
    assert boxes.shape == (FRAMES, 4) and fps > 0
    # The clip's boxes have decimals: the tracker's corner round trip may move them by float rounding only.
    np.testing.assert_allclose(boxes[0], seq.ground_truth[0], rtol=0, atol=1e-9)
    with pytest.raises(ValueError, match="mode must be one of"):
        run_sequence(CsrtTracker(), seq, "box")
    nolang = load_dataset(dataset, ["nolang"])[0]
    with pytest.raises(ValueError, match="needs a language sentence"):
        run_sequence(CsrtTracker(), nolang, "nlbbox")


def test_csrt_contract(dataset):
    seq = load_dataset(dataset, ["pale_jacket"])[0]
    tracker = CsrtTracker()
    with pytest.raises(RuntimeError):
        tracker.track(seq.frame(0))
    with pytest.raises(ValueError, match="needs box"):
        tracker.set_target(seq.frame(0), text="the person")
    with pytest.raises(ValueError, match="RGB uint8"):
        tracker.set_target(seq.frame(0).astype(np.float32), box=(593.6, 189.7, 37.5, 68.4))
    first = tracker.set_target(seq.frame(0), box=(593.6, 189.7, 37.5, 68.4))
    assert first.frame_index == 0 and first.state is TrackState.TRACKING
    # A flat grey frame has nothing to correlate with: CSRT reports failure -> last box, LOST, score 0.
    lost = tracker.track(np.full_like(seq.frame(0), 128))
    assert lost.state is TrackState.LOST and lost.score == 0.0 and lost.frame_index == 1
    assert lost.box_xywh_px == first.box_xywh_px


def test_nl_mode_reports_the_first_frame_grounding(dataset, tmp_path):
    from conftest import tiny_config
    from litetrack_core.eval.metrics import iou
    from litetrack_core.models import create_model
    from litetrack_core.tracking.tracker import Tracker

    model = create_model(tiny_config(csa=True))
    seq = load_dataset(dataset, ["pale_jacket"])[0]
    summary = evaluate({"litetrack": lambda: Tracker(model)}, [seq], "nl", tmp_path)
    entry = summary["trackers"]["litetrack"]
    first = [float(v) for v in (tmp_path / "litetrack" / "pale_jacket.txt").read_text().splitlines()[0].split(",")]
    expected = iou(np.array([first]), seq.ground_truth[:1].astype(np.float64))[0]
    assert entry["sequences"]["pale_jacket"]["grounding_iou"] == pytest.approx(expected, abs=0.01)  # file: 2 decimals
    assert entry["overall"]["grounded"] == int(expected > 0.5)
    assert "IoU@0" in (tmp_path / "summary.txt").read_text()
    # bbox mode starts from the box: no grounding column.
    bbox = evaluate({"csrt": CsrtTracker}, [seq], "bbox", tmp_path / "bbox")
    assert "grounding_iou" not in bbox["trackers"]["csrt"]["sequences"]["pale_jacket"]
