"""Engines: what runs the per-frame model call. The crop, pre- and post-processing are the tracker's
whatever the engine; only ``step(search, keep_ratio) -> (backbone, head)`` changes.

- ``torch``: PyTorch eager (or CUDA graphs), ``models/step.py``.
- ``onnxruntime``, ``openvino``, ``tensorrt``: the search graph exported from the same weights
  (``graphs.py``), one per keep ratio, made on first use: traced in-process from the model, or
  read from a folder written by ``litetrack export onnx`` and checked against the model.
- ``auto``: every engine installed for the device, timed on the model's own step, the fastest kept.

What depends on the target alone (text, template, prompts) stays in PyTorch: once per target.
"""

from __future__ import annotations

import logging
import statistics
import time
from pathlib import Path

import onnx
import torch

from litetrack_core.engines.graphs import (
    GraphMismatch,
    check_graph,
    example_target,
    export_search_graph,
    outputs_to_torch,
    search_graph_file,
    target_tensors,
    to_numpy,
    weights_digest,
)
from litetrack_core.engines.runtimes import RUNTIMES, EngineError, Runner, Runtime
from litetrack_core.models.head import HeadOutput
from litetrack_core.models.litetrack import BackboneOutput, LiteTrack, TargetState
from litetrack_core.models.step import FrameStep

__all__ = ["ENGINES", "GraphEngine", "GraphStep", "TorchEngine", "choose_engine", "create_engine"]

log = logging.getLogger(__name__)

ENGINES = ("auto", "torch", *RUNTIMES)
_DTYPES = {"fp32": None, "fp16": torch.float16, "bf16": torch.bfloat16}  # torch's precisions
_INT8_EXPORT = "litetrack export onnx DIR --int8 --calibration data/train/real"
# auto: steps timed per engine after its warm-up calls.
_AUTO_WARMUP, _AUTO_RUNS = 3, 7


class TorchEngine:
    """PyTorch eager, or CUDA graphs (``cuda_graphs``), in the tracker's autocast."""

    name = "torch"

    def __init__(self, model: LiteTrack, precision: str, cuda_graphs: bool = False) -> None:
        self.model, self.precision, self.cuda_graphs = model, precision, cuda_graphs

    def frame_step(self, target: TargetState, prompts: torch.Tensor) -> FrameStep:
        return FrameStep(self.model, target, prompts, _DTYPES[self.precision], self.cuda_graphs)


class GraphEngine:
    """An exported search graph per keep ratio, run by ``runtime``.

    Args:
        model: the weights the graphs come from (and the check for files read from ``graph_dir``).
        runtime: ``RUNTIMES[name]``.
        precision: "fp32", or the runtime's reduced precision ("bf16" on OpenVINO, "fp16" on TensorRT).
        threads: the runtime's thread count (0: its default, every core).
        graph_dir: a folder written by ``litetrack export onnx``; None: export in-process.
        exported: a cache of search graphs exported from ``model``, by keep ratio, shared by engines
            timed side by side (``choose_engine``); None: none kept.
    """

    def __init__(self, model: LiteTrack, runtime: Runtime, precision: str = "fp32", threads: int = 0,
                 graph_dir: str | Path | None = None, exported: dict[float, onnx.ModelProto] | None = None) -> None:
        runtime.check(precision)
        self.model, self.runtime, self.precision, self.threads = model, runtime, precision, threads
        self.graph_dir = Path(graph_dir) if graph_dir else None
        if self.graph_dir is not None and not self.graph_dir.is_dir():
            raise EngineError(f"graph folder {self.graph_dir} does not exist (write it with `litetrack export onnx`)")
        self.name = runtime.name
        self._runners: dict[float, tuple[Runner, list[str]]] = {}
        self._exported = exported
        self._digest: str | None = None

    def runner(self, keep_ratio: float) -> tuple[Runner, list[str]]:
        """The compiled search graph at ``keep_ratio`` and its input names (made on first use)."""
        if keep_ratio not in self._runners:
            start = time.perf_counter()
            graph = self._graph(keep_ratio)
            self._runners[keep_ratio] = self.runtime.load(graph, self.threads, self.precision)
            log.info("%s search graph at keep %.2f ready in %.1f s", self.name, keep_ratio, time.perf_counter() - start)
        return self._runners[keep_ratio]

    def _graph(self, keep_ratio: float) -> onnx.ModelProto:
        int8 = self.precision == "int8"
        if self.graph_dir is None:
            if int8:
                raise EngineError(f"int8 needs a search graph quantised on calibration frames: {_INT8_EXPORT}, then "
                                  "give that folder (--onnx-dir, the node's onnx_dir)")
            if self._exported is None:
                return export_search_graph(self.model, keep_ratio)
            if keep_ratio not in self._exported:
                self._exported[keep_ratio] = export_search_graph(self.model, keep_ratio)
            return self._exported[keep_ratio]
        path = self.graph_dir / search_graph_file(keep_ratio, int8)
        if not path.is_file():
            how = _INT8_EXPORT if int8 else "litetrack export onnx DIR"
            raise EngineError(f"{path} is missing: export that keep ratio ({how} --keep {keep_ratio:g})")
        try:
            graph = onnx.load(str(path))
        except Exception as err:  # protobuf's DecodeError and friends: a truncated or foreign file
            raise GraphMismatch(f"{path} is not a readable ONNX file ({type(err).__name__}: {err})") from None
        if self._digest is None:
            self._digest = weights_digest(self.model)
        check_graph(graph, self.model, "search", keep_ratio, self._digest, self.precision)
        return graph

    def frame_step(self, target: TargetState, prompts: torch.Tensor) -> GraphStep:
        return GraphStep(self, target, prompts)


