"""The per-frame tracking step for inference: eager, or replayed from CUDA graphs.

At batch 1 a GPU spends most of an eager step launching kernels from Python. The step has
static shapes for a given target and keep ratio, so it can be captured once as a CUDA graph and
replayed per frame: the search crop and prompts are copied into static buffers, one graph is
kept per keep ratio (sharing one memory pool), and a new target gets new graphs.
"""

from __future__ import annotations

from contextlib import nullcontext

import torch

from litetrack_core.models.head import HeadOutput
from litetrack_core.models.litetrack import BackboneOutput, LiteTrack, TargetState

__all__ = ["FrameStep", "prepare_for_inference"]

# Eager calls made on a side stream before capture, as CUDA graphs require (kernel selection,
# lazy initialisation, autocast's first casts).
_WARMUP_CALLS = 3


def prepare_for_inference(model: LiteTrack) -> LiteTrack:
    """Eval mode, and channels-last weights for the head convs (their input is a channels-last view)."""
    model.eval()
    model.head.to(memory_format=torch.channels_last)
    return model


class FrameStep:
    """``model.forward_search`` for one target, eager or from CUDA graphs.

    Args:
        model: the network, already on its device and in eval mode.
        target: the target's state (``encode_target``).
        prompts: (1, 3, C) prompts; later updates go through ``set_prompts``.
        dtype: autocast dtype (torch.float16 / torch.bfloat16) or None for fp32: the caller's, which
            a capture repeats with the cast cache off.
        cuda_graphs: capture and replay (needs a CUDA model).

    A call runs in its caller's no_grad and autocast (the tracker enters each once per frame,
    around all of the frame's model work) and enters neither itself; only a capture, once per
    keep ratio, enters its own. With CUDA graphs, the tensors a call returns are overwritten by
    the next call: copy (or clone) what must outlive it.
    """

    def __init__(
        self,
        model: LiteTrack,
        target: TargetState,
        prompts: torch.Tensor,
        dtype: torch.dtype | None = None,
        cuda_graphs: bool = False,
    ) -> None:
        device = target.template_tokens.device
        if cuda_graphs and device.type != "cuda":
            raise ValueError(f"CUDA graphs need a CUDA device, the model is on {device}")
        self.model = model
        self.target = target
        self.prompts = prompts.clone()
        self.dtype = dtype
        self.cuda_graphs = cuda_graphs
        self._search: torch.Tensor | None = None
        self._graphs: dict[float, tuple[torch.cuda.CUDAGraph, tuple[BackboneOutput, HeadOutput]]] = {}
        self._pool = torch.cuda.graph_pool_handle() if cuda_graphs else None

    def set_prompts(self, prompts: torch.Tensor) -> None:
        """New prompts (1, 3, C) for the following frames (a prompt update)."""
        self.prompts.copy_(prompts)

    def __call__(self, search: torch.Tensor, keep_ratio: float = 1.0) -> tuple[BackboneOutput, HeadOutput]:
        """One frame: search crop (1, 3, Tx, Tx) on the model's device -> (backbone, head) outputs,
        under the caller's no_grad and autocast."""
        if not self.cuda_graphs:
            return self.model.forward_search(self.target, search, self.prompts, keep_ratio)
        if self._search is None:
            self._search = search.clone()
        else:
            self._search.copy_(search)
        if keep_ratio not in self._graphs:
            self._graphs[keep_ratio] = self._capture(keep_ratio)
        graph, outputs = self._graphs[keep_ratio]
        graph.replay()
        return outputs

    def _run(self, keep_ratio: float) -> tuple[BackboneOutput, HeadOutput]:
        return self.model.forward_search(self.target, self._search, self.prompts, keep_ratio)

    def _capture(self, keep_ratio: float) -> tuple[torch.cuda.CUDAGraph, tuple[BackboneOutput, HeadOutput]]:
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.no_grad(), self._capture_autocast():
            with torch.cuda.stream(side):
                for _ in range(_WARMUP_CALLS):
                    self._run(keep_ratio)
            torch.cuda.current_stream().wait_stream(side)
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph, pool=self._pool):
                outputs = self._run(keep_ratio)
        return graph, outputs

    def _capture_autocast(self):
        if self.dtype is None:
            return nullcontext()
        # The cast cache would hold tensors made outside the graph: off under capture, whatever the
        # caller's autocast says.
        return torch.autocast(self.target.template_tokens.device.type, dtype=self.dtype, cache_enabled=False)
