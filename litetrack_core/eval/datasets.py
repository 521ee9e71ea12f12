"""Tracking benchmarks on disk, read into one ``Sequence`` type. Evaluation and training share these readers.

Ground truth is (N, 4) float64 x, y, w, h in pixels, top-left origin, one row per frame. Frames are
read lazily, as RGB uint8 (H, W, 3). Box files may separate values by commas, tabs or spaces, mixed
within one file (OTB's BlurCar1 does); blank lines are ignored.

Layouts that ``load_dataset`` recognises (checked in this order; ``ROOT`` is the path given):

* OTB99-lang: ``ROOT/OTB_videos/<seq>/img/*.jpg`` and ``groundtruth_rect.txt``; the sentences of the
  test split are ``ROOT/OTB_query_test/<seq>.txt``, of the train split ``ROOT/OTB_query_train/<seq>.txt``.
  The split's query folder names the sequences read: ``split="test"`` (the default) or ``"train"``.
  Without ``OTB_query_test`` and without ``split``, every video is read, without language. A two-target
  video keeps one folder with ``groundtruth_rect.1.txt`` / ``.2.txt``: it is read as ``<video>-1`` and
  ``<video>-2`` (Jogging, Skating2); a folder whose only non-empty box file is numbered (Human4) uses
  that file. The OTB-100 videos annotated on part of their frames (David from frame 300; Diving,
  Football1, Freeman3, Freeman4 from frame 1) are cut to their annotated frames.
* One sequence folder: ``ROOT/img/`` (this project's layout, or LaSOT's when ``nlp.txt`` or an
  occlusion flag file is there), ``ROOT/imgs/`` (TNL2K), or one GOT-10k sequence (``absence.label``).
  This project's layout (development set, rendered data, the real corpus of ``litetrack data real``):
  ``groundtruth.txt``, ``language.txt`` (sentences, one a line, all for the first frame) and, where
  given, ``grounding.txt`` (1-based frames where the first sentence still holds).
* TNL2K: ``ROOT/<seq>/imgs/*`` (jpg or png), ``groundtruth.txt``, ``language.txt``.
* GOT-10k, one split folder: ``ROOT/GOT-10k_Train_000001/00000001.jpg ...`` (frames in the sequence
  folder itself), ``groundtruth.txt``, ``absence.label`` and ``cover.label`` (one value per line: a frame
  is absent where absence is 1 or cover, 0..8, is 0, as pytracking's ``target_visible``), and
  ``meta_info.ini`` (not read: GOT-10k has no language, ``language`` is None). ``ROOT/list.txt``, when
  present, names the sequences. Test-split sequences annotate frame 1 only and are skipped.
* ``ROOT/<seq>/img/``: LaSOT without its class folders when any sequence has ``nlp.txt``,
  ``full_occlusion.txt`` or ``out_of_view.txt``; otherwise per sequence OTB-100 (``groundtruth_rect*.txt``,
  no language) or this project's development set (``groundtruth.txt``, ``language.txt``).
* Split folders: ``ROOT/train``, ``ROOT/val``, ``ROOT/test`` (GOT-10k, TNL2K) or any folder names holding
  one of these words (``TNL2K_train_subset``, ``TNL2K_test_subset``): ``split=`` picks the folders of one
  split, each read as above, merged. With one split only (or parts of one, ``..._train_subset_p1``,
  ``..._p2``) no ``split`` is needed; with several it is, so that a test split never leaks into training.
* LaSOT: ``ROOT/<class>/<class-N>/img/00000001.jpg ...``, ``groundtruth.txt`` (x,y,w,h with commas),
  ``nlp.txt`` (one sentence), and one line of comma-separated 0/1 flags in ``full_occlusion.txt`` and
  ``out_of_view.txt``: a frame flagged in either is absent (as pytracking's ``target_visible``).
* TNL2K in parts: ``ROOT/<part>/<seq>/imgs/`` (the train set as distributed in several folders).

A frame is also absent where its ground truth is not finite or has w <= 0 or h <= 0.

Validation: a sequence is skipped, with a warning naming it and saying why, when it has no frames,
unparsable ground truth (non-numeric values, not 4 values on a line), a line count that differs from the
frame count (the warning lists missing frame numbers), LaSOT / GOT-10k frames not numbered 1..N,
flag / label files of the wrong length or values, or no frame where the target is visible. A missing or
empty sentence file (``language.txt``, ``nlp.txt``, an OTB99-lang query) gives ``language`` None and a
warning naming the sequence; so does a missing LaSOT flag or GOT-10k label file (absence then comes
from the boxes alone). Frames are not decoded here: ``Sequence.frame`` raises OSError for a file that
cannot be decoded.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
    ground_truth: (N, 4) float64 x, y, w, h pixels. language: one sentence naming the target (the
    first of ``sentences``), or None. absent: (N,) bool, True where the target is not visible (flagged,
    or invalid ground truth). sentences: every sentence of the sequence's sentence file (one a line),
    all describing the target in its first frame. grounding_frames: 0-based frames where the first
    sentence still holds (``grounding.txt``), or None when the sequence does not say.
    """

    name: str
    frame_paths: tuple[Path, ...]
    ground_truth: np.ndarray
    language: str | None
    absent: np.ndarray
    sentences: tuple[str, ...] = ()
    grounding_frames: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        n = len(self.frame_paths)
        if self.ground_truth.shape != (n, 4):
            raise ValueError(f"ground_truth of {self.name!r} must have shape ({n}, 4), got {self.ground_truth.shape}")
        if self.absent.shape != (n,):
            raise ValueError(f"absent of {self.name!r} must have shape ({n},), got {self.absent.shape}")
        # The first sentence is ``language``: replacing ``language`` (dataclasses.replace) updates both.
        if self.language is None:
            object.__setattr__(self, "sentences", ())
        elif not self.sentences or self.sentences[0] != self.language:
            object.__setattr__(self, "sentences", (self.language, *self.sentences[1:]))
        if self.grounding_frames is not None and not all(0 <= i < n for i in self.grounding_frames):
            raise ValueError(f"grounding_frames of {self.name!r} must lie in 0..{n - 1}, got {self.grounding_frames}")

    def __len__(self) -> int:
        return len(self.frame_paths)

    def frame(self, index: int) -> np.ndarray:
        """Frame ``index`` as an RGB uint8 (H, W, 3) array. Raises OSError if the file cannot be decoded."""
        return _read_rgb(self.frame_paths[index], f"frame {index} of {self.name!r}")


