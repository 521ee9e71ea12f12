"""Writing synthetic sequences to disk: one (``render_sequence``) or a data set (``render_dataset``).

Layout written (read by ``litetrack_core.data.load.load_dataset``, "sequences" layout)::

    SEQ/img/000001.jpg ...   frames (JPEG, written with OpenCV)
    SEQ/groundtruth.txt      'x,y,w,h' per frame, pixels; 0,0,0,0 where the target is absent
    SEQ/language.txt         one sentence naming the target
    SEQ/SOURCE.txt           "rendered by litetrack_core.training.synthetic, seed ..." and provenance
    SEQ/scene.json           the scene: every object's attributes and per-frame boxes (not read by
                             the loader; for checks and other sentences)

``render_dataset`` derives the seed of sequence ``i`` from ``(seed, i)`` (``sequence_seed``) and
writes it in SOURCE.txt, so one sequence can be rendered again alone.
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from litetrack_core.training.synthetic.backgrounds import _as_backgrounds
from litetrack_core.training.synthetic.render import synthesize
from litetrack_core.training.synthetic.scene import SceneInfo

__all__ = ["render_dataset", "render_sequence", "sequence_seed"]

log = logging.getLogger(__name__)

_SOURCE_LINE = "rendered by litetrack_core.training.synthetic"


def _write_sequence(out: Path, images: list[np.ndarray], info: SceneInfo, quality: int, call: str) -> None:
    img_dir = out / "img"
    img_dir.mkdir(parents=True, exist_ok=True)
    params = [cv2.IMWRITE_JPEG_QUALITY, int(quality)]
    for t, image in enumerate(images):
        path = img_dir / f"{t + 1:06d}.jpg"
        if not cv2.imwrite(str(path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR), params):
            raise OSError(f"cannot write {path}")
    gt = "".join(f"{x},{y},{w},{h}\n" for x, y, w, h in info.ground_truth.tolist())
    (out / "groundtruth.txt").write_text(gt, encoding="utf-8")
    (out / "language.txt").write_text(info.sentence + "\n", encoding="utf-8")
    (out / "scene.json").write_text(json.dumps(info.to_json()), encoding="utf-8")
    source = info.background["source"]
    lines = [
        f"{_SOURCE_LINE}, seed {info.seed}",
        f"call: {call}",
        f"{info.size[0]}x{info.size[1]}, {info.frames} frames, {len(info.objects)} objects",
        f"background: {source}"
        + ("" if source == "procedural" else f" (crop {info.background['crop']}, flip {info.background['flip']}; "
                                             "the photo's own licence applies to this sequence's frames)"),
        "objects, motion, boxes and sentence: procedurally generated",
    ]
    (out / "SOURCE.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")  # written last: marks completion


def render_sequence(
    out_dir: str | Path,
    seed: int,
    *,
    backgrounds: Any = None,
    size: tuple[int, int] | None = (320, 240),
    frames: int | tuple[int, int] = 40,
    quality: int = 90,
    overwrite: bool = False,
    **options: Any,
) -> SceneInfo:
    """Render one sequence into ``out_dir`` (img/, groundtruth.txt, language.txt, SOURCE.txt,
    scene.json) and return its ``SceneInfo``. ``options``: those of ``synthesize``. A folder that
    already holds files is refused unless ``overwrite`` (then it is emptied first)."""
    out = Path(out_dir)
    if out.exists() and any(out.iterdir()):
        if not overwrite:
            raise FileExistsError(f"{out} is not empty (pass overwrite=True to replace it)")
        shutil.rmtree(out)
    pool = _as_backgrounds(backgrounds)
    images, info = synthesize(seed, backgrounds=pool, size=size, frames=frames, **options)
    shown = dict(size=size, frames=frames, **{k: v for k, v in sorted(options.items()) if k != "hide"})
    args = ", ".join(f"{k}={v!r}" for k, v in shown.items())
    call = f"render_sequence(out_dir, {int(seed)}, backgrounds=..., {args})"
    _write_sequence(out, images, info, quality, call)
    return info


def sequence_seed(seed: int, index: int) -> int:
    """The seed ``render_dataset(..., seed)`` uses for its sequence number ``index`` (1-based)."""
    return int(np.random.SeedSequence([int(seed), int(index)]).generate_state(1, np.uint64)[0] >> 1)


def _render_one(job: tuple[Path, int, Any, dict[str, Any]]) -> Path:
    out, seed, pool, kwargs = job
    render_sequence(out, seed, backgrounds=pool, overwrite=True, **kwargs)
    return out


def _complete(folder: Path, seed: int) -> bool:
    source = folder / "SOURCE.txt"
    if not source.is_file():
        return False
    first = source.read_text(encoding="utf-8").splitlines()[:1]
    return first == [f"{_SOURCE_LINE}, seed {seed}"]


def render_dataset(
    out_root: str | Path,
    count: int,
    seed: int,
    *,
    backgrounds: Any = None,
    size: tuple[int, int] | None = None,
    frames: int | tuple[int, int] = (30, 80),
    start: int = 1,
    prefix: str = "synth_",
    workers: int = 1,
    skip_existing: bool = True,
    **options: Any,
) -> list[Path]:
    """Render ``count`` sequences ``out_root/<prefix><number:06d>`` (numbers from ``start``) and return
    their folders. Sequence ``i`` uses ``sequence_seed(seed, i)``; size None draws a size from
    ``FRAME_SIZES`` and frames (lo, hi) a length per sequence. A folder whose SOURCE.txt already names
    its seed is kept when ``skip_existing`` (so an interrupted run resumes). ``workers`` > 1 renders
    in that many processes. Other options: those of ``synthesize``."""
    if count < 0:
        raise ValueError(f"count={count} must be >= 0")
    root = Path(out_root)
    root.mkdir(parents=True, exist_ok=True)
    pool = _as_backgrounds(backgrounds)
    kwargs = dict(size=size, frames=frames, **options)
    jobs = []
    for number in range(start, start + count):
        s = sequence_seed(seed, number)
        folder = root / f"{prefix}{number:06d}"
        if skip_existing and _complete(folder, s):
            continue
        jobs.append((folder, s, pool, kwargs))
    if workers > 1 and len(jobs) > 1:
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(max_workers=int(workers)) as ex:
            for _ in ex.map(_render_one, jobs, chunksize=max(1, len(jobs) // (8 * workers))):
                pass
    else:
        for job in jobs:
            _render_one(job)
    log.info("rendered %d sequences under %s (%d already there)", len(jobs), root, count - len(jobs))
    return [root / f"{prefix}{number:06d}" for number in range(start, start + count)]
