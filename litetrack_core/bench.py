"""``litetrack bench``: what the tracker costs per target and per frame, case by case, in one run.

A case is (config, variant, precision, keep ratio, CUDA graphs, engine); a variant names how the weights
run: "exact" or "asymmetric" attention, and the pruning schedule ("similarity@3",
"attention@3,6,9"). Every case is a real ``Tracker`` on real frames (the packaged clip by
default), set on the first frame by box and words (NLBBOX), re-grounding off so
that every frame is one tracking step. Reported per case: target encoding (``set_target``) and
the per-frame stages (pre-processing, model, post-processing, total) as median and p90 over warm
frames, FPS, FLOPs per frame, parameters, and peak memory (CUDA max allocated when a single case
runs; on CPU the process's peak RSS, for the run). Cases are timed interleaved, frame by frame, so that drift and
other load on the machine fall on every case alike and the ratios hold within one run.

Engines (torch, onnxruntime, openvino, tensorrt; ``engines/``) are cases of the same run, so that
``step_vs_torch`` (the whole per-frame step, crop and decode included, over torch eager fp32 of
the same config, variant and keep ratio) compares them on the same machine at the same time.

Agreement with the unpruned model: every case also runs on search crops centred on the ground
truth of the previous frame (identical inputs for all cases) and is compared with torch eager
fp32 at keep 1.0 of its variant (or, when that was not run, its own settings at keep 1.0): the share of frames with the same best cell, the mean IoU of the boxes, and
the mean cosine of the final search features on the target's cells (what a head reads; the one
measure that means something while the head is untrained).
"""

from __future__ import annotations

import dataclasses
import json
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from litetrack_core.data.sequence import Sequence
from litetrack_core.models.factory import count_parameters, run_variant
from litetrack_core.models.litetrack import LiteTrack
from litetrack_core.profiling import count_flops, cpu_model, peak_rss_mib, rss_mib
from litetrack_core.tracking.crop import iou_cxcywh
from litetrack_core.tracking.tracker import Tracker, TrackerConfig

# Timed frames between samples of the process's resident memory.
_RSS_EVERY = 100

__all__ = ["BenchCase", "Variant", "bench_grounding", "parse_variant", "run_bench", "write_report"]


@dataclass(frozen=True)
class Variant:
    """How the weights run: attention kind and pruning schedule (None: the config's own)."""

    attention: str = "exact"
    prune_blocks: tuple[int, ...] | None = None
    prune_score: str | None = None

    @property
    def label(self) -> str:
        prune = "" if self.prune_blocks is None else f" {self.prune_score}@{','.join(map(str, self.prune_blocks))}"
        return self.attention + prune

    def apply(self, model: LiteTrack) -> LiteTrack:
        changes: dict[str, object] = {"asymmetric": self.attention == "asymmetric"}
        if self.prune_blocks is not None:
            changes.update(prune_blocks=self.prune_blocks, prune_score=self.prune_score)
        return run_variant(model, **changes)


def parse_variant(attention: str, prune: str | None) -> Variant:
    """attention "exact" | "asymmetric"; prune None or "SCORE@B1,B2" (e.g. "similarity@3")."""
    if attention not in ("exact", "asymmetric"):
        raise ValueError(f"attention must be 'exact' or 'asymmetric', got {attention!r}")
    if prune is None:
        return Variant(attention)
    try:
        score, blocks = prune.split("@")
        return Variant(attention, tuple(int(b) for b in blocks.split(",")), score)
    except ValueError:
        raise ValueError(f"prune schedule must look like similarity@3 or attention@3,6,9, got {prune!r}") from None


@dataclass(frozen=True)
class BenchCase:
    config: str
    variant: Variant
    precision: str
    keep_ratio: float
    cuda_graphs: bool
    engine: str = "torch"
    memory_size: int = 0

    @property
    def label(self) -> str:
        graphs = " graphs" if self.cuda_graphs else ""
        memory = f" memory {self.memory_size}" if self.memory_size else ""
        return f"{self.config} {self.variant.label} {self.engine} {self.precision} keep {self.keep_ratio:g}{graphs}{memory}"


@dataclass
class _Running:
    case: BenchCase
    tracker: Tracker
    target_ms: list[float] = field(default_factory=list)
    frames: list[tuple[float, float, float]] = field(default_factory=list)  # pre, model, post ms


