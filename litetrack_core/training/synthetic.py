"""Synthetic vision-language tracking sequences, rendered offline in this project's sequence layout.

Issue 6: the default model learns grounding by words from rendered scenes with generated
descriptions. One sequence is a background (a real photo from a folder, or a procedural one),
several procedurally drawn objects of nameable categories and colours moving along smooth random
paths, the exact box of one of them (the target) per frame, and one sentence that names the target
unambiguously among the others.

Layout written (read by ``litetrack_core.eval.datasets.load_dataset``, "sequences" layout)::

    SEQ/img/000001.jpg ...   frames (JPEG, written with OpenCV)
    SEQ/groundtruth.txt      'x,y,w,h' per frame, pixels; 0,0,0,0 where the target is absent
    SEQ/language.txt         one sentence naming the target
    SEQ/SOURCE.txt           "rendered by litetrack_core.training.synthetic, seed ..." and provenance
    SEQ/scene.json           the scene: every object's attributes and per-frame boxes (not read by
                             the loader; for checks and other sentences)

What a scene holds:

* Background: a crop of a photo (any .jpg/.jpeg/.png under the folder given, recursively), resized
  with ``cv2.INTER_AREA`` (``INTER_LINEAR`` when enlarging) and maybe mirrored; or, without photos,
  a procedural one (two-colour gradient, low-frequency noise, blurred desaturated shapes, grain).
  With ``camera=True`` the frame window pans slowly and jitters over a canvas a little larger than
  the frame. ``SceneInfo.background`` says exactly how the canvas was made.
* Objects: ``CATEGORIES`` (circle, oval, square, diamond, triangle, star, ring, cross, heart,
  arrow) in the ``COLOURS`` palette, shaded (a light/shadow gradient, sometimes stripes or spots,
  pixel noise) by a texture that moves and turns with the object. Hard edges: a pixel belongs to
  one object or to the background, so boxes are exact. The target (always ``objects[0]``) comes with
  distractors sharing its colour or its category, so a sentence must combine both; with
  probability ``twin`` one shares both (a "twin"), and size, position or a relation to another
  object must then tell them apart.
* Motion: velocity with small random accelerations, bouncing at the borders (objects may cross the
  border by up to a quarter of their size), a bounded scale drift and a bounded rotation (shapes that
  would turn into another category, a square into a diamond, turn little). Events, at most one per
  sequence and after the first ``describe_frames`` frames when the sequence is long enough:
  an occlusion (probability ``occlusion``; a distractor drawn in front of the target slides over
  it, covering it completely with probability ``full_occlusion``, else partly) or an exit (the
  target leaves the frame completely for a few frames and comes back; probability ``exit``).
* Ground truth: the tight box of the target's pixels that show in the frame (occluders and the
  frame border clipped away), ``x, y, w, h`` in pixel-edge coordinates (a box covering pixel columns
  ``x .. x + w - 1``). The target is absent (0,0,0,0) when no pixel of it shows, or when less than
  ``min_visible`` (default 5 %) of its area shows (slivers at a border or beside an occluder are no
  usable target; ``min_visible=0`` keeps every visible pixel).
* Sentence: built from the scene so that it names the target and nothing else, on each of the first
  ``describe_frames`` frames where the target is visible (the training sampler's grounding samples
  take a frame among the first 30): colour + category always ("the red circle"), plus, when another
  object shares both or for variety, one of size ("the larger blue square"), position in the image
  ("the green star at the top left"), an extreme among the same-looking objects ("the leftmost
  yellow ring") or a relation to an object that is unique by colour and category ("the green
  triangle left of the yellow star", "the red heart next to the black cross"). Each candidate is
  checked against every object present in those frames with margins (positive for the target,
  clearly negative for each other object with the same colour and category); the sentence is drawn
  among the candidates that pass, in mixed phrasings. Left and right are meant in the image, so the
  sampler's flip (``swap_directions``) keeps sentences true.

Randomness: everything comes from ``numpy.random.default_rng(seed)``; a seed gives the same frames,
boxes and sentence on every run. ``render_dataset`` derives the seed of sequence ``i`` from
``(seed, i)`` and writes it in SOURCE.txt, so one sequence can be rendered again alone.
"""

from __future__ import annotations

import json
import logging
import math
import shutil
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

__all__ = [
    "CATEGORIES",
    "COLOURS",
    "FRAME_SIZES",
    "Backgrounds",
    "ObjectTrack",
    "SceneInfo",
    "render_dataset",
    "render_sequence",
    "sequence_seed",
    "synthesize",
]

log = logging.getLogger(__name__)

# Named palette, RGB. Names are the words used in sentences ("gray" is also written "grey").
COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (215, 35, 35),
    "green": (40, 160, 60),
    "blue": (35, 80, 215),
    "yellow": (240, 215, 40),
    "orange": (245, 135, 25),
    "purple": (130, 55, 175),
    "pink": (245, 135, 190),
    "white": (242, 242, 242),
    "black": (22, 22, 22),
    "gray": (128, 128, 128),
    "brown": (125, 75, 35),
    "cyan": (40, 205, 215),
}

# Frame sizes (W, H) drawn when ``size=None``.
FRAME_SIZES: tuple[tuple[int, int], ...] = (
    (320, 240),
    (360, 240),
    (384, 288),
    (400, 300),
    (480, 360),
    (512, 384),
    (576, 324),
    (640, 360),
    (640, 480),
)

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
_SOURCE_LINE = "rendered by litetrack_core.training.synthetic"

# Words: the first is the canonical name; the others appear in some sentences.
_COLOUR_WORDS = {"gray": ("gray", "grey")}
_CATEGORY_WORDS = {"oval": ("oval", "ellipse")}
_PLURAL = {"cross": "crosses"}


# --- shapes --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Shape:
    """A category's outline in unit coordinates (x right, y down, every point within radius 1)."""

    outer: tuple[np.ndarray, ...]
    holes: tuple[np.ndarray, ...]
    inscribed: float  # radius of the largest centred disc inside the shape
    turn: float | None  # largest rotation either side, degrees; None: any angle
    area: float = field(init=False)

    def __post_init__(self) -> None:
        area = sum(_poly_area(p) for p in self.outer) - sum(_poly_area(p) for p in self.holes)
        object.__setattr__(self, "area", area)  # unit area (times r**2: pixels)


def _poly_area(p: np.ndarray) -> float:
    x, y = p[:, 0], p[:, 1]
    return 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))


def _ellipse(ax: float, ay: float, n: int = 96) -> np.ndarray:
    t = np.linspace(0.0, 2.0 * math.pi, n, endpoint=False)
    return np.stack([ax * np.cos(t), ay * np.sin(t)], axis=1)


def _regular(k: int, radius: float = 1.0, phase_deg: float = -90.0) -> np.ndarray:
    t = np.deg2rad(phase_deg + 360.0 / k * np.arange(k))
    return np.stack([radius * np.cos(t), radius * np.sin(t)], axis=1)


def _normalised(p: np.ndarray) -> np.ndarray:
    p = p - (p.min(axis=0) + p.max(axis=0)) / 2
    return p / np.linalg.norm(p, axis=1).max()