def _read_rgb(path: Path, what: str) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise OSError(f"cannot read {what} from {path}")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


class _Broken(Exception):
    """A sequence that cannot be read; the message says why."""


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


# --- layouts ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Spec:
    """How the sequence folders of one layout are read."""

    layout: str
    frames: str | None = "img"  # subfolder holding the frames; None: the sequence folder itself
    gt: str = "groundtruth.txt"
    language: str | None = "language.txt"  # sentence file in the sequence folder; None: no language
    flags: tuple[str, ...] = ()  # one line of comma-separated 0/1 per file, 1 = absent (LaSOT)
    labels: bool = False  # GOT-10k absence.label and cover.label, one value per line
    numbered: bool = False  # frames must be numbered 1..N


_DEVSET = _Spec("sequences")
_GROUNDING = "grounding.txt"  # this project's layout: frames (1-based) where the first sentence holds
_LASOT = _Spec("LaSOT", language="nlp.txt", flags=("full_occlusion.txt", "out_of_view.txt"), numbered=True)
_TNL2K = _Spec("TNL2K", frames="imgs")
_GOT10K = _Spec("GOT-10k", frames=None, language=None, labels=True, numbered=True)
_OTB = _Spec("OTB", gt="groundtruth_rect.txt", language=None)
_OTB99 = _Spec("OTB99-lang", gt="groundtruth_rect.txt", language=None)  # sentence files passed per sequence
_LASOT_MARKERS = ("nlp.txt", *_LASOT.flags)

