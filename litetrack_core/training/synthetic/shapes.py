"""The named colours and object categories of synthetic scenes: palette and outlines.

Objects are drawn from ``CATEGORIES`` (circle, oval, square, diamond, triangle, star, ring, cross,
heart, arrow) in the ``COLOURS`` palette. Each category is an outline in unit coordinates (x right,
y down, every point within radius 1; times an object's radius: pixels) with its unit area, the
radius of the largest centred disc inside it (how large an occluder must be to hide a target) and
how far it may turn: shapes that would turn into another category (a square into a diamond) turn
little.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

__all__ = ["CATEGORIES", "COLOURS"]

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
