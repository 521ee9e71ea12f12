"""Sentences that name the target of a synthetic scene and nothing else.

The sentence is built from the scene so that it names the target on each of the first
``describe_frames`` frames where the target is visible (the training sampler's grounding samples
take a frame among the first 30): colour + category always ("the red circle"), plus, when another
object shares both or for variety, one of size ("the larger blue square"), position in the image
("the green star at the top left"), an extreme among the same-looking objects ("the leftmost
yellow ring") or a relation to an object that is unique by colour and category ("the green
triangle left of the yellow star", "the red heart next to the black cross"). Each candidate is
checked against every object present in those frames with margins (positive for the target,
clearly negative for each other object with the same colour and category); the sentence is drawn
among the candidates that pass, in mixed phrasings. Left and right are meant in the image, so the
sampler's flip (``swap_directions``) keeps sentences true.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from litetrack_core.training.synthetic.draw import _Obj

_REGIONS = ("left", "right", "top", "bottom", "top left", "top right", "bottom left", "bottom right", "middle")
_EXTREMES = ("left", "right", "top", "bottom")
_RELATIONS = ("left of", "right of", "above", "below", "near")

# Words: the first is the canonical name; the others appear in some sentences.
_COLOUR_WORDS = {"gray": ("gray", "grey")}
_CATEGORY_WORDS = {"oval": ("oval", "ellipse")}
_PLURAL = {"cross": "crosses"}


@dataclass(frozen=True)
class _State:
    """The objects present in one frame: index -> (cx, cy, r) with the centre of the visible box."""

    width: int
    height: int
    objs: dict[int, tuple[float, float, float]]


def _states(objs: list[_Obj], boxes: np.ndarray, frames: Iterable[int], width: int, height: int) -> list[_State]:
    out = []
    for t in frames:
        present = {}
        for i, o in enumerate(objs):
            x, y, w, h = boxes[i, t]
            if w > 0:
                present[i] = (x + w / 2, y + h / 2, float(o.radii[t]))
        out.append(_State(width, height, present))
    return out


def _region_test(region: str, cx: float, cy: float, width: int, height: int) -> tuple[bool, bool]:
    """(clearly in the region, clearly not in it) for a centre."""
    fx, fy = cx / width, cy / height
    if region == "middle":
        pos = abs(fx - 0.5) < 0.15 and abs(fy - 0.5) < 0.15
        neg = abs(fx - 0.5) > 0.25 or abs(fy - 0.5) > 0.25
        return pos, neg
    tests = {
        "left": (fx < 0.4, fx > 0.5),
        "right": (fx > 0.6, fx < 0.5),
        "top": (fy < 0.4, fy > 0.5),
        "bottom": (fy > 0.6, fy < 0.5),
    }
    parts = [tests[p] for p in region.split()]
    return all(p for p, _ in parts), any(q for _, q in parts)


def _holds(desc: dict[str, Any], state: _State, target: int, attrs: list[tuple[str, str]]) -> bool:
    """Whether ``desc`` names ``target`` and no other present object in ``state``."""
    if target not in state.objs:
        return False
    base = [i for i in state.objs if attrs[i] == (desc["colour"], desc["category"])]
    others = [i for i in base if i != target]
    tx, ty, tr = state.objs[target]
    W, H = state.width, state.height
    if desc.get("size"):
        if not others:
            return False
        biggest = max(state.objs[i][2] for i in others)
        smallest = min(state.objs[i][2] for i in others)
        return tr >= 1.5 * biggest if desc["size"] == "large" else tr * 1.5 <= smallest
    if desc.get("region"):
        pos, _ = _region_test(desc["region"], tx, ty, W, H)
        return pos and all(_region_test(desc["region"], *state.objs[i][:2], W, H)[1] for i in others)
    if desc.get("extreme"):
        if not others:
            return False
        e = desc["extreme"]
        for i in others:
            ox, oy, orr = state.objs[i]
            m = 0.25 * (tr + orr) + 0.02 * (W if e in ("left", "right") else H)
            d = {"left": ox - tx, "right": tx - ox, "top": oy - ty, "bottom": ty - oy}[e]
            if d < m:
                return False
        return True
    rel = desc.get("relation")
    if rel:
        return _relation_holds(rel, state, target, others)
    return not others


def _relation_holds(rel: dict[str, Any], state: _State, target: int, others: list[int]) -> bool:
    """Whether the relation to object ``rel["object"]`` holds for ``target`` and clearly fails for
    each of ``others`` (for "near": they are all clearly farther)."""
    j = rel["object"]
    if j not in state.objs or j == target:
        return False
    rx, ry, rr = state.objs[j]
    tx, ty, _ = state.objs[target]
    W, H = state.width, state.height

    def test(i: int) -> tuple[bool, bool]:
        x, y, r = state.objs[i]
        kind = rel["kind"]
        if kind == "near":
            return math.hypot(x - rx, y - ry) <= 3.0 * (r + rr), False
        along, across = {
            "left of": (rx - x, y - ry),
            "right of": (x - rx, y - ry),
            "above": (ry - y, x - rx),
            "below": (y - ry, x - rx),
        }[kind]
        m = 0.25 * (r + rr) + 0.02 * (W if kind in ("left of", "right of") else H)
        return along > m and along > 0.8 * abs(across), along < 0.5 * m or along < 0.4 * abs(across)

    if not test(target)[0]:
        return False
    if rel["kind"] == "near":
        d = math.hypot(tx - rx, ty - ry)
        return all(math.hypot(state.objs[i][0] - rx, state.objs[i][1] - ry) >= 1.6 * d for i in others)
    return all(test(i)[1] for i in others)


def _candidates(objs: list[_Obj], states: list[_State]) -> list[dict[str, Any]]:
    """Every description of the target (index 0) that holds on all ``states``."""
    attrs = [(o.colour, o.category) for o in objs]
    tc, tk = attrs[0]
    base: dict[str, Any] = {"colour": tc, "category": tk}
    options = [dict(base)]
    options += [dict(base, size=s) for s in ("large", "small")]
    options += [dict(base, region=r) for r in _REGIONS]
    options += [dict(base, extreme=e) for e in _EXTREMES]
    refs = [j for j in range(1, len(objs)) if attrs.count(attrs[j]) == 1 and attrs[j] != attrs[0]]
    options += [dict(base, relation={"kind": k, "object": j}) for j in refs for k in _RELATIONS]
    return [d for d in options if all(_holds(d, s, 0, attrs) for s in states)]


def _choose(rng: np.random.Generator, candidates: list[dict[str, Any]]) -> dict[str, Any]:
    plain = [d for d in candidates if len(d) == 2]
    richer = [d for d in candidates if len(d) > 2]
    if plain and (not richer or rng.random() < 0.5):
        return plain[0]
    kinds = sorted({next(k for k in d if k not in ("colour", "category")) for d in richer})
    kind = str(rng.choice(kinds))
    pool = [d for d in richer if kind in d]
    return pool[int(rng.integers(len(pool)))]


def _word(rng: np.random.Generator, name: str, table: dict[str, tuple[str, ...]], p_other: float = 0.3) -> str:
    words = table.get(name, (name,))
    return words[0] if len(words) == 1 or rng.random() >= p_other else str(rng.choice(words[1:]))


def _plural(word: str) -> str:
    return _PLURAL.get(word, word + "s")


def _pick(rng: np.random.Generator, options: list[str]) -> str:
    return str(rng.choice(options))


def _sentence(rng: np.random.Generator, desc: dict[str, Any], objs: list[_Obj], states: list[_State]) -> str:
    """The words for description ``desc``, in a phrasing drawn from ``rng``."""
    c = _word(rng, desc["colour"], _COLOUR_WORDS)
    k = _word(rng, desc["category"], _CATEGORY_WORDS)
    ck, cks = f"{c} {k}", f"{c} {_plural(k)}"
    attrs = [(o.colour, o.category) for o in objs]
    pair = all(sum(attrs[i] == attrs[0] for i in s.objs) == 2 for s in states)  # exactly two alike throughout
    if desc.get("size"):
        return _size_phrase(rng, desc["size"], pair, ck, cks)
    if desc.get("region"):
        return _region_phrase(rng, desc["region"], ck)
    if desc.get("extreme"):
        return _extreme_phrase(rng, desc["extreme"], pair, ck, cks)
    rel = desc.get("relation")
    if rel:
        return _relation_phrase(rng, rel, objs, ck)
    a = "an" if ck[0] in "aeiou" else "a"
    return _pick(rng, ["the {ck}", "{ck}", a + " {ck}", "the {ck} moving around", "{ck} moving in the scene"]).format(
        ck=ck)


def _size_phrase(rng: np.random.Generator, size: str, pair: bool, ck: str, cks: str) -> str:
    if size == "large":
        forms = ["the larger {ck}", "the bigger {ck}", "the larger of the two {cks}", "the big {ck}"] if pair \
            else ["the largest {ck}", "the biggest {ck}", "the large {ck}", "the big {ck}"]
    else:
        forms = ["the smaller {ck}", "the smaller of the two {cks}", "the small {ck}", "the little {ck}"] if pair \
            else ["the smallest {ck}", "the small {ck}", "the little {ck}"]
    return _pick(rng, forms).format(ck=ck, cks=cks)


def _region_phrase(rng: np.random.Generator, region: str, ck: str) -> str:
    phrases = {
        "left": ["on the left", "on the left side", "in the left part of the image"],
        "right": ["on the right", "on the right side", "in the right part of the image"],
        "top": ["at the top", "near the top of the image", "in the upper part of the image"],
        "bottom": ["at the bottom", "near the bottom of the image", "in the lower part of the image"],
        "middle": ["in the middle", "in the centre", "in the center of the image"],
    }
    if region in phrases:
        where = _pick(rng, phrases[region])
    else:
        where = _pick(rng, ["at the {r}", "in the {r} corner", "in the {r} of the image"]).format(r=region)
    return _pick(rng, ["the {ck} {w}", "{ck} {w}"]).format(ck=ck, w=where)


def _extreme_phrase(rng: np.random.Generator, extreme: str, pair: bool, ck: str, cks: str) -> str:
    if pair:
        forms = {
            "left": ["the left {ck}", "the left one of the two {cks}"],
            "right": ["the right {ck}", "the right one of the two {cks}"],
            "top": ["the upper {ck}", "the higher {ck}", "the upper of the two {cks}"],
            "bottom": ["the lower {ck}", "the lower of the two {cks}"],
        }[extreme]
    else:
        forms = {
            "left": ["the leftmost {ck}", "the {ck} furthest to the left"],
            "right": ["the rightmost {ck}", "the {ck} furthest to the right"],
            "top": ["the highest {ck}", "the topmost {ck}", "the uppermost {ck}"],
            "bottom": ["the lowest {ck}", "the bottommost {ck}"],
        }[extreme]
    return _pick(rng, forms).format(ck=ck, cks=cks)


def _relation_phrase(rng: np.random.Generator, rel: dict[str, Any], objs: list[_Obj], ck: str) -> str:
    ref = objs[rel["object"]]
    rc = _word(rng, ref.colour, _COLOUR_WORDS)
    rk = _word(rng, ref.category, _CATEGORY_WORDS)
    how = {
        "left of": ["left of", "to the left of", "on the left of"],
        "right of": ["right of", "to the right of", "on the right of"],
        "above": ["above"],
        "below": ["below", "under", "beneath"],
        "near": ["next to", "near", "closest to", "beside"],
    }[rel["kind"]]
    return _pick(rng, ["the {ck} {h} the {ref}", "{ck} {h} the {ref}"]).format(ck=ck, h=_pick(rng, how),
                                                                              ref=f"{rc} {rk}")