def _heart() -> np.ndarray:
    t = np.linspace(0.0, 2.0 * math.pi, 120, endpoint=False)
    x = 16 * np.sin(t) ** 3
    y = -(13 * np.cos(t) - 5 * np.cos(2 * t) - 2 * np.cos(3 * t) - np.cos(4 * t))
    return _normalised(np.stack([x, y], axis=1))


def _star() -> np.ndarray:
    outer, inner = _regular(5, 1.0), _regular(5, 0.45, -90.0 + 36.0)
    return np.stack([outer, inner], axis=1).reshape(10, 2)


def _cross() -> np.ndarray:
    a, e = 0.3, 1.0 / math.sqrt(1.0 + 0.3**2)
    return np.array(
        [(-a, -e), (a, -e), (a, -a), (e, -a), (e, a), (a, a), (a, e), (-a, e), (-a, a), (-e, a), (-e, -a), (-a, -a)]
    )


def _arrow() -> np.ndarray:
    p = np.array([(-1.0, -0.22), (0.15, -0.22), (0.15, -0.55), (1.0, 0.0), (0.15, 0.55), (0.15, 0.22), (-1.0, 0.22)])
    return p / np.linalg.norm(p, axis=1).max()


_SHAPES: dict[str, _Shape] = {
    "circle": _Shape((_ellipse(1.0, 1.0),), (), 1.0, None),
    "oval": _Shape((_ellipse(1.0, 0.58),), (), 0.58, None),
    "square": _Shape((_regular(4, 1.0, 45.0),), (), 1.0 / math.sqrt(2.0), 15.0),
    "diamond": _Shape((np.array([(0.0, -1.0), (0.62, 0.0), (0.0, 1.0), (-0.62, 0.0)]),), (), 0.52, 15.0),
    "triangle": _Shape((_regular(3, 1.0),), (), 0.5, 30.0),
    "star": _Shape((_star(),), (), 0.36, 30.0),
    "ring": _Shape((_ellipse(1.0, 1.0),), (_ellipse(0.55, 0.55),), 0.0, None),
    "cross": _Shape((_cross(),), (), 0.3, 15.0),
    "heart": _Shape((_heart(),), (), 0.45, 30.0),
    "arrow": _Shape((_arrow(),), (), 0.2, 40.0),
}
CATEGORIES: tuple[str, ...] = tuple(_SHAPES)
_COLOUR_NAMES = tuple(COLOURS)
_OCCLUDER_CATEGORIES = ("circle", "square")  # fat shapes that can hide the target completely


# --- results -------------------------------------------------------------------------------------


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


# --- backgrounds ---------------------------------------------------------------------------------


class Backgrounds:
    """Background photos: files (read when first used, kept in a small cache) or RGB uint8 arrays.

    ``Backgrounds.from_folder(path)`` takes every .jpg/.jpeg/.png under ``path`` recursively, in sorted
    order. Photos are read downscaled (long side about ``max_side``) since only crops are used.
    """

    def __init__(self, sources: Iterable[str | Path | np.ndarray], *, max_side: int = 1600, cache: int = 32) -> None:
        self.sources: list[Path | np.ndarray] = []
        for s in sources:
            if isinstance(s, np.ndarray):
                if s.ndim != 3 or s.shape[2] != 3 or s.dtype != np.uint8 or min(s.shape[:2]) < 1:
                    raise ValueError(f"background arrays must be RGB uint8 (H, W, 3), got {s.dtype} {s.shape}")
                self.sources.append(s)
            else:
                self.sources.append(Path(s))
        if not self.sources:
            raise ValueError("no background images given")
        self.max_side = int(max_side)
        self._cache_size = int(cache)
        self._cache: OrderedDict[int, np.ndarray] = OrderedDict()

    @classmethod
    def from_folder(cls, folder: str | Path, **kwargs: Any) -> Backgrounds:
        root = Path(folder)
        if not root.is_dir():
            raise ValueError(f"background folder {str(root)!r} is not a folder")
        files = sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
        if not files:
            raise ValueError(f"no .jpg/.jpeg/.png images under {str(root)!r}")
        return cls(files, **kwargs)

    def __len__(self) -> int:
        return len(self.sources)

    def __getstate__(self) -> dict[str, Any]:  # worker processes get the list, not the cache
        state = self.__dict__.copy()
        state["_cache"] = OrderedDict()
        return state

    def name(self, index: int) -> str:
        s = self.sources[index]
        return str(s) if isinstance(s, Path) else f"image {index}"

    def image(self, index: int) -> np.ndarray | None:
        """RGB uint8 image ``index``, or None (warned) when the file cannot be decoded."""
        s = self.sources[index]
        if isinstance(s, np.ndarray):
            return s
        if index in self._cache:
            self._cache.move_to_end(index)
            return self._cache[index]
        image = _read_photo(s, self.max_side)
        if image is None:
            log.warning("cannot read background image %s: skipped", s)
            return None
        self._cache[index] = image
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return image


def _read_photo(path: Path, max_side: int) -> np.ndarray | None:
    flag = cv2.IMREAD_COLOR
    try:  # decode large photos at 1/2, 1/4 or 1/8 size (much faster); the header gives the size
        from PIL import Image

        with Image.open(path) as im:
            long_side = max(im.size)
        for factor, reduced in ((8, cv2.IMREAD_REDUCED_COLOR_8), (4, cv2.IMREAD_REDUCED_COLOR_4),
                                (2, cv2.IMREAD_REDUCED_COLOR_2)):
            if long_side / factor >= max_side:
                flag = reduced
                break
    except Exception:  # noqa: BLE001 - no PIL or an odd header: decode at full size
        pass
    image = cv2.imread(str(path), flag)
    if image is None or image.ndim != 3 or min(image.shape[:2]) < 2:
        return None
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def _as_backgrounds(backgrounds: Any) -> Backgrounds | None:
    if backgrounds is None or isinstance(backgrounds, Backgrounds):
        return backgrounds
    if isinstance(backgrounds, (str, Path)):
        path = Path(backgrounds)
        return Backgrounds([path]) if path.is_file() else Backgrounds.from_folder(path)
    if isinstance(backgrounds, np.ndarray):
        return Backgrounds([backgrounds])
    return Backgrounds(list(backgrounds))


def _photo_canvas(rng: np.random.Generator, image: np.ndarray, cw: int, ch: int) -> tuple[np.ndarray, dict[str, Any]]:
    """A random crop of ``image`` with the canvas's aspect, resized to (cw, ch), maybe mirrored."""
    h, w = image.shape[:2]
    max_w = min(float(w), h * cw / ch)
    crop_w = max(1, min(w, int(round(max_w * rng.uniform(0.35, 1.0)))))
    crop_h = max(1, min(h, int(round(crop_w * ch / cw))))
    x0 = int(rng.integers(0, w - crop_w + 1))
    y0 = int(rng.integers(0, h - crop_h + 1))
    flip = bool(rng.random() < 0.5)
    interpolation = "INTER_AREA" if crop_w >= cw else "INTER_LINEAR"
    canvas = cv2.resize(image[y0 : y0 + crop_h, x0 : x0 + crop_w], (cw, ch), interpolation=getattr(cv2, interpolation))
    if flip:
        canvas = np.ascontiguousarray(canvas[:, ::-1])
    info = {"crop": (x0, y0, crop_w, crop_h), "flip": flip, "interpolation": interpolation}
    return canvas, info


