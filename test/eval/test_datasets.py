"""Dataset readers on sequences cut from the packaged real clip and on small LaSOT / TNL2K / OTB99-lang layouts."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from litetrack_core.data.load import load_dataset


@pytest.fixture(scope="module")
def real_frames(clip) -> list[Path]:
    """The first 3 frames of the packaged clip (640x480 JPEG)."""
    return sorted((clip / "img").glob("*.jpg"))[:3]


def _clip_part(clip: Path, folder: Path, first: int, count: int) -> None:
    """A sequence in this project's layout made of frames first..first+count-1 of the clip, renumbered
    from 1, with their ground-truth lines and the clip's sentence."""
    (folder / "img").mkdir(parents=True)
    for i in range(count):
        shutil.copy(clip / "img" / f"{first + i:06d}.jpg", folder / "img" / f"{i + 1:06d}.jpg")
    lines = (clip / "groundtruth.txt").read_text().splitlines()
    (folder / "groundtruth.txt").write_text("\n".join(lines[first - 1 : first - 1 + count]) + "\n")
    shutil.copy(clip / "language.txt", folder / "language.txt")


@pytest.fixture(scope="module")
def clip_root(clip, tmp_path_factory) -> Path:
    """A folder of three sequences in this project's layout, all cut from the packaged clip: the whole
    clip (copied as shipped), its frames 51-100 and its frames 1-20 (renumbered from 1)."""
    root = tmp_path_factory.mktemp("clip_sequences")
    shutil.copytree(clip, root / "jacket_full")
    _clip_part(clip, root / "jacket_late", 51, 50)
    _clip_part(clip, root / "jacket_early", 1, 20)
    return root


def _sequence(folder: Path, frames: list[Path], frames_dir: str, gt_name: str, gt_lines: list[str], names=None) -> None:
    (folder / frames_dir).mkdir(parents=True)
    for i, src in enumerate(frames, start=1):
        shutil.copy(src, folder / frames_dir / (names[i - 1] if names else f"{i:08d}.jpg"))
    (folder / gt_name).write_text("\n".join(gt_lines) + "\n")


GT3 = ["205,151,17,50", "202,150,19,49", "201,150,18,49"]


def test_project_layout_read_from_the_packaged_clip(clip, clip_root, real_frames):
    # The packaged clip folder itself is one sequence of this project's layout.
    assert [(s.name, len(s)) for s in load_dataset(clip)] == [("vtest_pale_jacket", 100)]

    sequences = load_dataset(clip_root)
    assert {s.name: len(s) for s in sequences} == {"jacket_early": 20, "jacket_full": 100, "jacket_late": 50}
    for seq in sequences:
        assert seq.ground_truth.shape == (len(seq), 4) and seq.ground_truth.dtype == np.float64
        assert seq.language and not seq.absent.any()
    full = next(s for s in sequences if s.name == "jacket_full")
    np.testing.assert_array_equal(full.ground_truth[0], [593.6, 189.7, 37.5, 68.4])  # line 1 of groundtruth.txt
    assert full.language == "the person in the light blue jacket"
    late = next(s for s in sequences if s.name == "jacket_late")
    np.testing.assert_array_equal(late.ground_truth, full.ground_truth[50:])  # the cut keeps boxes with frames
    frame = full.frame(0)
    assert frame.dtype == np.uint8 and frame.shape == (480, 640, 3)
    np.testing.assert_array_equal(frame, cv2.imread(str(real_frames[0]))[:, :, ::-1])  # RGB, not BGR
    np.testing.assert_array_equal(late.frame(0), full.frame(50))


def test_names_filter_and_single_sequence_folder(clip_root, caplog):
    with caplog.at_level(logging.WARNING):
        picked = load_dataset(clip_root, names=["jacket_late", "no_such_sequence"])
    assert [s.name for s in picked] == ["jacket_late"]
    assert "no_such_sequence" in caplog.text
    assert [s.name for s in load_dataset(clip_root / "jacket_early")] == ["jacket_early"]


