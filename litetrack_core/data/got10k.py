"""GOT-10k, one split folder: ``ROOT/GOT-10k_Train_000001/00000001.jpg ...`` (frames in the sequence
folder itself), ``groundtruth.txt``, ``absence.label`` and ``cover.label`` (one value per line: a frame
is absent where absence is 1 or cover, 0..8, is 0, as pytracking's ``target_visible``), and
``meta_info.ini`` (not read: GOT-10k has no language, ``language`` is None). ``ROOT/list.txt``, when
present, names the sequences. Test-split sequences annotate frame 1 only and are skipped; frames must
be numbered 1..N. A missing label file is warned about, naming the sequence; absence then comes from
the boxes alone."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import numpy as np

from litetrack_core.data.folder import BrokenSequence, FolderSpec, Readers, fields, reader, unique

__all__ = ["GOT10K", "got10k_readers", "is_got10k_sequence", "read_labels"]

log = logging.getLogger(__name__)


def read_labels(name: str, folder: Path, frames: int) -> np.ndarray:
    """Absent where ``absence.label`` is 1 or ``cover.label`` (visible fraction in eighths) is 0."""
    absent = np.zeros(frames, dtype=bool)
    for label, top, absent_value in (("absence.label", 1, 1), ("cover.label", 8, 0)):
        path = folder / label
        if not path.is_file():
            log.warning("sequence %s (GOT-10k): no %s; absence taken from the boxes alone", name, label)
            continue
        absent |= _read_label(path, frames, top) == absent_value
    return absent


def _read_label(path: Path, frames: int, top: int) -> np.ndarray:
    """The integers 0..``top`` of one label file, one per frame."""
    label = path.name
    values_text = fields(path.read_text(encoding="utf-8-sig"))
    if len(values_text) != frames:
        raise BrokenSequence(f"{label} must hold {frames} integers 0..{top}, one per line, got {len(values_text)} values")
    values = []
    for number, field in enumerate(values_text, start=1):
        if not re.fullmatch(r"\d+(\.0*)?", field) or not 0 <= float(field) <= top:
            raise BrokenSequence(f"{label} value {number} is {field!r}, expected an integer 0..{top}")
        values.append(int(float(field)))
    return np.array(values)


GOT10K = FolderSpec(
    "GOT-10k", frames=None, language=None, absence=read_labels, numbered=True,
    first_frame_only="a GOT-10k test sequence",
)


def is_got10k_sequence(folder: Path) -> bool:
    return folder.name.startswith("GOT-10k_") or (folder / "absence.label").is_file()


def got10k_readers(root: Path, children: list[Path]) -> Readers:
    """Readers of the sequences of one split folder: those ``list.txt`` names, else every child."""
    listed = root / "list.txt"
    if listed.is_file():
        names = [line.strip() for line in listed.read_text(encoding="utf-8-sig").splitlines() if line.strip()]
    else:
        names = [c.name for c in children]
    return unique(root, [(n, reader(n, root / n, GOT10K)) for n in names])
