"""An engine against PyTorch on real frames: the same target, the same search crops, both outputs.

The target is set on a sequence's first frame by its box and words (NLBBOX); each later frame is
cropped around the previous frame's true box, so that both engines see identical inputs whatever
either would have tracked. Reported: the largest difference of the score map (score x target
probability, in [0, 1]), of the boxes of every cell (crop-normalised) and of the box at torch's
best cell in frame pixels, and the share of frames whose best cell is the same.
"""

from __future__ import annotations

import numpy as np
import onnx
import torch

from litetrack_core.data.sequence import Sequence
from litetrack_core.models.litetrack import LiteTrack
from litetrack_core.tracking.tracker import Tracker, TrackerConfig

__all__ = ["compare_with_torch"]


def compare_with_torch(model: LiteTrack, engine: str, sequence: Sequence, frames: int = 20, precision: str = "fp32",
                       threads: int = 0, graph_dir=None, keep_ratio: float = 1.0) -> dict[str, float]:
    """Differences between ``engine`` and torch eager fp32 (both at ``keep_ratio``) over up to
    ``frames`` frames of ``sequence``."""
    config = TrackerConfig(regrounding=False, keep_ratio=keep_ratio)
    reference = Tracker(model, config, "cpu", "fp32", engine="torch", threads=threads)
    graph_dir = graph_dir if engine != "torch" else None
    other = Tracker(model, config, "cpu", precision, engine=engine, threads=threads, graph_dir=graph_dir)
    first, box = sequence.frame(0), tuple(sequence.ground_truth[0])
    for tracker in (reference, other):
        tracker.set_target(first, sequence.language or None, box)
    score, cell_box, box_px, same = [], [], [], []
    for i in range(1, min(len(sequence), frames + 1)):
        prev = sequence.ground_truth[i - 1]
        if not (prev[2:] > 0).all():
            continue
        frame = sequence.frame(i)
        (_, a), (_, b) = reference.probe(frame, tuple(prev)), other.probe(frame, tuple(prev))
        merged_a, merged_b = _merged(a), _merged(b)
        best = int(merged_a.argmax())
        side = float(np.ceil(np.sqrt(prev[2] * prev[3]) * model.cfg.search_factor))  # the crop's side, frame px
        boxes_a, boxes_b = a.bbox_map[0].float().numpy(), b.bbox_map[0].float().numpy()
        score.append(float(np.abs(merged_a - merged_b).max()))
        cell_box.append(float(np.abs(boxes_a - boxes_b).max()))
        box_px.append(float(np.abs(boxes_a[best] - boxes_b[best]).max()) * side)
        same.append(best == int(merged_b.argmax()))
    return {
        "frames": len(score),
        "max_score_diff": max(score),
        "max_box_diff_norm": max(cell_box),
        "max_best_box_diff_px": max(box_px),
        "same_best_cell": float(np.mean(same)),
    }


def _merged(head) -> np.ndarray:
    with torch.no_grad():
        return (head.score_map.reshape(-1) * head.target_prob.reshape(-1)).float().numpy()


def compare_target_graph(model: LiteTrack, graph: onnx.ModelProto, sequence: Sequence) -> float:
    """Largest difference between the target graph's outputs (run by the first installed CPU
    runtime) and torch's ``encode_target`` for the sequence's first frame, box and words."""
    from litetrack_core.engines.graphs import target_tensors
    from litetrack_core.engines.runtimes import RUNTIMES, EngineError
    from litetrack_core.models.litetrack import NLBBOX
    from litetrack_core.models.text import Tokenizer
    from litetrack_core.tracking.crop import crop_around, to_model_input

    runtime = next((r for r in RUNTIMES.values() if r.device == "cpu" and r.available()), None)
    if runtime is None:
        raise EngineError("no ONNX runtime installed to check the target graph: pip install onnxruntime")
    cfg = model.cfg
    template = to_model_input(crop_around(sequence.frame(0), tuple(sequence.ground_truth[0]), cfg.template_factor,
                                          cfg.template_size).image)
    tokens = Tokenizer(cfg.max_text_tokens)(sequence.language or "the target")
    flag = torch.tensor([NLBBOX])
    run, names = runtime.load(graph, 0, "fp32")
    feed = {"template": template.numpy(), "text_ids": tokens.ids.numpy(), "text_mask": tokens.mask.numpy(),
            "flag_in": flag.numpy()}
    outputs = run({n: feed[n] for n in names})
    with torch.no_grad():
        expected = target_tensors(model.encode_target(template, tokens, flag))
    return max(float(np.abs(np.asarray(o, dtype=np.float64) - e.double().numpy()).max())
               for o, e in zip(outputs, expected.values()))
