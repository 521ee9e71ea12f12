"""This project's sequence layout (the development set, rendered data, the real corpus of
``litetrack data real``): ``<seq>/img/*``, ``groundtruth.txt``, ``language.txt`` (sentences, one a line,
all for the first frame) and, where given, ``grounding.txt`` (1-based frames where the first sentence
still holds) and ``category.txt`` (what the target is: one word, ``manifest.CATEGORIES`` for the real
corpus). Layout name "sequences"."""

from __future__ import annotations

from pathlib import Path

from litetrack_core.data.folder import BrokenSequence, FolderSpec, fields

__all__ = ["CATEGORY", "GROUNDING", "PROJECT", "read_category", "read_grounding"]

GROUNDING = "grounding.txt"  # this project's layout: frames (1-based) where the first sentence holds
CATEGORY = "category.txt"  # this project's layout: what the target is, one word


def read_grounding(folder: Path, frames: int) -> tuple[int, ...] | None:
    """0-based frames of ``folder/grounding.txt`` (1-based positions, one a line); None without the file."""
    path = folder / GROUNDING
    if not path.is_file():
        return None
    values = fields(path.read_text(encoding="utf-8-sig"))
    if not values or not all(f.isdigit() and 1 <= int(f) <= frames for f in values):
        raise BrokenSequence(f"{path.name} must hold frame positions 1..{frames}, one a line, got {' '.join(values[:5])!r}")
    return tuple(int(f) - 1 for f in values)


def read_category(folder: Path) -> str | None:
    """The one word of ``folder/category.txt``; None without the file."""
    path = folder / CATEGORY
    if not path.is_file():
        return None
    values = fields(path.read_text(encoding="utf-8-sig"))
    if len(values) != 1:
        raise BrokenSequence(f"{path.name} must hold one word, got {' '.join(values[:5])!r}")
    return values[0]


PROJECT = FolderSpec("sequences", grounding=read_grounding, category=read_category)