# OTB-100 videos whose groundtruth_rect.txt covers fewer frames than img/ holds: the frame number the
# annotation starts at (it then runs for as many frames as it has lines).
_OTB_ANNOTATED_FROM = {"David": 300, "Diving": 1, "Football1": 1, "Freeman3": 1, "Freeman4": 1}
_OTB_NUMBERED_GT = re.compile(r"groundtruth_rect\.?(\d+)\.txt$")

_SPLIT_WORD = re.compile(r"(?<![a-z])(train|training|val|validation|test|testing)(?![a-z])")
_SPLIT_ALIASES = {"training": "train", "validation": "val", "testing": "test"}

_Readers = dict[str, Callable[[], Sequence]]


def _reader(name: str, folder: Path, spec: _Spec, **kwargs: Any) -> Callable[[], Sequence]:
    # Deferred so one broken sequence is reported by load_dataset and the rest still load.
    return lambda: _read_sequence(name, folder, spec, **kwargs)


def _subdirs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir())


def _detect(root: Path, split: str | None) -> tuple[str, _Readers]:
    """(layout name, {sequence name: reader}) for ``root``."""
    if (root / "OTB_videos").is_dir():
        return "OTB99-lang", _otb99_candidates(root, split)
    children = _subdirs(root)
    if split is not None:
        return _split_candidates(root, children, split)

    if (root / "img").is_dir():
        if any((root / m).is_file() for m in _LASOT_MARKERS):
            return "sequence folder", {root.name: _reader(root.name, root, _LASOT)}
        if not (root / "groundtruth.txt").is_file() and any(root.glob("groundtruth_rect*.txt")):
            return "sequence folder", {n: _reader(n, root, _OTB, gt=gt, annotated_from=_OTB_ANNOTATED_FROM.get(n))
                                       for n, gt in _otb_targets(root).items()}
        return "sequence folder", {root.name: _reader(root.name, root, _DEVSET)}
    if (root / "imgs").is_dir():
        return "sequence folder", {root.name: _reader(root.name, root, _TNL2K)}
    if _is_got10k_sequence(root) and not children:
        return "sequence folder", {root.name: _reader(root.name, root, _GOT10K)}

    if any((c / "imgs").is_dir() for c in children):
        return "TNL2K", {c.name: _reader(c.name, c, _TNL2K) for c in children}
    if any(_is_got10k_sequence(c) for c in children):
        return "GOT-10k", _got10k_candidates(root, children)
    if any((c / "img").is_dir() for c in children):
        return _img_children_candidates(children)

    split_children = _split_folders(children)
    if _is_split_root(children, split_children):
        found = sorted({_split_of(c.name) or "" for c in split_children})
        if len(found) > 1:
            raise ValueError(
                f"{str(root)!r} holds the splits {', '.join(found)} ({', '.join(c.name for c in split_children)}): "
                "pass split= or the path of one split folder"
            )
        return _merge(root, split_children)

    lasot = [s for c in children for s in _subdirs(c) if (s / "img").is_dir() or s.name.startswith(f"{c.name}-")]
    if any((s / "img").is_dir() for s in lasot):
        return "LaSOT", _unique(root, [(s.name, _reader(s.name, s, _LASOT)) for s in lasot])
    parts = [c for c in children if any((s / "imgs").is_dir() for s in _subdirs(c))]
    if parts:
        return "TNL2K", _unique(root, [(s.name, _reader(s.name, s, _TNL2K)) for c in parts for s in _subdirs(c)])
    raise ValueError(
        f"no known dataset layout under {str(root)!r}: expected OTB_videos/, <seq>/imgs/ (TNL2K), "
        "GOT-10k_*/ (GOT-10k), <seq>/img/ (sequences, LaSOT, OTB), <class>/<seq>/img/ (LaSOT) "
        "or train/val/test split folders"
    )


def _split_folders(children: list[Path]) -> list[Path]:
    """The folders named for a split (train/val/test as a word), sequence folders excluded."""
    return [c for c in children if _split_of(c.name) and not _is_sequence_folder(c)]


