"""``litetrack data`` on local files: real frames as video and photos, every part readable."""

from __future__ import annotations

import shutil
import subprocess
import sys

from litetrack_core.eval.datasets import load_dataset


def test_training_set_from_local_files(tmp_path, shared_data):
    photos = tmp_path / "photos"
    photos.mkdir()
    for name in ("deer_otb", "blackswan_davis16"):
        shutil.copy(shared_data / f"sequences/{name}/img/000001.jpg", photos / f"{name}.jpg")
    video = shared_data / "sequences/crossing_otb/img"
    out = tmp_path / "train"
    args = [sys.executable, "-m", "litetrack_core.cli", "data", "offline", str(out), "--photos", str(photos),
            "--videos", str(video), "--synthetic", "3", "--warps-per-photo", "2"]
    first = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert first.returncode == 0, first.stderr[-3000:]
    synthetic, warps, clips = (load_dataset(out / part) for part in ("synthetic", "warps", "video"))
    assert len(synthetic) == 3 and all(s.language for s in synthetic)  # words for grounding
    assert len(warps) == 4 and all(s.language is None for s in warps)
    assert clips and all(s.name.startswith("crossing_otb_") for s in clips)
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
