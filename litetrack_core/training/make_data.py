"""``litetrack data offline``: the default model's training set, made from what is available offline.

Three parts, each in the project's sequence layout (so ``load_dataset`` and the sampler read
them like any dataset):
    OUT/synthetic   rendered scenes with generated sentences (grounding by words; ``synthetic/``)
    OUT/video       real videos cut into clips with pseudo boxes from optical flow (``pseudo/``)
    OUT/warps       still photos under random homographies, exact boxes (``pseudo/warps.py``)
Photos serve as the scenes' backgrounds and as the warped stills. Everything derives from
``seed``; parts already written are kept, so a rerun only completes what is missing.
"""

from __future__ import annotations

import logging
from pathlib import Path

from litetrack_core.training.pseudo.write import write_pseudo_sequences, write_warp_sequences
from litetrack_core.training.synthetic.backgrounds import IMAGE_SUFFIXES, Backgrounds
from litetrack_core.training.synthetic.write import render_dataset

__all__ = ["make_training_data"]

log = logging.getLogger(__name__)


def make_training_data(
    out: str | Path,
    *,
    photos: list[Path] = (),
    videos: list[Path] = (),
    synthetic: int = 1000,
    warps_per_photo: int = 4,
    seed: int = 0,
    workers: int = 1,
) -> dict[str, int]:
    """Write the three parts under ``out``; returns the number of sequences of each.

    photos: folders searched recursively for .jpg/.jpeg/.png. videos: video files or frame folders.
    """
    out = Path(out)
    files = sorted(p for folder in photos for p in Path(folder).rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    backgrounds = Backgrounds(files) if files else None
    if not files:
        log.warning("no photos given: synthetic scenes get procedural backgrounds and there are no warped stills")
    counts = {"synthetic": len(render_dataset(out / "synthetic", synthetic, seed, backgrounds=backgrounds, workers=workers))}
    counts["warps"] = len(write_warp_sequences(files, out / "warps", seed=seed, per_photo=warps_per_photo)) if files else 0
    written = 0
    for video in videos:
        video = Path(video)
        # A frame folder is usually SEQ/img: name the clips after SEQ.
        name = video.parent.name if video.is_dir() and video.name in ("img", "imgs") else video.stem
        done = sorted((out / "video").glob(f"{name}_*")) if (out / "video").is_dir() else []
        # An earlier run wrote this video's clips already.
        written += len(done) if done else len(write_pseudo_sequences(video, out / "video", name=name))
    counts["video"] = written
    return counts
