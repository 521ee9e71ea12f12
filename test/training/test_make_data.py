"""``litetrack data`` on local files: real frames as video and photos, every part readable."""

from __future__ import annotations

import shutil
import subprocess
import sys

from litetrack_core.data.load import load_dataset


def test_training_set_from_local_files(tmp_path, clip):
    # Two photos and one video, all from the packaged clip: its first and last frames (the
    # pedestrians have moved between them) as photos, its frame folder as the video.
    photos = tmp_path / "photos"
    photos.mkdir()
    for frame in ("000001", "000100"):
        shutil.copy(clip / f"img/{frame}.jpg", photos / f"frame{frame}.jpg")
    video = clip / "img"
    out = tmp_path / "train"
    args = [sys.executable, "-m", "litetrack_core.cli", "data", "offline", str(out), "--photos", str(photos),
            "--videos", str(video), "--synthetic", "3", "--warps-per-photo", "2"]
    first = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert first.returncode == 0, first.stderr[-3000:]
    synthetic, warps, clips = (load_dataset(out / part) for part in ("synthetic", "warps", "video"))
    assert len(synthetic) == 3 and all(s.language for s in synthetic)  # words for grounding
    assert len(warps) == 4 and all(s.language is None for s in warps)
    assert clips and all(s.name.startswith(f"{clip.name}_") for s in clips)
    assert f"synthetic: 3 sequences, warps: 4 sequences, video: {len(clips)} sequences" in first.stdout

    # A rerun completes what is missing and rewrites nothing.
    stamp = (out / "synthetic/synth_000001/groundtruth.txt").stat().st_mtime_ns
    again = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0 and first.stdout == again.stdout
    assert (out / "synthetic/synth_000001/groundtruth.txt").stat().st_mtime_ns == stamp


def test_missing_input_is_refused(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "litetrack_core.cli", "data", "offline", str(tmp_path / "out"), "--videos", str(tmp_path / "none.avi")],
        capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 2 and "none.avi does not exist" in done.stderr