def run_bench(
    models: dict[str, LiteTrack],
    cases: list[BenchCase],
    sequence: Sequence,
    device: str,
    frames: int = 50,
    warmup: int = 5,
    target_runs: int = 3,
    threads: int = 0,
    graph_dir: Path | None = None,
) -> dict:
    """Time ``cases`` (models by config name) on ``sequence``; returns the report as a dict.
    ``threads``: CPU threads of torch and every engine (0: their defaults); ``graph_dir``: exported
    graphs for the ONNX engines (None: exported from the model)."""
    images = [sequence.frame(i) for i in range(min(len(sequence), frames + warmup + 1))]
    running = _start_cases(models, cases, sequence, images[0], device, target_runs, threads, graph_dir)
    rss = _time_frames(running, images, frames, warmup)
    # Allocated memory is the process's: a case's own peak is only known when it runs alone.
    rows = [_row(run, images, device, alone=len(running) == 1) for run in running]
    _add_ratios(rows)
    _add_agreement(rows, running, sequence, images)
    return {
        "device": torch.cuda.get_device_name() if device == "cuda" else f"cpu {cpu_model()}, {torch.get_num_threads()} threads",
        "torch": torch.__version__,
        "sequence": sequence.name,
        "peak_rss_mib": peak_rss_mib(),
        "rss_mib": rss,
        "rows": rows,
    }


def _start_cases(
    models: dict[str, LiteTrack],
    cases: list[BenchCase],
    sequence: Sequence,
    first: np.ndarray,
    device: str,
    target_runs: int,
    threads: int,
    graph_dir: Path | None,
) -> list[_Running]:
    """A tracker per case (variants of one config share its weights), its target set ``target_runs``
    times on the first frame by box and words, each time timed."""
    box, text = tuple(sequence.ground_truth[0]), sequence.language
    running: list[_Running] = []
    variants: dict[tuple[str, Variant], LiteTrack] = {}
    for case in cases:
        key = (case.config, case.variant)
        if key not in variants:
            variants[key] = case.variant.apply(models[case.config])
        # The memory read on every frame: its cost's worst case, whatever the clip's scores (its answers
        # checked against the first template where they move the box, as by default).
        config = TrackerConfig(regrounding=False, keep_ratio=case.keep_ratio, memory_size=case.memory_size,
                               memory_read="always")
        tracker = Tracker(variants[key], config, device, case.precision, case.cuda_graphs, engine=case.engine,
                          threads=threads, graph_dir=graph_dir if case.engine != "torch" else None)
        run = _Running(case, tracker)
        for _ in range(target_runs):
            result = tracker.set_target(first, text, box)
            run.target_ms.append(result.timing.total_ms)
        running.append(run)
    return running