def _is_split_root(children: list[Path], split_children: list[Path]) -> bool:
    # Several splits, or only split folders: LaSOT's class 'train' among 69 others is no split.
    return bool(split_children) and (
        len({_split_of(c.name) for c in split_children}) > 1 or len(split_children) == len(children)
    )


def _is_sequence_folder(folder: Path) -> bool:
    return (folder / "img").is_dir() or (folder / "imgs").is_dir() or _is_got10k_sequence(folder)


def _split_of(name: str) -> str | None:
    match = _SPLIT_WORD.search(name.lower())
    return None if match is None else _SPLIT_ALIASES.get(match.group(1), match.group(1))


def _split_candidates(root: Path, children: list[Path], split: str) -> tuple[str, _Readers]:
    want = _SPLIT_ALIASES.get(split.lower(), split.lower())
    split_children = _split_folders(children)
    if not _is_split_root(children, split_children):
        raise ValueError(
            f"split={split!r} given, but {str(root)!r} is neither OTB99-lang nor a folder of split folders "
            "(train/val/test): pass the dataset folder itself, without split (use names= for a list)"
        )
    chosen = [c for c in split_children if _split_of(c.name) == want]
    if not chosen:
        found = sorted({_split_of(c.name) or "" for c in split_children})
        raise ValueError(f"no {split!r} split under {str(root)!r}: it holds {', '.join(found)}")
    return _merge(root, chosen)


def _merge(root: Path, folders: list[Path]) -> tuple[str, _Readers]:
    layouts, items = [], []
    for folder in folders:
        layout, readers = _detect(folder, None)
        layouts.append(layout)
        items.extend(readers.items())
    names = ", ".join(f.name for f in folders)
    return f"{'/'.join(sorted(set(layouts)))} ({names})", _unique(root, items)


def _unique(root: Path, items: list[tuple[str, Callable[[], Sequence]]]) -> _Readers:
    readers: _Readers = {}
    for name, reader in items:
        if name in readers:
            log.warning("sequence name %s appears twice under %s: the second one is skipped", name, root)
            continue
        readers[name] = reader
    return readers


def _img_children_candidates(children: list[Path]) -> tuple[str, _Readers]:
    """Folders of ``<seq>/img/``: LaSOT without class folders, OTB-100, or this project's layout."""
    if any((c / m).is_file() for c in children for m in _LASOT_MARKERS):
        return "LaSOT", {c.name: _reader(c.name, c, _LASOT) for c in children}
    items = []
    for c in children:
        if not (c / "groundtruth.txt").is_file() and any(c.glob("groundtruth_rect*.txt")):
            items += [(n, _reader(n, c, _OTB, gt=gt, annotated_from=_OTB_ANNOTATED_FROM.get(n)))
                      for n, gt in _otb_targets(c).items()]
        else:
            items.append((c.name, _reader(c.name, c, _DEVSET)))
    otb = any(not (c / "groundtruth.txt").is_file() and any(c.glob("groundtruth_rect*.txt")) for c in children)
    return ("OTB" if otb else "sequences"), _unique(children[0].parent, items)


def _is_got10k_sequence(folder: Path) -> bool:
    return folder.name.startswith("GOT-10k_") or (folder / "absence.label").is_file()


def _got10k_candidates(root: Path, children: list[Path]) -> _Readers:
    listed = root / "list.txt"
    if listed.is_file():
        names = [line.strip() for line in listed.read_text(encoding="utf-8-sig").splitlines() if line.strip()]
    else:
        names = [c.name for c in children]
    return _unique(root, [(n, _reader(n, root / n, _GOT10K)) for n in names])


def _otb_targets(folder: Path) -> dict[str, Path]:
    """{sequence name: box file} of one OTB video folder: ``groundtruth_rect.txt``; else one sequence per
    non-empty ``groundtruth_rect.<k>.txt``, named ``<video>-<k>`` (Jogging-1, Jogging-2), or the video's
    own name when only one is non-empty (Human4)."""
    plain = folder / "groundtruth_rect.txt"
    if plain.is_file():
        return {folder.name: plain}
    numbered = {}
    for path in folder.glob("groundtruth_rect*.txt"):
        match = _OTB_NUMBERED_GT.match(path.name)
        if match and path.stat().st_size > 0:
            numbered[int(match.group(1))] = path
    if len(numbered) == 1:
        return {folder.name: next(iter(numbered.values()))}
    if not numbered:
        return {folder.name: plain}  # reported missing when read
    return {f"{folder.name}-{k}": path for k, path in sorted(numbered.items())}


