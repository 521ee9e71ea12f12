"""Planning a synthetic scene: which objects, where they start, how they move, and its event.

The target (always ``objects[0]``) comes with distractors sharing its colour or its category, so a
sentence must combine both; with probability ``twin`` one shares both (a "twin"), and size,
position or a relation to another object must then tell them apart. Objects start fully inside the
frame without overlapping, then move along the paths of ``motion``.

Events, at most one per sequence and after the first ``describe_frames`` frames when the sequence
is long enough: an occlusion (probability ``occlusion``; a distractor drawn in front of the target
slides over it, covering it completely with probability ``full_occlusion``, else partly) or an exit
(the target leaves the frame completely for a few frames and comes back; probability ``exit``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from litetrack_core.training.synthetic.draw import _Obj, _texture
from litetrack_core.training.synthetic.motion import _angle_path, _motion_path, _plateau, _scale_path
from litetrack_core.training.synthetic.shapes import _COLOUR_NAMES, _OCCLUDER_CATEGORIES, _SHAPES, CATEGORIES


@dataclass(frozen=True)
class _Options:
    distractors: tuple[int, int]
    twin: float
    occlusion: float
    full_occlusion: float
    exit: float
    camera: bool
    max_speed: float
    describe_frames: int
    min_visible: float


def _attributes(rng: np.random.Generator, n_dis: int, twin: float, force_unique: bool) -> list[tuple[str, str, str]]:
    """(colour, category, kind) of the target then the distractors; kinds: target, colour (same colour,
    other category), category (same category, other colour), twin (both), other (neither)."""
    tc, tk = str(rng.choice(_COLOUR_NAMES)), str(rng.choice(CATEGORIES))
    kinds = ["colour", "category"]
    if not force_unique and rng.random() < twin:
        kinds.append("twin")
    while len(kinds) < n_dis:
        kinds.append(str(rng.choice(["colour", "category", "other"], p=[0.35, 0.35, 0.3])))
    kinds = [kinds[i] for i in rng.permutation(len(kinds))]
    if "twin" in kinds and n_dis >= 1 and "twin" not in kinds[:n_dis]:
        kinds[0] = "twin"  # a drawn twin survives the cut to n_dis
    kinds = kinds[:n_dis]
    other_colours = [c for c in _COLOUR_NAMES if c != tc]
    other_categories = [k for k in CATEGORIES if k != tk]
    out = [(tc, tk, "target")]
    for kind in kinds:
        c = tc if kind in ("colour", "twin") else str(rng.choice(other_colours))
        k = tk if kind in ("category", "twin") else str(rng.choice(other_categories))
        out.append((c, k, kind))
    return out


def _place(rng: np.random.Generator, objs: list[_Obj], width: int, height: int) -> list[_Obj]:
    """First-frame centres, fully inside the frame and not overlapping (objects that do not fit
    shrink, then are dropped; the target always stays)."""
    placed: list[_Obj] = []
    for o in objs:
        for _attempt in range(6):
            r = float(o.radii[0])
            lo_x, hi_x, lo_y, hi_y = r + 2, width - r - 2, r + 2, height - r - 2
            ok = False
            if hi_x > lo_x and hi_y > lo_y:
                for _ in range(200):
                    c = np.array([rng.uniform(lo_x, hi_x), rng.uniform(lo_y, hi_y)])
                    if all(np.hypot(*(c - q.centers[0])) >= 1.05 * (r + float(q.radii[0])) + 2 for q in placed):
                        ok = True
                        break
            if ok:
                o.centers = np.tile(c, (1, 1))
                placed.append(o)
                break
            o.radii = o.radii * 0.85
        else:
            if o.role == "target":
                raise RuntimeError("cannot place the target")  # not reached: it is placed first
    return placed


def _cast(rng: np.random.Generator, short: int, opt: _Options, force_unique: bool) -> list[_Obj]:
    """The target then the distractors, with their first radii (a twin is often clearly larger or
    smaller than the target)."""
    n_dis = int(rng.integers(opt.distractors[0], opt.distractors[1] + 1))
    attrs = _attributes(rng, n_dis, opt.twin, force_unique)
    objs = []
    for c, k, kind in attrs:
        r0 = rng.uniform(0.06, 0.15) * short
        objs.append(_Obj(c, k, "target" if kind == "target" else "distractor", r0))
    target = objs[0]
    for o, (_, _, kind) in zip(objs[1:], attrs[1:]):
        if kind == "twin" and rng.random() < 0.6:  # a clearly larger or smaller twin
            ratio = rng.uniform(0.42, 0.58) if rng.random() < 0.5 else rng.uniform(1.7, 2.3)
            o.r0 = float(np.clip(target.r0 * ratio, 0.045 * short, 0.22 * short))
    return objs


def _draw_event(rng: np.random.Generator, n: int, opt: _Options) -> dict[str, Any] | None:
    """An occlusion, an exit or None, with its frames: ``start``, ``end``, ``hold`` and ``ramp``
    (frames easing in, held, easing out); None as well when the sequence is too short for it."""
    event: dict[str, Any] | None = None
    u = rng.random()
    if u < opt.occlusion:
        event = {"kind": "occlusion", "full": bool(rng.random() < opt.full_occlusion)}
    elif u < opt.occlusion + opt.exit:
        event = {"kind": "exit", "full": True}
    if event is None:
        return None
    ramp_in, hold, ramp_out = int(rng.integers(4, 9)), int(rng.integers(3, 9)), int(rng.integers(4, 9))
    total = ramp_in + hold + ramp_out
    if n < total + 2:
        return None
    lo = min(opt.describe_frames, n - total)
    start = int(rng.integers(max(1, lo), n - total + 1))
    event.update(start=start, end=start + total, hold=(start + ramp_in, start + ramp_in + hold),
                 ramp=(ramp_in, hold, ramp_out))
    return event


def _occluder(rng: np.random.Generator, target: _Obj, full: bool, short: int) -> _Obj:
    """The object of an occlusion: a fat shape of another colour when it must hide the target
    completely, else one that shares the target's colour, its category or neither."""
    if full:
        c = str(rng.choice([x for x in _COLOUR_NAMES if x != target.colour]))
        k = str(rng.choice(_OCCLUDER_CATEGORIES))
        if target.r0 * 1.22 * 1.06 / _SHAPES[k].inscribed > 0.24 * short:
            k = "circle"  # a square hiding a large target would hardly fit in the frame
    else:
        kind = str(rng.choice(["colour", "category", "other"]))
        c = target.colour if kind == "colour" else str(rng.choice([x for x in _COLOUR_NAMES if x != target.colour]))
        others = [x for x in CATEGORIES if x != target.category]
        k = target.category if kind == "category" else str(rng.choice(others))
    return _Obj(c, k, "occluder", rng.uniform(0.08, 0.15) * short)


