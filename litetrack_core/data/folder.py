"""One sequence folder read into a ``Sequence``: what every format shares (``FolderSpec`` says how a
format differs; the format modules ``project``, ``lasot``, ``got10k``, ``tnl2k``, ``otb`` define theirs).

Box files hold x, y, w, h in pixels, one line per frame; values may be separated by commas, tabs or
spaces, mixed within one file (OTB's BlurCar1 does); blank lines are ignored. Frames are image files
(``IMAGE_SUFFIXES``) in numeric order of the digits in their names. A frame is absent where its ground
truth is not finite or has w <= 0 or h <= 0, and where the format's own flags say so.

Validation: a sequence cannot be read (``BrokenSequence``, whose message says why; ``load_dataset``
skips it with a warning naming it) when it has no frames, unparsable ground truth (non-numeric values,
not 4 values on a line), a line count that differs from the frame count (the message lists missing
frame numbers), frames not numbered 1..N where the format requires it (LaSOT, GOT-10k), flag / label
files of the wrong length or values, or no frame where the target is visible. A missing or empty
sentence file (``language.txt``, ``nlp.txt``, an OTB99-lang query) gives ``language`` None and a
warning naming the sequence. Frames are not decoded here.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from litetrack_core.data.sequence import IMAGE_SUFFIXES, Sequence

__all__ = [
    "BrokenSequence",
    "FolderSpec",
    "Readers",
    "fields",
    "frame_files",
    "read_boxes",
    "read_sentences",
    "read_sequence",
    "reader",
    "subdirs",
    "unique",
]

log = logging.getLogger(__name__)

_SEPARATORS = re.compile(r"[,\s]+")


class BrokenSequence(Exception):
    """A sequence that cannot be read; the message says why."""


# (sequence name, sequence folder, frame count) -> (N,) bool, True where the format flags the target absent.
AbsenceReader = Callable[[str, Path, int], np.ndarray]
# (sequence folder, frame count) -> 0-based frames where the first sentence holds, or None.
GroundingReader = Callable[[Path, int], "tuple[int, ...] | None"]
# sequence folder -> what the target is, or None.
CategoryReader = Callable[[Path], "str | None"]


@dataclass(frozen=True)
class FolderSpec:
    """How the sequence folders of one layout are read."""

    layout: str
    frames: str | None = "img"  # subfolder holding the frames; None: the sequence folder itself
    gt: str = "groundtruth.txt"
    language: str | None = "language.txt"  # sentence file in the sequence folder; None: no language
    absence: AbsenceReader | None = None  # the format's own absence flags (LaSOT flag files, GOT-10k labels)
    grounding: GroundingReader | None = None  # frames where the first sentence holds (this project's layout)
    category: CategoryReader | None = None  # what the target is (this project's layout)
    numbered: bool = False  # frames must be numbered 1..N
    first_frame_only: str | None = None  # what a box file of one line for many frames is (GOT-10k: test split)


Readers = dict[str, Callable[[], Sequence]]


def reader(name: str, folder: Path, spec: FolderSpec, **kwargs: Any) -> Callable[[], Sequence]:
    """``read_sequence(name, folder, spec, **kwargs)``, deferred."""
    # Deferred so one broken sequence is reported by load_dataset and the rest still load.
    return lambda: read_sequence(name, folder, spec, **kwargs)


def subdirs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir())


def unique(root: Path, items: list[tuple[str, Callable[[], Sequence]]]) -> Readers:
    """{name: reader}; a name seen before is warned about and skipped."""
    readers: Readers = {}
    for name, read in items:
        if name in readers:
            log.warning("sequence name %s appears twice under %s: the second one is skipped", name, root)
            continue
        readers[name] = read
    return readers


def read_sequence(
    name: str,
    folder: Path,
    spec: FolderSpec,
    *,
    gt: Path | None = None,
    language: Path | None = None,
    annotated_from: int | None = None,
) -> Sequence:
    """The sequence in ``folder``. ``gt``, ``language``: box and sentence files other than the spec's;
    ``annotated_from``: the frame number the boxes start at when they cover fewer frames than there
    are (OTB). Raises ``BrokenSequence`` (module docstring)."""
    if not folder.is_dir():
        raise BrokenSequence(f"no folder {folder}")
    frame_paths, ground_truth = _frames_and_boxes(folder, spec, gt, annotated_from)
    n = len(ground_truth)
    absent = ~(np.isfinite(ground_truth).all(axis=1) & (ground_truth[:, 2] > 0) & (ground_truth[:, 3] > 0))
    if spec.absence is not None:
        absent |= spec.absence(name, folder, n)
    if absent.all():
        raise BrokenSequence("the target is visible in no frame (every frame flagged absent or without a valid box)")

    language_path = language if language is not None else (folder / spec.language if spec.language else None)
    sentences: tuple[str, ...] = ()
    if language_path is not None:
        sentences = read_sentences(language_path)
        if not sentences:
            state = "is empty" if language_path.is_file() else "is missing"
            log.warning("sequence %s (%s): %s %s; language None", name, spec.layout, language_path, state)
    grounding = spec.grounding(folder, n) if spec.grounding is not None else None
    language_text = sentences[0] if sentences else None
    category = spec.category(folder) if spec.category is not None else None
    return Sequence(name, tuple(frame_paths), ground_truth, language_text, absent, sentences, grounding, category)


def _frames_and_boxes(
    folder: Path, spec: FolderSpec, gt: Path | None, annotated_from: int | None
) -> tuple[list[Path], np.ndarray]:
    """(frame paths, (N, 4) ground truth) of one sequence folder, one box per frame."""
    frame_dir = folder if spec.frames is None else folder / spec.frames
    frame_paths = frame_files(frame_dir)
    if not frame_paths:
        raise BrokenSequence(f"no frames in {frame_dir}")
    ground_truth = read_boxes(gt or folder / spec.gt)
    n = len(ground_truth)
    if annotated_from is not None and n < len(frame_paths):
        frame_paths = _annotated_part(frame_paths, annotated_from, n)
    if n != len(frame_paths):
        if spec.first_frame_only is not None and n == 1 and len(frame_paths) > 1:
            raise BrokenSequence(f"{spec.gt} annotates frame 1 only ({spec.first_frame_only}): not usable here")
        raise BrokenSequence(f"{n} ground-truth lines for {len(frame_paths)} frames{_gap_hint(frame_paths)}")
    if spec.numbered:
        _check_numbered(frame_paths)
    return frame_paths, ground_truth


def _frame_number(path: Path) -> int | None:
    digits = re.sub(r"\D", "", path.stem)
    return int(digits) if digits else None


def frame_files(folder: Path) -> list[Path]:
    """The image files in ``folder`` in frame order; none if it is not a folder."""
    if not folder.is_dir():
        return []
    files = [p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()]
    # Numeric order first: TNL2K and OTB names are not always zero-padded to one width.
    return sorted(files, key=lambda p: (n if (n := _frame_number(p)) is not None else -1, p.name))


def _gap_hint(frame_paths: list[Path]) -> str:
    numbers = [_frame_number(p) for p in frame_paths]
    if any(n is None for n in numbers):
        return ""
    present = set(numbers)
    missing = [n for n in range(min(present), max(present) + 1) if n not in present]  # type: ignore[type-var]
    if not missing:
        return ""
    shown = ", ".join(str(n) for n in missing[:5]) + (", ..." if len(missing) > 5 else "")
    return f" (frame numbers missing: {shown})"


def _check_numbered(frame_paths: list[Path]) -> None:
    for index, path in enumerate(frame_paths, start=1):
        if _frame_number(path) != index:
            raise BrokenSequence(f"frames must be numbered 1..{len(frame_paths)}: frame {index} is {path.name}")


def _annotated_part(frame_paths: list[Path], first: int, count: int) -> list[Path]:
    """The ``count`` frames from frame number ``first`` (OTB videos annotated on part of their frames)."""
    start = next((i for i, p in enumerate(frame_paths) if _frame_number(p) == first), None)
    if start is None or start + count > len(frame_paths):
        return frame_paths
    return frame_paths[start : start + count]


def fields(line: str) -> list[str]:
    """The values of a line (or a whole file's text), split at commas and white space."""
    return [f for f in _SEPARATORS.split(line.strip()) if f]


def read_boxes(path: Path) -> np.ndarray:
    """(N, 4) float64 x, y, w, h of a box file (module docstring)."""
    if not path.is_file():
        raise BrokenSequence(f"missing {path.name}")
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8-sig").splitlines(), start=1):
        values_text = fields(line)
        if not values_text:
            continue
        try:
            values = [float(v) for v in values_text]
        except ValueError:
            raise BrokenSequence(f"{path.name} line {number} is not numbers: {line.strip()!r}") from None
        if len(values) != 4:
            raise BrokenSequence(f"{path.name} line {number} has {len(values)} values, expected 4 (x,y,w,h)")
        rows.append(values)
    return np.array(rows, dtype=np.float64).reshape(-1, 4)


def read_sentences(path: Path) -> tuple[str, ...]:
    """The non-empty lines of a sentence file, white space collapsed; none if the file is missing."""
    if not path.is_file():
        return ()
    text = path.read_text(encoding="utf-8-sig", errors="replace")
    return tuple(" ".join(line.split()) for line in text.splitlines() if line.strip())
