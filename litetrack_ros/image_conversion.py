"""sensor_msgs Image / CompressedImage <-> numpy, without cv_bridge.

The tracker takes RGB uint8 (H, W, 3). Supported raw encodings: rgb8, bgr8, rgba8, bgra8, mono8,
yuv422 (UYVY byte order, as ROS defines it) and yuv422_yuy2 (YUYV). Rows may be padded (``step``
larger than width x bytes per pixel). Compressed images (jpeg, png, ...) go through OpenCV.
Every failure is a ``ValueError`` that says what arrived and what was expected.
"""

from __future__ import annotations

import cv2
import numpy as np
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import Header

__all__ = ["ENCODINGS", "compressed_to_rgb", "image_to_rgb", "rgb_to_image"]

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


def image_to_rgb(msg: Image) -> np.ndarray:
    """A sensor_msgs/Image as an RGB uint8 (H, W, 3) array (a copy; the message is not kept)."""
    if msg.encoding not in ENCODINGS:
        raise ValueError(f"unsupported image encoding {msg.encoding!r}; supported: {', '.join(ENCODINGS)}")
    channels, conversion = ENCODINGS[msg.encoding]
    h, w, step = int(msg.height), int(msg.width), int(msg.step)
    if h <= 0 or w <= 0:
        raise ValueError(f"image has zero size ({w}x{h})")
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
    return cv2.cvtColor(pixels[..., 0] if channels == 1 else pixels, conversion)


def _bytes(data: object) -> np.ndarray:
    """Message bytes (array.array, bytes, or a list someone filled by hand) as a uint8 view."""
    try:
        return np.frombuffer(data, np.uint8)  # type: ignore[arg-type]
    except TypeError:
        return np.asarray(data, dtype=np.uint8)


def compressed_to_rgb(msg: CompressedImage) -> np.ndarray:
    """A sensor_msgs/CompressedImage (jpeg, png, ...) as an RGB uint8 (H, W, 3) array."""
    data = _bytes(msg.data)
    if data.size == 0:
        raise ValueError(f"compressed image ({msg.format!r}) has no data")
    bgr = cv2.imdecode(data, cv2.IMREAD_COLOR)
    if bgr is None:
        raise ValueError(f"cannot decode compressed image of {data.size} bytes (format {msg.format!r})")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


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