def test_lasot_layout_with_absent_flags_and_a_broken_sequence(tmp_path, real_frames, caplog):
    seq = tmp_path / "airplane" / "airplane-1"
    _sequence(seq, real_frames, "img", "groundtruth.txt", GT3)
    (seq / "nlp.txt").write_text("white airplane landing on the runway\n")
    (seq / "full_occlusion.txt").write_text("0,1,0")
    (seq / "out_of_view.txt").write_text("0,0,1")
    _sequence(tmp_path / "airplane" / "airplane-2", real_frames, "img", "groundtruth.txt", GT3[:2])  # 2 lines, 3 frames
    with caplog.at_level(logging.WARNING):
        sequences = load_dataset(tmp_path)
    assert [s.name for s in sequences] == ["airplane-1"]
    assert "airplane-2" in caplog.text and "2 ground-truth lines for 3 frames" in caplog.text
    s = sequences[0]
    assert s.language == "white airplane landing on the runway"
    np.testing.assert_array_equal(s.absent, [False, True, True])
    np.testing.assert_array_equal(s.ground_truth[1], [202, 150, 19, 49])
    assert s.frame(2).shape == (480, 640, 3)


def test_tnl2k_layout_with_empty_language_and_broken_sequences(tmp_path, real_frames, caplog):
    # Names not zero-padded: numeric order must put 2 before 10.
    _sequence(tmp_path / "advSamp_Baseball", real_frames, "imgs", "groundtruth.txt", GT3, ["1.jpg", "2.jpg", "10.jpg"])
    (tmp_path / "advSamp_Baseball" / "language.txt").write_text("")
    _sequence(tmp_path / "Cartoon_Zero", real_frames, "imgs", "groundtruth.txt", ["0,0,0,0", *GT3[1:]])
    (tmp_path / "Cartoon_Zero" / "language.txt").write_text("  the boy in a red hat\n\n")
    _sequence(tmp_path / "no_frames", [], "imgs", "groundtruth.txt", GT3)
    _sequence(tmp_path / "bad_line", real_frames, "imgs", "groundtruth.txt", [GT3[0], "12,abc,3,4", GT3[2]])
    with caplog.at_level(logging.WARNING):
        sequences = {s.name: s for s in load_dataset(tmp_path)}
    assert sorted(sequences) == ["Cartoon_Zero", "advSamp_Baseball"]
    assert "no_frames" in caplog.text and "bad_line" in caplog.text and "line 2" in caplog.text
    baseball = sequences["advSamp_Baseball"]
    assert baseball.language is None
    assert [p.name for p in baseball.frame_paths] == ["1.jpg", "2.jpg", "10.jpg"]
    assert sequences["Cartoon_Zero"].language == "the boy in a red hat"
    np.testing.assert_array_equal(sequences["Cartoon_Zero"].absent, [True, False, False])


def test_otb99_lang_layout(tmp_path, real_frames, caplog):
    videos = tmp_path / "OTB_videos"
    _sequence(videos / "Biker", real_frames, "img", "groundtruth_rect.txt", [g.replace(",", "\t") for g in GT3],
              ["0001.jpg", "0002.jpg", "0003.jpg"])
    _sequence(videos / "Bird1", real_frames, "img", "groundtruth_rect.txt", ["205 151 17 50", *GT3[1:]],
              ["0001.jpg", "0002.jpg", "0003.jpg"])
    _sequence(videos / "TrainOnly", real_frames, "img", "groundtruth_rect.txt", GT3)
    queries = tmp_path / "OTB_query_test"
    queries.mkdir()
    (queries / "Biker.txt").write_text("a boy riding a bike\n")
    (queries / "Bird1.txt").write_text("the bird flying in the sky")
    (queries / "Ghost.txt").write_text("a video that is not there")
    with caplog.at_level(logging.WARNING):
        sequences = {s.name: s for s in load_dataset(tmp_path)}
    assert sorted(sequences) == ["Biker", "Bird1"]  # the test split named in OTB_query_test
    assert "Ghost" in caplog.text
    assert sequences["Biker"].language == "a boy riding a bike"
    for s in sequences.values():
        np.testing.assert_array_equal(s.ground_truth, [[205, 151, 17, 50], [202, 150, 19, 49], [201, 150, 18, 49]])


def test_unknown_layout_raises(tmp_path):
    (tmp_path / "just_a_folder").mkdir()
    with pytest.raises(ValueError, match="no known dataset layout"):
        load_dataset(tmp_path)
    with pytest.raises(ValueError, match="not a folder"):
        load_dataset(tmp_path / "missing")
