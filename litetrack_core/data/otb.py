"""OTB-100 and OTB99-lang.

* OTB-100: ``<video>/img/*.jpg`` and ``groundtruth_rect.txt``, no language. A two-target video keeps one
  folder with ``groundtruth_rect.1.txt`` / ``.2.txt``: it is read as ``<video>-1`` and ``<video>-2``
  (Jogging, Skating2); a folder whose only non-empty box file is numbered (Human4) uses that file. The
  videos annotated on part of their frames (David from frame 300; Diving, Football1, Freeman3, Freeman4
  from frame 1) are cut to their annotated frames.
* OTB99-lang: ``ROOT/OTB_videos/<seq>/`` as above; the sentences of the test split are
  ``ROOT/OTB_query_test/<seq>.txt``, of the train split ``ROOT/OTB_query_train/<seq>.txt``. The split's
  query folder names the sequences read: ``split="test"`` (the default) or ``"train"``. Without
  ``OTB_query_test`` and without ``split``, every video is read, without language.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from pathlib import Path

from litetrack_core.data.folder import FolderSpec, Readers, reader, subdirs, unique
from litetrack_core.data.sequence import Sequence
from litetrack_core.data.splits import canonical_split

__all__ = ["OTB", "OTB99", "is_otb_video", "otb99_readers", "otb_targets", "video_readers"]

log = logging.getLogger(__name__)

OTB = FolderSpec("OTB", gt="groundtruth_rect.txt", language=None)
OTB99 = FolderSpec("OTB99-lang", gt="groundtruth_rect.txt", language=None)  # sentence files passed per sequence

# OTB-100 videos whose groundtruth_rect.txt covers fewer frames than img/ holds: the frame number the
# annotation starts at (it then runs for as many frames as it has lines).
_ANNOTATED_FROM = {"David": 300, "Diving": 1, "Football1": 1, "Freeman3": 1, "Freeman4": 1}
_NUMBERED_GT = re.compile(r"groundtruth_rect\.?(\d+)\.txt$")


def is_otb_video(folder: Path) -> bool:
    """A folder with OTB box files (``groundtruth_rect*.txt``) and no ``groundtruth.txt``."""
    return not (folder / "groundtruth.txt").is_file() and any(folder.glob("groundtruth_rect*.txt"))


def otb_targets(folder: Path) -> dict[str, Path]:
    """{sequence name: box file} of one OTB video folder: ``groundtruth_rect.txt``; else one sequence per
    non-empty ``groundtruth_rect.<k>.txt``, named ``<video>-<k>`` (Jogging-1, Jogging-2), or the video's
    own name when only one is non-empty (Human4)."""
    plain = folder / "groundtruth_rect.txt"
    if plain.is_file():
        return {folder.name: plain}
    numbered = {}
    for path in folder.glob("groundtruth_rect*.txt"):
        match = _NUMBERED_GT.match(path.name)
        if match and path.stat().st_size > 0:
            numbered[int(match.group(1))] = path
    if len(numbered) == 1:
        return {folder.name: next(iter(numbered.values()))}
    if not numbered:
        return {folder.name: plain}  # reported missing when read
    return {f"{folder.name}-{k}": path for k, path in sorted(numbered.items())}


def video_readers(folder: Path) -> list[tuple[str, Callable[[], Sequence]]]:
    """(name, reader) of each target of one OTB-100 video folder, without language."""
    return [(n, reader(n, folder, OTB, gt=gt, annotated_from=_ANNOTATED_FROM.get(n)))
            for n, gt in otb_targets(folder).items()]


def otb99_readers(root: Path, split: str | None) -> Readers:
    """Readers of the OTB99-lang sequences of ``split`` (module docstring)."""
    videos = root / "OTB_videos"
    want = "test" if split is None else canonical_split(split)
    if want not in ("train", "test"):
        raise ValueError(f"OTB99-lang splits are train and test, got {split!r}")
    queries = root / f"OTB_query_{want}"
    if not queries.is_dir():
        if split is not None:
            raise ValueError(f"no {queries.name} folder under {str(root)!r} for split {split!r}")
        log.warning("no OTB_query_test under %s: every video read, without language", root)
        return unique(root, [item for v in subdirs(videos) for item in video_readers(v)])
    readers = {}
    for query in sorted(queries.glob("*.txt")):
        name = query.stem
        folder, gt = _otb99_source(videos, name)
        readers[name] = reader(name, folder, OTB99, gt=gt, language=query, annotated_from=_ANNOTATED_FROM.get(name))
    return readers


def _otb99_source(videos: Path, name: str) -> tuple[Path, Path]:
    """(video folder, box file) of the OTB99-lang sequence ``name`` (``Jogging-1`` may live in ``Jogging``)."""
    folder = videos / name
    if folder.is_dir():
        return folder, otb_targets(folder).get(name, folder / "groundtruth_rect.txt")
    base, _, target = name.rpartition("-")
    if base and target.isdigit() and (videos / base).is_dir():
        targets = otb_targets(videos / base)
        if name in targets:
            return videos / base, targets[name]
    return folder, folder / "groundtruth_rect.txt"
