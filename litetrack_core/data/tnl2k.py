"""TNL2K: ``ROOT/<seq>/imgs/*`` (jpg or png), ``groundtruth.txt``, ``language.txt``; also one sequence
folder ``ROOT/imgs/``, and the train set as distributed in several folders, ``ROOT/<part>/<seq>/imgs/``."""

from __future__ import annotations

from pathlib import Path

from litetrack_core.data.folder import FolderSpec, Readers, reader, subdirs, unique

__all__ = ["TNL2K", "is_tnl2k_sequence", "part_readers", "tnl2k_readers"]

TNL2K = FolderSpec("TNL2K", frames="imgs")


def is_tnl2k_sequence(folder: Path) -> bool:
    return (folder / "imgs").is_dir()


def tnl2k_readers(children: list[Path]) -> Readers:
    """Readers of the sequence folders ``children`` of one TNL2K folder."""
    return {c.name: reader(c.name, c, TNL2K) for c in children}


def part_readers(root: Path, children: list[Path]) -> Readers | None:
    """Readers of ``ROOT/<part>/<seq>/imgs/``; None when no child holds TNL2K sequences."""
    parts = [c for c in children if any(is_tnl2k_sequence(s) for s in subdirs(c))]
    if not parts:
        return None
    return unique(root, [(s.name, reader(s.name, s, TNL2K)) for c in parts for s in subdirs(c)])
