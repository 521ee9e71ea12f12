"""The runtimes that run an exported graph: ONNX Runtime, OpenVINO, TensorRT (through ONNX Runtime).

A runtime turns a serialised ONNX graph into a function of named numpy inputs that returns the
graph's outputs (numpy, in the graph's output order). Each is imported only when used; a missing
one is refused with the package to install (``EngineError``). All three release Python's
interpreter lock while they compute, so the node's other callbacks run beside a frame's step.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import onnx

__all__ = ["RUNTIMES", "EngineError", "Runner", "Runtime"]

Runner = Callable[[dict[str, np.ndarray]], list[np.ndarray]]


class EngineError(RuntimeError):
    """An engine that cannot run here (package missing, no device, unsupported precision)."""


@dataclass(frozen=True)
class Runtime:
    """How one engine loads a graph. ``precisions``: the tracker precisions it runs (fp32 means
    fp32 arithmetic, bf16 / fp16 the runtime's reduced precision, int8 a quantised graph);
    ``install``: what to install."""

    name: str
    module: str
    install: str
    precisions: tuple[str, ...]
    device: str  # "cpu" or "cuda": where it computes

    def available(self) -> bool:
        """Installed and able to run here."""
        try:
            self.check()
        except EngineError:
            return False
        return True

    def load(self, graph: onnx.ModelProto, threads: int, precision: str) -> tuple[Runner, list[str]]:
        """(run function, the input names it is fed by) for an ONNX graph. ``threads`` 0: the
        runtime's default (all cores)."""
        self.check(precision)
        inputs = [value.name for value in graph.graph.input]
        return _LOADERS[self.name](graph.SerializeToString(), inputs, threads, precision)

    def check(self, precision: str | None = None) -> None:
        """Raise ``EngineError`` when this runtime cannot run here (naming what to install), or
        does not run ``precision``."""
        try:
            module = importlib.import_module(self.module)
        except ImportError:
            raise EngineError(f"engine {self.name} is not installed: pip install {self.install}") from None
        if self.name == "tensorrt" and "TensorrtExecutionProvider" not in module.get_available_providers():
            raise EngineError(
                f"engine tensorrt needs ONNX Runtime built with TensorRT and a CUDA GPU "
                f"(pip install {self.install}); this onnxruntime offers {module.get_available_providers()}"
            )
        if precision is not None and precision not in self.precisions:
            raise EngineError(f"engine {self.name} runs {', '.join(self.precisions)}, not {precision}")


def _onnxruntime(graph: bytes, inputs: list[str], threads: int, precision: str,
                 providers: list | None = None) -> tuple[Runner, list[str]]:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # Idle threads sleep instead of spinning: on a robot's few cores a spinning pool takes the time
    # that the camera driver and the node's other callbacks need between frames.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    session = ort.InferenceSession(graph, options, providers=providers or ["CPUExecutionProvider"])
    return (lambda feed: session.run(None, feed)), inputs


def _tensorrt(graph: bytes, inputs: list[str], threads: int, precision: str) -> tuple[Runner, list[str]]:
    trt = {"trt_fp16_enable": precision == "fp16", "trt_engine_cache_enable": False}
    return _onnxruntime(graph, inputs, threads, precision, [("TensorrtExecutionProvider", trt), "CUDAExecutionProvider"])


def _openvino(graph: bytes, inputs: list[str], threads: int, precision: str) -> tuple[Runner, list[str]]:
    import openvino as ov

    core = ov.Core()
    model = core.read_model(graph)
    config = {
        "PERFORMANCE_HINT": "LATENCY",
        # OpenVINO computes in bf16 by default on CPUs that have it: fp32 must be asked for.
        "INFERENCE_PRECISION_HINT": {"fp32": "f32", "bf16": "bf16"}[precision],
    }
    if threads:
        config["INFERENCE_NUM_THREADS"] = threads
    compiled = core.compile_model(model, "CPU", config)
    request = compiled.create_infer_request()
    count = len(compiled.outputs)

    def run(feed: dict[str, np.ndarray]) -> list[np.ndarray]:
        # The inputs are read in place (they live through the call); the outputs are copied, as
        # the request reuses its buffers.
        request.infer(feed, share_inputs=True)
        # By position: OpenVINO may rename an output that is another one's or an input's copy.
        return [np.array(request.get_output_tensor(i).data) for i in range(count)]

    # An input may carry several names (OpenVINO adds internal ones): the graph's own is the one fed.
    return run, [next(iter(sorted(set(i.get_names()) & set(inputs)))) for i in compiled.inputs]


_LOADERS = {"onnxruntime": _onnxruntime, "openvino": _openvino, "tensorrt": _tensorrt}

RUNTIMES: dict[str, Runtime] = {
    # int8: a search graph quantised by ``litetrack export onnx --int8`` (export/calibrate.py).
    "onnxruntime": Runtime("onnxruntime", "onnxruntime", "onnxruntime==1.31.1", ("fp32", "int8"), "cpu"),
    "openvino": Runtime("openvino", "openvino", "openvino==2026.4.1", ("fp32", "bf16"), "cpu"),
    "tensorrt": Runtime("tensorrt", "onnxruntime", "onnxruntime-gpu tensorrt", ("fp32", "fp16"), "cuda"),
}
