"""Making a tracker: the device, the checkpoint (or the packaged default model), the engine, and the
object detector's proposals for grounding by words when it is installed."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from litetrack_core.models.configs import DEFAULT_CONFIG
from litetrack_core.tracking.tracker import Precision, Tracker, TrackerConfig

if TYPE_CHECKING:
    from litetrack_core.grounding.grounder import ProposalGrounder

__all__ = ["load_tracker", "resolve_device"]

log = logging.getLogger(__name__)


def resolve_device(name: str) -> str:
    """"auto" -> "cuda" when available, else "cpu"; "cuda" without CUDA -> ValueError."""
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' requested but CUDA is not available")
    return name


def load_tracker(
    checkpoint: str | None = None,
    config: str | None = None,
    device: str = "auto",
    tracker_config: TrackerConfig | None = None,
    precision: Precision = "fp32",
    cuda_graphs: bool = False,
    proposals: bool = True,
    engine: str = "torch",
    threads: int = 0,
    graph_dir: str | Path | None = None,
) -> Tracker:
    """A tracker from a checkpoint; without one, the packaged default model (``DEFAULT_CONFIG``,
    trained by the project), or for another config its packaged initialisation (untrained head).

    ``device``: "auto" (CUDA when available), "cpu" or "cuda". ``proposals``: ground words through
    the object detector's proposals when it is installed (``litetrack detector install``); without
    it, the model grounds alone and a warning says so once. ``engine``, ``threads``, ``graph_dir``:
    see ``Tracker``.
    """
    from litetrack_core.weights.checkpoint import DEFAULT_CHECKPOINT, load_model
    from litetrack_core.weights.pretrained import create_pretrained_model

    device = resolve_device(device)
    if not checkpoint and config in (None, DEFAULT_CONFIG) and DEFAULT_CHECKPOINT.is_file():
        checkpoint = str(DEFAULT_CHECKPOINT)
    if checkpoint:
        model, report = load_model(checkpoint, config)
        log.info("%s", report)
    else:
        model = create_pretrained_model(config or DEFAULT_CONFIG)
        log.warning(
            "no checkpoint given: %s with pretrained backbones and an untrained head; boxes will be poor",
            model.cfg.name,
        )
    grounder = _proposal_grounder() if proposals else None
    return Tracker(model, tracker_config, device, precision, cuda_graphs, grounder, engine, threads, graph_dir)


_warned_no_detector = False


def _proposal_grounder() -> ProposalGrounder | None:
    """The proposal grounder, or None (with one warning per process) when the detector is missing."""
    global _warned_no_detector
    from litetrack_core.grounding.grounder import ProposalGrounder
    from litetrack_core.grounding.install import DetectorError, detector_files

    try:
        detector_files()  # checked now; the detector itself loads at the first grounding
    except DetectorError as err:
        if not _warned_no_detector:
            log.warning("grounding by words uses the model alone: %s", err)
            _warned_no_detector = True
        return None
    return ProposalGrounder()
