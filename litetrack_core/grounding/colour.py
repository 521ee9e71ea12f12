"""Basic colour terms of pixels, to compare a sentence's colour words with a proposal.

Each pixel gets one of the basic terms from its HSV value (OpenCV's ranges: H 0..179, S and V
0..255): low value is black; low saturation is white, grey or black by value; otherwise the hue
decides (brown is a dark orange or red). "dark" and "light" are not hues: a pixel is dark below a
value of 90 and light above 170.
"""

from __future__ import annotations

import cv2
import numpy as np

__all__ = ["colour_share"]

# Hue bins (OpenCV hue, 0..179): upper bound of each chromatic term, in order.
_HUES = ((8, "red"), (20, "orange"), (33, "yellow"), (85, "green"), (130, "blue"), (150, "purple"), (170, "pink"),
         (180, "red"))


def _terms(hsv: np.ndarray) -> dict[str, np.ndarray]:
    h, s, v = (hsv[..., k].astype(np.int16) for k in range(3))
    achromatic = s < 45
    masks = {
        "black": v < 50,
        "white": achromatic & (v >= 180),
        "grey": achromatic & (v >= 50) & (v < 180),
        "dark": v < 90,
        "light": v > 170,
    }
    chromatic = ~achromatic & (v >= 50)
    lower = 0
    for upper, term in _HUES:
        inside = chromatic & (h >= lower) & (h < upper)
        masks[term] = masks.get(term, np.zeros_like(inside)) | inside
        lower = upper
    # Brown: orange or red hues that are dark or dull.
    masks["brown"] = chromatic & (h < 20) & ((v < 150) | (s < 120))
    masks["orange"] &= ~masks["brown"]
    return masks


def colour_share(frame: np.ndarray, box: tuple[float, float, float, float], terms: tuple[str, ...]) -> float:
    """The mean, over ``terms``, of the share of pixels of that term in the box's central part (a box
    holds background at its edges: the middle 60 % of its width and 80 % of its height are read).
    RGB uint8 frame, box (x, y, w, h) pixels. 0.0 when there are no terms or no pixels."""
    if not terms:
        return 0.0
    x, y, w, h = box
    x0, x1 = int(round(x + 0.2 * w)), int(round(x + 0.8 * w))
    y0, y1 = int(round(y + 0.1 * h)), int(round(y + 0.9 * h))
    patch = frame[max(0, y0):max(0, y1), max(0, x0):max(0, x1)]
    if patch.size == 0:
        return 0.0
    masks = _terms(cv2.cvtColor(np.ascontiguousarray(patch), cv2.COLOR_RGB2HSV))
    return float(np.mean([masks[t].mean() for t in terms if t in masks])) if any(t in masks for t in terms) else 0.0
