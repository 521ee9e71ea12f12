"""The manifest reader refuses what it cannot use, naming the entry and the field; frame hashes."""

from __future__ import annotations

import numpy as np
import pytest
import yaml

from litetrack_core.data.hashing import dhash64, hamming
from litetrack_core.data.manifest import ManifestError, load_manifest


def test_reads_the_demo_entries(demo_repository, manifest_file):
    _, commit, entries, _ = demo_repository
    loaded = load_manifest(manifest_file())
    assert [e.name for e in loaded] == [e["name"] for e in entries]
    masks = next(e for e in loaded if e.name == "walker_masks")
    assert masks.box_format == "mask" and masks.frame_range == (0, 7) and masks.commit == commit
    assert masks.published.line == 2 and masks.published.separator == ";" and masks.published.field == 2


@pytest.mark.parametrize("change, message", [
    ({"commit": "abc"}, "commit='abc' is malformed"),
    ({"frame_count": 5}, "frame_count=5 must equal"),
    ({"frame_range": [9, 3]}, "frame_range must be"),
    ({"box_format": "polygon"}, "box_format='polygon' must be one of"),
    ({"category": "robot"}, "category='robot' must be one of"),
    ({"sentences": []}, "sentences must be"),
    ({"grounding_frames": [1, 99]}, "grounding_frames must be distinct positions 1..8"),
    ({"first_frame": {"sha1": "x", "dhash": "y"}}, "first_frame: sha1 must be"),
    ({"repository": "no-slash"}, "repository='no-slash' is malformed"),
    ({"colour": "red"}, "unknown fields ['colour']"),
    ({"published": {"repository": "a/b", "commit": "0" * 40, "path": "x", "line": 0}}, "line must be >= 1"),
])
def test_malformed_entries_are_named(demo_repository, manifest_file, change, message):
    _, _, entries, _ = demo_repository
    with pytest.raises(ManifestError, match="walker_test") as err:
        load_manifest(manifest_file([dict(entries[0], **change)]))
    assert message in str(err.value)


def test_duplicate_names_and_non_manifests(demo_repository, manifest_file, tmp_path):
    _, _, entries, _ = demo_repository
    with pytest.raises(ManifestError, match="two sequences are named 'walker_test'"):
        load_manifest(manifest_file([entries[0], entries[0]]))
    path = tmp_path / "list.yaml"
    path.write_text(yaml.safe_dump([1, 2]))
    with pytest.raises(ManifestError, match="must be a mapping with a list 'sequences'"):
        load_manifest(path)
    with pytest.raises(ManifestError, match="cannot read manifest"):
        load_manifest(tmp_path / "absent.yaml")


def test_dhash_convention():
    """Bit = left pixel < right pixel, row by row, first bit most significant: a left-to-right ramp
    sets every bit, its mirror none, a ramp that rises in the first row only the first eight."""
    ramp = np.tile(np.arange(9, dtype=np.uint8) * 20, (8, 1))
    assert dhash64(ramp) == "ffffffffffffffff"
    assert dhash64(ramp[:, ::-1].copy()) == "0000000000000000"
    first_row = np.zeros((8, 9), np.uint8)
    first_row[0] = ramp[0]
    assert dhash64(first_row) == "ff00000000000000"
    # Area interpolation to 9x8: a 90x80 image of 10x10 blocks hashes as its 9x8 block means.
    assert dhash64(np.kron(ramp, np.ones((10, 10), np.uint8))) == "ffffffffffffffff"
    assert hamming("ff00000000000000", "0f00000000000001") == 5