def _time_frames(running: list[_Running], images: list[np.ndarray], frames: int, warmup: int) -> list[tuple[int, float]]:
    """``warmup`` then ``frames`` tracking steps per case, cycling through the frames after the first.
    Returns the process's resident memory (timed frame, MiB) after the warm-up and every
    ``_RSS_EVERY`` timed frames: it must not grow with the sequence's length."""
    order = list(range(1, len(images))) * ((frames + warmup) // max(1, len(images) - 1) + 1)
    rss = []
    for n, index in enumerate(order[: frames + warmup]):
        if n >= warmup and (n - warmup) % _RSS_EVERY == 0:
            rss.append((n - warmup, rss_mib()))
        for run in running:  # interleaved: every case sees the same conditions
            timing = run.tracker.track(images[index]).timing
            if n >= warmup:
                run.frames.append((timing.preprocess_ms, timing.model_ms, timing.postprocess_ms))
    rss.append((frames, rss_mib()))
    return rss


def _row(run: _Running, images: list[np.ndarray], device: str, alone: bool) -> dict:
    """One case's line of the report: its settings, timings, FLOPs, parameters and CUDA peak."""
    case, model = run.case, run.tracker.model
    peak = _cuda_peak_mib(run, images) if device == "cuda" and alone else None
    flops = count_flops(model, "track", device=device, keep_ratio=case.keep_ratio)
    pre, mod, post = (np.array(v) for v in zip(*run.frames))
    total = pre + mod + post
    return {
        "case": case.label,
        "config": case.config,
        "variant": case.variant.label,
        "asymmetric": model.cfg.asymmetric,
        "prune_blocks": list(model.cfg.prune_blocks),
        "prune_score": model.cfg.prune_score,
        "precision": case.precision,
        "keep_ratio": case.keep_ratio,
        "cuda_graphs": case.cuda_graphs,
        "engine": case.engine,
        "memory_size": case.memory_size,
        "target_ms": statistics.median(run.target_ms),
        **_stats("pre", pre),
        **_stats("model", mod),
        **_stats("post", post),
        **_stats("total", total),
        "fps": 1000.0 / float(np.median(total)),
        "gflops": flops / 1e9,
        "params_m": count_parameters(model)["total"] / 1e6,
        "peak_cuda_mib": peak,
        "frames": len(total),
    }


def _stats(name: str, values: np.ndarray) -> dict[str, float]:
    return {f"{name}_median_ms": float(np.median(values)), f"{name}_p90_ms": float(np.percentile(values, 90))}


def _cuda_peak_mib(run: _Running, images: list[np.ndarray]) -> float:
    """Peak CUDA memory of one case alone: its target and a few frames after a reset."""
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    for image in images[1:4]:
        run.tracker.track(image)
    torch.cuda.synchronize()
    return torch.cuda.max_memory_allocated() / 2**20


def _add_ratios(rows: list[dict]) -> None:
    """model_vs_base: per-frame model time over the same config and precision, exact, keep 1.0,
    torch eager (the uncached, unpruned step); step_vs_torch: the whole per-frame step over torch
    eager fp32 of the same config, variant and keep ratio. None when that case was not run."""
    base = {
        (r["config"], r["precision"]): r["model_median_ms"]
        for r in rows
        if not r["asymmetric"] and r["keep_ratio"] == 1.0 and not r["cuda_graphs"] and r["engine"] == "torch"
    }
    eager = {
        (r["config"], r["variant"], r["keep_ratio"], r["memory_size"]): r["total_median_ms"]
        for r in rows
        if r["engine"] == "torch" and r["precision"] == "fp32" and not r["cuda_graphs"]
    }
    for r in rows:
        ref = base.get((r["config"], r["precision"]))
        r["model_vs_base"] = None if ref is None else r["model_median_ms"] / ref
        ref = eager.get((r["config"], r["variant"], r["keep_ratio"], r["memory_size"]))
        r["step_vs_torch"] = None if ref is None else r["total_median_ms"] / ref


@torch.no_grad()
def _add_agreement(rows: list[dict], running: list[_Running], sequence: Sequence, images: list[np.ndarray]) -> None:
    """Same best cell / box IoU against the keep 1.0 case of the same variant, on crops around
    the previous frame's ground truth (identical inputs for every case); a case with a target memory
    against the same case without one."""
    outputs = []
    for run in running:
        cells, boxes, feats = [], [], []
        for i in range(1, len(images)):
            if not (sequence.ground_truth[i - 1, 2:] > 0).all():
                continue  # target absent: no crop to compare on
            backbone, head = run.tracker.probe(images[i], tuple(sequence.ground_truth[i - 1]))
            merged = head.score_map.reshape(-1) * head.target_prob.reshape(-1)
            best = int(merged.argmax())
            cells.append(best)
            boxes.append(head.bbox_map[0, best].float().cpu().numpy())
            feats.append(backbone.search[0].float().cpu())
        outputs.append((np.array(cells), np.array(boxes), torch.stack(feats)))
    by_case = {run.case: out for run, out in zip(running, outputs)}
    for row, run, (cells, boxes, feats) in zip(rows, running, outputs):
        eager = dataclasses.replace(run.case, keep_ratio=1.0, engine="torch", precision="fp32", cuda_graphs=False,
                                    memory_size=0)
        ref = by_case.get(eager, by_case.get(dataclasses.replace(run.case, keep_ratio=1.0, memory_size=0)))
        row["same_cell"] = None if ref is None else float(np.mean(cells == ref[0]))
        row["box_iou"] = None if ref is None else float(np.mean(iou_cxcywh(boxes, ref[1])))
        row["target_cos"] = None if ref is None else _target_cosine(feats, ref[2], run.tracker.model.cfg.search_grid)


def _target_cosine(feats: torch.Tensor, ref: torch.Tensor, grid: int) -> float:
    """Mean cosine of (F, N, C) features to the reference on the cells of the target: the crop is
    centred on the previous box, which spans 1 / search_factor of it (the middle cells)."""
    lo, hi = grid * 3 // 8, grid - grid * 3 // 8  # the middle quarter of the side, around the box
    cells = torch.tensor([r * grid + c for r in range(lo, hi) for c in range(lo, hi)])
    return float(torch.nn.functional.cosine_similarity(feats[:, cells], ref[:, cells], dim=-1).mean())


def write_report(report: dict, json_path: Path | None = None) -> str:
    """The report as a text table (returned) and, if asked, a JSON file."""
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(report, indent=2))
    head = (
        f"{'case':64} {'target':>7} {'pre':>6} {'model med/p90':>15} {'post':>6} {'total med/p90':>15} "
        f"{'FPS':>6} {'GF':>5} {'vs base':>7} {'vs torch':>8} {'cell':>5} {'IoU':>5} {'cos':>5} {'peak':>7}"
    )
    lines = [f"{report['device']}, torch {report['torch']}, sequence {report['sequence']}", head]
    for r in report["rows"]:
        ratio = "" if r["model_vs_base"] is None else f"{r['model_vs_base']:.3f}"
        vs_torch = "" if r["step_vs_torch"] is None else f"{r['step_vs_torch']:.3f}"
        cell = "" if r["same_cell"] is None else f"{r['same_cell']:.2f}"
        iou = "" if r["box_iou"] is None else f"{r['box_iou']:.2f}"
        cos = "" if r["target_cos"] is None else f"{r['target_cos']:.3f}"
        peak = "" if r["peak_cuda_mib"] is None else f"{r['peak_cuda_mib']:.0f}M"
        lines.append(
            f"{r['case']:64} {r['target_ms']:7.1f} {r['pre_median_ms']:6.2f} "
            f"{r['model_median_ms']:7.2f}/{r['model_p90_ms']:7.2f} {r['post_median_ms']:6.2f} "
            f"{r['total_median_ms']:7.2f}/{r['total_p90_ms']:7.2f} {r['fps']:6.1f} {r['gflops']:5.1f} "
            f"{ratio:>7} {vs_torch:>8} {cell:>5} {iou:>5} {cos:>5} {peak:>7}"
        )
    first, last = report["rss_mib"][0], report["rss_mib"][-1]
    lines.append(f"resident memory: {first[1]:.0f} MiB after the warm-up, {last[1]:.0f} MiB after {last[0]} frames "
                 f"({len(report['rss_mib'])} samples, every {_RSS_EVERY} frames)")
    lines.append(
        f"ms per call; target = set_target; vs base = model time / exact keep 1.0 eager of the same config and "
        f"precision; vs torch = total step / torch eager fp32 of the same config, variant and keep; cell, IoU, cos = agreement with keep 1.0 of the same variant without memory; peak RSS {report['peak_rss_mib']:.0f} MiB"
    )
    return "\n".join(lines)


