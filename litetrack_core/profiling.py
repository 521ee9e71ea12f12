"""Cost of the model: FLOPs per call (torch.utils.flop_counter) and wall-clock latency.

Two calls matter to a user: the per-frame tracking step (``forward_search``, flag 2) and
grounding a sentence on a whole frame (``forward``, flag 1). FLOPs count multiply-adds as two.
"""

from __future__ import annotations

import os
import platform
import resource
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Literal

import torch
from torch.utils.flop_counter import FlopCounterMode

from litetrack_core.models.litetrack import LiteTrack, TextFeatures
from litetrack_core.models.text import TokenizedText

__all__ = ["LatencyStats", "count_flops", "cpu_model", "measure_latency", "model_call", "peak_rss_mib"]

Call = Literal["track", "ground"]


def model_call(model: LiteTrack, call: Call, device: str = "cpu", keep_ratio: float = 1.0) -> Callable[[], object]:
    """A closure running one ``call`` on fixed inputs of the model's geometry (no grad).

    The text features and prompts are computed once beforehand, as a tracker does.
    """
    cfg = model.cfg
    z = torch.randn(1, 3, cfg.template_size, cfg.template_size, device=device)
    x = torch.randn(1, 3, cfg.search_size, cfg.search_size, device=device)
    ids = torch.zeros(1, cfg.max_text_tokens, dtype=torch.long, device=device)
    ids[0, :8] = torch.tensor([101, 1996, 2417, 2482, 2006, 1996, 2157, 102])  # "the red car on the right"
    text = TokenizedText(ids, (ids > 0).long())
    zmask = torch.zeros(1, cfg.template_grid**2, dtype=torch.bool, device=device)
    xmask = torch.zeros(1, cfg.search_grid**2, dtype=torch.bool, device=device)
    zmask[0, zmask.shape[1] // 2] = xmask[0, xmask.shape[1] // 2] = True
    with torch.no_grad():
        feats: TextFeatures = model.encode_text(text)
        if call == "ground":
            flag = torch.tensor([1], device=device)
            return lambda: model(torch.zeros_like(z), x, text, torch.zeros_like(zmask), torch.zeros_like(xmask), flag)
        flag = torch.tensor([2], device=device)
        _, _, prompts = model(z, x, text, zmask, xmask, flag)
        target = model.encode_target(z, feats, flag)
    return lambda: model.forward_search(target, x, prompts, keep_ratio)


def count_flops(model: LiteTrack, call: Call, device: str = "cpu", keep_ratio: float = 1.0) -> int:
    """FLOPs of one ``call`` (see ``model_call``)."""
    run = model_call(model, call, device, keep_ratio)
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        run()
    return counter.get_total_flops()


@dataclass(frozen=True)
class LatencyStats:
    """Wall-clock milliseconds over ``runs`` warm calls."""

    median_ms: float
    p90_ms: float
    runs: int


def measure_latency(run: Callable[[], object], runs: int = 20, warmup: int = 3, sync: bool = False) -> LatencyStats:
    """Time ``run`` ``runs`` times after ``warmup`` calls; ``sync`` waits for CUDA each call."""
    with torch.no_grad():
        for _ in range(warmup):
            run()
        times = []
        for _ in range(runs):
            if sync:
                torch.cuda.synchronize()
            start = time.perf_counter()
            run()
            if sync:
                torch.cuda.synchronize()
            times.append((time.perf_counter() - start) * 1000)
    times.sort()
    return LatencyStats(statistics.median(times), times[min(len(times) - 1, int(0.9 * len(times)))], runs)


def peak_rss_mib() -> float:
    """Peak resident memory of this process so far, MiB (Linux ru_maxrss is in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rss_mib() -> float:
    """Resident memory of this process now, MiB (Linux ``/proc/self/statm``; elsewhere the peak so far)."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, ValueError, IndexError):
        return peak_rss_mib()
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``; timings are only comparable on the same one)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"
