"""litetrack_core.grounding.tfjs: TF.js graph models run by PyTorch.

The main check: CenterNet of @vladmandic/human 3.3.6 on three real frames (frames 1, 50 and 100 of
the packaged clip litetrack_core/clips/vtest_pale_jacket) gives what TensorFlow.js's own runtime gave
(fixtures/centernet_reference.npz, see fixtures/README.md). Small hand-worked cases
pin down the op semantics that are easy to get subtly wrong.
"""

from __future__ import annotations

import base64
import hashlib
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from litetrack_core.grounding.tfjs import TFJSGraph, load_graph_model
from litetrack_core.grounding.tfjs_ops import resize_bilinear

REPO = Path(__file__).resolve().parents[2]
FIXTURE = Path(__file__).parent / "fixtures" / "centernet_reference.npz"
REFERENCE = dict(np.load(FIXTURE))


@pytest.fixture(scope="module")
def centernet(centernet_json):
    return load_graph_model(centernet_json)


# ----------------------------------------------------------------------------------------------
# The shipped detector against TF.js
# ----------------------------------------------------------------------------------------------


FRAME_IDS = [Path(str(p)).stem for p in REFERENCE["paths"]]  # the frame numbers in the clip


@pytest.mark.parametrize("index", range(len(FRAME_IDS)), ids=FRAME_IDS)
def test_centernet_matches_tfjs(index, centernet):
    frame = REPO / str(REFERENCE["paths"][index])  # a frame of the packaged clip
    assert hashlib.sha1(frame.read_bytes()).hexdigest() == REFERENCE["sha1"][index], f"{frame} changed"
    rgb = cv2.imread(str(frame), cv2.IMREAD_COLOR)[:, :, ::-1].copy()
    image = resize_bilinear(torch.from_numpy(rgb)[None], 512)
    # Our resize reproduces TF.js's bit for bit (both compute in doubles, store float32).
    assert hashlib.sha1(image.numpy().tobytes()).hexdigest() == REFERENCE["resized_input_sha1"][index]

    out = centernet.run({"tower_0/images": image}, ["tower_0/detections", "tower_0/keypoints"])
    ours = out["tower_0/detections"][0].numpy()
    assert ours.shape == (100, 6)
    # Every confident reference detection has its own partner among ours (matched one to one,
    # so that two near-equal scores swapping places would not fail the test).
    used = set()
    for ref in REFERENCE["detections"][index]:
        if ref[4] <= 0.1:
            continue
        partners = [
            j
            for j, det in enumerate(ours)
            if j not in used
            and det[5] == ref[5]
            and abs(det[4] - ref[4]) <= 1e-3
            and np.abs(det[:4] - ref[:4]).max() <= 0.5
        ]
        assert partners, f"no match for reference detection {ref.tolist()}"
        used.add(partners[0])
    extra = [ours[j].tolist() for j in range(len(ours)) if ours[j, 4] > 0.1 + 1e-3 and j not in used]
    assert not extra, f"detections TF.js does not have: {extra}"

    heat = out["tower_0/keypoints"][0].numpy()
    rows, cols, classes = REFERENCE["heatmap_positions"].T
    samples, class_max = heat[rows, cols, classes], heat.reshape(-1, 80).max(0)
    np.testing.assert_allclose(samples, REFERENCE["heatmap_samples"][index], atol=1e-3, rtol=0)
    np.testing.assert_allclose(class_max, REFERENCE["heatmap_class_max"][index], atol=1e-3, rtol=0)


def test_missing_weight_file_refused(centernet_json, tmp_path):
    shutil.copy(centernet_json, tmp_path / "centernet.json")
    with pytest.raises(ValueError, match="centernet.bin"):
        load_graph_model(tmp_path / "centernet.json")


def test_truncated_weight_file_refused(centernet_json, tmp_path):
    shutil.copy(centernet_json, tmp_path / "centernet.json")
    data = (centernet_json.parent / "centernet.bin").read_bytes()
    (tmp_path / "centernet.bin").write_bytes(data[: len(data) - 1000])
    with pytest.raises(ValueError, match="centernet.bin"):
        load_graph_model(tmp_path / "centernet.json")


