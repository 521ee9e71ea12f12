"""Tracking benchmarks on disk, read into one ``Sequence`` type. Evaluation and training share these readers.

Ground truth is (N, 4) float64 x, y, w, h in pixels, top-left origin, one row per frame; frames are read
lazily, as RGB uint8 (H, W, 3) (``sequence``). What every format shares (box files, absence, validation)
is described in ``folder``; the files of each format in its module (``project``: this project's layout,
``lasot``, ``got10k``, ``tnl2k``, ``otb``: OTB-100 and OTB99-lang; ``splits``: split folders).

Layouts that ``load_dataset`` recognises (checked in this order; ``ROOT`` is the path given):

* OTB99-lang: ``ROOT/OTB_videos/<seq>/img/*.jpg`` and ``groundtruth_rect.txt``; the sentences of the
  test split are ``ROOT/OTB_query_test/<seq>.txt``, of the train split ``ROOT/OTB_query_train/<seq>.txt``.
  The split's query folder names the sequences read: ``split="test"`` (the default) or ``"train"``.
* One sequence folder: ``ROOT/img/`` (this project's layout, LaSOT's when ``nlp.txt`` or an occlusion
  flag file is there, OTB-100's when only ``groundtruth_rect*.txt`` is), ``ROOT/imgs/`` (TNL2K), or one
  GOT-10k sequence (``absence.label``).
* TNL2K: ``ROOT/<seq>/imgs/``.
* GOT-10k, one split folder: ``ROOT/GOT-10k_Train_000001/00000001.jpg ...``; ``ROOT/list.txt``, when
  present, names the sequences.
* ``ROOT/<seq>/img/``: LaSOT without its class folders when any sequence has ``nlp.txt``,
  ``full_occlusion.txt`` or ``out_of_view.txt``; otherwise per sequence OTB-100 (``groundtruth_rect*.txt``,
  no language) or this project's development set (``groundtruth.txt``, ``language.txt``).
* Split folders: ``ROOT/train``, ``ROOT/val``, ``ROOT/test`` (GOT-10k, TNL2K) or any folder names holding
  one of these words (``TNL2K_train_subset``, ``TNL2K_test_subset``): ``split=`` picks the folders of one
  split, each read as above, merged. With one split only (or parts of one, ``..._train_subset_p1``,
  ``..._p2``) no ``split`` is needed; with several it is, so that a test split never leaks into training.
* LaSOT: ``ROOT/<class>/<class-N>/img/00000001.jpg ...``.
* TNL2K in parts: ``ROOT/<part>/<seq>/imgs/`` (the train set as distributed in several folders).

A sequence that cannot be read (``folder`` says when) is skipped with a warning naming it and saying
why; the other sequences still load. Frames are not decoded here: ``Sequence.frame`` raises OSError for
a file that cannot be decoded.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path

from litetrack_core.data import got10k, lasot, otb, tnl2k
from litetrack_core.data.folder import BrokenSequence, Readers, reader, subdirs, unique
from litetrack_core.data.project import PROJECT
from litetrack_core.data.sequence import Sequence
from litetrack_core.data.splits import canonical_split, is_split_root, split_folders, split_of

__all__ = ["load_dataset"]

log = logging.getLogger(__name__)


def load_dataset(path: str | Path, names: Iterable[str] | None = None, *, split: str | None = None) -> list[Sequence]:
    """Every readable sequence under ``path`` (layout detected, module docstring), sorted by name.

    ``names``: keep only these sequences; a name not found is warned about. ``split``: for OTB99-lang
    ``"test"`` (default) or ``"train"``; for a folder of split folders, the split to read (``"train"``,
    ``"val"``, ``"test"``). Raises ValueError when ``path`` is not a folder, matches no known layout, or
    the split is missing or needed and not given.
    """
    root = Path(path)
    if not root.is_dir():
        raise ValueError(f"dataset path {str(root)!r} is not a folder")
    layout, candidates = _detect(root, split)
    wanted = None if names is None else set(names)
    sequences = []
    for name, read in sorted(candidates.items()):
        if wanted is not None and name not in wanted:
            continue
        try:
            sequences.append(read())
        except (BrokenSequence, OSError, UnicodeDecodeError) as err:
            log.warning("skipping sequence %s (%s layout): %s", name, layout, err)
    if wanted is not None:
        for missing in sorted(wanted - set(candidates)):
            log.warning("sequence %s not found in %s", missing, root)
    log.info("%s layout at %s: %d sequences read", layout, root, len(sequences))
    return sequences


def _detect(root: Path, split: str | None) -> tuple[str, Readers]:
    """(layout name, {sequence name: reader}) for ``root``."""
    if (root / "OTB_videos").is_dir():
        return "OTB99-lang", otb.otb99_readers(root, split)
    children = subdirs(root)
    if split is not None:
        return _split_candidates(root, children, split)
    found = _one_sequence(root, children) or _sequence_folders(root, children) or _one_split(root, children)
    if found is not None:
        return found
    if (readers := lasot.class_folder_readers(root, children)) is not None:
        return "LaSOT", readers
    if (readers := tnl2k.part_readers(root, children)) is not None:
        return "TNL2K", readers
    raise ValueError(
        f"no known dataset layout under {str(root)!r}: expected OTB_videos/, <seq>/imgs/ (TNL2K), "
        "GOT-10k_*/ (GOT-10k), <seq>/img/ (sequences, LaSOT, OTB), <class>/<seq>/img/ (LaSOT) "
        "or train/val/test split folders"
    )


def _one_sequence(root: Path, children: list[Path]) -> tuple[str, Readers] | None:
    """``root`` is one sequence folder (img/, imgs/ or a GOT-10k sequence), or None."""
    if (root / "img").is_dir():
        if lasot.has_markers(root):
            return "sequence folder", {root.name: reader(root.name, root, lasot.LASOT)}
        if otb.is_otb_video(root):
            return "sequence folder", dict(otb.video_readers(root))
        return "sequence folder", {root.name: reader(root.name, root, PROJECT)}
    if tnl2k.is_tnl2k_sequence(root):
        return "sequence folder", {root.name: reader(root.name, root, tnl2k.TNL2K)}
    if got10k.is_got10k_sequence(root) and not children:
        return "sequence folder", {root.name: reader(root.name, root, got10k.GOT10K)}
    return None


def _sequence_folders(root: Path, children: list[Path]) -> tuple[str, Readers] | None:
    """``root``'s children are sequence folders (TNL2K, GOT-10k, or ``<seq>/img/``), or None."""
    if any(tnl2k.is_tnl2k_sequence(c) for c in children):
        return "TNL2K", tnl2k.tnl2k_readers(children)
    if any(got10k.is_got10k_sequence(c) for c in children):
        return "GOT-10k", got10k.got10k_readers(root, children)
    if any((c / "img").is_dir() for c in children):
        return _img_children_candidates(children)
    return None