def _otb99_candidates(root: Path, split: str | None) -> _Readers:
    videos = root / "OTB_videos"
    want = "test" if split is None else _SPLIT_ALIASES.get(split.lower(), split.lower())
    if want not in ("train", "test"):
        raise ValueError(f"OTB99-lang splits are train and test, got {split!r}")
    queries = root / f"OTB_query_{want}"
    if not queries.is_dir():
        if split is not None:
            raise ValueError(f"no {queries.name} folder under {str(root)!r} for split {split!r}")
        log.warning("no OTB_query_test under %s: every video read, without language", root)
        items = [(n, _reader(n, v, _OTB, gt=gt, annotated_from=_OTB_ANNOTATED_FROM.get(n)))
                 for v in _subdirs(videos) for n, gt in _otb_targets(v).items()]
        return _unique(root, items)
    readers = {}
    for query in sorted(queries.glob("*.txt")):
        name = query.stem
        folder, gt = _otb99_source(videos, name)
        readers[name] = _reader(name, folder, _OTB99, gt=gt, language=query,
                                annotated_from=_OTB_ANNOTATED_FROM.get(name))
    return readers


def _otb99_source(videos: Path, name: str) -> tuple[Path, Path]:
    """(video folder, box file) of the OTB99-lang sequence ``name`` (``Jogging-1`` may live in ``Jogging``)."""
    folder = videos / name
    if folder.is_dir():
        return folder, _otb_targets(folder).get(name, folder / "groundtruth_rect.txt")
    base, _, target = name.rpartition("-")
    if base and target.isdigit() and (videos / base).is_dir():
        targets = _otb_targets(videos / base)
        if name in targets:
            return videos / base, targets[name]
    return folder, folder / "groundtruth_rect.txt"


# --- one sequence ----------------------------------------------------------------------------------


def _read_sequence(
    name: str,
    folder: Path,
    spec: _Spec,
    *,
    gt: Path | None = None,
    language: Path | None = None,
    annotated_from: int | None = None,
) -> Sequence:
    if not folder.is_dir():
        raise _Broken(f"no folder {folder}")
    frame_dir = folder if spec.frames is None else folder / spec.frames
    frame_paths = _frame_paths(frame_dir)
    if not frame_paths:
        raise _Broken(f"no frames in {frame_dir}")
    ground_truth = _read_boxes(gt or folder / spec.gt)
    n = len(ground_truth)
    if annotated_from is not None and n < len(frame_paths):
        frame_paths = _annotated_part(frame_paths, annotated_from, n)
    if n != len(frame_paths):
        if spec.labels and n == 1 and len(frame_paths) > 1:
            raise _Broken(f"{spec.gt} annotates frame 1 only (a GOT-10k test sequence): not usable here")
        raise _Broken(f"{n} ground-truth lines for {len(frame_paths)} frames{_gap_hint(frame_paths)}")
    if spec.numbered:
        _check_numbered(frame_paths)

    absent = ~(np.isfinite(ground_truth).all(axis=1) & (ground_truth[:, 2] > 0) & (ground_truth[:, 3] > 0))
    for flag_file in spec.flags:
        if (folder / flag_file).is_file():
            absent |= _read_flags(folder / flag_file, n)
        else:
            log.warning("sequence %s (%s): no %s; absence taken from the boxes alone", name, spec.layout, flag_file)
    if spec.labels:
        absent |= _read_got10k_labels(name, folder, n)
    if absent.all():
        raise _Broken("the target is visible in no frame (every frame flagged absent or without a valid box)")

    language_path = language if language is not None else (folder / spec.language if spec.language else None)
    sentences: tuple[str, ...] = ()
    if language_path is not None:
        sentences = _read_sentences(language_path)
        if not sentences:
            state = "is empty" if language_path.is_file() else "is missing"
            log.warning("sequence %s (%s): %s %s; language None", name, spec.layout, language_path, state)
    grounding = _read_grounding(folder / _GROUNDING, n) if spec is _DEVSET and (folder / _GROUNDING).is_file() else None
    language_text = sentences[0] if sentences else None
    return Sequence(name, tuple(frame_paths), ground_truth, language_text, absent, sentences, grounding)