def test_not_json_refused(tmp_path):
    (tmp_path / "model.json").write_text("{not json")
    with pytest.raises(ValueError, match="model.json"):
        load_graph_model(tmp_path / "model.json")
    with pytest.raises(ValueError, match="absent.json"):
        load_graph_model(tmp_path / "absent.json")


# ----------------------------------------------------------------------------------------------
# Op semantics on hand-worked cases
# ----------------------------------------------------------------------------------------------


def test_resize_bilinear_hand_computed():
    # Legacy mode (TF.js default): output i samples input coordinate i * in / out.
    # 2 -> 4: coordinates 0, 0.5, 1, 1.5 -> (low, high, frac) = (0,0,0), (0,1,.5), (1,1,0), (1,1,.5)
    # (the high index is clamped to the last pixel, so the last output row/col repeats the edge).
    # Columns of [[0, 10], [20, 30]]: row 0 -> 0, 5, 10, 10; row 1 -> 20, 25, 30, 30;
    # rows then: r0 = row 0, r1 = halfway, r2 = r3 = row 1.
    image = torch.tensor([[0.0, 10.0], [20.0, 30.0]]).reshape(1, 2, 2, 1)
    expected = [[0, 5, 10, 10], [10, 15, 20, 20], [20, 25, 30, 30], [20, 25, 30, 30]]
    assert resize_bilinear(image, 4)[0, :, :, 0].tolist() == expected
    # 3 -> 2 (uint8 in, float32 out): coordinates 0 and 1.5 -> pixel 0, and halfway between 1 and 2.
    # [[0, 10, 40], [100, 110, 140], [200, 210, 240]]: row 0 -> 0, 25; rows 1|2 halfway -> 150, 175.
    image = torch.tensor([[0, 10, 40], [100, 110, 140], [200, 210, 240]], dtype=torch.uint8).reshape(3, 3, 1)
    out = resize_bilinear(image, 2)
    assert out.dtype == torch.float32 and out[:, :, 0].tolist() == [[0, 25], [150, 175]]


def _attr(value) -> dict:
    if isinstance(value, str):
        return {"s": base64.b64encode(value.encode()).decode()}
    if isinstance(value, bool):
        return {"b": value}
    if isinstance(value, int):
        return {"i": str(value)}
    return {"list": {"i": [str(v) for v in value]}}


def _node(name: str, op: str, *inputs: str, **attrs) -> dict:
    return {"name": name, "op": op, "input": list(inputs), "attr": {k: _attr(v) for k, v in attrs.items()}}


def _run(nodes: list[dict], consts: dict, outputs: list[str], **inputs) -> dict:
    consts = {k: torch.as_tensor(v) for k, v in consts.items()}
    nodes = nodes + [_node(k, "Const") for k in consts] + [_node(k, "Placeholder") for k in inputs]
    return TFJSGraph(nodes, consts).run({k: torch.as_tensor(v) for k, v in inputs.items()}, outputs)


def test_same_padding_puts_extra_pixel_bottom_right():
    # 4x4 input, 3x3 ones filter, stride 2, SAME: 2x2 output, 1 pixel of padding, after (bottom/right).
    # Windows: rows/cols 0..2 and 2..3(+pad). x = 0..15 row-major:
    # (0,0) = 0+1+2+4+5+6+8+9+10 = 45, (0,1) = 2+3+6+7+10+11 = 39,
    # (1,0) = 8+9+10+12+13+14 = 66, (1,1) = 10+11+14+15 = 50.
    conv = _node("y", "Conv2D", "x", "w", strides=[1, 2, 2, 1], padding="SAME")
    out = _run([conv], {"w": torch.ones(3, 3, 1, 1)}, ["y"], x=torch.arange(16.0).reshape(1, 4, 4, 1))
    assert out["y"][0, :, :, 0].tolist() == [[45, 39], [66, 50]]


