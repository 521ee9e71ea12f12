"""Fixtures for the grounding tests: the shipped CenterNet detector (TF.js graph model), as
scripts/setup.sh installs it (``litetrack detector install``; verified by its checksums)."""

from __future__ import annotations

from pathlib import Path

import pytest

from litetrack_core.grounding.install import detector_files


@pytest.fixture(scope="session")
def centernet_json() -> Path:
    """centernet.json of @vladmandic/human 3.3.6 (centernet.bin beside it). A detector that is not
    installed fails the tests that need it (the README's test command installs it)."""
    return detector_files()
