"""Tracking benchmarks on disk, read into one ``Sequence`` type.

Ground truth is (N, 4) float64 x, y, w, h in pixels, top-left origin, one row per frame. Frames are
read lazily, as RGB uint8 (H, W, 3).

Layouts that ``load_dataset`` recognises (checked in this order):

* OTB99-lang: ``ROOT/OTB_videos/<seq>/img/*.jpg`` and ``groundtruth_rect.txt`` (comma, tab or space
  separated); the sentence is ``ROOT/OTB_query_test/<seq>.txt``. When ``OTB_query_test`` exists only
  the sequences it names (the test split) are read; otherwise every video, without language.
* TNL2K: ``ROOT/<seq>/imgs/*`` (jpg or png), ``groundtruth.txt``, ``language.txt`` (may be empty).
* This project's development set: ``ROOT/<seq>/img/*.jpg``, ``groundtruth.txt``, ``language.txt``;
  ``ROOT`` may also be one such sequence folder.
* LaSOT: ``ROOT/<class>/<class-N>/img/*.jpg``, ``groundtruth.txt``, ``nlp.txt``, and one line of
  comma-separated 0/1 flags in ``full_occlusion.txt`` and ``out_of_view.txt``: a frame flagged in
  either is absent (as pytracking's ``target_visible``).

A frame is also absent where its ground truth is not finite or has w <= 0 or h <= 0. A sequence that
cannot be read (no frames, unparsable ground truth, line counts that differ from the frame count) is
skipped with a warning naming it.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

__all__ = ["Sequence", "load_dataset"]

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")
_SEPARATORS = re.compile(r"[,\s]+")


@dataclass(frozen=True, eq=False)
class Sequence:
    """One video with its annotation.

    name: unique within the dataset. frame_paths: image files in frame order.
    ground_truth: (N, 4) float64 x, y, w, h pixels. language: one sentence naming the target, or None.
    absent: (N,) bool, True where the target is not visible (flagged, or invalid ground truth).
    """

    name: str
    frame_paths: tuple[Path, ...]
    ground_truth: np.ndarray
    language: str | None
    absent: np.ndarray

    def __post_init__(self) -> None:
        n = len(self.frame_paths)
        if self.ground_truth.shape != (n, 4):
            raise ValueError(f"ground_truth of {self.name!r} must have shape ({n}, 4), got {self.ground_truth.shape}")
        if self.absent.shape != (n,):
            raise ValueError(f"absent of {self.name!r} must have shape ({n},), got {self.absent.shape}")

    def __len__(self) -> int:
        return len(self.frame_paths)

    def frame(self, index: int) -> np.ndarray:
        """Frame ``index`` as an RGB uint8 (H, W, 3) array. Raises OSError if the file cannot be decoded."""
        path = self.frame_paths[index]
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            raise OSError(f"cannot read frame {index} of {self.name!r} from {path}")
        return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


class _Broken(Exception):
    """A sequence that cannot be read; the message says why."""


def load_dataset(path: str | Path, names: Iterable[str] | None = None) -> list[Sequence]:
    """Every readable sequence under ``path`` (layout detected, module docstring), sorted by name.

    ``names``: keep only these sequences; a name not found is warned about. Raises ValueError when
    ``path`` is not a folder or matches no known layout.
    """
    root = Path(path)
    if not root.is_dir():
        raise ValueError(f"dataset path {str(root)!r} is not a folder")
    layout, candidates = _detect(root)
    wanted = None if names is None else set(names)
    sequences = []
    for name, reader in sorted(candidates.items()):
        if wanted is not None and name not in wanted:
            continue
        try:
            sequences.append(reader())
        except (_Broken, OSError, UnicodeDecodeError) as err:
            log.warning("skipping sequence %s (%s layout): %s", name, layout, err)
    if wanted is not None:
        for missing in sorted(wanted - set(candidates)):
            log.warning("sequence %s not found in %s", missing, root)
    log.info("%s layout at %s: %d sequences read", layout, root, len(sequences))
    return sequences


_Readers = dict[str, Callable[[], Sequence]]


def _detect(root: Path) -> tuple[str, _Readers]:
    """(layout name, {sequence name: reader}) for ``root``."""
    if (root / "OTB_videos").is_dir():
        return "OTB99-lang", _otb99_candidates(root)
    children = sorted(p for p in root.iterdir() if p.is_dir())
    if any((c / "imgs").is_dir() for c in children):
        return "TNL2K", {c.name: _reader(c, "imgs", "groundtruth.txt", c / "language.txt") for c in children}
    if (root / "img").is_dir():
        return "sequence folder", {root.name: _reader(root, "img", "groundtruth.txt", root / "language.txt")}
    if any((c / "img").is_dir() for c in children):
        return "sequences", {c.name: _reader(c, "img", "groundtruth.txt", c / "language.txt") for c in children}
    lasot = [s for c in children for s in sorted(c.iterdir()) if (s / "img").is_dir()]
    if lasot:
        flags = ("full_occlusion.txt", "out_of_view.txt")
        return "LaSOT", {s.name: _reader(s, "img", "groundtruth.txt", s / "nlp.txt", flags) for s in lasot}
    raise ValueError(
        f"no known dataset layout under {str(root)!r}: expected OTB_videos/, <seq>/imgs/ (TNL2K), "
        "<seq>/img/ (sequences) or <class>/<seq>/img/ (LaSOT)"
    )


def _otb99_candidates(root: Path) -> _Readers:
    videos = root / "OTB_videos"
    queries = root / "OTB_query_test"
    if queries.is_dir():
        names = sorted(q.stem for q in queries.glob("*.txt"))
    else:
        names = sorted(v.name for v in videos.iterdir() if v.is_dir())
    return {n: _reader(videos / n, "img", "groundtruth_rect.txt", queries / f"{n}.txt") for n in names}


def _reader(folder: Path, frames: str, gt: str, language: Path, flags: tuple[str, ...] = ()) -> Callable[[], Sequence]:
    # Deferred so one broken sequence is reported by load_dataset and the rest still load.
    return lambda: _read_sequence(folder, frames, gt, language, flags)


def _read_sequence(folder: Path, frames: str, gt: str, language: Path, flags: tuple[str, ...]) -> Sequence:
    frame_paths = _frame_paths(folder / frames)
    if not frame_paths:
        raise _Broken(f"no frames in {folder / frames}")
    ground_truth = _read_boxes(folder / gt)
    if len(ground_truth) != len(frame_paths):
        raise _Broken(f"{len(ground_truth)} ground-truth lines for {len(frame_paths)} frames")
    absent = ~(np.isfinite(ground_truth).all(axis=1) & (ground_truth[:, 2] > 0) & (ground_truth[:, 3] > 0))
    for flag_file in flags:
        if (folder / flag_file).is_file():
            absent |= _read_flags(folder / flag_file, len(frame_paths))
    return Sequence(folder.name, tuple(frame_paths), ground_truth, _read_sentence(language), absent)


def _frame_paths(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    files = [p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES]
    # Numeric order first: TNL2K and OTB names are not always zero-padded to one width.
    return sorted(files, key=lambda p: (int(d) if (d := re.sub(r"\D", "", p.stem)) else -1, p.name))


def _read_boxes(path: Path) -> np.ndarray:
    if not path.is_file():
        raise _Broken(f"missing {path.name}")
    rows = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        fields = _SEPARATORS.split(line.strip())
        try:
            values = [float(v) for v in fields]
        except ValueError:
            raise _Broken(f"{path.name} line {number} is not numbers: {line.strip()!r}") from None
        if len(values) != 4:
            raise _Broken(f"{path.name} line {number} has {len(values)} values, expected 4 (x,y,w,h)")
        rows.append(values)
    return np.array(rows, dtype=np.float64).reshape(-1, 4)


def _read_flags(path: Path, frames: int) -> np.ndarray:
    fields = [f for f in _SEPARATORS.split(path.read_text().strip()) if f]
    if len(fields) != frames or any(f not in ("0", "1") for f in fields):
        raise _Broken(f"{path.name} must hold {frames} flags 0/1, got {len(fields)} values")
    return np.array([f == "1" for f in fields])


def _read_sentence(path: Path) -> str | None:
    if not path.is_file():
        return None
    lines = [line.strip() for line in path.read_text().splitlines() if line.strip()]
    return lines[0] if lines else None
