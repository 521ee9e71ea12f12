"""TF op semantics for the TF.js graph executor (``tfjs.py``): one function per op type, in ``OPS``.

Tensors are NHWC as in TF (convolutions run as torch conv2d on an NCHW *view*, no layout copies);
int32 stays int32, bool stays bool. Each op follows TF's definition where torch differs (SAME
padding, legacy bilinear resize, tie order of TopK, floor division and modulo of integers).
"""

from __future__ import annotations

import base64

import torch
import torch.nn.functional as F

__all__ = ["OPS", "attr", "resize_bilinear"]

# GraphDef dtype names -> torch dtypes (Cast's DstT, Placeholder's dtype).
_TF_DTYPES = {
    "DT_FLOAT": torch.float32,
    "DT_HALF": torch.float16,
    "DT_DOUBLE": torch.float64,
    "DT_INT32": torch.int32,
    "DT_INT64": torch.int64,
    "DT_UINT8": torch.uint8,
    "DT_BOOL": torch.bool,
}


# ----------------------------------------------------------------------------------------------
# Attributes
# ----------------------------------------------------------------------------------------------


def _decode_scalar(kind: str, v):
    if kind == "s":  # bytes fields are base64 in the JSON
        return base64.b64decode(v).decode("utf-8", "replace")
    if kind == "i":  # int64 fields are JSON strings
        return int(v)
    if kind == "f":
        return float(v)
    return v  # "b" (bool) and "type" (dtype name) as they are


def attr(node: dict, key: str, default=None):
    """A node attribute as a Python value (lists as lists); `default` when absent."""
    a = node.get("attr", {}).get(key)
    if a is None:
        return default
    if "list" in a:
        for kind in ("i", "f", "s", "b", "type"):
            if kind in a["list"]:
                return [_decode_scalar(kind, v) for v in a["list"][kind]]
        return []
    for kind in ("i", "f", "b", "s", "type"):
        if kind in a:
            return _decode_scalar(kind, a[kind])
    return a  # shape / tensor protos: raw


# ----------------------------------------------------------------------------------------------
# Op helpers
# ----------------------------------------------------------------------------------------------


