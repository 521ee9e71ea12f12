"""LaSOT: ``ROOT/<class>/<class-N>/img/00000001.jpg ...`` (or the sequence folders without their class
folders), ``groundtruth.txt`` (x,y,w,h with commas), ``nlp.txt`` (one sentence), and one line of
comma-separated 0/1 flags in ``full_occlusion.txt`` and ``out_of_view.txt``: a frame flagged in either
is absent (as pytracking's ``target_visible``). Frames must be numbered 1..N. A missing flag file is
warned about, naming the sequence; absence then comes from the boxes alone."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from litetrack_core.data.folder import BrokenSequence, FolderSpec, Readers, fields, reader, subdirs, unique

__all__ = ["LASOT", "class_folder_readers", "has_markers", "read_flags"]

log = logging.getLogger(__name__)

_FLAG_FILES = ("full_occlusion.txt", "out_of_view.txt")  # one line of comma-separated 0/1, 1 = absent
_MARKERS = ("nlp.txt", *_FLAG_FILES)  # files that tell a LaSOT sequence folder from others with img/


def read_flags(path: Path, frames: int) -> np.ndarray:
    """(frames,) bool of a flag file: True where it says 1."""
    values = fields(path.read_text(encoding="utf-8-sig"))
    if len(values) != frames or any(f not in ("0", "1") for f in values):
        raise BrokenSequence(f"{path.name} must hold {frames} flags 0/1, got {len(values)} values")
    return np.array([f == "1" for f in values])


def _flagged_absent(name: str, folder: Path, frames: int) -> np.ndarray:
    """Frames flagged in ``full_occlusion.txt`` or ``out_of_view.txt``."""
    absent = np.zeros(frames, dtype=bool)
    for flag_file in _FLAG_FILES:
        if (folder / flag_file).is_file():
            absent |= read_flags(folder / flag_file, frames)
        else:
            log.warning("sequence %s (%s): no %s; absence taken from the boxes alone", name, "LaSOT", flag_file)
    return absent


LASOT = FolderSpec("LaSOT", language="nlp.txt", absence=_flagged_absent, numbered=True)


def has_markers(folder: Path) -> bool:
    """``folder`` holds ``nlp.txt`` or a flag file: a LaSOT sequence folder."""
    return any((folder / m).is_file() for m in _MARKERS)


def class_folder_readers(root: Path, children: list[Path]) -> Readers | None:
    """Readers of ``ROOT/<class>/<class-N>/img/``; None when no class folder holds a sequence."""
    lasot = [s for c in children for s in subdirs(c) if (s / "img").is_dir() or s.name.startswith(f"{c.name}-")]
    if not any((s / "img").is_dir() for s in lasot):
        return None
    return unique(root, [(s.name, reader(s.name, s, LASOT)) for s in lasot])
