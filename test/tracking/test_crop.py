"""Letterbox and normalisation reproduce the reference's grounding input bit for bit."""

from __future__ import annotations

import numpy as np
import pytest

from litetrack_core.tracking.crop import letterbox, to_model_input


@pytest.fixture(scope="module")
def inputs(conformance):
    return dict(np.load(conformance / "inputs.npz", allow_pickle=False))


def test_letterbox_matches_reference(inputs):
    box = letterbox(inputs["frames_rgb_u8"][0], 256)
    assert box.rect_xywh_px == tuple(inputs["grounding_image_rect"].tolist())
    np.testing.assert_array_equal(box.image, inputs["grounding_u8"])
    assert box.scale == pytest.approx(256 / 360)


def test_normalisation_matches_reference(inputs):
    np.testing.assert_array_equal(to_model_input(inputs["grounding_u8"]).numpy(), inputs["grounding_search"])
    np.testing.assert_array_equal(to_model_input(inputs["search_crop_u8"]).numpy(), inputs["search"])
    np.testing.assert_array_equal(to_model_input(inputs["template_crop_u8"]).numpy(), inputs["template"])


def test_odd_padding_goes_top_left():
    frame = np.full((10, 21, 3), 200, np.uint8)  # 21 -> 32 wide, 10 -> int(32*10/21) = 15 high
    box = letterbox(frame, 32)
    left, top, w, h = box.rect_xywh_px
    assert (w, h) == (32, 15) and top == 9 and 32 - top - h == 8
    assert box.image[:top].max() == 0 and box.image[top + h :].max() == 0 and box.image[top:top + h].min() == 200