def _same_pad(size: int, k: int, stride: int, dilation: int) -> tuple[int, int]:
    """TF 'SAME': output ceil(size / stride); the odd extra pixel of padding goes after (bottom/right)."""
    out = -(-size // stride)
    total = max((out - 1) * stride + (k - 1) * dilation + 1 - size, 0)
    return total // 2, total - total // 2


def _nchw_padded(node: dict, x: torch.Tensor, kh: int, kw: int, value: float = 0.0) -> torch.Tensor:
    """NHWC input -> NCHW view, padded as the node's 'padding' attr says (SAME / VALID / EXPLICIT)."""
    if attr(node, "data_format", "NHWC") != "NHWC":
        fmt = attr(node, "data_format")
        raise NotImplementedError(f"{node['op']} with data_format {fmt} ({node['name']})")
    _, sh, sw, _ = attr(node, "strides", [1, 1, 1, 1])
    _, dh, dw, _ = attr(node, "dilations", [1, 1, 1, 1])
    padding = attr(node, "padding", "VALID")
    x = x.permute(0, 3, 1, 2)
    if padding == "SAME":
        top, bottom = _same_pad(x.shape[2], kh, sh, dh)
        left, right = _same_pad(x.shape[3], kw, sw, dw)
    elif padding == "EXPLICIT":  # 8 numbers, (before, after) per NHWC dimension
        p = attr(node, "explicit_paddings")
        top, bottom, left, right = p[2], p[3], p[4], p[5]
    elif padding == "VALID":
        return x
    else:
        raise NotImplementedError(f"padding {padding!r} ({node['name']})")
    if top or bottom or left or right:
        x = F.pad(x, (left, right, top, bottom), value=value)
    return x


def _conv(node: dict, x: torch.Tensor, w: torch.Tensor, depthwise: bool) -> torch.Tensor:
    """Conv2D (filter HWIO) or DepthwiseConv2dNative (filter HW C M, output channel c*M + m); NHWC out."""
    kh, kw, cin, cout = w.shape
    xp = _nchw_padded(node, x, kh, kw)
    _, sh, sw, _ = attr(node, "strides", [1, 1, 1, 1])
    _, dh, dw, _ = attr(node, "dilations", [1, 1, 1, 1])
    if depthwise:  # torch groups=C with C*M outputs orders channels c*M + m, as TF does
        weight, groups = w.reshape(kh, kw, cin * cout).permute(2, 0, 1).unsqueeze(1), cin
    else:  # TF allows grouped Conv2D when the input has a multiple of the filter's in-channels
        weight, groups = w.permute(3, 2, 0, 1), x.shape[3] // cin
    y = F.conv2d(xp, weight, stride=(sh, sw), dilation=(dh, dw), groups=groups)
    return y.permute(0, 2, 3, 1)


def _fused(node: dict, y: torch.Tensor, extra: list[torch.Tensor]) -> torch.Tensor:
    """Apply _FusedConv2D / FusedDepthwiseConv2dNative 'fused_ops' in order, taking their extra inputs."""
    for op in attr(node, "fused_ops", []):
        if op == "BiasAdd":
            y, extra = y + extra[0], extra[1:]
        elif op == "FusedBatchNorm":  # scale, offset, mean, variance
            scale, offset, mean, var = extra[:4]
            extra = extra[4:]
            y = (y - mean) * torch.rsqrt(var + attr(node, "epsilon", 1e-4)) * scale + offset
        elif op == "Relu":
            y = torch.relu(y)
        elif op == "Relu6":
            y = torch.clamp(y, 0.0, 6.0)
        elif op == "Elu":
            y = F.elu(y)
        elif op == "Sigmoid":
            y = torch.sigmoid(y)
        elif op == "LeakyRelu":
            y = F.leaky_relu(y, attr(node, "leakyrelu_alpha", 0.2))
        elif op == "Prelu":  # max(0, y) + alpha * min(0, y), alpha per channel
            y, extra = torch.where(y >= 0, y, y * extra[0]), extra[1:]
        else:
            raise NotImplementedError(f"fused op {op} in {node['op']} ({node['name']})")
    return y


def _source_index(in_size: int, out_size: int, align_corners: bool, half_pixel: bool, device):
    """TF's bilinear sampling along one axis: (low index, high index, fraction), in float64 as TF.js."""
    if align_corners and out_size > 1:
        scale = (in_size - 1) / (out_size - 1)
    else:
        scale = in_size / out_size
    pos = torch.arange(out_size, dtype=torch.float64, device=device)
    src = (pos + 0.5) * scale - 0.5 if half_pixel else pos * scale  # legacy mode: i * in / out
    low = src.floor().clamp(min=0)
    high = src.ceil().clamp(max=in_size - 1)
    return low.long(), high.long(), src - low


def _resize_bilinear(x: torch.Tensor, out_h: int, out_w: int, align_corners: bool, half_pixel: bool):
    """ResizeBilinear on NHWC: lerp along columns, then along rows, as TF.js's CPU kernel does.

    Arithmetic in float64, stored as float32: TF.js computes in JS numbers (doubles) and writes
    a Float32Array, so this reproduces it bit for bit.
    """
    r_lo, r_hi, fr = _source_index(x.shape[1], out_h, align_corners, half_pixel, x.device)
    c_lo, c_hi, fc = _source_index(x.shape[2], out_w, align_corners, half_pixel, x.device)
    x = x.to(torch.float64)
    fc, fr = fc[None, None, :, None], fr[None, :, None, None]

    def along_cols(rows: torch.Tensor) -> torch.Tensor:
        left, right = rows[:, :, c_lo], rows[:, :, c_hi]
        return left + (right - left) * fc

    top, bottom = along_cols(x[:, r_lo]), along_cols(x[:, r_hi])
    return (top + (bottom - top) * fr).to(torch.float32)


def resize_bilinear(image: torch.Tensor, size: int) -> torch.Tensor:
    """tf.image.resizeBilinear(image, [size, size]) with TF.js's defaults (alignCorners=false,
    halfPixelCenters=false): output pixel i samples input coordinate i * in / out.

    image: (N, H, W, C) or (H, W, C), any real dtype (uint8 pixels fine); returns float32, same rank.
    """
    squeeze = image.dim() == 3
    out = _resize_bilinear(image[None] if squeeze else image, size, size, False, False)
    return out[0] if squeeze else out


def _strided_slice(node: dict, x: torch.Tensor, begin, end, strides) -> torch.Tensor:
    """StridedSlice with TF's begin/end/ellipsis/new_axis/shrink_axis masks (negative strides too).

    Walks the slice spec once: `dim` is the position in x, `odim` the matching position in the
    output (they drift apart as axes are added or shrunk). Dims after the spec are kept whole.
    """
    begin, end, strides = begin.tolist(), end.tolist(), strides.tolist()
    names = ("begin_mask", "end_mask", "ellipsis_mask", "new_axis_mask", "shrink_axis_mask")
    mask = {k: attr(node, k, 0) for k in names}
    bit = lambda name, i: bool(mask[name] >> i & 1)  # noqa: E731
    # An ellipsis covers the dims that the other (non new-axis) spec entries leave over.
    used = sum(1 for i in range(len(begin)) if not bit("new_axis_mask", i) and not bit("ellipsis_mask", i))
    out, dim, odim = x, 0, 0
    for i, stride in enumerate(strides):
        if bit("ellipsis_mask", i):
            dim, odim = dim + x.dim() - used, odim + x.dim() - used
        elif bit("new_axis_mask", i):
            out, odim = out.unsqueeze(odim), odim + 1
        elif bit("shrink_axis_mask", i):
            size = x.shape[dim]
            out, dim = out.select(odim, begin[i] + size if begin[i] < 0 else begin[i]), dim + 1
        else:
            size = x.shape[dim]
            lo, hi = (0, size) if stride > 0 else (-1, size - 1)  # where start / stop are clamped
            if bit("begin_mask", i):
                start = lo if stride > 0 else hi
            else:
                start = min(max(begin[i] + size if begin[i] < 0 else begin[i], lo), hi)
            if bit("end_mask", i):
                stop = hi if stride > 0 else lo
            else:
                stop = min(max(end[i] + size if end[i] < 0 else end[i], lo), hi)
            index = torch.arange(start, stop, stride, device=x.device)
            out, dim, odim = out.index_select(odim, index), dim + 1, odim + 1
    return out


def _top_k(x: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """TopKV2 along the last axis, sorted; equal values by lower index first (as TF).

    torch.topk's tie order is unspecified, so keep every element >= the k-th largest value
    (ascending index order) and stable-sort only those.
    """
    rows = x.reshape(-1, x.shape[-1])
    values, indices = [], []
    for row in rows:
        kth = torch.topk(row, k).values[-1]
        cand = torch.nonzero(row >= kth).squeeze(1)
        order = torch.sort(row[cand], descending=True, stable=True).indices[:k]
        indices.append(cand[order])
        values.append(row[cand[order]])
    shape = (*x.shape[:-1], k)
    return torch.stack(values).reshape(shape), torch.stack(indices).to(torch.int32).reshape(shape)


def _floor_div(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    # TF: integers round toward -inf; floats are floor(a / b).
    return torch.floor(a / b) if a.is_floating_point() else torch.div(a, b, rounding_mode="floor")


def _floor_mod(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    # TF: truncated remainder moved to the divisor's sign (Python's %), for ints and floats.
    r = torch.fmod(a, b)
    return torch.where((r != 0) & ((r < 0) != (b < 0)), r + b, r)


def _mean(node: dict, x: torch.Tensor, axes: torch.Tensor) -> torch.Tensor:
    dims = [d % x.dim() for d in axes.reshape(-1).tolist()]
    keep = bool(attr(node, "keep_dims", False))
    return torch.mean(x, dim=dims, keepdim=keep) if dims else x


def _max_pool(node: dict, x: torch.Tensor) -> torch.Tensor:
    _, kh, kw, _ = attr(node, "ksize")
    _, sh, sw, _ = attr(node, "strides")
    xp = _nchw_padded(node, x, kh, kw, value=-float("inf"))  # padding never wins a max
    return F.max_pool2d(xp, (kh, kw), (sh, sw)).permute(0, 2, 3, 1)


def _gather(node: dict, params: torch.Tensor, indices: torch.Tensor, axis: torch.Tensor) -> torch.Tensor:
    if attr(node, "batch_dims", 0):
        raise NotImplementedError(f"GatherV2 with batch_dims ({node['name']})")
    ax = int(axis) % params.dim()
    out = params.index_select(ax, indices.reshape(-1).long())
    return out.reshape(*params.shape[:ax], *indices.shape, *params.shape[ax + 1 :])


def _gather_nd(params: torch.Tensor, indices: torch.Tensor) -> torch.Tensor:
    """GatherNd: the last axis of ``indices`` indexes the leading axes of ``params``."""
    depth = indices.shape[-1]
    flat = indices.reshape(-1, depth).long()
    picked = params[tuple(flat[:, i] for i in range(depth))]
    return picked.reshape(*indices.shape[:-1], *params.shape[depth:])


def _squeeze(node: dict, x: torch.Tensor) -> torch.Tensor:
    dims = attr(node, "squeeze_dims", []) or [d for d, size in enumerate(x.shape) if size == 1]
    for d in sorted((d % x.dim() for d in dims), reverse=True):
        x = x.squeeze(d)
    return x


def _arg_max(node: dict, x: torch.Tensor, axis: torch.Tensor) -> torch.Tensor:
    # The first maximum along the axis, as TF (torch.argmax returns the first one too).
    return torch.argmax(x, dim=int(axis)).to(_TF_DTYPES[attr(node, "output_type", "DT_INT64")])


def _expand_dims(x: torch.Tensor, dim: torch.Tensor) -> torch.Tensor:
    d = int(dim)
    return x.unsqueeze(d + x.dim() + 1 if d < 0 else d)


# op type -> fn(node, *data inputs) -> tensor or tuple of tensors (one per output index)
OPS = {
    "Identity": lambda n, x: x,
    "Add": lambda n, a, b: a + b,
    "AddV2": lambda n, a, b: a + b,
    "BiasAdd": lambda n, a, b: a + b,
    "Sub": lambda n, a, b: a - b,
    "Mul": lambda n, a, b: a * b,
    "RealDiv": lambda n, a, b: a / b,
    "SquaredDifference": lambda n, a, b: (a - b) * (a - b),
    "Sqrt": lambda n, x: torch.sqrt(x),
    "FloorDiv": lambda n, a, b: _floor_div(a, b),
    "FloorMod": lambda n, a, b: _floor_mod(a, b),
    "Equal": lambda n, a, b: a == b,
    "Relu": lambda n, x: torch.relu(x),
    "Relu6": lambda n, x: torch.clamp(x, 0.0, 6.0),
    "Sigmoid": lambda n, x: torch.sigmoid(x),
    "Cast": lambda n, x: x.to(_TF_DTYPES[attr(n, "DstT")]),  # float -> int truncates, as TF
    "Conv2D": lambda n, x, w: _conv(n, x, w, depthwise=False),
    "DepthwiseConv2dNative": lambda n, x, w: _conv(n, x, w, depthwise=True),
    "_FusedConv2D": lambda n, x, w, *extra: _fused(n, _conv(n, x, w, depthwise=False), list(extra)),
    "FusedDepthwiseConv2dNative": lambda n, x, w, *extra: _fused(
        n, _conv(n, x, w, depthwise=True), list(extra)
    ),
    "MaxPool": _max_pool,
    "Mean": _mean,
    "ConcatV2": lambda n, *args: torch.cat(args[:-1], dim=int(args[-1])),
    "Reshape": lambda n, x, shape: x.reshape(shape.tolist()),
    "ExpandDims": lambda n, x, dim: _expand_dims(x, dim),
    "Squeeze": _squeeze,
    "Pack": lambda n, *xs: torch.stack(xs, dim=attr(n, "axis", 0)),
    "Unpack": lambda n, x: tuple(x.unbind(attr(n, "axis", 0))),
    "ArgMax": _arg_max,
    "GatherNd": lambda n, params, indices: _gather_nd(params, indices),
    "StridedSlice": _strided_slice,
    "ResizeBilinear": lambda n, x, size: _resize_bilinear(
        x, *size.tolist(), bool(attr(n, "align_corners", False)), bool(attr(n, "half_pixel_centers", False))
    ),
    "TopKV2": lambda n, x, k: _top_k(x, int(k)),
    "GatherV2": _gather,
}

