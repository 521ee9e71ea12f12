"""Content fingerprints of frames, so that anyone can check which video a sequence holds.

``sha1_hex`` identifies a file byte for byte; ``dhash64`` identifies the picture, whatever its
encoding or size: the grey image resized to 9x8 with area interpolation, bit k = pixel (r, c) <
pixel (r, c + 1) row by row (first bit the most significant), written as 16 hex digits.
Re-encoded or rescaled copies of one frame differ in a few bits; different frames in about half.
"""

from __future__ import annotations

import hashlib

import cv2
import numpy as np

__all__ = ["dhash64", "hamming", "sha1_hex"]


def sha1_hex(data: bytes) -> str:
    """SHA-1 of the bytes, 40 hex digits."""
    return hashlib.sha1(data).hexdigest()


def dhash64(image: np.ndarray) -> str:
    """64-bit difference hash of an image (grey (H, W) or RGB/BGR (H, W, 3) uint8), 16 hex digits.

    Colour order does not matter much (grey weights differ), but callers pass RGB.
    """
    if image.ndim == 3:
        image = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    small = cv2.resize(image, (9, 8), interpolation=cv2.INTER_AREA).astype(np.int16)
    bits = (small[:, :-1] < small[:, 1:]).ravel()
    return f"{int(''.join('1' if b else '0' for b in bits), 2):016x}"


def hamming(a: str, b: str) -> int:
    """Bits that differ between two ``dhash64`` values."""
    return bin(int(a, 16) ^ int(b, 16)).count("1")
