"""``litetrack data real``: the real corpus of ``real_corpus.yaml`` written in the project's sequence
layout, from local copies of the public repositories it points to.

For every entry, into ``OUT/<name>/``::

    img/000001.jpg ...   the frames of the range, renumbered from 1, bytes as in the repository
    groundtruth.txt      x,y,w,h per frame in pixels; 0,0,0,0 where the target is absent
    language.txt         the project's sentences, one a line, then the published one when pointed to
    grounding.txt        the positions (1-based) where the first sentence holds, one a line
    category.txt         what the target is (``manifest.CATEGORIES``)
    SOURCE.txt           repository, commit, paths, dataset and licence

Everything is checked before anything is written: every frame must be in the repository, be a real
image (not a Git LFS pointer) and decode; every box line must parse, have w and h >= 0 and overlap
its frame; the line count must match the frames; the first and last frames must have the manifest's
SHA-1 (so the files are the ones the manifest describes). A sequence that fails any check is skipped
and named with the reason; the others are written. A sequence is written into a temporary folder and
renamed into place, so a folder under OUT is always whole; one already complete (same commit and
frame count) keeps its frames and only gets its text files refreshed.
"""

from __future__ import annotations

import logging
import math
import re
import shutil
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from litetrack_core.data.gitmirror import GitError, GitRepo, TreeEntry, clone_repository, find_repository
from litetrack_core.data.hashing import dhash64, sha1_hex
from litetrack_core.data.manifest import CorpusEntry, PublishedSentence
from litetrack_core.data.project import CATEGORY

__all__ = ["Broken", "MaterialiseReport", "SequenceReport", "materialise"]

log = logging.getLogger(__name__)

_IMAGE = re.compile(r"\.(jpe?g|png|bmp)$", re.IGNORECASE)
_LFS = b"version https://git-lfs.github.com/spec/"
_SEPARATORS = re.compile(r"[,\s]+")


class Broken(Exception):
    """A sequence that cannot be materialised; the message says which file and why."""


@dataclass(frozen=True)
class SequenceReport:
    name: str
    frames: int
    visible: int  # frames with a target box (annotated frames)
    sentences: int
    kept: bool  # frames were already there


@dataclass
class MaterialiseReport:
    written: list[SequenceReport] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)  # name -> reason
    warnings: list[str] = field(default_factory=list)

    @property
    def frames(self) -> int:
        return sum(s.frames for s in self.written)

    @property
    def visible(self) -> int:
        return sum(s.visible for s in self.written)

    def summary(self) -> str:
        lines = [
            f"{len(self.written)} sequences, {self.frames} frames ({self.visible} with the target annotated), "
            f"{sum(s.sentences for s in self.written)} sentences"
        ]
        lines += [f"skipped {name}: {reason}" for name, reason in sorted(self.skipped.items())]
        lines += [f"warning: {w}" for w in self.warnings]
        return "\n".join(lines)


def materialise(
    entries: Iterable[CorpusEntry],
    mirror: str | Path,
    out: str | Path,
    *,
    clone_from: str | None = None,
) -> MaterialiseReport:
    """Write every entry that passes its checks under ``out`` (see the module docstring).

    mirror: folder of local repository copies (``data/gitmirror.py`` says where each is looked for).
    clone_from: where a repository missing from ``mirror`` is cloned from ("https://github.com" on a
        machine with the internet; a local folder of repositories also works); None: not cloned,
        its sequences are skipped and named.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    report = MaterialiseReport()
    repos: dict[str, GitRepo | str] = {}
    try:
        for entry in entries:
            try:
                repo = _repository(repos, entry.repository, mirror, clone_from)
                written = _write_entry(entry, repo, out, report, lambda p: _repository(repos, p, mirror, clone_from))
            except (Broken, GitError) as err:
                report.skipped[entry.name] = str(err)
                log.warning("skipping %s: %s", entry.name, err)
                continue
            report.written.append(written)
            log.info("%s: %d frames, %d annotated%s", entry.name, written.frames, written.visible,
                     " (frames kept)" if written.kept else "")
    finally:
        for repo in repos.values():
            if isinstance(repo, GitRepo):
                repo.close()
    return report


def _repository(cache: dict[str, GitRepo | str], name: str, mirror: str | Path, clone_from: str | None) -> GitRepo:
    """The copy of ``name`` (found, or cloned); Broken, with the reason, when there is none.
    ``cache`` keeps each repository's copy, or the reason it has none, for the next sequence."""
    if name not in cache:
        repo = find_repository(mirror, name)
        if repo is not None:
            cache[name] = repo
        elif clone_from is None:
            cache[name] = f"repository {name} is not in the mirror {mirror}"
        else:
            try:
                cache[name] = clone_repository(mirror, name, clone_from)
            except GitError as err:
                cache[name] = str(err)
    found = cache[name]
    if isinstance(found, str):
        raise Broken(found)
    return found


