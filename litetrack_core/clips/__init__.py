"""Real video shipped with the package, for the demo, the tests and the commands' defaults.

Each clip is a folder in the project's sequence layout (``img/000001.jpg``..., ``groundtruth.txt``
with one ``x,y,w,h`` line per frame in pixels, ``language.txt``, ``SOURCE.txt``), readable by
``litetrack_core.data.load.load_dataset`` like any other sequence. Origin and licence: the
README.md beside this file.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["CLIPS", "PEDESTRIAN"]

CLIPS = Path(__file__).resolve().parent
# 100 frames of OpenCV's vtest.avi: a person in a light blue jacket crosses a square, passing
# behind a walker in black and the lamp post, among a dozen other pedestrians.
PEDESTRIAN = CLIPS / "vtest_pale_jacket"
