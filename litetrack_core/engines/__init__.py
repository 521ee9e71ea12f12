"""Engines for the per-frame model call: PyTorch, or the model exported to ONNX and run by ONNX
Runtime, OpenVINO or TensorRT (``engine.py``; graphs in ``graphs.py``, runtimes in ``runtimes.py``)."""

from litetrack_core.engines.engine import ENGINES, GraphEngine, TorchEngine, create_engine
from litetrack_core.engines.runtimes import RUNTIMES, EngineError

__all__ = ["ENGINES", "RUNTIMES", "EngineError", "GraphEngine", "TorchEngine", "create_engine"]