class GraphStep:
    """``FrameStep``'s counterpart for an exported graph: the target's tensors converted once,
    search crop and prompts fed per frame; outputs come back as torch tensors on the target's device."""

    def __init__(self, engine: GraphEngine, target: TargetState, prompts: torch.Tensor) -> None:
        self.engine = engine
        self.device = target.flag.device
        self.feed = {name: to_numpy(t) for name, t in target_tensors(target).items()}
        self.set_prompts(prompts)

    def set_prompts(self, prompts: torch.Tensor) -> None:
        """New prompts (1, 3, C) for the following frames (a prompt update)."""
        self.prompts = prompts.detach().clone()
        self.feed["prompts"] = to_numpy(prompts)

    def __call__(self, search: torch.Tensor, keep_ratio: float = 1.0) -> tuple[BackboneOutput, HeadOutput]:
        run, names = self.engine.runner(keep_ratio)
        self.feed["search"] = to_numpy(search)
        feats, head = outputs_to_torch(run({name: self.feed[name] for name in names}))
        if self.device.type != "cpu":
            feats = BackboneOutput(*(t.to(self.device) for t in (feats.search, feats.template, feats.text,
                                                                  feats.vis_token, feats.txt_token)), None)
            head = HeadOutput(*(t.to(self.device) for t in (head.score_map, head.bbox_map, head.cont_score,
                                                             head.pred_boxes)))
        return feats, head


def create_engine(name: str | TorchEngine | GraphEngine, model: LiteTrack, device: torch.device,
                  precision: str = "fp32", cuda_graphs: bool = False, threads: int = 0,
                  graph_dir: str | Path | None = None):
    """The engine ``name`` (one of ``ENGINES``) for ``model`` on ``device``; ``EngineError`` says why
    one cannot run here (not installed: the package to install; wrong device or precision). An
    engine object is returned as it is when it runs ``model`` (trackers of one model share one)."""
    if isinstance(name, (TorchEngine, GraphEngine)):
        if name.model is not model:
            raise EngineError(f"engine {name.name} runs another model")
        return name
    if name not in ENGINES:
        raise EngineError(f"engine {name!r} is not one of {', '.join(ENGINES)}")
    if name == "auto":
        return choose_engine(model, device, precision, cuda_graphs, threads, graph_dir)[0]
    if name == "torch":
        if precision not in _DTYPES:
            raise EngineError(f"engine torch runs {', '.join(_DTYPES)}, not {precision} "
                              f"(int8: engine onnxruntime with graphs from `{_INT8_EXPORT}`)")
        return TorchEngine(model, precision, cuda_graphs)
    runtime = RUNTIMES[name]
    if cuda_graphs:
        raise EngineError(f"CUDA graphs are the torch engine's; engine {name} was asked")
    if runtime.device != device.type:
        raise EngineError(f"engine {name} runs on {runtime.device}, the tracker's device is {device.type}")
    return GraphEngine(model, runtime, precision, threads, graph_dir)


def choose_engine(model: LiteTrack, device: torch.device, precision: str = "fp32", cuda_graphs: bool = False,
                  threads: int = 0, graph_dir: str | Path | None = None):
    """(fastest engine, {engine name: median step ms}): torch and every installed runtime for the
    device and precision, each timed on the model's per-frame step (keep ratio 1.0)."""
    engines = [TorchEngine(model, precision, cuda_graphs)] if precision in _DTYPES else []
    exported: dict[float, onnx.ModelProto] = {}  # one export, compiled by every runtime
    for runtime in RUNTIMES.values():
        if runtime.device == device.type and precision in runtime.precisions and not cuda_graphs and runtime.available():
            engines.append(GraphEngine(model, runtime, precision, threads, graph_dir, exported))
    if not engines:
        raise EngineError(f"no engine installed here runs {precision} on {device.type}")
    if len(engines) == 1:
        return engines[0], {}
    times = {engine.name: _time_step(engine, model, device, precision) for engine in engines}
    for engine in engines:
        if isinstance(engine, GraphEngine):
            engine._exported = None  # compiled now: the graphs themselves are not kept
    best = min(engines, key=lambda e: times[e.name])
    log.info("engine auto: %s (median step ms: %s)", best.name, ", ".join(f"{k} {v:.1f}" for k, v in times.items()))
    return best, times


def _time_step(engine, model: LiteTrack, device: torch.device, precision: str) -> float:
    cfg = model.cfg
    dtype = _DTYPES[precision]
    autocast = torch.autocast(device.type, dtype=dtype) if dtype is not None else torch.autocast(device.type, enabled=False)
    generator = torch.Generator().manual_seed(0)
    search = torch.randn(1, 3, cfg.search_size, cfg.search_size, generator=generator).to(device)
    with torch.no_grad(), autocast:
        target = example_target(model)
        step = engine.frame_step(target, torch.zeros(1, 3, cfg.embed_dim, device=device))
        times = []
        for i in range(_AUTO_WARMUP + _AUTO_RUNS):
            start = time.perf_counter()
            step(search)
            if device.type == "cuda":
                torch.cuda.synchronize()
            if i >= _AUTO_WARMUP:
                times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)