def _hsv_colour(rng: np.random.Generator, sat: tuple[float, float], val: tuple[float, float]) -> np.ndarray:
    hsv = np.array([[[rng.uniform(0, 180), rng.uniform(*sat) * 255, rng.uniform(*val) * 255]]], dtype=np.float32)
    return cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2RGB)[0, 0].astype(np.float32)


def _procedural_canvas(rng: np.random.Generator, cw: int, ch: int) -> np.ndarray:
    """Gradient + low-frequency noise + blurred, desaturated shapes (made at half resolution, all
    smooth) + grain at full resolution (RGB uint8)."""
    w, h = max(2, cw // 2), max(2, ch // 2)
    c1 = _hsv_colour(rng, (0.0, 0.6), (0.25, 0.95))
    c2 = _hsv_colour(rng, (0.0, 0.6), (0.25, 0.95))
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    phi = rng.uniform(0, 2 * math.pi)
    g = xx * math.cos(phi) + yy * math.sin(phi)
    g = (g - g.min()) / max(float(g.max() - g.min()), 1e-6)
    img = c1 * (1 - g[..., None]) + c2 * g[..., None]
    cells = (max(2, ch // int(rng.integers(24, 64))), max(2, cw // int(rng.integers(24, 64))))
    low = rng.normal(0.0, rng.uniform(6, 22), (cells[0], cells[1], 3)).astype(np.float32)
    img += cv2.resize(low, (w, h), interpolation=cv2.INTER_CUBIC)
    short = min(w, h)
    for _ in range(int(rng.integers(4, 14))):
        layer = np.zeros((h, w, 3), np.float32)
        mask = np.zeros((h, w), np.float32)
        colour = _hsv_colour(rng, (0.0, 0.35), (0.15, 0.95)).tolist()
        kind = int(rng.integers(0, 4))
        cx, cy = int(rng.integers(0, w)), int(rng.integers(0, h))
        size = int(rng.uniform(0.05, 0.45) * short)
        if kind == 0:
            cv2.rectangle(layer, (cx - size, cy - size // 2), (cx + size, cy + size // 2), colour, -1)
            cv2.rectangle(mask, (cx - size, cy - size // 2), (cx + size, cy + size // 2), 1.0, -1)
        elif kind == 1:
            cv2.circle(layer, (cx, cy), size, colour, -1)
            cv2.circle(mask, (cx, cy), size, 1.0, -1)
        elif kind == 2:
            end = (int(rng.integers(0, w)), int(rng.integers(0, h)))
            thick = max(1, size // 6)
            cv2.line(layer, (cx, cy), end, colour, thick)
            cv2.line(mask, (cx, cy), end, 1.0, thick)
        else:
            pts = (rng.uniform(-1, 1, (int(rng.integers(3, 7)), 2)) * size + (cx, cy)).astype(np.int32)
            cv2.fillPoly(layer, [pts], colour)
            cv2.fillPoly(mask, [pts], 1.0)
        sigma = float(rng.uniform(1.0, 6.0))
        layer = cv2.GaussianBlur(layer, (0, 0), sigma)
        mask = cv2.GaussianBlur(mask, (0, 0), sigma)[..., None] * rng.uniform(0.3, 0.85)
        img = img * (1 - mask) + layer * mask
    img = cv2.resize(img, (cw, ch), interpolation=cv2.INTER_LINEAR)
    img += rng.normal(0.0, rng.uniform(1.0, 6.0), (ch, cw, 1)).astype(np.float32)
    return np.clip(img, 0, 255).astype(np.uint8)


# --- objects -------------------------------------------------------------------------------------


@dataclass
class _Obj:
    colour: str
    category: str
    role: str
    r0: float
    radii: np.ndarray = field(default_factory=lambda: np.zeros(0))
    centers: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))
    angles: np.ndarray = field(default_factory=lambda: np.zeros(0))
    z: int = 0
    texture: np.ndarray | None = None


def _texture(rng: np.random.Generator, colour: str, side: int) -> np.ndarray:
    """An object's surface (side x side RGB uint8): its colour lit from one side, a faint pattern,
    noise. Lightening mixes towards white and shading towards black, so black and white shade too."""
    base = np.array(COLOURS[colour], np.float32)
    yy, xx = (np.mgrid[0:side, 0:side].astype(np.float32) - (side - 1) / 2) / max(side / 2, 1.0)
    phi = rng.uniform(0, 2 * math.pi)
    light = rng.uniform(0.0, 0.2) * np.clip(xx * math.cos(phi) + yy * math.sin(phi), -1, 1)
    kind = rng.choice(["plain", "plain", "stripes", "spots", "grain"])
    if kind == "stripes":
        psi, freq = rng.uniform(0, math.pi), rng.uniform(3, 8) * math.pi
        light = light - 0.1 * (np.sin(freq * (xx * math.cos(psi) + yy * math.sin(psi))) > 0)
    elif kind == "spots":
        spots = np.zeros((side, side), np.float32)
        for _ in range(int(rng.integers(3, 10))):
            c = tuple(int(v) for v in rng.integers(0, side, 2))
            cv2.circle(spots, c, max(1, int(side * rng.uniform(0.04, 0.12))), float(rng.choice([-0.12, 0.12])), -1)
        light = light + cv2.GaussianBlur(spots, (0, 0), 1.0)
    light = light[..., None]
    img = np.where(light > 0, base + light * (255 - base), base * (1 + light))
    sigma = rng.uniform(6, 10) if kind == "grain" else rng.uniform(2, 6)
    img = img + cv2.GaussianBlur(rng.normal(0.0, sigma, (side, side, 3)).astype(np.float32), (0, 0), 0.6)
    return np.clip(img, 0, 255).astype(np.uint8)


def _points(shape_polys: tuple[np.ndarray, ...], cx: float, cy: float, r: float, angle: float,
            x0: int, y0: int) -> list[np.ndarray]:
    """Polygons in ROI pixel coordinates for fillPoly (pixel centres at integers, 4 fraction bits)."""
    a = math.radians(angle)
    rot = np.array([[math.cos(a), math.sin(a)], [-math.sin(a), math.cos(a)]])  # row vectors times rot
    out = []
    for p in shape_polys:
        q = p @ rot * r + (cx - x0 - 0.5, cy - y0 - 0.5)
        out.append(np.round(q * 16).astype(np.int32))
    return out


def _raster(o: _Obj, t: int, width: int, height: int) -> tuple[int, int, np.ndarray] | None:
    """(x0, y0, bool mask) of object ``o`` at frame ``t``, clipped to the frame; None if outside."""
    cx, cy = o.centers[t]
    r = float(o.radii[t])
    x0, y0 = max(0, math.floor(cx - r - 1)), max(0, math.floor(cy - r - 1))
    x1, y1 = min(width, math.ceil(cx + r + 2)), min(height, math.ceil(cy + r + 2))
    if x1 <= x0 or y1 <= y0:
        return None
    shape = _SHAPES[o.category]
    mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
    cv2.fillPoly(mask, _points(shape.outer, cx, cy, r, o.angles[t], x0, y0), 1, cv2.LINE_8, 4)
    if shape.holes:
        cv2.fillPoly(mask, _points(shape.holes, cx, cy, r, o.angles[t], x0, y0), 0, cv2.LINE_8, 4)
    m = mask.astype(bool)
    return (x0, y0, m) if m.any() else None


def _surface(o: _Obj, t: int, x0: int, y0: int, w: int, h: int) -> np.ndarray:
    """The object's texture at frame ``t`` in the ROI (moves, scales and turns with the shape)."""
    tex = o.texture
    side = tex.shape[0]
    k = float(o.radii[t]) / (side / 2 - 2)
    a = math.radians(o.angles[t])
    cs = (side - 1) / 2
    cx, cy = o.centers[t]
    rx, ry = cx - x0 - 0.5, cy - y0 - 0.5
    m = np.array([[k * math.cos(a), -k * math.sin(a), 0.0], [k * math.sin(a), k * math.cos(a), 0.0]])
    m[:, 2] = (rx, ry) - m[:, :2] @ (cs, cs)
    return cv2.warpAffine(tex, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)


# --- planning ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Options:
    distractors: tuple[int, int]
    twin: float
    occlusion: float
    full_occlusion: float
    exit: float
    camera: bool
    max_speed: float
    describe_frames: int
    min_visible: float


def _plateau(n: int, start: int, ramp_in: int, hold: int, ramp_out: int) -> np.ndarray:
    """0 .. smoothly up to 1 .. held .. smoothly down to 0 (raised cosines)."""
    w = np.zeros(n)
    for t in range(n):
        u = t - start
        if u < 0:
            continue
        if u < ramp_in:
            w[t] = 0.5 - 0.5 * math.cos(math.pi * (u + 1) / (ramp_in + 1))
        elif u < ramp_in + hold:
            w[t] = 1.0
        elif u < ramp_in + hold + ramp_out:
            w[t] = 0.5 + 0.5 * math.cos(math.pi * (u - ramp_in - hold + 1) / (ramp_out + 1))
    return w


def _scale_path(rng: np.random.Generator, n: int, r0: float) -> np.ndarray:
    lo, hi = math.log(0.82), math.log(1.22)
    ls, v = 0.0, rng.normal(0.0, 0.006)
    out = np.empty(n)
    for t in range(n):
        out[t] = r0 * math.exp(ls)
        v = float(np.clip(v + rng.normal(0.0, 0.003), -0.015, 0.015))
        ls += v
        if ls < lo or ls > hi:
            ls = 2 * (lo if ls < lo else hi) - ls
            v = -v
    return out


def _angle_path(rng: np.random.Generator, n: int, turn: float | None) -> np.ndarray:
    a = rng.uniform(0, 360) if turn is None else rng.uniform(-turn, turn)
    w = rng.normal(0.0, 1.0)
    out = np.empty(n)
    for t in range(n):
        out[t] = a
        w = float(np.clip(w + rng.normal(0.0, 0.25), -3.0, 3.0))
        a += w
        if turn is not None and abs(a) > turn:
            a = math.copysign(2 * turn, a) - a
            w = -w
    return out


def _motion_path(rng: np.random.Generator, n: int, start: np.ndarray, radii: np.ndarray, width: int, height: int,
                 vmax: float, edge: float) -> np.ndarray:
    """Velocity + small random accelerations, reflected at the borders (the centre stays ``edge``
    radii inside the frame)."""
    speed = rng.uniform(0.0, 0.06) * vmax if rng.random() < 0.15 else rng.uniform(0.1, 1.0) * vmax
    phi = rng.uniform(0, 2 * math.pi)
    v = np.array([math.cos(phi), math.sin(phi)]) * speed
    accel = 0.05 * vmax
    p = start.astype(np.float64).copy()
    out = np.empty((n, 2))
    for t in range(n):
        out[t] = p
        v = v + rng.normal(0.0, accel, 2)
        s = float(np.hypot(*v))
        if s > vmax:
            v *= vmax / s
        p = p + v
        r = float(radii[min(t + 1, n - 1)])
        for axis, size in ((0, width), (1, height)):
            lo, hi = edge * r, size - edge * r
            if hi <= lo:
                p[axis] = size / 2
                v[axis] = 0.0
            elif p[axis] < lo:
                p[axis] = min(2 * lo - p[axis], hi)
                v[axis] = abs(v[axis])
            elif p[axis] > hi:
                p[axis] = max(2 * hi - p[axis], lo)
                v[axis] = -abs(v[axis])
    return out


def _attributes(rng: np.random.Generator, n_dis: int, twin: float, force_unique: bool) -> list[tuple[str, str, str]]:
    """(colour, category, kind) of the target then the distractors; kinds: target, colour (same colour,
    other category), category (same category, other colour), twin (both), other (neither)."""
    tc, tk = str(rng.choice(_COLOUR_NAMES)), str(rng.choice(CATEGORIES))
    kinds = ["colour", "category"]
    if not force_unique and rng.random() < twin:
        kinds.append("twin")
    while len(kinds) < n_dis:
        kinds.append(str(rng.choice(["colour", "category", "other"], p=[0.35, 0.35, 0.3])))
    kinds = [kinds[i] for i in rng.permutation(len(kinds))]
    if "twin" in kinds and n_dis >= 1 and "twin" not in kinds[:n_dis]:
        kinds[0] = "twin"  # a drawn twin survives the cut to n_dis
    kinds = kinds[:n_dis]
    other_colours = [c for c in _COLOUR_NAMES if c != tc]
    other_categories = [k for k in CATEGORIES if k != tk]
    out = [(tc, tk, "target")]
    for kind in kinds:
        c = tc if kind in ("colour", "twin") else str(rng.choice(other_colours))
        k = tk if kind in ("category", "twin") else str(rng.choice(other_categories))
        out.append((c, k, kind))
    return out


def _place(rng: np.random.Generator, objs: list[_Obj], width: int, height: int) -> list[_Obj]:
    """First-frame centres, fully inside the frame and not overlapping (objects that do not fit
    shrink, then are dropped; the target always stays)."""
    placed: list[_Obj] = []
    for o in objs:
        for _attempt in range(6):
            r = float(o.radii[0])
            lo_x, hi_x, lo_y, hi_y = r + 2, width - r - 2, r + 2, height - r - 2
            ok = False
            if hi_x > lo_x and hi_y > lo_y:
                for _ in range(200):
                    c = np.array([rng.uniform(lo_x, hi_x), rng.uniform(lo_y, hi_y)])
                    if all(np.hypot(*(c - q.centers[0])) >= 1.05 * (r + float(q.radii[0])) + 2 for q in placed):
                        ok = True
                        break
            if ok:
                o.centers = np.tile(c, (1, 1))
                placed.append(o)
                break
            o.radii = o.radii * 0.85
        else:
            if o.role == "target":
                raise RuntimeError("cannot place the target")  # not reached: it is placed first
    return placed


def _plan(rng: np.random.Generator, width: int, height: int, n: int, opt: _Options, force_unique: bool):
    short, diag = min(width, height), math.hypot(width, height)
    n_dis = int(rng.integers(opt.distractors[0], opt.distractors[1] + 1))
    attrs = _attributes(rng, n_dis, opt.twin, force_unique)
    objs = []
    for c, k, kind in attrs:
        r0 = rng.uniform(0.06, 0.15) * short
        objs.append(_Obj(c, k, "target" if kind == "target" else "distractor", r0))
    target = objs[0]
    for o, (_, _, kind) in zip(objs[1:], attrs[1:]):
        if kind == "twin" and rng.random() < 0.6:  # a clearly larger or smaller twin
            ratio = rng.uniform(0.42, 0.58) if rng.random() < 0.5 else rng.uniform(1.7, 2.3)
            o.r0 = float(np.clip(target.r0 * ratio, 0.045 * short, 0.22 * short))

    event: dict[str, Any] | None = None
    u = rng.random()
    if u < opt.occlusion:
        event = {"kind": "occlusion", "full": bool(rng.random() < opt.full_occlusion)}
    elif u < opt.occlusion + opt.exit:
        event = {"kind": "exit", "full": True}
    if event is not None:
        ramp_in, hold, ramp_out = int(rng.integers(4, 9)), int(rng.integers(3, 9)), int(rng.integers(4, 9))
        total = ramp_in + hold + ramp_out
        if n < total + 2:
            event = None
        else:
            lo = min(opt.describe_frames, n - total)
            start = int(rng.integers(max(1, lo), n - total + 1))
            event.update(start=start, end=start + total, hold=(start + ramp_in, start + ramp_in + hold),
                         ramp=(ramp_in, hold, ramp_out))
    if event is not None and event["kind"] == "occlusion":
        if event["full"]:
            c = str(rng.choice([x for x in _COLOUR_NAMES if x != target.colour]))
            k = str(rng.choice(_OCCLUDER_CATEGORIES))
            if target.r0 * 1.22 * 1.06 / _SHAPES[k].inscribed > 0.24 * short:
                k = "circle"  # a square hiding a large target would hardly fit in the frame
        else:
            kind = str(rng.choice(["colour", "category", "other"]))
            c = target.colour if kind == "colour" else str(rng.choice([x for x in _COLOUR_NAMES if x != target.colour]))
            others = [x for x in CATEGORIES if x != target.category]
            k = target.category if kind == "category" else str(rng.choice(others))
        objs.append(_Obj(c, k, "occluder", rng.uniform(0.08, 0.15) * short))

    for o in objs:
        o.radii = _scale_path(rng, n, o.r0)
        o.angles = _angle_path(rng, n, _SHAPES[o.category].turn)
    if event is not None and event["kind"] == "occlusion" and event["full"]:
        occ = objs[-1]
        s, e = event["start"], event["end"]
        need = (1.06 * target.radii[s:e] + 1.5) / (_SHAPES[occ.category].inscribed * occ.radii[s:e])
        occ.radii = occ.radii * max(1.0, float(need.max()))

    wanted = [float(o.radii[0]) for o in objs]
    placed = _place(rng, objs, width, height)
    if event is not None and event["kind"] == "occlusion":
        if placed[-1].role != "occluder":
            event = None
        elif event["full"] and float(placed[-1].radii[0]) < wanted[-1]:
            event["full"] = False  # it had to shrink to fit: it may no longer cover the target
    objs = placed
    vmax = opt.max_speed * diag
    for o in objs:
        edge = 0.6 if o.role == "target" else 0.5
        o.centers = _motion_path(rng, n, o.centers[0], o.radii, width, height, vmax, edge)

    z = rng.permutation(len(objs))
    for o, zi in zip(objs, z):
        o.z = int(zi)
    if event is not None:
        w = _plateau(n, event["start"], *event.pop("ramp"))[:, None]
        if event["kind"] == "occlusion":
            occ = objs[-1]
            if occ.z < target.z:
                occ.z, target.z = target.z, occ.z
            offset = np.zeros(2)
            if not event["full"]:
                phi = rng.uniform(0, 2 * math.pi)
                reach = rng.uniform(0.45, 0.8) * (target.radii.mean() + occ.radii.mean())
                offset = np.array([math.cos(phi), math.sin(phi)]) * reach
            occ.centers = occ.centers + w * (target.centers + offset - occ.centers)
            event["occluder"] = len(objs) - 1
        else:
            s = event["start"]
            cx, cy = target.centers[s]
            out = 1.3 * float(target.radii.max()) + 2
            gaps = {"left": cx, "right": width - cx, "top": cy, "bottom": height - cy}
            side = min(gaps, key=gaps.get)
            goal = {"left": (-out, cy), "right": (width + out, cy), "top": (cx, -out),
                    "bottom": (cx, height + out)}[side]
            target.centers = target.centers + w * (np.array(goal) - target.centers)
            event["side"] = side
    for o in objs:
        side = 2 * math.ceil(float(o.radii.max())) + 4
        o.texture = _texture(rng, o.colour, side)
    return objs, event


# --- sentences -----------------------------------------------------------------------------------

_REGIONS = ("left", "right", "top", "bottom", "top left", "top right", "bottom left", "bottom right", "middle")
_EXTREMES = ("left", "right", "top", "bottom")
_RELATIONS = ("left of", "right of", "above", "below", "near")


@dataclass(frozen=True)
class _State:
    """The objects present in one frame: index -> (cx, cy, r) with the centre of the visible box."""

    width: int
    height: int
    objs: dict[int, tuple[float, float, float]]


def _states(objs: list[_Obj], boxes: np.ndarray, frames: Iterable[int], width: int, height: int) -> list[_State]:
    out = []
    for t in frames:
        present = {}
        for i, o in enumerate(objs):
            x, y, w, h = boxes[i, t]
            if w > 0:
                present[i] = (x + w / 2, y + h / 2, float(o.radii[t]))
        out.append(_State(width, height, present))
    return out


def _region_test(region: str, cx: float, cy: float, width: int, height: int) -> tuple[bool, bool]:
    """(clearly in the region, clearly not in it) for a centre."""
    fx, fy = cx / width, cy / height
    if region == "middle":
        pos = abs(fx - 0.5) < 0.15 and abs(fy - 0.5) < 0.15
        neg = abs(fx - 0.5) > 0.25 or abs(fy - 0.5) > 0.25
        return pos, neg
    tests = {
        "left": (fx < 0.4, fx > 0.5),
        "right": (fx > 0.6, fx < 0.5),
        "top": (fy < 0.4, fy > 0.5),
        "bottom": (fy > 0.6, fy < 0.5),
    }
    parts = [tests[p] for p in region.split()]
    return all(p for p, _ in parts), any(q for _, q in parts)


def _holds(desc: dict[str, Any], state: _State, target: int, attrs: list[tuple[str, str]]) -> bool:
    """Whether ``desc`` names ``target`` and no other present object in ``state``."""
    if target not in state.objs:
        return False
    base = [i for i in state.objs if attrs[i] == (desc["colour"], desc["category"])]
    others = [i for i in base if i != target]
    tx, ty, tr = state.objs[target]
    W, H = state.width, state.height
    if desc.get("size"):
        if not others:
            return False
        biggest = max(state.objs[i][2] for i in others)
        smallest = min(state.objs[i][2] for i in others)
        return tr >= 1.5 * biggest if desc["size"] == "large" else tr * 1.5 <= smallest
    if desc.get("region"):
        pos, _ = _region_test(desc["region"], tx, ty, W, H)
        return pos and all(_region_test(desc["region"], *state.objs[i][:2], W, H)[1] for i in others)
    if desc.get("extreme"):
        if not others:
            return False
        e = desc["extreme"]
        for i in others:
            ox, oy, orr = state.objs[i]
            m = 0.25 * (tr + orr) + 0.02 * (W if e in ("left", "right") else H)
            d = {"left": ox - tx, "right": tx - ox, "top": oy - ty, "bottom": ty - oy}[e]
            if d < m:
                return False
        return True
    rel = desc.get("relation")
    if rel:
        j = rel["object"]
        if j not in state.objs or j == target:
            return False
        rx, ry, rr = state.objs[j]

        def test(i: int) -> tuple[bool, bool]:
            x, y, r = state.objs[i]
            kind = rel["kind"]
            if kind == "near":
                return math.hypot(x - rx, y - ry) <= 3.0 * (r + rr), False
            along, across = {
                "left of": (rx - x, y - ry),
                "right of": (x - rx, y - ry),
                "above": (ry - y, x - rx),
                "below": (y - ry, x - rx),
            }[kind]
            m = 0.25 * (r + rr) + 0.02 * (W if kind in ("left of", "right of") else H)
            return along > m and along > 0.8 * abs(across), along < 0.5 * m or along < 0.4 * abs(across)

        if not test(target)[0]:
            return False
        if rel["kind"] == "near":
            d = math.hypot(tx - rx, ty - ry)
            return all(math.hypot(state.objs[i][0] - rx, state.objs[i][1] - ry) >= 1.6 * d for i in others)
        return all(test(i)[1] for i in others)
    return not others


def _candidates(objs: list[_Obj], states: list[_State]) -> list[dict[str, Any]]:
    """Every description of the target (index 0) that holds on all ``states``."""
    attrs = [(o.colour, o.category) for o in objs]
    tc, tk = attrs[0]
    base: dict[str, Any] = {"colour": tc, "category": tk}
    options = [dict(base)]
    options += [dict(base, size=s) for s in ("large", "small")]
    options += [dict(base, region=r) for r in _REGIONS]
    options += [dict(base, extreme=e) for e in _EXTREMES]
    refs = [j for j in range(1, len(objs)) if attrs.count(attrs[j]) == 1 and attrs[j] != attrs[0]]
    options += [dict(base, relation={"kind": k, "object": j}) for j in refs for k in _RELATIONS]
    return [d for d in options if all(_holds(d, s, 0, attrs) for s in states)]


def _word(rng: np.random.Generator, name: str, table: dict[str, tuple[str, ...]], p_other: float = 0.3) -> str:
    words = table.get(name, (name,))
    return words[0] if len(words) == 1 or rng.random() >= p_other else str(rng.choice(words[1:]))


def _plural(word: str) -> str:
    return _PLURAL.get(word, word + "s")


def _sentence(rng: np.random.Generator, desc: dict[str, Any], objs: list[_Obj], states: list[_State]) -> str:
    c = _word(rng, desc["colour"], _COLOUR_WORDS)
    k = _word(rng, desc["category"], _CATEGORY_WORDS)
    ck, cks = f"{c} {k}", f"{c} {_plural(k)}"
    attrs = [(o.colour, o.category) for o in objs]
    pair = all(sum(attrs[i] == attrs[0] for i in s.objs) == 2 for s in states)  # exactly two alike throughout

    def pick(options: list[str]) -> str:
        return str(rng.choice(options))

    if desc.get("size"):
        if desc["size"] == "large":
            forms = ["the larger {ck}", "the bigger {ck}", "the larger of the two {cks}", "the big {ck}"] if pair \
                else ["the largest {ck}", "the biggest {ck}", "the large {ck}", "the big {ck}"]
        else:
            forms = ["the smaller {ck}", "the smaller of the two {cks}", "the small {ck}", "the little {ck}"] if pair \
                else ["the smallest {ck}", "the small {ck}", "the little {ck}"]
        return pick(forms).format(ck=ck, cks=cks)
    if desc.get("region"):
        phrases = {
            "left": ["on the left", "on the left side", "in the left part of the image"],
            "right": ["on the right", "on the right side", "in the right part of the image"],
            "top": ["at the top", "near the top of the image", "in the upper part of the image"],
            "bottom": ["at the bottom", "near the bottom of the image", "in the lower part of the image"],
            "middle": ["in the middle", "in the centre", "in the center of the image"],
        }
        region = desc["region"]
        if region in phrases:
            where = pick(phrases[region])
        else:
            where = pick(["at the {r}", "in the {r} corner", "in the {r} of the image"]).format(r=region)
        return pick(["the {ck} {w}", "{ck} {w}"]).format(ck=ck, w=where)
    if desc.get("extreme"):
        e = desc["extreme"]
        if pair:
            forms = {
                "left": ["the left {ck}", "the left one of the two {cks}"],
                "right": ["the right {ck}", "the right one of the two {cks}"],
                "top": ["the upper {ck}", "the higher {ck}", "the upper of the two {cks}"],
                "bottom": ["the lower {ck}", "the lower of the two {cks}"],
            }[e]
        else:
            forms = {
                "left": ["the leftmost {ck}", "the {ck} furthest to the left"],
                "right": ["the rightmost {ck}", "the {ck} furthest to the right"],
                "top": ["the highest {ck}", "the topmost {ck}", "the uppermost {ck}"],
                "bottom": ["the lowest {ck}", "the bottommost {ck}"],
            }[e]
        return pick(forms).format(ck=ck, cks=cks)
    rel = desc.get("relation")
    if rel:
        ref = objs[rel["object"]]
        rc = _word(rng, ref.colour, _COLOUR_WORDS)
        rk = _word(rng, ref.category, _CATEGORY_WORDS)
        how = {
            "left of": ["left of", "to the left of", "on the left of"],
            "right of": ["right of", "to the right of", "on the right of"],
            "above": ["above"],
            "below": ["below", "under", "beneath"],
            "near": ["next to", "near", "closest to", "beside"],
        }[rel["kind"]]
        return pick(["the {ck} {h} the {ref}", "{ck} {h} the {ref}"]).format(ck=ck, h=pick(how), ref=f"{rc} {rk}")
    a = "an" if ck[0] in "aeiou" else "a"
    return pick(["the {ck}", "{ck}", a + " {ck}", "the {ck} moving around", "{ck} moving in the scene"]).format(ck=ck)


def _choose(rng: np.random.Generator, candidates: list[dict[str, Any]]) -> dict[str, Any]:
    plain = [d for d in candidates if len(d) == 2]
    richer = [d for d in candidates if len(d) > 2]
    if plain and (not richer or rng.random() < 0.5):
        return plain[0]
    kinds = sorted({next(k for k in d if k not in ("colour", "category")) for d in richer})
    kind = str(rng.choice(kinds))
    pool = [d for d in richer if kind in d]
    return pool[int(rng.integers(len(pool)))]


# --- rendering -----------------------------------------------------------------------------------


def _check(size: tuple[int, int], frames: int, opt: _Options) -> None:
    w, h = size
    if not (64 <= w <= 4096 and 64 <= h <= 4096):
        raise ValueError(f"size={size} must be (W, H) with 64 <= W, H <= 4096")
    if frames < 1:
        raise ValueError(f"frames={frames} must be >= 1")
    lo, hi = opt.distractors
    if not 0 <= lo <= hi <= 12:
        raise ValueError(f"distractors={opt.distractors} must be (lo, hi) with 0 <= lo <= hi <= 12")
    for name in ("twin", "occlusion", "full_occlusion", "exit", "min_visible"):
        v = getattr(opt, name)
        if not 0.0 <= v <= 1.0:
            raise ValueError(f"{name}={v} must be in [0, 1]")
    if opt.occlusion + opt.exit > 1.0 + 1e-9:
        raise ValueError(f"occlusion + exit = {opt.occlusion + opt.exit} must be <= 1 (one event per sequence)")
    if not 0.0 <= opt.max_speed <= 0.2:
        raise ValueError(f"max_speed={opt.max_speed} must be in [0, 0.2] (frame diagonals per frame)")
    if opt.describe_frames < 1:
        raise ValueError(f"describe_frames={opt.describe_frames} must be >= 1")


def _draw_frame(canvas: np.ndarray, offset: tuple[int, int], objs: list[_Obj], t: int, width: int, height: int,
                hide: frozenset[int], boxes: np.ndarray, visible: np.ndarray) -> np.ndarray:
    ox, oy = offset
    image = canvas[oy : oy + height, ox : ox + width].copy()
    owner = np.full((height, width), -1, np.int16)
    rois: dict[int, tuple[int, int, int, int]] = {}
    for i in sorted(range(len(objs)), key=lambda i: objs[i].z):
        found = _raster(objs[i], t, width, height)
        if found is None:
            continue
        x0, y0, m = found
        h, w = m.shape
        rois[i] = (x0, y0, w, h)
        owner[y0 : y0 + h, x0 : x0 + w][m] = i
        if i not in hide:
            image[y0 : y0 + h, x0 : x0 + w][m] = _surface(objs[i], t, x0, y0, w, h)[m]
    for i, (x0, y0, w, h) in rois.items():
        mine = owner[y0 : y0 + h, x0 : x0 + w] == i
        count = int(mine.sum())
        if count == 0:
            continue
        visible[i, t] = count / (_SHAPES[objs[i].category].area * float(objs[i].radii[t]) ** 2)
        rows, cols = np.flatnonzero(mine.any(axis=1)), np.flatnonzero(mine.any(axis=0))
        boxes[i, t] = (x0 + cols[0], y0 + rows[0], cols[-1] - cols[0] + 1, rows[-1] - rows[0] + 1)
    return image


def synthesize(
    seed: int,
    *,
    backgrounds: Any = None,
    size: tuple[int, int] | None = (320, 240),
    frames: int | tuple[int, int] = 40,
    distractors: tuple[int, int] = (2, 5),
    twin: float = 0.35,
    occlusion: float = 0.3,
    full_occlusion: float = 0.5,
    exit: float = 0.15,
    camera: bool = True,
    max_speed: float = 0.02,
    describe_frames: int = 30,
    min_visible: float = 0.05,
    hide: Iterable[int] = (),
) -> tuple[list[np.ndarray], SceneInfo]:
    """Render one sequence in memory: (frames as RGB uint8 (H, W, 3), scene).

    seed: any int >= 0; everything is drawn from ``numpy.random.default_rng(seed)``.
    backgrounds: None (procedural), a folder of photos, an image file, RGB arrays, paths, or a
    ``Backgrounds``. size: (W, H), or None for one of ``FRAME_SIZES``. frames: a count, or (lo, hi)
    inclusive to draw one. distractors: (lo, hi) inclusive count besides the target (an occlusion
    event adds its occluder). twin: probability of a distractor with the target's colour and
    category. occlusion / exit: probabilities of an occlusion or exit event (their sum <= 1);
    full_occlusion: share of occlusions that hide the target completely. camera: pan and jitter the
    background. max_speed: largest object speed, frame diagonals per frame. describe_frames: the
    sentence holds on the first this many frames. min_visible: the target (and every object's box)
    is absent below this visible share of its area. hide: object indices not painted (their boxes,
    occlusion of others and the sentence are those of the full scene; for checks).
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed={seed!r} must be an int >= 0")
    rng = np.random.default_rng(int(seed))
    if size is None:
        size = FRAME_SIZES[int(rng.integers(len(FRAME_SIZES)))]
    if isinstance(frames, (tuple, list)):
        lo, hi = (int(v) for v in frames)
        if not 1 <= lo <= hi:
            raise ValueError(f"frames={frames} must be a count or (lo, hi) with 1 <= lo <= hi")
        frames = int(rng.integers(lo, hi + 1))
    width, height = (int(v) for v in size)
    n = int(frames)
    opt = _Options(tuple(int(v) for v in distractors), float(twin), float(occlusion), float(full_occlusion),
                   float(exit), bool(camera), float(max_speed), int(describe_frames), float(min_visible))
    _check((width, height), n, opt)
    pool = _as_backgrounds(backgrounds)
    hidden = frozenset(int(i) for i in hide)

    # Background canvas (slightly larger than the frame when the camera moves) and the camera path.
    margin = int(round(0.04 * max(width, height))) if opt.camera else 0
    cw, ch = width + 2 * margin, height + 2 * margin
    canvas, background = None, {}
    if pool is not None:
        order = rng.permutation(len(pool))
        for index in order:
            image = pool.image(int(index))
            if image is not None:
                canvas, background = _photo_canvas(rng, image, cw, ch)
                background["source"] = pool.name(int(index))
                break
        if canvas is None:
            raise ValueError("none of the background images can be read")
    else:
        canvas = _procedural_canvas(rng, cw, ch)
        background = {"source": "procedural", "crop": (0, 0, cw, ch), "flip": False, "interpolation": None}
    background["canvas"] = (cw, ch)
    if margin:
        start = rng.uniform(0, 2 * margin, 2)
        drift = rng.uniform(-1, 1, 2) * 2 * margin / max(n, 1) * rng.uniform(0.0, 0.8)
        jitter = rng.normal(0.0, rng.uniform(0.0, 1.2), (n, 2))
        offsets = np.clip(np.rint(start + drift * np.arange(n)[:, None] + jitter), 0, 2 * margin).astype(np.int64)
    else:
        offsets = np.zeros((n, 2), np.int64)
    background["offsets"] = offsets

    k = min(opt.describe_frames, n)
    attempts = 4
    for attempt in range(attempts):
        objs, event = _plan(rng, width, height, n, opt, force_unique=attempt == attempts - 1)
        boxes = np.zeros((len(objs), n, 4), np.int64)
        visible = np.zeros((len(objs), n))
        images: list[np.ndarray] = []
        desc = None
        for t in range(n):
            images.append(_draw_frame(canvas, tuple(offsets[t]), objs, t, width, height, hidden, boxes, visible))
            if t == k - 1:
                _absent_below(boxes, visible, opt.min_visible, k)
                if boxes[0, 0, 2] == 0:
                    break
                states = _states(objs, boxes, [u for u in range(k) if boxes[0, u, 2] > 0], width, height)
                candidates = _candidates(objs, states)
                if not candidates:
                    break
                desc = _choose(rng, candidates)
        if desc is not None:
            break
        log.debug("seed %d attempt %d: no unambiguous sentence, scene drawn again", seed, attempt)
    else:  # not reached: the last attempt has no twin and a target fully visible in frame 1
        raise RuntimeError(f"seed {seed}: no unambiguous description found")
    _absent_below(boxes, visible, opt.min_visible, n)
    sentence = _sentence(rng, desc, objs, states)

    tracks = tuple(
        ObjectTrack(o.colour, o.category, o.role, o.z, o.centers, o.radii, o.angles, boxes[i], visible[i])
        for i, o in enumerate(objs)
    )
    events = () if event is None else (event,)
    info = SceneInfo(int(seed), (width, height), n, sentence, desc, tracks, background, events, k, opt.min_visible)
    return images, info


def _absent_below(boxes: np.ndarray, visible: np.ndarray, min_visible: float, upto: int) -> None:
    low = (visible[:, :upto] < min_visible) & (boxes[:, :upto, 2] > 0)
    if min_visible > 0 and low.any():
        boxes[:, :upto][low] = 0


def _write_sequence(out: Path, images: list[np.ndarray], info: SceneInfo, quality: int, call: str) -> None:
    img_dir = out / "img"
    img_dir.mkdir(parents=True, exist_ok=True)
    params = [cv2.IMWRITE_JPEG_QUALITY, int(quality)]
    for t, image in enumerate(images):
        path = img_dir / f"{t + 1:06d}.jpg"
        if not cv2.imwrite(str(path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR), params):
            raise OSError(f"cannot write {path}")
    gt = "".join(f"{x},{y},{w},{h}\n" for x, y, w, h in info.ground_truth.tolist())
    (out / "groundtruth.txt").write_text(gt, encoding="utf-8")
    (out / "language.txt").write_text(info.sentence + "\n", encoding="utf-8")
    (out / "scene.json").write_text(json.dumps(info.to_json()), encoding="utf-8")
    source = info.background["source"]
    lines = [
        f"{_SOURCE_LINE}, seed {info.seed}",
        f"call: {call}",
        f"{info.size[0]}x{info.size[1]}, {info.frames} frames, {len(info.objects)} objects",
        f"background: {source}"
        + ("" if source == "procedural" else f" (crop {info.background['crop']}, flip {info.background['flip']}; "
                                             "the photo's own licence applies to this sequence's frames)"),
        "objects, motion, boxes and sentence: procedurally generated",
    ]
    (out / "SOURCE.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")  # written last: marks completion


def render_sequence(
    out_dir: str | Path,
    seed: int,
    *,
    backgrounds: Any = None,
    size: tuple[int, int] | None = (320, 240),
    frames: int | tuple[int, int] = 40,
    quality: int = 90,
    overwrite: bool = False,
    **options: Any,
) -> SceneInfo:
    """Render one sequence into ``out_dir`` (img/, groundtruth.txt, language.txt, SOURCE.txt,
    scene.json) and return its ``SceneInfo``. ``options``: those of ``synthesize``. A folder that
    already holds files is refused unless ``overwrite`` (then it is emptied first)."""
    out = Path(out_dir)
    if out.exists() and any(out.iterdir()):
        if not overwrite:
            raise FileExistsError(f"{out} is not empty (pass overwrite=True to replace it)")
        shutil.rmtree(out)
    pool = _as_backgrounds(backgrounds)
    images, info = synthesize(seed, backgrounds=pool, size=size, frames=frames, **options)
    shown = dict(size=size, frames=frames, **{k: v for k, v in sorted(options.items()) if k != "hide"})
    args = ", ".join(f"{k}={v!r}" for k, v in shown.items())
    call = f"render_sequence(out_dir, {int(seed)}, backgrounds=..., {args})"
    _write_sequence(out, images, info, quality, call)
    return info


def sequence_seed(seed: int, index: int) -> int:
    """The seed ``render_dataset(..., seed)`` uses for its sequence number ``index`` (1-based)."""
    return int(np.random.SeedSequence([int(seed), int(index)]).generate_state(1, np.uint64)[0] >> 1)


def _render_one(job: tuple[Path, int, Any, dict[str, Any]]) -> Path:
    out, seed, pool, kwargs = job
    render_sequence(out, seed, backgrounds=pool, overwrite=True, **kwargs)
    return out


def _complete(folder: Path, seed: int) -> bool:
    source = folder / "SOURCE.txt"
    if not source.is_file():
        return False
    first = source.read_text(encoding="utf-8").splitlines()[:1]
    return first == [f"{_SOURCE_LINE}, seed {seed}"]


def render_dataset(
    out_root: str | Path,
    count: int,
    seed: int,
    *,
    backgrounds: Any = None,
    size: tuple[int, int] | None = None,
    frames: int | tuple[int, int] = (30, 80),
    start: int = 1,
    prefix: str = "synth_",
    workers: int = 1,
    skip_existing: bool = True,
    **options: Any,
) -> list[Path]:
    """Render ``count`` sequences ``out_root/<prefix><number:06d>`` (numbers from ``start``) and return
    their folders. Sequence ``i`` uses ``sequence_seed(seed, i)``; size None draws a size from
    ``FRAME_SIZES`` and frames (lo, hi) a length per sequence. A folder whose SOURCE.txt already names
    its seed is kept when ``skip_existing`` (so an interrupted run resumes). ``workers`` > 1 renders
    in that many processes. Other options: those of ``synthesize``."""
    if count < 0:
        raise ValueError(f"count={count} must be >= 0")
    root = Path(out_root)
    root.mkdir(parents=True, exist_ok=True)
    pool = _as_backgrounds(backgrounds)
    kwargs = dict(size=size, frames=frames, **options)
    jobs = []
    for number in range(start, start + count):
        s = sequence_seed(seed, number)
        folder = root / f"{prefix}{number:06d}"
        if skip_existing and _complete(folder, s):
            continue
        jobs.append((folder, s, pool, kwargs))
    if workers > 1 and len(jobs) > 1:
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(max_workers=int(workers)) as ex:
            for _ in ex.map(_render_one, jobs, chunksize=max(1, len(jobs) // (8 * workers))):
                pass
    else:
        for job in jobs:
            _render_one(job)
    log.info("rendered %d sequences under %s (%d already there)", len(jobs), root, count - len(jobs))
    return [root / f"{prefix}{number:06d}" for number in range(start, start + count)]