def _frame_number(path: Path) -> int | None:
    digits = re.sub(r"\D", "", path.stem)
    return int(digits) if digits else None


def _frame_paths(folder: Path) -> list[Path]:
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
            raise _Broken(f"frames must be numbered 1..{len(frame_paths)}: frame {index} is {path.name}")


def _annotated_part(frame_paths: list[Path], first: int, count: int) -> list[Path]:
    """The ``count`` frames from frame number ``first`` (OTB videos annotated on part of their frames)."""
    start = next((i for i, p in enumerate(frame_paths) if _frame_number(p) == first), None)
    if start is None or start + count > len(frame_paths):
        return frame_paths
    return frame_paths[start : start + count]


def _fields(line: str) -> list[str]:
    return [f for f in _SEPARATORS.split(line.strip()) if f]


def _read_boxes(path: Path) -> np.ndarray:
    if not path.is_file():
        raise _Broken(f"missing {path.name}")
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8-sig").splitlines(), start=1):
        fields = _fields(line)
        if not fields:
            continue
        try:
            values = [float(v) for v in fields]
        except ValueError:
            raise _Broken(f"{path.name} line {number} is not numbers: {line.strip()!r}") from None
        if len(values) != 4:
            raise _Broken(f"{path.name} line {number} has {len(values)} values, expected 4 (x,y,w,h)")
        rows.append(values)
    return np.array(rows, dtype=np.float64).reshape(-1, 4)


def _read_flags(path: Path, frames: int) -> np.ndarray:
    fields = _fields(path.read_text(encoding="utf-8-sig"))
    if len(fields) != frames or any(f not in ("0", "1") for f in fields):
        raise _Broken(f"{path.name} must hold {frames} flags 0/1, got {len(fields)} values")
    return np.array([f == "1" for f in fields])


def _read_got10k_labels(name: str, folder: Path, frames: int) -> np.ndarray:
    """Absent where ``absence.label`` is 1 or ``cover.label`` (visible fraction in eighths) is 0."""
    absent = np.zeros(frames, dtype=bool)
    for label, top, absent_value in (("absence.label", 1, 1), ("cover.label", 8, 0)):
        path = folder / label
        if not path.is_file():
            log.warning("sequence %s (GOT-10k): no %s; absence taken from the boxes alone", name, label)
            continue
        fields = _fields(path.read_text(encoding="utf-8-sig"))
        if len(fields) != frames:
            raise _Broken(f"{label} must hold {frames} integers 0..{top}, one per line, got {len(fields)} values")
        values = []
        for number, field in enumerate(fields, start=1):
            if not re.fullmatch(r"\d+(\.0*)?", field) or not 0 <= float(field) <= top:
                raise _Broken(f"{label} value {number} is {field!r}, expected an integer 0..{top}")
            values.append(int(float(field)))
        absent |= np.array(values) == absent_value
    return absent


def _read_sentences(path: Path) -> tuple[str, ...]:
    if not path.is_file():
        return ()
    text = path.read_text(encoding="utf-8-sig", errors="replace")
    return tuple(" ".join(line.split()) for line in text.splitlines() if line.strip())


def _read_grounding(path: Path, frames: int) -> tuple[int, ...]:
    """0-based frames of ``grounding.txt`` (1-based positions, one a line)."""
    fields = _fields(path.read_text(encoding="utf-8-sig"))
    if not fields or not all(f.isdigit() and 1 <= int(f) <= frames for f in fields):
        raise _Broken(f"{path.name} must hold frame positions 1..{frames}, one a line, got {' '.join(fields[:5])!r}")
    return tuple(int(f) - 1 for f in fields)