def _grow_to_cover(occ: _Obj, target: _Obj, event: dict[str, Any]) -> None:
    """Enlarge a full occluder so that its inscribed disc holds the target during the event."""
    s, e = event["start"], event["end"]
    need = (1.06 * target.radii[s:e] + 1.5) / (_SHAPES[occ.category].inscribed * occ.radii[s:e])
    occ.radii = occ.radii * max(1.0, float(need.max()))


def _placed_event(event: dict[str, Any] | None, placed: list[_Obj], wanted: list[float]) -> dict[str, Any] | None:
    """The event once objects are placed: no occlusion when its occluder found no place, and a
    partial one when a full occluder had to shrink."""
    if event is None or event["kind"] != "occlusion":
        return event
    if placed[-1].role != "occluder":
        return None
    if event["full"] and float(placed[-1].radii[0]) < wanted[-1]:
        event["full"] = False  # it had to shrink to fit: it may no longer cover the target
    return event


def _play_event(rng: np.random.Generator, event: dict[str, Any], objs: list[_Obj], target: _Obj, n: int,
                width: int, height: int) -> None:
    """Bend the paths for the event: the occluder (put in front of the target) slides over it, or
    the target leaves by the nearest border and comes back."""
    w = _plateau(n, event["start"], *event.pop("ramp"))[:, None]
    if event["kind"] == "occlusion":
        occ = objs[-1]
        if occ.z < target.z:
            occ.z, target.z = target.z, occ.z
        offset = np.zeros(2)
        if not event["full"]:
            phi = rng.uniform(0, 2 * math.pi)
            reach = rng.uniform(0.45, 0.8) * (target.radii.mean() + occ.radii.mean())
            offset = np.array([math.cos(phi), math.sin(phi)]) * reach
        occ.centers = occ.centers + w * (target.centers + offset - occ.centers)
        event["occluder"] = len(objs) - 1
    else:
        s = event["start"]
        cx, cy = target.centers[s]
        out = 1.3 * float(target.radii.max()) + 2
        gaps = {"left": cx, "right": width - cx, "top": cy, "bottom": height - cy}
        side = min(gaps, key=gaps.get)
        goal = {"left": (-out, cy), "right": (width + out, cy), "top": (cx, -out),
                "bottom": (cx, height + out)}[side]
        target.centers = target.centers + w * (np.array(goal) - target.centers)
        event["side"] = side


def _plan(rng: np.random.Generator, width: int, height: int, n: int, opt: _Options,
          force_unique: bool) -> tuple[list[_Obj], dict[str, Any] | None]:
    """(objects, event): the scene's objects with their paths, drawing order and textures, and its
    event (None or a dict as in ``SceneInfo.events``)."""
    short, diag = min(width, height), math.hypot(width, height)
    objs = _cast(rng, short, opt, force_unique)
    target = objs[0]
    event = _draw_event(rng, n, opt)
    if event is not None and event["kind"] == "occlusion":
        objs.append(_occluder(rng, target, event["full"], short))
    for o in objs:
        o.radii = _scale_path(rng, n, o.r0)
        o.angles = _angle_path(rng, n, _SHAPES[o.category].turn)
    if event is not None and event["kind"] == "occlusion" and event["full"]:
        _grow_to_cover(objs[-1], target, event)
    wanted = [float(o.radii[0]) for o in objs]
    objs = _place(rng, objs, width, height)
    event = _placed_event(event, objs, wanted)
    vmax = opt.max_speed * diag
    for o in objs:
        edge = 0.6 if o.role == "target" else 0.5
        o.centers = _motion_path(rng, n, o.centers[0], o.radii, width, height, vmax, edge)
    z = rng.permutation(len(objs))
    for o, zi in zip(objs, z):
        o.z = int(zi)
    if event is not None:
        _play_event(rng, event, objs, target, n, width, height)
    for o in objs:
        side = 2 * math.ceil(float(o.radii.max())) + 4
        o.texture = _texture(rng, o.colour, side)
    return objs, event
