"""Run a TensorFlow.js graph model (model.json + weight shards) with PyTorch, without TensorFlow.

A TF.js graph model is a frozen TF GraphDef written as JSON: `modelTopology.node` lists nodes
(`name`, `op`, `input`, `attr`) and `weightsManifest` names the binary shards, beside the JSON,
that hold the value of every `Const` node, in manifest order. The executor below evaluates the
nodes a requested output depends on, in topological order, with the op semantics TF defines
(``tfjs_ops.py``). An input reference "node:1" is output 1 of a multi-output node (TopKV2, Unpack)
and "^node" a control dependency (no data, skipped).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from litetrack_core.grounding.tfjs_ops import OPS

__all__ = ["TFJSGraph", "load_graph_model"]

# Manifest dtypes -> numpy dtype of the stored bytes (when not quantized).
_STORED = {"float32": np.float32, "int32": np.int32, "bool": np.bool_}
# Quantized storage: float16 is a plain cast; uint8/uint16 are affine (value = q * scale + min).
_QUANTIZED = {"float16": np.float16, "uint8": np.uint8, "uint16": np.uint16}


# ----------------------------------------------------------------------------------------------
# Loading
# ----------------------------------------------------------------------------------------------


def load_graph_model(model_json: Path) -> "TFJSGraph":
    """Read a TF.js graph model: the JSON and the weight files its manifest names (beside it).

    float16-quantized weights are dequantized to float32 (uint8/uint16 affine ones too); int32
    weights stay int32. A missing or non-JSON model file, or a weight file that is missing or
    holds fewer bytes than the manifest needs, raises ValueError naming the file.
    """
    model_json = Path(model_json)
    try:
        spec = json.loads(model_json.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"cannot read TF.js model JSON {model_json}: {err}") from err
    if not isinstance(spec, dict) or "node" not in spec.get("modelTopology", {}):
        raise ValueError(f"{model_json} is not a TF.js graph model (no modelTopology.node)")

    weights: dict[str, torch.Tensor] = {}
    for group in spec.get("weightsManifest", []):
        files = [model_json.parent / p for p in group["paths"]]
        specs = group["weights"]
        need = sum(_weight_nbytes(w, model_json) for w in specs)
        chunks = []
        for f in files:
            try:
                chunks.append(f.read_bytes())
            except OSError as err:
                raise ValueError(f"weight file {f} (named by {model_json}) cannot be read: {err}") from err
        data = b"".join(chunks)
        if len(data) < need:
            names = ", ".join(str(f) for f in files)
            raise ValueError(f"weight file {names} is truncated: {len(data)} bytes, manifest needs {need}")
        offset = 0
        for w in specs:
            weights[w["name"]] = _decode_weight(w, data, offset)
            offset += _weight_nbytes(w, model_json)
    return TFJSGraph(spec["modelTopology"]["node"], weights, spec.get("signature", {}))


def _weight_nbytes(w: dict, model_json: Path) -> int:
    count = int(np.prod(w["shape"], dtype=np.int64))
    quant = w.get("quantization")
    if quant and quant["dtype"] in _QUANTIZED:
        return count * np.dtype(_QUANTIZED[quant["dtype"]]).itemsize
    if quant or w["dtype"] not in _STORED:
        raise ValueError(f"{model_json}: weight {w['name']} has unsupported storage {quant or w['dtype']}")
    return count * np.dtype(_STORED[w["dtype"]]).itemsize


def _decode_weight(w: dict, data: bytes, offset: int) -> torch.Tensor:
    count = int(np.prod(w["shape"], dtype=np.int64))
    quant = w.get("quantization")
    if quant:
        q = np.frombuffer(data, _QUANTIZED[quant["dtype"]], count, offset).astype(np.float32)
        if quant["dtype"] != "float16":
            q = q * np.float32(quant["scale"]) + np.float32(quant["min"])
            if w["dtype"] == "int32":  # TF.js rounds dequantized integers
                q = np.rint(q)
        value = q.astype(_STORED[w["dtype"]])
    else:
        value = np.frombuffer(data, _STORED[w["dtype"]], count, offset).copy()
    return torch.from_numpy(value.reshape(w["shape"]))


# ----------------------------------------------------------------------------------------------
# References
# ----------------------------------------------------------------------------------------------


def _split_ref(ref: str) -> tuple[str, int]:
    """'node:1' -> ('node', 1); 'node' -> ('node', 0)."""
    name, _, idx = ref.rpartition(":")
    return (name, int(idx)) if name and idx.isdigit() else (ref, 0)


def _data_inputs(node: dict) -> list[str]:
    return [r for r in node.get("input", []) if not r.startswith("^")]


# ----------------------------------------------------------------------------------------------
# The graph
# ----------------------------------------------------------------------------------------------


class TFJSGraph:
    """A loaded TF.js graph model. `run` evaluates requested outputs from named inputs (NHWC).

    nodes: the GraphDef nodes (dicts as in the JSON); weights: Const name -> tensor;
    signature: the JSON's 'signature' (input / output names and shapes), possibly empty.
    """

    def __init__(self, nodes: list[dict], weights: dict[str, torch.Tensor], signature: dict | None = None):
        self.nodes = {n["name"]: n for n in nodes}
        self.weights = weights
        self.signature = signature or {}
        missing = [n for n, node in self.nodes.items() if node["op"] == "Const" and n not in weights]
        if missing:
            raise ValueError(f"Const nodes without weights in the manifest: {missing[:5]}")

    @property
    def input_names(self) -> list[str]:
        return [n for n, node in self.nodes.items() if node["op"] == "Placeholder"]

    def to(self, device: torch.device | str) -> "TFJSGraph":
        """Move the weights (inputs must then be on the same device)."""
        self.weights = {k: v.to(device) for k, v in self.weights.items()}
        return self

    def _schedule(self, outputs: list[str]) -> list[str]:
        """Names of the nodes the outputs need, each after its inputs (iterative DFS, post-order)."""
        order, state = [], {}  # state: 1 = on the stack, 2 = done
        for out in outputs:
            stack = [(_split_ref(out)[0], False)]
            while stack:
                name, expanded = stack.pop()
                if expanded:
                    state[name] = 2
                    order.append(name)
                    continue
                if state.get(name) == 2:
                    continue
                if state.get(name) == 1:
                    raise ValueError(f"graph has a cycle through {name}")
                node = self.nodes.get(name)
                if node is None:
                    raise ValueError(f"no node named {name!r} in the graph")
                if node["op"] not in OPS and node["op"] not in ("Const", "Placeholder"):
                    raise NotImplementedError(f"TF op {node['op']} (node {name}) is not supported")
                state[name] = 1
                stack.append((name, True))
                for ref in reversed(_data_inputs(node)):
                    dep = _split_ref(ref)[0]
                    if state.get(dep) != 2:
                        stack.append((dep, False))
        return order

    def run(self, inputs: dict[str, torch.Tensor], outputs: list[str]) -> dict[str, torch.Tensor]:
        """Evaluate `outputs` (node names, optionally 'name:index') given Placeholder values.

        E.g. CenterNet: inputs {'tower_0/images': (1, 512, 512, 3) float32 RGB 0..255},
        outputs ['tower_0/detections'] -> (1, 100, 6) float32.
        """
        values: dict[str, tuple[torch.Tensor, ...]] = {}
        with torch.inference_mode():
            for name in self._schedule(outputs):
                node = self.nodes[name]
                if node["op"] == "Const":
                    result = self.weights[name]
                elif node["op"] == "Placeholder":
                    if name not in inputs:
                        raise ValueError(f"input {name!r} is required")
                    result = inputs[name]
                else:
                    args = [values[n][i] for n, i in map(_split_ref, _data_inputs(node))]
                    result = OPS[node["op"]](node, *args)
                values[name] = result if isinstance(result, tuple) else (result,)
            return {out: values[_split_ref(out)[0]][_split_ref(out)[1]].contiguous() for out in outputs}
