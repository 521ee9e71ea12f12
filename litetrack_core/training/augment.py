"""Augmentation of training samples (facts from the public UVLTrack training code, reimplemented).

Horizontal flip of template and search together (p 0.5) with "left"/"right" (and
"leftmost"/"rightmost") swapped in the sentence, joint grayscale (p 0.05), colour jitter (brightness,
contrast, saturation in random order, each factor in [1 - x, 1 + x]) of each crop apart (the padding
outside the frame stays black, as at test time), and occasional Gaussian blur of each crop. The
reference flips grounding sentences' "left"/"right" tokens; it also flips template and search crops
independently, which would contradict the words, so that is not done here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import cv2
import numpy as np

__all__ = ["Augmentation", "photometric", "swap_directions"]


@dataclass(frozen=True)
class Augmentation:
    """Photometric and geometric augmentation.

    flip: probability of mirroring template and search (and the sentence's left/right).
    grayscale: probability of turning both frames gray (UVLTrack: 0.05).
    color: probability of colour jitter for each frame; brightness, contrast and saturation
        factors are then drawn in [1 - x, 1 + x] and applied in random order.
    blur: probability of a Gaussian blur for each crop, sigma drawn in ``blur_sigma`` (pixels of
        the crop).
    grounding_rescale: NL samples get a random scale and placement in the square.
    """

    flip: float = 0.5
    grayscale: float = 0.05
    color: float = 0.8
    brightness: float = 0.2
    contrast: float = 0.2
    saturation: float = 0.2
    blur: float = 0.1
    blur_sigma: tuple[float, float] = (0.1, 2.0)
    grounding_rescale: bool = True

    def __post_init__(self) -> None:
        for name in ("flip", "grayscale", "color", "blur"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"augmentation {name}={value} must be a probability in [0, 1]")
        for name in ("brightness", "contrast", "saturation"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"augmentation {name}={value} must be in [0, 1]")
        lo, hi = self.blur_sigma
        if not 0.0 < lo <= hi:
            raise ValueError(f"augmentation blur_sigma={self.blur_sigma} must be 0 < low <= high")

    @classmethod
    def off(cls) -> "Augmentation":
        """Nothing: crops exactly as the tracker makes them, grounding frames letterboxed."""
        return cls(flip=0.0, grayscale=0.0, color=0.0, blur=0.0, grounding_rescale=False)


_DIRECTION = re.compile(r"\b(left|right)(most)?\b", re.IGNORECASE)
_SWAP = {"left": "right", "right": "left"}


def swap_directions(text: str) -> str:
    """Swap "left" and "right" (also in "leftmost"/"rightmost", "left-hand", ...), keeping case:
    what a sentence says about a horizontally mirrored image."""

    def repl(match: re.Match[str]) -> str:
        word = match.group(1)
        swapped = _SWAP[word.lower()] + (match.group(2) or "")
        whole = match.group(0)
        if whole.isupper():
            return swapped.upper()
        if word[0].isupper():
            return swapped[0].upper() + swapped[1:]
        return swapped

    return _DIRECTION.sub(repl, text)


def photometric(
    image: np.ndarray, rect: tuple[int, int, int, int], gray: bool, aug: Augmentation, arng: np.random.Generator
) -> np.ndarray:
    """Colour jitter, grayscale and blur of a crop whose frame pixels are rows ``rect[0]:rect[1]``,
    columns ``rect[2]:rect[3]``; the padding around them stays black, as at test time."""
    apply_color = arng.random() < aug.color
    factors = [arng.uniform(1 - x, 1 + x) for x in (aug.brightness, aug.contrast, aug.saturation)]
    order = arng.permutation(3)
    blur = arng.random() < aug.blur
    sigma = arng.uniform(*aug.blur_sigma)
    if not (gray or apply_color or blur):
        return image
    r0, r1, c0, c1 = rect
    out = image.astype(np.float32)
    if apply_color:
        out = _color_jitter(out, rect, factors, order)
    out = np.rint(out).astype(np.uint8)
    if gray:
        out = np.repeat(cv2.cvtColor(out, cv2.COLOR_RGB2GRAY)[..., None], 3, axis=2)
    if blur:
        out = cv2.GaussianBlur(out, (0, 0), sigma)
    result = np.zeros_like(out)
    result[r0:r1, c0:c1] = out[r0:r1, c0:c1]
    return result


def _color_jitter(out: np.ndarray, rect: tuple[int, int, int, int], factors, order) -> np.ndarray:
    """Brightness, contrast and saturation (``factors``) in ``order`` on a float32 RGB image, clipped
    to [0, 255] after each; contrast moves towards the mean gray level of the frame's pixels (``rect``)."""
    r0, r1, c0, c1 = rect
    for op in order:
        f = float(factors[op])
        if op == 0:  # brightness
            out *= f
        elif op == 1:  # contrast: towards the mean gray level of the frame's pixels
            mean = float(cv2.cvtColor(out[r0:r1, c0:c1], cv2.COLOR_RGB2GRAY).mean())
            out = (out - mean) * f + mean
        else:  # saturation: towards each pixel's gray level
            g = cv2.cvtColor(out, cv2.COLOR_RGB2GRAY)[..., None]
            out = (out - g) * f + g
        np.clip(out, 0.0, 255.0, out=out)
    return out
