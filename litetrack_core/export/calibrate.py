"""Static int8 quantisation of the search graph, calibrated on real training frames.

ONNX Runtime's ``quantize_static`` (QDQ format, int8 weights per output channel, uint8
activations) on the MatMul, Gemm and Conv nodes; activation ranges come from real search crops:
for each calibration sequence the target is set on its first frame by its box and words (NLBBOX,
the tracker's own prompts), and every ``stride``-th later frame is cropped around the previous
frame's true box. Calibrate on the training corpus (``data/train/real``), never on the
evaluation sequences.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import onnx

from litetrack_core.data.sequence import Sequence
from litetrack_core.engines.graphs import target_tensors, to_numpy
from litetrack_core.models.litetrack import LiteTrack
from litetrack_core.tracking.crop import crop_around, to_model_input
from litetrack_core.tracking.tracker import Tracker, TrackerConfig

__all__ = ["calibration_feeds", "quantise_search_graph"]

_QUANTISED_OPS = ["MatMul", "Gemm", "Conv"]


def calibration_feeds(model: LiteTrack, sequences: list[Sequence], frames_per_sequence: int = 10,
                      stride: int = 4) -> list[dict[str, np.ndarray]]:
    """Search-graph inputs (target tensors, prompts, search crop) from real frames of ``sequences``."""
    tracker = Tracker(model, TrackerConfig(regrounding=False))
    feeds = []
    for sequence in sequences:
        first = sequence.ground_truth[0]
        if not (first[2:] > 0).all():
            continue
        tracker.set_target(sequence.frame(0), sequence.language or None, tuple(first))
        state, prompts = tracker.model_target
        fixed = {name: to_numpy(t) for name, t in target_tensors(state).items()}
        fixed["prompts"] = to_numpy(prompts)
        cfg = model.cfg
        for i in range(1, min(len(sequence), 1 + frames_per_sequence * stride), stride):
            prev = sequence.ground_truth[i - 1]
            if (prev[2:] > 0).all():
                crop = crop_around(sequence.frame(i), tuple(prev), cfg.search_factor, cfg.search_size)
                feeds.append({**fixed, "search": to_numpy(to_model_input(crop.image))})
    if not feeds:
        raise ValueError("no calibration frames: the sequences have no first box")
    return feeds


def quantise_search_graph(graph: onnx.ModelProto, feeds: list[dict[str, np.ndarray]]) -> onnx.ModelProto:
    """The int8 (QDQ) form of a search graph, its activation ranges from ``feeds``; the metadata
    is kept and says ``litetrack.precision`` int8."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    inputs = [i.name for i in graph.graph.input]

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.feeds = iter(feeds)

        def get_next(self):
            feed = next(self.feeds, None)
            return None if feed is None else {name: feed[name] for name in inputs}

    with tempfile.TemporaryDirectory(prefix="litetrack-int8-") as tmp:
        source, target = Path(tmp) / "fp32.onnx", Path(tmp) / "int8.onnx"
        onnx.save(graph, str(source))
        quantize_static(str(source), str(target), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        op_types_to_quantize=_QUANTISED_OPS)
        quantised = onnx.load(str(target))
    meta = {p.key: p.value for p in graph.metadata_props}
    del quantised.metadata_props[:]
    for key, value in {**meta, "litetrack.precision": "int8"}.items():
        quantised.metadata_props.add(key=key, value=value)
    return quantised
