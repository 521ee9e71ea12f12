"""What a rendered synthetic sequence is made of: ``ObjectTrack`` (one object over the frames) and
``SceneInfo`` (the whole scene: sentence, objects, background, events), with its JSON form
(``scene.json``).

Boxes are ``x, y, w, h`` in pixel-edge coordinates (a box covering pixel columns ``x .. x + w - 1``),
zeros where absent; centres and radii are pixels, angles degrees.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["ObjectTrack", "SceneInfo"]


@dataclass(frozen=True, eq=False)
class ObjectTrack:
    """One drawn object over the sequence.

    centers: (N, 2) float64 geometric centre, pixels. radii: (N,) radius of the circle around the
    shape, pixels. angles: (N,) rotation, degrees. boxes: (N, 4) int64 tight box of its pixels that
    show (x, y, w, h), zeros where absent. visible: (N,) share of its area that shows.
    z: drawing order (higher is in front). role: "target", "distractor" or "occluder".
    """

    colour: str
    category: str
    role: str
    z: int
    centers: np.ndarray
    radii: np.ndarray
    angles: np.ndarray
    boxes: np.ndarray
    visible: np.ndarray

    @property
    def present(self) -> np.ndarray:
        """(N,) bool: frames where the object has a box."""
        return self.boxes[:, 2] > 0


@dataclass(frozen=True, eq=False)
class SceneInfo:
    """What ``synthesize`` rendered. The target is ``objects[0]``; ``ground_truth`` is its boxes.

    description: the sentence's structure (``colour``, ``category`` and at most one of ``size``,
    ``region``, ``extreme``, ``relation`` = {``kind``, ``object`` index}). background: ``source``
    (a path, ``"image <k>"`` for an array, or ``"procedural"``), ``crop`` (x, y, w, h in the source),
    ``flip``, ``canvas`` (W, H of the resized crop), ``interpolation``, ``offsets`` ((N, 2) int,
    the frame's top-left corner in the canvas). events: dicts with ``kind`` ("occlusion", "exit"),
    ``start``, ``end`` (frames, end excluded), ``hold`` (first, last + 1 frame where the occluder is
    fully over the target or the target fully outside), ``full`` and ``occluder`` (object index) or
    ``side`` (where the target leaves).
    """

    seed: int
    size: tuple[int, int]
    frames: int
    sentence: str
    description: dict[str, Any]
    objects: tuple[ObjectTrack, ...]
    background: dict[str, Any]
    events: tuple[dict[str, Any], ...]
    describe_frames: int
    min_visible: float
    target: int = 0

    @property
    def ground_truth(self) -> np.ndarray:
        return self.objects[self.target].boxes

    def to_json(self) -> dict[str, Any]:
        def obj(o: ObjectTrack) -> dict[str, Any]:
            return {
                "colour": o.colour,
                "category": o.category,
                "role": o.role,
                "z": o.z,
                "centers": np.round(o.centers, 2).tolist(),
                "radii": np.round(o.radii, 2).tolist(),
                "angles": np.round(o.angles, 2).tolist(),
                "boxes": o.boxes.tolist(),
                "visible": np.round(o.visible, 4).tolist(),
            }

        background = dict(self.background)
        background["offsets"] = np.asarray(background["offsets"]).tolist()
        return {
            "seed": self.seed,
            "size": list(self.size),
            "frames": self.frames,
            "sentence": self.sentence,
            "description": self.description,
            "target": self.target,
            "objects": [obj(o) for o in self.objects],
            "background": background,
            "events": list(self.events),
            "describe_frames": self.describe_frames,
            "min_visible": self.min_visible,
        }