def test_depthwise_channel_order_and_fused_bias_relu6():
    # Depthwise filter (1, 1, C=2, M=2): output channel c*M + m = x[c] * w[c, m], then + bias, Relu6.
    w = torch.tensor([1.0, 2.0, 3.0, -4.0]).reshape(1, 1, 2, 2)
    node = _node("y", "FusedDepthwiseConv2dNative", "x", "w", "b", strides=[1, 1, 1, 1], padding="VALID")
    node["attr"]["fused_ops"] = {"list": {"s": [_attr(op)["s"] for op in ("BiasAdd", "Relu6")]}}
    consts = {"w": w, "b": torch.tensor([0.0, 0.0, 1.0, 1.0])}
    out = _run([node], consts, ["y"], x=torch.tensor([1.0, 2.0]).reshape(1, 1, 1, 2))
    # x = (1, 2): (1*1, 1*2, 2*3 + 1, 2*(-4) + 1) = (1, 2, 7, -7) -> Relu6 -> (1, 2, 6, 0)
    assert out["y"].flatten().tolist() == [1, 2, 6, 0]


def test_top_k_sorted_ties_by_lower_index():
    x = torch.tensor([[1.0, 3.0, 3.0, 2.0, 3.0]])
    k = {"k": torch.tensor(4, dtype=torch.int32)}
    out = _run([_node("t", "TopKV2", "x", "k", sorted=True)], k, ["t:0", "t:1"], x=x)
    assert out["t:0"].tolist() == [[3, 3, 3, 2]]
    assert out["t:1"].tolist() == [[1, 2, 4, 3]] and out["t:1"].dtype == torch.int32


@pytest.mark.parametrize("dtype", [torch.int32, torch.float32])
def test_floor_div_and_mod_round_toward_minus_infinity(dtype):
    a, b = torch.tensor([7, -7, 7, -7], dtype=dtype), torch.tensor([2, 2, -2, -2], dtype=dtype)
    nodes = [_node("d", "FloorDiv", "a", "b"), _node("m", "FloorMod", "a", "b")]
    out = _run(nodes, {}, ["d", "m"], a=a, b=b)
    assert out["d"].tolist() == [3, -4, -4, 3] and out["d"].dtype == dtype
    assert out["m"].tolist() == [1, 1, -1, -1]


@pytest.mark.parametrize(
    "spec, expected",
    [
        # x[:, 1:3, ::-1]
        (
            dict(begin=[0, 1, 0], end=[0, 3, 0], strides=[1, 1, -1], begin_mask=0b101, end_mask=0b101),
            lambda x: x[:, 1:3, ::-1],
        ),
        # x[1, ..., None]
        (
            dict(begin=[1, 0, 0], end=[2, 0, 0], strides=[1, 1, 1], shrink_axis_mask=1, ellipsis_mask=2, new_axis_mask=4),
            lambda x: x[1, ..., None],
        ),
        # x[-1] (negative index, dims after the spec kept whole)
        (dict(begin=[-1], end=[0], strides=[1], shrink_axis_mask=1), lambda x: x[-1]),
        # x[:, -2:, 1:10:2] (end clamped to the size)
        (
            dict(begin=[0, -2, 1], end=[0, 0, 10], strides=[1, 1, 2], begin_mask=1, end_mask=0b011),
            lambda x: x[:, -2:, 1:10:2],
        ),
    ],
)
def test_strided_slice_masks(spec, expected):
    x = np.arange(24, dtype=np.int32).reshape(2, 3, 4)
    masks = {k: v for k, v in spec.items() if k.endswith("_mask")}
    consts = {k: torch.tensor(spec[k], dtype=torch.int32) for k in ("begin", "end", "strides")}
    node = _node("s", "StridedSlice", "x", "begin", "end", "strides", **masks)
    out = _run([node], consts, ["s"], x=torch.from_numpy(x))
    np.testing.assert_array_equal(out["s"].numpy(), expected(x))


def test_unsupported_op_is_named():
    with pytest.raises(NotImplementedError, match="Erf"):
        _run([_node("e", "Erf", "x")], {}, ["e"], x=torch.zeros(2))
