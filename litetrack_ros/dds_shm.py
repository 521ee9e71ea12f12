"""Fast DDS shared-memory files whose owner process is gone.

Fast DDS (ROS 2's default middleware) keeps each participant's segment, and each port it listens
on, as a file in /dev/shm, beside a ``<name>_el`` file on which the owner holds an flock while it
lives (a port also has a ``sem.<name>_mutex``). A process killed by SIGKILL, or one whose
participant is never destroyed, leaves them behind, and /dev/shm is memory: with the 32 MB segments
of config/fastdds_large_images.xml a few hundred orphans fill a machine. ``fastdds shm clean`` removes
them; the ROS from PyPI has no ``fastdds`` tool, so this does what it does.

    python -m litetrack_ros.dds_shm            # remove the orphans, say how many and their size
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

SHM_DIR = Path("/dev/shm")
_PREFIX = "fastdds_"
_LOCK_SUFFIX = "_el"


def _owner_alive(lock_file: Path) -> bool:
    """True when some process holds the flock on ``lock_file`` (or it cannot be opened to try)."""
    try:
        fd = os.open(lock_file, os.O_RDWR)
    except OSError:
        return True  # not ours to judge (another user's, or just removed)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


def orphaned_segments(directory: Path = SHM_DIR) -> list[str]:
    """Names of the Fast DDS segments and ports in ``directory`` that no live process holds."""
    if not directory.is_dir():
        return []
    names = []
    for lock_file in sorted(directory.glob(f"{_PREFIX}*{_LOCK_SUFFIX}")):
        if not _owner_alive(lock_file):
            names.append(lock_file.name[: -len(_LOCK_SUFFIX)])
    return names


def remove_orphaned_segments(directory: Path = SHM_DIR) -> tuple[int, int]:
    """Remove the orphans of ``directory`` with their lock and mutex files: (segments, bytes freed)."""
    removed, freed = 0, 0
    for name in orphaned_segments(directory):
        for path in (directory / name, directory / f"{name}{_LOCK_SUFFIX}", directory / f"sem.{name}_mutex"):
            try:
                size = path.stat().st_size
                path.unlink()
            except FileNotFoundError:
                continue
            freed += size
        removed += 1
    return removed, freed


def main() -> None:
    removed, freed = remove_orphaned_segments()
    print(f"removed {removed} orphaned Fast DDS shared-memory segments ({freed / 2**20:.0f} MiB) from {SHM_DIR}")


if __name__ == "__main__":
    main()
