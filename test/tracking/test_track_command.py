"""`litetrack track` end to end: real frames in, an annotated video and one box per frame out."""

from __future__ import annotations

import shutil

import cv2
import pytest
import torch

from conftest import tiny_config
from litetrack_core.cli import main
from litetrack_core.models import create_model
from litetrack_core.weights.checkpoint import save_checkpoint

FRAMES = 8
BOX = "593.6,189.7,37.5,68.4"  # the packaged clip's groundtruth.txt, frame 1


@pytest.fixture(scope="module")
def frames_folder(clip, tmp_path_factory):
    """The first 8 frames of the packaged clip, copied into a folder of their own."""
    folder = tmp_path_factory.mktemp("frames")
    for f in sorted((clip / "img").glob("*.jpg"))[:FRAMES]:
        shutil.copy(f, folder / f.name)
    return folder


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    torch.manual_seed(0)
    return save_checkpoint(create_model(tiny_config(csa=True)), tmp_path_factory.mktemp("ckpt") / "tiny.safetensors")


@pytest.mark.parametrize("target", [["--box", BOX], ["--text", "the person in the light blue jacket"], ["--text", "the person", "--box", BOX]])
def test_track_writes_video_and_boxes(frames_folder, checkpoint, tmp_path, target):
    video, boxes = tmp_path / "out.mp4", tmp_path / "boxes.txt"
    rc = main(["track", str(frames_folder), *target, "--checkpoint", str(checkpoint), "--device", "cpu", "--out", str(video), "--results", str(boxes)])
    assert rc == 0
    lines = boxes.read_text().splitlines()
    assert len(lines) == FRAMES and all(len(line.split(",")) == 4 for line in lines)
    cap = cv2.VideoCapture(str(video))
    read = 0
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        assert frame.shape == (480, 640, 3)
        read += 1
    assert read == FRAMES


def test_track_reports_bad_input(frames_folder, checkpoint, tmp_path, capsys):
    assert main(["track", str(tmp_path / "missing"), "--box", "1,1,5,5", "--checkpoint", str(checkpoint)]) == 2
    assert "no video file or frame folder" in capsys.readouterr().err
    assert main(["track", str(frames_folder), "--checkpoint", str(checkpoint)]) == 2
    assert "give --text, --box or both" in capsys.readouterr().err
    assert main(["track", str(frames_folder), "--box", "900,10,5,5", "--checkpoint", str(checkpoint), "--device", "cpu"]) == 2
    assert "lies outside the 640x480 frame" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["track", str(frames_folder), "--box", "1,2,3"])
