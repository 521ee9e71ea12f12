"""The real training corpus as data: ``real_corpus.yaml`` beside this module.

The manifest names, for every sequence, where its frames and boxes lie in a public repository at a
pinned commit, what licence that source states, fingerprints of its first and last frames, and the
sentences this project wrote for its target. The frames themselves are never committed:
``data/real.py`` materialises them from local copies of the repositories.

Conventions of an entry (``CorpusEntry``):

* ``frames``: a folder in the repository; a frame's number is the digits of its file name
  (``000123.jpg`` -> 123). ``frame_range`` [first, last] are such numbers, inclusive; every number in
  the range must have exactly one image file.
* ``boxes``: a file with one line per frame of the range, in ``box_format``:
  ``xywh`` x, y, w, h in pixels, top-left origin, separated by commas, tabs or spaces (OTB, UAV123,
  DTB70, UAVDT); a row of NaN or all zeros marks the target absent.
  ``tlp`` frame number, x, y, w, h, lost (TLP; lost 1 = absent).
  ``mask``: ``boxes`` is a folder of PNG masks numbered as the frames (DAVIS); the box is the tight
  box around the non-zero pixels; an empty mask marks the target absent.
* ``category``: what the target is, one of ``CATEGORIES`` (the kind of thing a sentence's head noun
  names; a rider is a person, a gull an animal), for negative pairs of the same kind (training).
* ``grounding_frames``: 1-based positions in the sequence (1 = its first frame) where the first
  sentence still holds, for grounding samples (sentence -> box on the whole frame).
* ``published``: optional pointer to a sentence published for this target by others (never copied
  here): line ``line`` (1-based) of ``path`` in ``repository`` at ``commit``, split by ``separator``
  when given, field ``field`` (0-based).
* ``first_frame`` / ``last_frame``: ``sha1`` of the file's bytes, ``dhash`` of its picture
  (``data/hashing.py``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

__all__ = ["BOX_FORMATS", "CATEGORIES", "CorpusEntry", "FrameHashes", "ManifestError", "PublishedSentence", "load_manifest", "MANIFEST"]

MANIFEST = Path(__file__).with_name("real_corpus.yaml")
BOX_FORMATS = ("xywh", "tlp", "mask")
CATEGORIES = ("person", "vehicle", "animal", "structure")

_NAME = re.compile(r"[a-z0-9][a-z0-9_.-]*")
_HEX40 = re.compile(r"[0-9a-f]{40}")  # a commit id or a SHA-1
_DHASH = re.compile(r"[0-9a-f]{16}")
_REPO = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*/[A-Za-z0-9][A-Za-z0-9_.-]*")


class ManifestError(ValueError):
    """A manifest that cannot be used; the message names the entry and the field."""


@dataclass(frozen=True)
class FrameHashes:
    sha1: str
    dhash: str


@dataclass(frozen=True)
class PublishedSentence:
    repository: str
    commit: str
    path: str
    line: int
    separator: str | None = None
    field: int = 0


@dataclass(frozen=True)
class CorpusEntry:
    """One sequence of the corpus (see the module docstring for the conventions)."""

    name: str
    dataset: str
    original_name: str
    category: str
    repository: str
    commit: str
    frames: str
    frame_range: tuple[int, int]
    boxes: str
    box_format: str
    frame_count: int
    licence: str
    first_frame: FrameHashes
    last_frame: FrameHashes
    sentences: tuple[str, ...]
    grounding_frames: tuple[int, ...]
    published: PublishedSentence | None = None


def load_manifest(path: str | Path | None = None) -> list[CorpusEntry]:
    """Every entry of the manifest (default: the packaged ``real_corpus.yaml``), in file order.

    Raises ManifestError for a file that is not a manifest, an entry with a missing or malformed
    field, or two entries of one name.
    """
    path = Path(path) if path is not None else MANIFEST
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as err:
        raise ManifestError(f"cannot read manifest {path}: {err}") from None
    if not isinstance(data, dict) or not isinstance(data.get("sequences"), list):
        raise ManifestError(f"manifest {path} must be a mapping with a list 'sequences'")
    entries, seen = [], set()
    for index, raw in enumerate(data["sequences"]):
        entry = _entry(raw, f"{path.name} sequence {index + 1}")
        if entry.name in seen:
            raise ManifestError(f"{path.name}: two sequences are named {entry.name!r}")
        seen.add(entry.name)
        entries.append(entry)
    return entries


def _entry(raw: Any, where: str) -> CorpusEntry:
    if not isinstance(raw, dict):
        raise ManifestError(f"{where}: expected a mapping, got {type(raw).__name__}")
    name = raw.get("name")
    if isinstance(name, str):
        where = f"{where} ({name})"
    known = set(CorpusEntry.__dataclass_fields__)
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ManifestError(f"{where}: unknown fields {unknown}")

    def text(key: str, pattern: re.Pattern[str] | None = None) -> str:
        value = raw.get(key)
        if not isinstance(value, str) or not value.strip():
            raise ManifestError(f"{where}: {key} must be a non-empty string, got {value!r}")
        if pattern is not None and not pattern.fullmatch(value):
            raise ManifestError(f"{where}: {key}={value!r} is malformed (expected {pattern.pattern})")
        return value

    frame_range = raw.get("frame_range")
    if not (isinstance(frame_range, list) and len(frame_range) == 2 and all(_is_int(v) for v in frame_range)
            and 0 <= frame_range[0] <= frame_range[1]):
        raise ManifestError(f"{where}: frame_range must be [first, last] frame numbers, first <= last, got {frame_range!r}")
    count = raw.get("frame_count")
    if not _is_int(count) or count != frame_range[1] - frame_range[0] + 1:
        raise ManifestError(f"{where}: frame_count={count!r} must equal the frames of frame_range {frame_range}")
    box_format = text("box_format")
    if box_format not in BOX_FORMATS:
        raise ManifestError(f"{where}: box_format={box_format!r} must be one of {', '.join(BOX_FORMATS)}")
    category = text("category")
    if category not in CATEGORIES:
        raise ManifestError(f"{where}: category={category!r} must be one of {', '.join(CATEGORIES)}")
    sentences = raw.get("sentences")
    if not (isinstance(sentences, list) and sentences and all(isinstance(s, str) and s.strip() for s in sentences)):
        raise ManifestError(f"{where}: sentences must be a non-empty list of sentences")
    grounding = raw.get("grounding_frames")
    if not (isinstance(grounding, list) and all(_is_int(g) and 1 <= g <= count for g in grounding)
            and len(set(grounding)) == len(grounding)):
        raise ManifestError(f"{where}: grounding_frames must be distinct positions 1..{count}, got {grounding!r}")
    return CorpusEntry(
        name=text("name", _NAME),
        dataset=text("dataset"),
        original_name=text("original_name"),
        category=category,
        repository=text("repository", _REPO),
        commit=text("commit", _HEX40),
        frames=text("frames"),
        frame_range=(int(frame_range[0]), int(frame_range[1])),
        boxes=text("boxes"),
        box_format=box_format,
        frame_count=int(count),
        licence=text("licence"),
        first_frame=_hashes(raw.get("first_frame"), f"{where}: first_frame"),
        last_frame=_hashes(raw.get("last_frame"), f"{where}: last_frame"),
        sentences=tuple(" ".join(s.split()) for s in sentences),
        grounding_frames=tuple(int(g) for g in grounding),
        published=None if raw.get("published") is None else _published(raw["published"], f"{where}: published"),
    )


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _hashes(raw: Any, where: str) -> FrameHashes:
    if not isinstance(raw, dict) or set(raw) != {"sha1", "dhash"}:
        raise ManifestError(f"{where} must be a mapping of sha1 and dhash, got {raw!r}")
    sha1, dhash = str(raw["sha1"]), str(raw["dhash"])
    if not _HEX40.fullmatch(sha1) or not _DHASH.fullmatch(dhash):
        raise ManifestError(f"{where}: sha1 must be 40 and dhash 16 lower-case hex digits, got {sha1!r}, {dhash!r}")
    return FrameHashes(sha1, dhash)


def _published(raw: Any, where: str) -> PublishedSentence:
    fields = set(PublishedSentence.__dataclass_fields__)
    if not isinstance(raw, dict) or not {"repository", "commit", "path", "line"} <= set(raw) <= fields:
        raise ManifestError(f"{where} must be a mapping of repository, commit, path, line (separator, field), got {raw!r}")
    repo, commit = str(raw["repository"]), str(raw["commit"])
    if not _REPO.fullmatch(repo) or not _HEX40.fullmatch(commit):
        raise ManifestError(f"{where}: repository {repo!r} or commit {commit!r} is malformed")
    line, field = raw["line"], raw.get("field", 0)
    if not (_is_int(line) and line >= 1 and _is_int(field) and field >= 0):
        raise ManifestError(f"{where}: line must be >= 1 and field >= 0, got {line!r}, {field!r}")
    separator = raw.get("separator")
    if separator is not None and (not isinstance(separator, str) or not separator):
        raise ManifestError(f"{where}: separator must be a non-empty string")
    return PublishedSentence(repo, commit, str(raw["path"]), int(line), separator, int(field))
