"""Drawing the objects of a synthetic scene into frames, and their exact boxes.

Objects are shaded (a light/shadow gradient, sometimes stripes or spots, pixel noise) by a texture
that moves and turns with the object. Hard edges: a pixel belongs to one object or to the
background, so boxes are exact.

Ground truth: the tight box of an object's pixels that show in the frame (objects in front and the
frame border clipped away), ``x, y, w, h`` in pixel-edge coordinates (a box covering pixel columns
``x .. x + w - 1``). An object is absent (0,0,0,0) when no pixel of it shows, or when less than
``min_visible`` (default 5 %) of its area shows (slivers at a border or beside an occluder are no
usable target; ``min_visible=0`` keeps every visible pixel).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import cv2
import numpy as np

from litetrack_core.training.synthetic.shapes import _SHAPES, COLOURS


@dataclass
class _Obj:
    """An object while a scene is planned and drawn: per-frame radii (px), centres (px) and angles
    (degrees), drawing order ``z`` and its texture."""

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


def _draw_frame(canvas: np.ndarray, offset: tuple[int, int], objs: list[_Obj], t: int, width: int, height: int,
                hide: frozenset[int], boxes: np.ndarray, visible: np.ndarray) -> np.ndarray:
    """Frame ``t``: the canvas window at ``offset`` with the objects painted in ``z`` order (those in
    ``hide`` only take their pixels); fills ``boxes[:, t]`` and ``visible[:, t]`` for every object."""
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


def _absent_below(boxes: np.ndarray, visible: np.ndarray, min_visible: float, upto: int) -> None:
    """Zero the boxes of the first ``upto`` frames where less than ``min_visible`` of an object shows."""
    low = (visible[:, :upto] < min_visible) & (boxes[:, :upto, 2] > 0)
    if min_visible > 0 and low.any():
        boxes[:, :upto][low] = 0
