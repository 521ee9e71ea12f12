"""Split folders: ``ROOT/train``, ``ROOT/val``, ``ROOT/test`` (GOT-10k, TNL2K) or any folder names holding
one of these words (``TNL2K_train_subset``, ``TNL2K_test_subset``). ``load_dataset(split=...)`` picks the
folders of one split."""

from __future__ import annotations

import re
from pathlib import Path

from litetrack_core.data.got10k import is_got10k_sequence

__all__ = ["canonical_split", "is_split_root", "split_folders", "split_of"]

_SPLIT_WORD = re.compile(r"(?<![a-z])(train|training|val|validation|test|testing)(?![a-z])")
_SPLIT_ALIASES = {"training": "train", "validation": "val", "testing": "test"}


def canonical_split(split: str) -> str:
    """``split`` lower-cased, "training" / "validation" / "testing" as "train" / "val" / "test"."""
    return _SPLIT_ALIASES.get(split.lower(), split.lower())


def split_of(name: str) -> str | None:
    """The split a folder name names (canonical), or None."""
    match = _SPLIT_WORD.search(name.lower())
    return None if match is None else _SPLIT_ALIASES.get(match.group(1), match.group(1))


def _is_sequence_folder(folder: Path) -> bool:
    return (folder / "img").is_dir() or (folder / "imgs").is_dir() or is_got10k_sequence(folder)


def split_folders(children: list[Path]) -> list[Path]:
    """The folders named for a split (train/val/test as a word), sequence folders excluded."""
    return [c for c in children if split_of(c.name) and not _is_sequence_folder(c)]


def is_split_root(children: list[Path], split_children: list[Path]) -> bool:
    # Several splits, or only split folders: LaSOT's class 'train' among 69 others is no split.
    return bool(split_children) and (
        len({split_of(c.name) for c in split_children}) > 1 or len(split_children) == len(children)
    )
