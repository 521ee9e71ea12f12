"""Training layouts read by ``load_dataset``: small real datasets on disk (frames copied
from the packaged clip, 640x480), each with broken sequences that must be skipped with a warning naming them."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from litetrack_core.data.load import load_dataset


@pytest.fixture(scope="module")
def frames(clip) -> list[Path]:
    """The first 5 frames of the packaged clip (640x480 JPEG)."""
    return sorted((clip / "img").glob("*.jpg"))[:5]


@pytest.fixture(scope="module")
def boxes(clip) -> list[str]:
    """The real 'x,y,w,h' lines of the first 5 frames."""
    return (clip / "groundtruth.txt").read_text().splitlines()[:5]


def _frames(folder: Path, frames: list[Path], n: int, names: list[str] | None = None, png: bool = False) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        name = names[i] if names else f"{i + 1:08d}.jpg"
        if png:
            cv2.imwrite(str(folder / name), cv2.imread(str(frames[i])))
        else:
            shutil.copy(frames[i], folder / name)


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def _lasot(seq: Path, frames: list[Path], boxes: list[str], n: int = 4, nlp: str | None = "a white plane",
           occlusion: str | None = "0,0,0,0", out_of_view: str | None = "0,0,0,0") -> None:
    _frames(seq / "img", frames, n)
    _write(seq / "groundtruth.txt", "\n".join(boxes[:n]) + "\n")
    for name, text in (("nlp.txt", nlp), ("full_occlusion.txt", occlusion), ("out_of_view.txt", out_of_view)):
        if text is not None:
            _write(seq / name, text + "\n")


def _skipped(caplog, name: str, why: str) -> bool:
    return any(f"skipping sequence {name} " in r.getMessage() and why in r.getMessage() for r in caplog.records)


def test_lasot_class_folders_flags_and_broken_sequences(tmp_path, frames, boxes, caplog):
    root = tmp_path / "LaSOTBenchmark"
    _lasot(root / "airplane" / "airplane-1", frames, boxes, occlusion="0,1,0,0", out_of_view="0,0,0,1")
    _lasot(root / "airplane" / "airplane-2", frames, boxes, nlp=None)  # read, language None
    _lasot(root / "airplane" / "airplane-3", frames, boxes)
    (root / "airplane" / "airplane-3" / "img" / "00000002.jpg").unlink()  # a frame missing
    _lasot(root / "bird" / "bird-1", frames, boxes)
    _write(root / "bird" / "bird-1" / "groundtruth.txt", "\n".join([*boxes[:2], "1,2,3,4,5", boxes[3]]))
    _lasot(root / "bird" / "bird-2", frames, boxes)
    _write(root / "bird" / "bird-2" / "groundtruth.txt", "\n".join([*boxes[:2], "12,abc,3,4", boxes[3]]))
    _lasot(root / "bird" / "bird-3", frames, boxes, occlusion="0,0,1")  # 3 flags for 4 frames
    _lasot(root / "bird" / "bird-4", frames, boxes, out_of_view=None)  # read, absence from boxes
    _lasot(root / "bird" / "bird-5", frames, boxes, occlusion="1,1,1,1")  # never visible
    (root / "bird" / "bird-6").mkdir()  # no img/ at all

    with caplog.at_level(logging.WARNING):
        sequences = {s.name: s for s in load_dataset(root)}

    assert sorted(sequences) == ["airplane-1", "airplane-2", "bird-4"]
    plane = sequences["airplane-1"]
    assert plane.language == "a white plane" and len(plane) == 4
    np.testing.assert_array_equal(plane.absent, [False, True, False, True])
    np.testing.assert_array_equal(plane.ground_truth[0], [float(v) for v in boxes[0].split(",")])
    assert plane.frame(3).shape == (480, 640, 3)

    assert sequences["airplane-2"].language is None
    assert any("airplane-2" in r.getMessage() and "nlp.txt" in r.getMessage() and "is missing" in r.getMessage()
               for r in caplog.records)
    assert any("bird-4" in r.getMessage() and "no out_of_view.txt" in r.getMessage() for r in caplog.records)
    assert not sequences["bird-4"].absent.any()

    assert _skipped(caplog, "airplane-3", "4 ground-truth lines for 3 frames (frame numbers missing: 2)")
    assert _skipped(caplog, "bird-1", "line 3 has 5 values")
    assert _skipped(caplog, "bird-2", "line 3 is not numbers")
    assert _skipped(caplog, "bird-3", "full_occlusion.txt must hold 4 flags")
    assert _skipped(caplog, "bird-5", "visible in no frame")
    assert _skipped(caplog, "bird-6", "no frames")


def test_lasot_without_class_folders(tmp_path, frames, boxes, caplog):
    _lasot(tmp_path / "cat-1", frames, boxes, nlp="a black cat")
    _lasot(tmp_path / "cat-2", frames, boxes, nlp=None, occlusion=None, out_of_view=None)
    _lasot(tmp_path / "cat-3", frames, boxes)
    shutil.rmtree(tmp_path / "cat-3" / "img")
    _frames(tmp_path / "cat-3" / "img", frames, 4, [f"{i:08d}.jpg" for i in (2, 3, 4, 5)])  # not from 1
    with caplog.at_level(logging.WARNING):
        sequences = {s.name: s for s in load_dataset(tmp_path)}
    assert sorted(sequences) == ["cat-1", "cat-2"]
    assert sequences["cat-1"].language == "a black cat" and sequences["cat-2"].language is None
    assert _skipped(caplog, "cat-3", "frames must be numbered 1..4: frame 1 is 00000002.jpg")
    assert "cat-2" in caplog.text and "nlp.txt" in caplog.text


def test_tnl2k_language_edge_cases_parts_and_splits(tmp_path, frames, boxes, caplog):
    def tnl2k(seq: Path, language: str | None, n: int = 3, png: bool = False) -> None:
        _frames(seq / "imgs", frames, n, [f"{i + 1:05d}.{'png' if png else 'jpg'}" for i in range(n)], png=png)
        _write(seq / "groundtruth.txt", "\n".join(boxes[:3]) + "\n")
        if language is not None:
            _write(seq / "language.txt", language)

    root = tmp_path / "TNL2K_test"
    tnl2k(root / "Arrow_Video_ZZ04_done", "the arrow flying to the target\n", png=True)
    tnl2k(root / "BF5_Blade_video_01-Done", "   \n")  # EMPTY: read, language None
    tnl2k(root / "Cartoon_video_03", None)  # missing: read, language None
    tnl2k(root / "Dog_video_02", "a dog", n=2)  # a frame missing
    (root / "Empty_video" / "imgs").mkdir(parents=True)
    _write(root / "Empty_video" / "groundtruth.txt", "\n".join(boxes[:3]))
    with caplog.at_level(logging.WARNING):
        sequences = {s.name: s for s in load_dataset(root)}
    assert sorted(sequences) == ["Arrow_Video_ZZ04_done", "BF5_Blade_video_01-Done", "Cartoon_video_03"]
    arrow = sequences["Arrow_Video_ZZ04_done"]
    assert arrow.language == "the arrow flying to the target"
    assert [p.suffix for p in arrow.frame_paths] == [".png"] * 3 and arrow.frame(0).shape == (480, 640, 3)
    assert sequences["BF5_Blade_video_01-Done"].language is None
    assert sequences["Cartoon_video_03"].language is None
    messages = [r.getMessage() for r in caplog.records]
    assert any("BF5_Blade_video_01-Done" in m and "language.txt is empty" in m for m in messages)
    assert any("Cartoon_video_03" in m and "language.txt is missing" in m for m in messages)
    assert _skipped(caplog, "Dog_video_02", "3 ground-truth lines for 2 frames")
    assert _skipped(caplog, "Empty_video", "no frames")

    # The train set as distributed in parts: merged.
    parts = tmp_path / "TNL2K_train"
    tnl2k(parts / "TNL2K_train_subset_p1" / "Assassin_video_1-Done", "a man in black")
    tnl2k(parts / "TNL2K_train_subset_p2" / "Bike_video_02", "the red bike")
    assert [s.name for s in load_dataset(parts)] == ["Assassin_video_1-Done", "Bike_video_02"]

    # train/ and test/ under one root: a split must be chosen.
    splits = tmp_path / "TNL2K_CVPR2021"
    tnl2k(splits / "train" / "Assassin_video_1-Done", "a man in black")
    tnl2k(splits / "test" / "advSamp_Baseball_game_002-Done", "the baseball")
    with pytest.raises(ValueError, match="pass split="):
        load_dataset(splits)
    assert [s.name for s in load_dataset(splits, split="test")] == ["advSamp_Baseball_game_002-Done"]
    assert [s.name for s in load_dataset(splits, split="train")] == ["Assassin_video_1-Done"]
    with pytest.raises(ValueError, match="no 'val' split"):
        load_dataset(splits, split="val")


def _otb(video: Path, frames: list[Path], names: list[str], gt: dict[str, str]) -> None:
    _frames(video / "img", frames, len(names), names)
    for name, text in gt.items():
        _write(video / name, text)


def test_otb99_lang_splits_two_target_and_partly_annotated_videos(tmp_path, frames, boxes, caplog):
    four = [f"{i:04d}.jpg" for i in range(1, 4)]
    comma = "\n".join(boxes[:3]) + "\n"
    tab = "\n".join(b.replace(",", "\t") for b in boxes[:3])
    videos = tmp_path / "OTB_videos"
    _otb(videos / "Basketball", frames, four, {"groundtruth_rect.txt": comma})
    space = "\n".join(b.replace(",", " ") for b in boxes[:3])
    _otb(videos / "Jogging", frames, four, {"groundtruth_rect.1.txt": tab, "groundtruth_rect.2.txt": space})
    _otb(videos / "David", frames, [f"{i:04d}.jpg" for i in range(298, 303)], {"groundtruth_rect.txt": comma})
    _otb(videos / "Human4", frames, four, {"groundtruth_rect1.txt": "", "groundtruth_rect.2.txt": comma})
    mixed = "\n".join([boxes[0].replace(",", "\t"), boxes[1].replace(",", " "), boxes[2].replace(",", "\t")])
    _otb(videos / "BlurCar1", frames, [f"{i:04d}.jpg" for i in range(247, 250)], {"groundtruth_rect.txt": mixed})
    _otb(videos / "Bolt", frames, four, {"groundtruth_rect.txt": "\n".join(boxes[:2])})  # a line missing
    train, test = tmp_path / "OTB_query_train", tmp_path / "OTB_query_test"
    for name, sentence in (("Basketball", "the player in green"), ("Jogging-1", "a woman jogging"),
                           ("David", "a man walking in the dark"), ("Human4", "a man crossing"),
                           ("BlurCar1", ""), ("Bolt", "the runner in front")):
        _write(train / f"{name}.txt", sentence + "\n")
    _write(test / "Jogging-2.txt", "the man jogging behind\n")

    with caplog.at_level(logging.WARNING):
        sequences = {s.name: s for s in load_dataset(tmp_path, split="train")}
    assert sorted(sequences) == ["Basketball", "BlurCar1", "David", "Human4", "Jogging-1"]
    expected = np.array([[float(v) for v in b.split(",")] for b in boxes[:3]])
    for s in sequences.values():
        np.testing.assert_array_equal(s.ground_truth, expected)
    assert sequences["Jogging-1"].language == "a woman jogging"
    assert [p.name for p in sequences["David"].frame_paths] == ["0300.jpg", "0301.jpg", "0302.jpg"]
    assert [p.name for p in sequences["BlurCar1"].frame_paths] == ["0247.jpg", "0248.jpg", "0249.jpg"]
    assert sequences["BlurCar1"].language is None
    assert any("BlurCar1" in r.getMessage() and "is empty" in r.getMessage() for r in caplog.records)
    assert _skipped(caplog, "Bolt", "2 ground-truth lines for 3 frames")

    test_split = load_dataset(tmp_path)  # default: the test split, as before
    assert [(s.name, s.language) for s in test_split] == [("Jogging-2", "the man jogging behind")]
    with pytest.raises(ValueError, match="train and test"):
        load_dataset(tmp_path, split="val")


def test_otb100_folders_without_language(tmp_path, frames, boxes, caplog):
    four = [f"{i:04d}.jpg" for i in range(1, 4)]
    _otb(tmp_path / "Basketball", frames, four, {"groundtruth_rect.txt": "\n".join(boxes[:3])})
    _otb(tmp_path / "Skating2", frames, four, {"groundtruth_rect.1.txt": "\n".join(boxes[:3]),
                                               "groundtruth_rect.2.txt": "\n".join(boxes[1:4])})
    _otb(tmp_path / "Board", frames, [f"{i:05d}.jpg" for i in range(1, 4)], {"groundtruth_rect.txt": "a,b,c,d\n"})
    with caplog.at_level(logging.WARNING):
        sequences = {s.name: s for s in load_dataset(tmp_path)}
    assert sorted(sequences) == ["Basketball", "Skating2-1", "Skating2-2"]
    assert all(s.language is None for s in sequences.values())
    np.testing.assert_array_equal(sequences["Skating2-2"].ground_truth[0], [float(v) for v in boxes[1].split(",")])
    assert _skipped(caplog, "Board", "line 1 is not numbers")
    assert "language" not in caplog.text  # OTB-100 has no sentences: nothing to warn about


def _got10k(seq: Path, frames: list[Path], boxes: list[str], n: int = 4, absence: str = "0\n0\n0\n0",
            cover: str = "8\n8\n8\n8", gt_lines: int | None = None) -> None:
    _frames(seq, frames, n)
    _write(seq / "groundtruth.txt", "\n".join(boxes[: gt_lines or n]) + "\n")
    _write(seq / "absence.label", absence + "\n")
    _write(seq / "cover.label", cover + "\n")
    _write(seq / "cut_by_image.label", "\n".join("0" * n) + "\n")
    _write(seq / "meta_info.ini", "[METAINFO]\nobject_class: person\nmotion_class: walking\nresolution: (640, 480)\n")


def test_got10k_splits_labels_and_broken_sequences(tmp_path, frames, boxes, caplog):
    train = tmp_path / "train"
    _got10k(train / "GOT-10k_Train_000001", frames, boxes, absence="0\n1\n0\n0", cover="8\n0\n0\n5")
    _got10k(train / "GOT-10k_Train_000002", frames, boxes, absence="0\n0\n0")  # 3 labels for 4 frames
    _got10k(train / "GOT-10k_Train_000003", frames, boxes)
    (train / "GOT-10k_Train_000003" / "00000003.jpg").unlink()
    _got10k(train / "GOT-10k_Train_000004", frames, boxes, cover="8\n9\n8\n8")  # cover is 0..8
    _got10k(train / "GOT-10k_Train_000006", frames, boxes)  # on disk but not in list.txt: not read
    _write(train / "list.txt", "\n".join(f"GOT-10k_Train_{i:06d}" for i in range(1, 6)) + "\n")  # 5 is missing
    _got10k(tmp_path / "val" / "GOT-10k_Val_000001", frames, boxes)
    _got10k(tmp_path / "test" / "GOT-10k_Test_000001", frames, boxes, gt_lines=1)  # first frame only

    with pytest.raises(ValueError, match="pass split="):
        load_dataset(tmp_path)
    with caplog.at_level(logging.WARNING):
        sequences = load_dataset(tmp_path, split="train")
    assert [s.name for s in sequences] == ["GOT-10k_Train_000001"]
    seq = sequences[0]
    assert seq.language is None and len(seq) == 4 and seq.frame(0).shape == (480, 640, 3)
    np.testing.assert_array_equal(seq.absent, [False, True, True, False])  # absence 1, or cover 0
    assert _skipped(caplog, "GOT-10k_Train_000002", "absence.label must hold 4")
    assert _skipped(caplog, "GOT-10k_Train_000003", "4 ground-truth lines for 3 frames (frame numbers missing: 3)")
    assert _skipped(caplog, "GOT-10k_Train_000004", "cover.label value 2 is '9', expected an integer 0..8")
    assert _skipped(caplog, "GOT-10k_Train_000005", "no folder")
    assert "GOT-10k_Train_000006" not in caplog.text

    assert [s.name for s in load_dataset(tmp_path / "val")] == ["GOT-10k_Val_000001"]  # a split folder itself
    assert [s.name for s in load_dataset(train, names=["GOT-10k_Train_000001"])] == ["GOT-10k_Train_000001"]
    assert [s.name for s in load_dataset(train / "GOT-10k_Train_000001")] == ["GOT-10k_Train_000001"]
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        assert load_dataset(tmp_path, split="test") == []
    assert _skipped(caplog, "GOT-10k_Test_000001", "annotates frame 1 only")


def test_split_refused_where_there_are_no_split_folders(tmp_path, frames, boxes):
    _lasot(tmp_path / "train" / "train-1", frames, boxes)  # LaSOT's class 'train' is no split
    _lasot(tmp_path / "zebra" / "zebra-1", frames, boxes)
    assert [s.name for s in load_dataset(tmp_path)] == ["train-1", "zebra-1"]
    with pytest.raises(ValueError, match="neither OTB99-lang nor a folder of split folders"):
        load_dataset(tmp_path, split="train")
