"""Fixtures of the real-corpus tests: a git repository built from the real frames of the packaged clip
(``demo_mirror.py``) and manifests that point into it."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from .demo_mirror import build_demo_repository


@pytest.fixture(scope="session")
def demo_repository(clip, tmp_path_factory):
    """(work tree of the repository, its commit, manifest entries as dicts, the boxes used); the
    repository lies at MIRROR/owner/name, MIRROR being the work tree's grandparent."""
    return build_demo_repository(clip, tmp_path_factory.mktemp("mirror_src"))


@pytest.fixture
def manifest_file(demo_repository, tmp_path):
    """``write(entries=None)``: a manifest file of the given entries (dicts; default: all the demo's)."""
    _, _, entries, _ = demo_repository

    def write(chosen=None) -> Path:
        path = tmp_path / "corpus.yaml"
        path.write_text(yaml.safe_dump({"version": 1, "sequences": chosen if chosen is not None else entries}))
        return path

    return write
