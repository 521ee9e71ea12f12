"""Backgrounds of synthetic scenes: photos (``Backgrounds``) or procedural canvases, and the camera.

A background is a crop of a photo (any .jpg/.jpeg/.png under the folder given, recursively),
resized with ``cv2.INTER_AREA`` (``INTER_LINEAR`` when enlarging) and maybe mirrored; or, without
photos, a procedural one (two-colour gradient, low-frequency noise, blurred desaturated shapes,
grain). With ``camera=True`` the frame window pans slowly and jitters over a canvas a little larger
than the frame. ``SceneInfo.background`` says exactly how the canvas was made. Images are RGB uint8.
"""

from __future__ import annotations

import logging
import math
from collections import OrderedDict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import cv2
import numpy as np

__all__ = ["IMAGE_SUFFIXES", "Backgrounds"]

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


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


def _background(rng: np.random.Generator, pool: Backgrounds | None, width: int, height: int, n: int,
                camera: bool) -> tuple[np.ndarray, dict[str, Any]]:
    """(canvas, ``SceneInfo.background``): the background canvas (slightly larger than the frame when
    the camera moves) and the camera path (``offsets``, one per frame)."""
    margin = int(round(0.04 * max(width, height))) if camera else 0
    cw, ch = width + 2 * margin, height + 2 * margin
    if pool is not None:
        canvas, background = _pool_canvas(rng, pool, cw, ch)
    else:
        canvas = _procedural_canvas(rng, cw, ch)
        background = {"source": "procedural", "crop": (0, 0, cw, ch), "flip": False, "interpolation": None}
    background["canvas"] = (cw, ch)
    background["offsets"] = _camera_path(rng, margin, n)
    return canvas, background


def _pool_canvas(rng: np.random.Generator, pool: Backgrounds, cw: int, ch: int) -> tuple[np.ndarray, dict[str, Any]]:
    """A canvas from the first readable photo of the pool in a random order."""
    order = rng.permutation(len(pool))
    for index in order:
        image = pool.image(int(index))
        if image is not None:
            canvas, background = _photo_canvas(rng, image, cw, ch)
            background["source"] = pool.name(int(index))
            return canvas, background
    raise ValueError("none of the background images can be read")


def _camera_path(rng: np.random.Generator, margin: int, n: int) -> np.ndarray:
    """(n, 2) int64 top-left corners of the frame in the canvas: a slow drift plus jitter within
    ``2 * margin`` px (zeros without a margin: a still camera)."""
    if not margin:
        return np.zeros((n, 2), np.int64)
    start = rng.uniform(0, 2 * margin, 2)
    drift = rng.uniform(-1, 1, 2) * 2 * margin / max(n, 1) * rng.uniform(0.0, 0.8)
    jitter = rng.normal(0.0, rng.uniform(0.0, 1.2), (n, 2))
    return np.clip(np.rint(start + drift * np.arange(n)[:, None] + jitter), 0, 2 * margin).astype(np.int64)


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
