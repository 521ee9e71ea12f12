"""Orphaned Fast DDS shared-memory files: found by their free flock, removed with their companions,
while a file whose lock a live holder keeps is left alone (real files, real flocks)."""

from __future__ import annotations

import fcntl
import os

from litetrack_ros.dds_shm import orphaned_segments, remove_orphaned_segments


def _segment(directory, name: str, size: int, mutex: bool = False) -> None:
    (directory / name).write_bytes(b"\0" * size)
    (directory / f"{name}_el").write_bytes(b"")
    if mutex:
        (directory / f"sem.{name}_mutex").write_bytes(b"\0" * 32)


def test_only_segments_without_a_live_holder_are_removed(tmp_path):
    _segment(tmp_path, "fastdds_00aa11bb22cc33dd", 4096)
    _segment(tmp_path, "fastdds_port7411", 1024, mutex=True)
    _segment(tmp_path, "fastdds_ffee0011ffee0011", 2048)  # alive: its lock is held below
    (tmp_path / "lttng-ust-wait-6").write_bytes(b"")  # not Fast DDS's: never touched
    holder = os.open(tmp_path / "fastdds_ffee0011ffee0011_el", os.O_RDWR)
    fcntl.flock(holder, fcntl.LOCK_SH)  # what a live participant holds
    try:
        assert orphaned_segments(tmp_path) == ["fastdds_00aa11bb22cc33dd", "fastdds_port7411"]
        assert remove_orphaned_segments(tmp_path) == (2, 4096 + 1024 + 32)
        assert sorted(p.name for p in tmp_path.iterdir()) == [
            "fastdds_ffee0011ffee0011", "fastdds_ffee0011ffee0011_el", "lttng-ust-wait-6"]
    finally:
        os.close(holder)
    assert remove_orphaned_segments(tmp_path) == (1, 2048)  # its holder gone, it is an orphan too
    assert remove_orphaned_segments(tmp_path / "missing") == (0, 0)
