"""Fixtures for the grounding tests: the pinned CenterNet detector and MoveNet pose model (TF.js graph
models), as scripts/setup.sh installs them (``litetrack detector install``; verified by checksums)."""

from __future__ import annotations

from pathlib import Path

import pytest

from litetrack_core.grounding.install import detector_files


@pytest.fixture(scope="session")
def centernet_json() -> Path:
    """centernet.json of @vladmandic/human 3.3.6 (centernet.bin beside it). A detector that is not
    installed fails the tests that need it (the README's test command installs it)."""
    return detector_files() / "centernet.json"


@pytest.fixture(scope="session")
def movenet_json() -> Path:
    """movenet-lightning.json of @vladmandic/human 3.3.6 (its weights beside it)."""
    return detector_files() / "movenet-lightning.json"
