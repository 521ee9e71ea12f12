"""Image / CompressedImage <-> numpy, bit-exact on a real frame, with clear refusals."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import Header

from litetrack_ros.image_conversion import ImageTooLarge, compressed_to_rgb, image_to_rgb, rgb_to_image


@pytest.fixture(scope="module")
def frame(clip):
    bgr = cv2.imread(str(clip / "img" / "000001.jpg"))  # the packaged clip, 640x480
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def _msg(pixels: np.ndarray, encoding: str, pad: int = 0) -> Image:
    """An Image message whose rows carry ``pad`` extra bytes, as some drivers send."""
    h, w = pixels.shape[:2]
    row = pixels.reshape(h, -1)
    padded = np.zeros((h, row.shape[1] + pad), np.uint8)
    padded[:, : row.shape[1]] = row
    return Image(height=h, width=w, encoding=encoding, step=padded.shape[1], data=padded.tobytes())


@pytest.mark.parametrize("pad", [0, 13])
def test_rgb_family_is_bit_exact(frame, pad):
    np.testing.assert_array_equal(image_to_rgb(_msg(frame, "rgb8", pad)), frame)
    np.testing.assert_array_equal(image_to_rgb(_msg(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR), "bgr8", pad)), frame)
    rgba = np.dstack([frame, np.full(frame.shape[:2], 77, np.uint8)])
    np.testing.assert_array_equal(image_to_rgb(_msg(rgba, "rgba8", pad)), frame)
    np.testing.assert_array_equal(image_to_rgb(_msg(rgba[..., [2, 1, 0, 3]].copy(), "bgra8", pad)), frame)
    gray = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
    np.testing.assert_array_equal(image_to_rgb(_msg(gray, "mono8", pad)), np.dstack([gray] * 3))


def test_yuv422_matches_opencv(frame):
    """UYVY (ROS 'yuv422') and YUYV ('yuv422_yuy2') bytes decode like OpenCV's own conversions."""
    h, w = frame.shape[:2]
    yuv = cv2.cvtColor(frame, cv2.COLOR_RGB2YUV)
    u = (yuv[:, 0::2, 1].astype(np.uint16) + yuv[:, 1::2, 1]) // 2
    v = (yuv[:, 0::2, 2].astype(np.uint16) + yuv[:, 1::2, 2]) // 2
    uyvy = np.empty((h, w, 2), np.uint8)
    uyvy[:, 0::2, 0], uyvy[:, 1::2, 0] = u, v
    uyvy[:, :, 1] = yuv[..., 0]
    expected = cv2.cvtColor(uyvy, cv2.COLOR_YUV2RGB_UYVY)
    np.testing.assert_array_equal(image_to_rgb(_msg(uyvy, "yuv422", pad=6)), expected)
    yuyv = uyvy[..., ::-1].copy()
    np.testing.assert_array_equal(image_to_rgb(_msg(yuyv, "yuv422_yuy2")), cv2.cvtColor(yuyv, cv2.COLOR_YUV2RGB_YUY2))
    assert np.abs(expected.astype(int) - frame).mean() < 8  # and it is the same picture


def test_round_trip_to_message(frame):
    header = Header(frame_id="camera")
    for encoding in ("rgb8", "bgr8"):
        msg = rgb_to_image(frame, header, encoding)
        assert (msg.height, msg.width, msg.step, msg.encoding) == (*frame.shape[:2], frame.shape[1] * 3, encoding)
        np.testing.assert_array_equal(image_to_rgb(msg), frame)


def test_compressed(frame):
    png = cv2.imencode(".png", cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))[1].tobytes()
    np.testing.assert_array_equal(compressed_to_rgb(CompressedImage(format="png", data=png)), frame)
    jpg = cv2.imencode(".jpg", cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))[1].tobytes()
    assert compressed_to_rgb(CompressedImage(format="jpeg", data=jpg)).shape == frame.shape
    with pytest.raises(ValueError, match="cannot decode compressed image of 100 bytes"):
        compressed_to_rgb(CompressedImage(format="jpeg", data=jpg[:100]))
    with pytest.raises(ValueError, match="has no data"):
        compressed_to_rgb(CompressedImage(format="jpeg", data=b""))


@pytest.mark.parametrize(
    "msg,message",
    [
        (Image(height=2, width=2, encoding="32FC1", step=8, data=bytes(16)), "unsupported image encoding '32FC1'"),
        (Image(height=2, width=4, encoding="rgb8", step=6, data=bytes(24)), "step 6 is smaller than width x 3 bytes = 12"),
        (Image(height=4, width=4, encoding="rgb8", step=12, data=bytes(20)), "has 20 bytes; 4x4 rgb8 with step 12 needs 48"),
        (Image(height=0, width=4, encoding="rgb8", step=12, data=b""), "zero size"),
    ],
)
def test_bad_images_are_refused(msg, message):
    with pytest.raises(ValueError, match=message):
        image_to_rgb(msg)


def test_an_image_over_the_pixel_bound_is_refused_from_its_header(frame):
    """The compressed file's header, or the message's width and height, are read before any pixel."""
    ok, jpeg = cv2.imencode(".jpg", frame)
    data = bytearray(jpeg.tobytes())
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = (16000).to_bytes(2, "big") * 2  # the header now declares 16000x16000
    with pytest.raises(ImageTooLarge, match="16000x16000|declares over"):
        compressed_to_rgb(CompressedImage(format="jpeg", data=bytes(data)), max_pixels=40_000_000)
    h, w = frame.shape[:2]
    assert compressed_to_rgb(CompressedImage(format="jpeg", data=jpeg.tobytes()), max_pixels=h * w).shape == frame.shape
    with pytest.raises(ImageTooLarge, match=f"at most {h * w - 1}"):
        compressed_to_rgb(CompressedImage(format="jpeg", data=jpeg.tobytes()), max_pixels=h * w - 1)
    raw = rgb_to_image(frame, Header())
    with pytest.raises(ImageTooLarge, match=f"{w}x{h}"):
        image_to_rgb(raw, max_pixels=h * w - 1)
    assert image_to_rgb(raw, max_pixels=h * w).shape == frame.shape


def test_a_yuv422_image_of_odd_width_is_a_bad_image_not_an_opencv_error():
    msg = Image(height=2, width=3, encoding="yuv422", step=6, data=bytes(12))
    with pytest.raises(ValueError, match="cannot convert 3x2 yuv422"):
        image_to_rgb(msg)