def _write_entry(
    entry: CorpusEntry, repo: GitRepo, out: Path, report: MaterialiseReport, repository: Callable[[str], GitRepo]
) -> SequenceReport:
    if not repo.has_commit(entry.commit):
        raise Broken(f"commit {entry.commit} is not in the copy of {entry.repository} ({repo.git_dir})")
    target = out / entry.name
    source = _source_text(entry)
    boxes = _kept_boxes(target, entry, source)
    kept = boxes is not None
    if boxes is None:
        boxes = _write_frames(entry, repo, out, source)
    sentences = list(entry.sentences)
    if entry.published is not None:
        published = _published_sentence(entry.published, repository, report, entry.name)
        if published:
            sentences.append(published)
    (target / "language.txt").write_text("".join(s + "\n" for s in sentences))
    (target / "grounding.txt").write_text("".join(f"{g}\n" for g in entry.grounding_frames))
    (target / CATEGORY).write_text(entry.category + "\n")
    visible = int(((boxes[:, 2] > 0) & (boxes[:, 3] > 0)).sum())
    return SequenceReport(entry.name, entry.frame_count, visible, len(sentences), kept)


def _kept_boxes(target: Path, entry: CorpusEntry, source: str) -> np.ndarray | None:
    """The boxes of a folder an earlier run wrote whole from the same source, else None."""
    try:
        if (target / "SOURCE.txt").read_text() != source or len(list((target / "img").iterdir())) != entry.frame_count:
            return None
        rows = [[float(v) for v in line.split(",")] for line in (target / "groundtruth.txt").read_text().splitlines()]
        boxes = np.array(rows, dtype=np.float64)
    except (OSError, ValueError):
        return None
    return boxes if boxes.shape == (entry.frame_count, 4) else None


def _write_frames(entry: CorpusEntry, repo: GitRepo, out: Path, source: str) -> np.ndarray:
    """Check every frame and box, then write img/, groundtruth.txt and SOURCE.txt into ``out/name``
    (through a temporary folder); the boxes written (absent: zeros)."""
    frames = _frame_files(entry, repo)
    boxes, absent = _boxes(entry, repo)
    tmp = out / f".{entry.name}.partial"
    shutil.rmtree(tmp, ignore_errors=True)
    (tmp / "img").mkdir(parents=True)
    try:
        for position, (number, item) in enumerate(frames, start=1):
            data = repo.read_blob(item.blob)
            image = _decode(data, entry, number, item.name)
            if position in (1, len(frames)):
                _check_hashes(entry, position == 1, data, image, item.name)
            if not absent[position - 1]:
                _check_box(boxes[position - 1], image.shape, entry, number)
            (tmp / "img" / f"{position:06d}{Path(item.name).suffix.lower()}").write_bytes(data)
        boxes[absent] = 0.0
        (tmp / "groundtruth.txt").write_text("".join(_box_line(b) for b in boxes))
        (tmp / "SOURCE.txt").write_text(source)
        shutil.rmtree(out / entry.name, ignore_errors=True)
        tmp.rename(out / entry.name)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return boxes


def _source_text(entry: CorpusEntry) -> str:
    first, last = entry.frame_range
    return (
        f"{entry.original_name} of {entry.dataset}, from https://github.com/{entry.repository} at {entry.commit}\n"
        f"frames: {entry.frames} (numbers {first}..{last}, {entry.frame_count} frames)\n"
        f"boxes: {entry.boxes} ({entry.box_format})\n"
        f"licence: {entry.licence}\n"
        "materialised by `litetrack data real` from litetrack_core/data/real_corpus.yaml; not for redistribution\n"
    )


def _frame_files(entry: CorpusEntry, repo: GitRepo):
    """[(frame number, TreeEntry)] of the range, in order."""
    try:
        listing = repo.list_folder(entry.commit, entry.frames)
    except GitError:
        raise Broken(f"no folder {entry.frames} at {entry.commit[:8]} in {entry.repository}") from None
    by_number: dict[int, TreeEntry] = {}
    for item in listing:
        digits = re.sub(r"\D", "", Path(item.name).stem)
        if not _IMAGE.search(item.name) or not digits:
            continue
        number = int(digits)
        if entry.frame_range[0] <= number <= entry.frame_range[1]:
            if number in by_number:
                raise Broken(f"two files for frame {number} in {entry.frames}: {by_number[number].name}, {item.name}")
            by_number[number] = item
    first, last = entry.frame_range
    missing = [n for n in range(first, last + 1) if n not in by_number]
    if missing:
        shown = ", ".join(map(str, missing[:5])) + (", ..." if len(missing) > 5 else "")
        raise Broken(f"frames missing from {entry.frames}: {shown} ({len(missing)} of {entry.frame_count})")
    return [(n, by_number[n]) for n in range(first, last + 1)]