def bench_grounding(tracker: Tracker, frame: np.ndarray, text: str, repeats: int = 10, warmup: int = 2) -> str:
    """Grounding by words, timed: ``set_target`` with words only, through the object detector's
    proposals and through the model alone (the same tracker, its grounder off for the second), and the
    proposal path's parts (detector, sentence, the model's grounding map, and the head keypoints that
    part words add). Median / p90 in ms over
    ``repeats`` calls after ``warmup``, interleaved so that load on the machine falls on all alike."""
    grounder = tracker.grounder
    if grounder is None:
        raise ValueError("the object detector is not installed (litetrack detector install): nothing to compare")
    found = tracker.set_target(frame, text=text)  # reported below; its box is the person for the keypoints

    def words_model_alone():
        tracker.grounder = None
        try:
            return tracker.set_target(frame, text=text)
        finally:
            tracker.grounder = grounder

    cases = {
        "set_target by words, proposals": lambda: tracker.set_target(frame, text=text),
        "set_target by words, model alone": words_model_alone,
        "  detector (proposals)": lambda: grounder.detector(frame),
        "  sentence reading": lambda: grounder.reader(text),
        "  model grounding map": lambda: tracker.ground_with_model(frame, text),
        "  head keypoints (part words only)": lambda: grounder.pose(frame, found.box_xywh_px),
    }
    times: dict[str, list[float]] = {name: [] for name in cases}
    for i in range(warmup + repeats):
        for name, call in cases.items():
            start = time.perf_counter()
            call()
            if i >= warmup:
                times[name].append((time.perf_counter() - start) * 1000)
    lines = [f"grounding {text!r}: {found.grounding} box {tuple(round(v, 1) for v in found.box_xywh_px)} "
             f"score {found.grounding_score:.3f}", f"{'call':36} {'median':>8} {'p90':>8}"]
    for name, values in times.items():
        lines.append(f"{name:36} {statistics.median(values):8.1f} {float(np.percentile(values, 90)):8.1f}")
    return "\n".join(lines)