def _one_split(root: Path, children: list[Path]) -> tuple[str, Readers] | None:
    """``root`` holds the folders of one split (ValueError when it holds several), or None."""
    split_children = split_folders(children)
    if not is_split_root(children, split_children):
        return None
    found = sorted({split_of(c.name) or "" for c in split_children})
    if len(found) > 1:
        raise ValueError(
            f"{str(root)!r} holds the splits {', '.join(found)} ({', '.join(c.name for c in split_children)}): "
            "pass split= or the path of one split folder"
        )
    return _merge(root, split_children)


def _split_candidates(root: Path, children: list[Path], split: str) -> tuple[str, Readers]:
    want = canonical_split(split)
    split_children = split_folders(children)
    if not is_split_root(children, split_children):
        raise ValueError(
            f"split={split!r} given, but {str(root)!r} is neither OTB99-lang nor a folder of split folders "
            "(train/val/test): pass the dataset folder itself, without split (use names= for a list)"
        )
    chosen = [c for c in split_children if split_of(c.name) == want]
    if not chosen:
        found = sorted({split_of(c.name) or "" for c in split_children})
        raise ValueError(f"no {split!r} split under {str(root)!r}: it holds {', '.join(found)}")
    return _merge(root, chosen)


def _merge(root: Path, folders: list[Path]) -> tuple[str, Readers]:
    layouts, items = [], []
    for folder in folders:
        layout, readers = _detect(folder, None)
        layouts.append(layout)
        items.extend(readers.items())
    names = ", ".join(f.name for f in folders)
    return f"{'/'.join(sorted(set(layouts)))} ({names})", unique(root, items)


def _img_children_candidates(children: list[Path]) -> tuple[str, Readers]:
    """Folders of ``<seq>/img/``: LaSOT without class folders, OTB-100, or this project's layout."""
    if any(lasot.has_markers(c) for c in children):
        return "LaSOT", {c.name: reader(c.name, c, lasot.LASOT) for c in children}
    items = []
    for c in children:
        if otb.is_otb_video(c):
            items += otb.video_readers(c)
        else:
            items.append((c.name, reader(c.name, c, PROJECT)))
    kind = "OTB" if any(otb.is_otb_video(c) for c in children) else "sequences"
    return kind, unique(children[0].parent, items)