def _boxes(entry: CorpusEntry, repo: GitRepo) -> tuple[np.ndarray, np.ndarray]:
    """((N, 4) float64 x, y, w, h, (N,) bool absent) of the entry's frames."""
    if entry.box_format == "mask":
        return _mask_boxes(entry, repo)
    try:
        text = repo.read(entry.commit, entry.boxes).decode("utf-8-sig")
    except (GitError, UnicodeDecodeError) as err:
        raise Broken(f"cannot read box file {entry.boxes}: {err}") from None
    if text.startswith(_LFS.decode()):
        raise Broken(f"box file {entry.boxes} is a Git LFS pointer, not the file")
    rows, absent = [], []
    for number, line in enumerate(text.splitlines(), start=1):
        fields = [f for f in _SEPARATORS.split(line.strip()) if f]
        if not fields:
            continue
        try:
            values = [float(v) for v in fields]
        except ValueError:
            raise Broken(f"{entry.boxes} line {number} is not numbers: {line.strip()!r}") from None
        if entry.box_format == "tlp":
            if len(values) != 6:
                raise Broken(f"{entry.boxes} line {number} has {len(values)} values, expected 6 (frame,x,y,w,h,lost)")
            lost, values = values[5] == 1, values[1:5]
        else:
            if len(values) != 4:
                raise Broken(f"{entry.boxes} line {number} has {len(values)} values, expected 4 (x,y,w,h)")
            lost = False
        x, y, w, h = values
        if all(math.isfinite(v) for v in values) and (w < 0 or h < 0):
            raise Broken(f"{entry.boxes} line {number} has a negative size: {line.strip()!r}")
        absent.append(lost or not all(math.isfinite(v) for v in values) or w == 0 or h == 0)
        rows.append(values)
    if len(rows) != entry.frame_count:
        raise Broken(f"{entry.boxes} has {len(rows)} boxes for {entry.frame_count} frames")
    return np.array(rows, dtype=np.float64), np.array(absent, dtype=bool)


def _mask_boxes(entry: CorpusEntry, repo: GitRepo) -> tuple[np.ndarray, np.ndarray]:
    try:
        listing = {int(re.sub(r"\D", "", Path(e.name).stem) or -1): e for e in repo.list_folder(entry.commit, entry.boxes)
                   if e.name.lower().endswith(".png")}
    except GitError:
        raise Broken(f"no mask folder {entry.boxes} at {entry.commit[:8]} in {entry.repository}") from None
    boxes = np.zeros((entry.frame_count, 4))
    absent = np.zeros(entry.frame_count, dtype=bool)
    first, last = entry.frame_range
    for position, number in enumerate(range(first, last + 1)):
        if number not in listing:
            raise Broken(f"mask of frame {number} missing from {entry.boxes}")
        data = repo.read_blob(listing[number].blob)
        if data.startswith(_LFS):
            raise Broken(f"mask {entry.boxes}/{listing[number].name} is a Git LFS pointer, not an image")
        mask = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_GRAYSCALE)
        if mask is None:
            raise Broken(f"mask {entry.boxes}/{listing[number].name} cannot be decoded")
        ys, xs = np.nonzero(mask)
        if xs.size == 0:
            absent[position] = True
        else:
            boxes[position] = (xs.min(), ys.min(), xs.max() - xs.min() + 1, ys.max() - ys.min() + 1)
    return boxes, absent


def _decode(data: bytes, entry: CorpusEntry, number: int, name: str) -> np.ndarray:
    if data.startswith(_LFS):
        raise Broken(f"frame {number} ({entry.frames}/{name}) is a Git LFS pointer, not an image")
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise Broken(f"frame {number} ({entry.frames}/{name}) cannot be decoded as an image")
    return image


def _check_hashes(entry: CorpusEntry, first: bool, data: bytes, image: np.ndarray, name: str) -> None:
    expected = entry.first_frame if first else entry.last_frame
    which = "first" if first else "last"
    if sha1_hex(data) != expected.sha1:
        raise Broken(f"{which} frame {name} has SHA-1 {sha1_hex(data)}, the manifest says {expected.sha1}")
    got = dhash64(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))
    if got != expected.dhash:
        raise Broken(f"{which} frame {name} has dhash {got}, the manifest says {expected.dhash}")


def _check_box(box: np.ndarray, shape: tuple[int, ...], entry: CorpusEntry, number: int) -> None:
    x, y, w, h = box
    height, width = shape[:2]
    if x >= width or y >= height or x + w <= 0 or y + h <= 0:
        raise Broken(f"box of frame {number} ({x:g},{y:g},{w:g},{h:g}) lies outside the {width}x{height} frame")


def _box_line(box: np.ndarray) -> str:
    return ",".join(f"{v:.2f}".rstrip("0").rstrip(".") for v in box) + "\n"


def _published_sentence(pointer: PublishedSentence, repository: Callable[[str], GitRepo], report: MaterialiseReport, name: str) -> str | None:
    """The published sentence a pointer names, or None with a warning (our own sentences suffice)."""
    try:
        repo = repository(pointer.repository)
        lines = repo.read(pointer.commit, pointer.path).decode("utf-8-sig", errors="replace").splitlines()
        line = lines[pointer.line - 1]
        parts = line.split(pointer.separator) if pointer.separator else [line]
        sentence = " ".join(parts[pointer.field].split())
    except (Broken, GitError, IndexError) as err:
        report.warnings.append(f"{name}: published sentence {pointer.repository}:{pointer.path} line {pointer.line} "
                               f"not read ({err})")
        return None
    return sentence or None
