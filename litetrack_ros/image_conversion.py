"""sensor_msgs Image / CompressedImage <-> numpy, without cv_bridge.

The tracker takes RGB uint8 (H, W, 3). Supported raw encodings: rgb8, bgr8, rgba8, bgra8, mono8,
yuv422 (UYVY byte order, as ROS defines it) and yuv422_yuy2 (YUYV). Rows may be padded (``step``
larger than width x bytes per pixel). Compressed images (jpeg, png, ...) go through OpenCV.
Every failure is a ``ValueError`` that says what arrived and what was expected; an image over
``max_pixels`` is an ``ImageTooLarge`` (a ValueError), found from the message's or the compressed
file's header before any pixel is decoded (a 2 kB JPEG can declare 16000x16000 pixels: 768 MB).
"""

from __future__ import annotations

import io

import cv2
import numpy as np
import PIL.Image
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import Header

__all__ = ["ENCODINGS", "ImageTooLarge", "compressed_to_rgb", "image_to_rgb", "rgb_to_image"]


class ImageTooLarge(ValueError):
    """The image has more pixels than the caller accepts."""


def _check_size(width: int, height: int, max_pixels: int, what: str) -> None:
    if max_pixels > 0 and width * height > max_pixels:
        raise ImageTooLarge(f"{what} is {width}x{height} = {width * height} pixels; at most {max_pixels} (max_image_pixels)")

# encoding -> (bytes per pixel, OpenCV conversion to RGB or None when already RGB)
ENCODINGS: dict[str, tuple[int, int | None]] = {
    "rgb8": (3, None),
    "bgr8": (3, cv2.COLOR_BGR2RGB),
    "rgba8": (4, cv2.COLOR_RGBA2RGB),
    "bgra8": (4, cv2.COLOR_BGRA2RGB),
    "mono8": (1, cv2.COLOR_GRAY2RGB),
    "yuv422": (2, cv2.COLOR_YUV2RGB_UYVY),
    "yuv422_yuy2": (2, cv2.COLOR_YUV2RGB_YUY2),
}


def image_to_rgb(msg: Image, max_pixels: int = 0) -> np.ndarray:
    """A sensor_msgs/Image as an RGB uint8 (H, W, 3) array (a copy; the message is not kept).
    max_pixels: larger images are refused (0: no bound)."""
    if msg.encoding not in ENCODINGS:
        raise ValueError(f"unsupported image encoding {msg.encoding!r}; supported: {', '.join(ENCODINGS)}")
    channels, conversion = ENCODINGS[msg.encoding]
    h, w, step = int(msg.height), int(msg.width), int(msg.step)
    if h <= 0 or w <= 0:
        raise ValueError(f"image has zero size ({w}x{h})")
    _check_size(w, h, max_pixels, "image")
    row = w * channels
    if step < row:
        raise ValueError(f"image step {step} is smaller than width x {channels} bytes = {row} ({msg.encoding})")
    data = _bytes(msg.data)
    # The last row may omit its padding; anything shorter is truncated data.
    needed = step * (h - 1) + row
    if data.size < needed:
        raise ValueError(f"image data has {data.size} bytes; {w}x{h} {msg.encoding} with step {step} needs {needed}")
    rows = np.lib.stride_tricks.as_strided(data, shape=(h, row), strides=(step, 1))
    pixels = np.ascontiguousarray(rows).reshape(h, w, channels)
    if conversion is None:
        return pixels
    try:
        return cv2.cvtColor(pixels[..., 0] if channels == 1 else pixels, conversion)
    except cv2.error as err:  # e.g. yuv422 with an odd width
        raise ValueError(f"cannot convert {w}x{h} {msg.encoding} to RGB: {err.msg.strip() if hasattr(err, 'msg') else err}") from None


def _bytes(data: object) -> np.ndarray:
    """Message bytes (array.array, bytes, or a list someone filled by hand) as a uint8 view."""
    try:
        return np.frombuffer(data, np.uint8)  # type: ignore[arg-type]
    except TypeError:
        return np.asarray(data, dtype=np.uint8)


def compressed_to_rgb(msg: CompressedImage, max_pixels: int = 0) -> np.ndarray:
    """A sensor_msgs/CompressedImage (jpeg, png, ...) as an RGB uint8 (H, W, 3) array.
    max_pixels: images whose header declares more are refused before decoding (0: no bound)."""
    data = _bytes(msg.data)
    if data.size == 0:
        raise ValueError(f"compressed image ({msg.format!r}) has no data")
    if max_pixels > 0:
        width, height = _declared_size(data, msg.format)
        _check_size(width, height, max_pixels, f"compressed image ({msg.format!r})")
    bgr = cv2.imdecode(data, cv2.IMREAD_COLOR)
    if bgr is None:
        raise ValueError(f"cannot decode compressed image of {data.size} bytes (format {msg.format!r})")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def _declared_size(data: np.ndarray, fmt: str) -> tuple[int, int]:
    """(width, height) that a compressed image's header declares; Pillow reads the header only."""
    try:
        with PIL.Image.open(io.BytesIO(data.tobytes())) as image:
            return image.size
    except PIL.Image.DecompressionBombError:  # Pillow's own bound, far above any camera's
        limit = 2 * (PIL.Image.MAX_IMAGE_PIXELS or 0)
        raise ImageTooLarge(f"compressed image ({fmt!r}) declares over {limit} pixels (max_image_pixels)") from None
    except (PIL.UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
        raise ValueError(f"cannot read the header of a compressed image of {data.size} bytes (format {fmt!r}): {err}") from None


def rgb_to_image(frame: np.ndarray, header: Header, encoding: str = "rgb8") -> Image:
    """An RGB uint8 (H, W, 3) array as a sensor_msgs/Image in ``rgb8`` or ``bgr8``, rows unpadded."""
    if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
        raise ValueError(f"expected RGB uint8 (H, W, 3), got {frame.dtype} {frame.shape}")
    if encoding not in ("rgb8", "bgr8"):
        raise ValueError(f"rgb_to_image writes rgb8 or bgr8, not {encoding!r}")
    pixels = frame if encoding == "rgb8" else cv2.cvtColor(frame, cv2.COLOR_RGB2BGR)
    msg = Image(header=header, height=frame.shape[0], width=frame.shape[1], encoding=encoding, is_bigendian=0)
    msg.step = frame.shape[1] * 3
    msg.data = np.ascontiguousarray(pixels).tobytes()
    return msg
