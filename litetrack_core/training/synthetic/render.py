"""Rendering one synthetic sequence in memory: ``synthesize`` -> (RGB frames, ``SceneInfo``).

A sequence is a background (``backgrounds``), several objects (``plan``) drawn frame by frame
(``draw``), the exact box of the target per frame, and one sentence that names it unambiguously
among the others on its first ``describe_frames`` frames (``sentences``); a scene with no such
sentence is planned again. Randomness: everything comes from ``numpy.random.default_rng(seed)``;
a seed gives the same frames, boxes and sentence on every run.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any, NamedTuple

import numpy as np

from litetrack_core.training.synthetic.backgrounds import _as_backgrounds, _background
from litetrack_core.training.synthetic.draw import _absent_below, _draw_frame, _Obj
from litetrack_core.training.synthetic.plan import _Options, _plan
from litetrack_core.training.synthetic.scene import ObjectTrack, SceneInfo
from litetrack_core.training.synthetic.sentences import _candidates, _choose, _sentence, _State, _states

__all__ = ["FRAME_SIZES", "synthesize"]

log = logging.getLogger(__name__)

# Frame sizes (W, H) drawn when ``size=None``.
FRAME_SIZES: tuple[tuple[int, int], ...] = (
    (320, 240),
    (360, 240),
    (384, 288),
    (400, 300),
    (480, 360),
    (512, 384),
    (576, 324),
    (640, 360),
    (640, 480),
)


class _Scene(NamedTuple):
    """A planned and drawn scene with its description (boxes of the first frames already checked
    against ``min_visible``)."""

    objs: list[_Obj]
    event: dict[str, Any] | None
    images: list[np.ndarray]
    boxes: np.ndarray
    visible: np.ndarray
    desc: dict[str, Any]
    states: list[_State]


def synthesize(
    seed: int,
    *,
    backgrounds: Any = None,
    size: tuple[int, int] | None = (320, 240),
    frames: int | tuple[int, int] = 40,
    distractors: tuple[int, int] = (2, 5),
    twin: float = 0.35,
    occlusion: float = 0.3,
    full_occlusion: float = 0.5,
    exit: float = 0.15,
    camera: bool = True,
    max_speed: float = 0.02,
    describe_frames: int = 30,
    min_visible: float = 0.05,
    hide: Iterable[int] = (),
) -> tuple[list[np.ndarray], SceneInfo]:
    """Render one sequence in memory: (frames as RGB uint8 (H, W, 3), scene).

    seed: any int >= 0; everything is drawn from ``numpy.random.default_rng(seed)``.
    backgrounds: None (procedural), a folder of photos, an image file, RGB arrays, paths, or a
    ``Backgrounds``. size: (W, H), or None for one of ``FRAME_SIZES``. frames: a count, or (lo, hi)
    inclusive to draw one. distractors: (lo, hi) inclusive count besides the target (an occlusion
    event adds its occluder). twin: probability of a distractor with the target's colour and
    category. occlusion / exit: probabilities of an occlusion or exit event (their sum <= 1);
    full_occlusion: share of occlusions that hide the target completely. camera: pan and jitter the
    background. max_speed: largest object speed, frame diagonals per frame. describe_frames: the
    sentence holds on the first this many frames. min_visible: the target (and every object's box)
    is absent below this visible share of its area. hide: object indices not painted (their boxes,
    occlusion of others and the sentence are those of the full scene; for checks).
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed={seed!r} must be an int >= 0")
    rng = np.random.default_rng(int(seed))
    width, height, n = _frame_size_and_count(rng, size, frames)
    opt = _Options(tuple(int(v) for v in distractors), float(twin), float(occlusion), float(full_occlusion),
                   float(exit), bool(camera), float(max_speed), int(describe_frames), float(min_visible))
    _check((width, height), n, opt)
    pool = _as_backgrounds(backgrounds)
    hidden = frozenset(int(i) for i in hide)
    canvas, background = _background(rng, pool, width, height, n, opt.camera)
    scene = _render_scene(rng, int(seed), canvas, background["offsets"], width, height, n, opt, hidden)
    _absent_below(scene.boxes, scene.visible, opt.min_visible, n)
    sentence = _sentence(rng, scene.desc, scene.objs, scene.states)
    tracks = tuple(
        ObjectTrack(o.colour, o.category, o.role, o.z, o.centers, o.radii, o.angles, scene.boxes[i], scene.visible[i])
        for i, o in enumerate(scene.objs)
    )
    events = () if scene.event is None else (scene.event,)
    k = min(opt.describe_frames, n)
    info = SceneInfo(int(seed), (width, height), n, sentence, scene.desc, tracks, background, events, k,
                     opt.min_visible)
    return scene.images, info


def _frame_size_and_count(rng: np.random.Generator, size: tuple[int, int] | None,
                          frames: int | tuple[int, int]) -> tuple[int, int, int]:
    """(W, H, frame count), drawn where ``size`` is None or ``frames`` is (lo, hi)."""
    if size is None:
        size = FRAME_SIZES[int(rng.integers(len(FRAME_SIZES)))]
    if isinstance(frames, (tuple, list)):
        lo, hi = (int(v) for v in frames)
        if not 1 <= lo <= hi:
            raise ValueError(f"frames={frames} must be a count or (lo, hi) with 1 <= lo <= hi")
        frames = int(rng.integers(lo, hi + 1))
    width, height = (int(v) for v in size)
    return width, height, int(frames)


def _check(size: tuple[int, int], frames: int, opt: _Options) -> None:
    w, h = size
    if not (64 <= w <= 4096 and 64 <= h <= 4096):
        raise ValueError(f"size={size} must be (W, H) with 64 <= W, H <= 4096")
    if frames < 1:
        raise ValueError(f"frames={frames} must be >= 1")
    lo, hi = opt.distractors
    if not 0 <= lo <= hi <= 12:
        raise ValueError(f"distractors={opt.distractors} must be (lo, hi) with 0 <= lo <= hi <= 12")
    for name in ("twin", "occlusion", "full_occlusion", "exit", "min_visible"):
        v = getattr(opt, name)
        if not 0.0 <= v <= 1.0:
            raise ValueError(f"{name}={v} must be in [0, 1]")
    if opt.occlusion + opt.exit > 1.0 + 1e-9:
        raise ValueError(f"occlusion + exit = {opt.occlusion + opt.exit} must be <= 1 (one event per sequence)")
    if not 0.0 <= opt.max_speed <= 0.2:
        raise ValueError(f"max_speed={opt.max_speed} must be in [0, 0.2] (frame diagonals per frame)")
    if opt.describe_frames < 1:
        raise ValueError(f"describe_frames={opt.describe_frames} must be >= 1")


def _render_scene(rng: np.random.Generator, seed: int, canvas: np.ndarray, offsets: np.ndarray, width: int,
                  height: int, n: int, opt: _Options, hidden: frozenset[int]) -> _Scene:
    """Plan and draw scenes until one has an unambiguous description of its target."""
    attempts = 4
    for attempt in range(attempts):
        objs, event = _plan(rng, width, height, n, opt, force_unique=attempt == attempts - 1)
        drawn = _draw_scene(rng, canvas, offsets, objs, width, height, n, opt, hidden)
        if drawn is not None:
            return _Scene(objs, event, *drawn)
        log.debug("seed %d attempt %d: no unambiguous sentence, scene drawn again", seed, attempt)
    # not reached: the last attempt has no twin and a target fully visible in frame 1
    raise RuntimeError(f"seed {seed}: no unambiguous description found")


def _draw_scene(rng: np.random.Generator, canvas: np.ndarray, offsets: np.ndarray, objs: list[_Obj], width: int,
                height: int, n: int, opt: _Options, hidden: frozenset[int]) -> tuple | None:
    """(frames, boxes, visible, description, states): every frame drawn, the description chosen once
    the first ``describe_frames`` are; None as soon as the target is absent in frame 1 or has no
    unambiguous description there."""
    k = min(opt.describe_frames, n)
    boxes = np.zeros((len(objs), n, 4), np.int64)
    visible = np.zeros((len(objs), n))
    images: list[np.ndarray] = []
    desc = states = None
    for t in range(n):
        images.append(_draw_frame(canvas, tuple(offsets[t]), objs, t, width, height, hidden, boxes, visible))
        if t == k - 1:
            _absent_below(boxes, visible, opt.min_visible, k)
            if boxes[0, 0, 2] == 0:
                return None
            states = _states(objs, boxes, [u for u in range(k) if boxes[0, u, 2] > 0], width, height)
            candidates = _candidates(objs, states)
            if not candidates:
                return None
            desc = _choose(rng, candidates)
    return images, boxes, visible, desc, states
