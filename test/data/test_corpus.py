"""The committed real corpus: its size, its sentences, and that it holds nothing the project evaluates
on or has excluded (../shared/data/EXCLUDE.txt and the seven evaluation sequences)."""

from __future__ import annotations

import re
import cv2
import pytest

from litetrack_core.data.hashing import dhash64, hamming, sha1_hex
from litetrack_core.data.manifest import load_manifest

ENTRIES = load_manifest()


def test_corpus_size_and_sentences():
    assert len(ENTRIES) >= 60
    assert sum(e.frame_count for e in ENTRIES) >= 8000
    for e in ENTRIES:
        assert e.sentences and all(len(s.split()) >= 4 for s in e.sentences), e.name
        assert len(e.grounding_frames) >= 3 and 1 in e.grounding_frames, e.name
    assert len({e.dataset for e in ENTRIES}) >= 5  # persons, vehicles, animals, aerial, hand-held footage


def test_sequences_are_distinct():
    """No two entries start on the same picture, and the first and last frames of different entries
    hash far apart (more than 8 bits), except where one entry's last frame is the next one's first:
    the sub-sequences that UAV123 cuts from one video (truck4_1, truck4_2) share that frame."""
    firsts = [e.first_frame for e in ENTRIES]
    assert len({h.sha1 for h in firsts}) == len(ENTRIES)
    ends = [(e, which, h.dhash) for e in ENTRIES for which, h in (("first", e.first_frame), ("last", e.last_frame))]
    touching = 0
    for i, (a, end_a, hash_a) in enumerate(ends):
        for b, end_b, hash_b in ends[i + 1:]:
            if a.name == b.name or hamming(hash_a, hash_b) > 8:
                continue
            (earlier, _), (later, _) = sorted([(a, end_a), (b, end_b)], key=lambda t: t[1] == "first")
            same_video = earlier.original_name.rsplit("_", 1)[0] == later.original_name.rsplit("_", 1)[0]
            assert {end_a, end_b} == {"first", "last"} and same_video and \
                earlier.frame_range[1] == later.frame_range[0], f"{a.name} {end_a} ~ {b.name} {end_b}"
            touching += 1
    assert touching <= 3


def _excluded_names(shared_data) -> set[str]:
    names = set()
    for line in (shared_data / "EXCLUDE.txt").read_text().splitlines():
        fields = line.split("#")[0].split()
        if len(fields) == 2:
            name = fields[1].lower()
            names |= {name, f"{name}-1", f"{name}-2", f"{name}_1", f"{name}_2"}
    return names


def test_no_excluded_name(shared_data):
    excluded = _excluded_names(shared_data)
    assert len(excluded) >= 5 * 30  # the file was read
    for e in ENTRIES:
        stem = re.sub(r"_[a-z0-9]+$", "", e.name)  # walker_otb -> walker
        for name in (e.original_name.lower(), e.name.lower(), stem):
            assert name not in excluded, f"{e.name}: {name} is excluded"


def test_no_evaluation_sequence(shared_data):
    """The first frames of the seven evaluation sequences: their SHA-1 and dhash appear nowhere in the
    manifest, and no manifest frame is a near copy of them (a re-encoded frame differs in a few bits)."""
    sequences = sorted((shared_data / "sequences").iterdir())
    assert len(sequences) == 7
    manifest_sha1 = {h.sha1 for e in ENTRIES for h in (e.first_frame, e.last_frame)}
    manifest_dhash = [h.dhash for e in ENTRIES for h in (e.first_frame, e.last_frame)]
    for seq in sequences:
        first = sorted((seq / "img").iterdir())[0]
        sha1 = sha1_hex(first.read_bytes())
        dhash = dhash64(cv2.cvtColor(cv2.imread(str(first)), cv2.COLOR_BGR2RGB))
        assert sha1 not in manifest_sha1, seq.name
        assert dhash not in manifest_dhash, seq.name
        assert min(hamming(dhash, h) for h in manifest_dhash) > 4, seq.name
        assert seq.name.rsplit("_", 1)[0].lower() not in {e.original_name.lower() for e in ENTRIES}


@pytest.mark.parametrize("frame", ["000001.jpg", "000100.jpg"])
def test_real_frames_hash_apart_from_their_reencoding(clip, frame):
    """The near-copy margin above means something: a re-encoded copy of a real frame stays within it.
    A property of the hash, shown on the packaged clip's first and last frames so it runs from a clone
    (the first frames of crossing_otb and girl_otb, used before, measured the same: 1 and 0 bits)."""
    image = cv2.cvtColor(cv2.imread(str(clip / "img" / frame)), cv2.COLOR_BGR2RGB)
    ok, data = cv2.imencode(".jpg", cv2.resize(image, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA),
                            [cv2.IMWRITE_JPEG_QUALITY, 60])
    copy = cv2.imdecode(data, cv2.IMREAD_COLOR)
    assert hamming(dhash64(image), dhash64(copy)) <= 4
