"""Keep ratio at run time: the latency-budget controller (synthetic step times) and the Tracker's
``keep_ratio`` / ``latency_budget_ms`` on real frames.

No test here depends on how fast this machine is: the controller is fed made-up step times, and
the tracker is given budgets nothing can meet (1e-6 ms) or nothing can miss (1e9 ms).
"""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
import torch

from conftest import tiny_config
from litetrack_core.models import create_model
from litetrack_core.models.pruning import keep_count
from litetrack_core.tracking.budget import KEEP_RATIOS, KeepRatioController
from litetrack_core.tracking.tracker import Tracker, TrackerConfig

FIRST_BOX = (593.6, 189.7, 37.5, 68.4)  # the packaged clip, frame 1
NX = 64  # search tokens of the tiny config


def _changes(ratios: list[float], start: float) -> list[tuple[int, float, float]]:
    """(update number (1-based), old ratio, new ratio) for every change in a run of ``update`` results."""
    out, prev = [], start
    for n, r in enumerate(ratios, start=1):
        if r != prev:
            out.append((n, prev, r))
            prev = r
    return out


# ---------------------------------------------------------------------------- controller


@pytest.mark.parametrize(
    "kwargs,message",
    [
        (dict(budget_ms=0.0), "budget_ms"),
        (dict(budget_ms=-5.0), "budget_ms"),
        (dict(budget_ms=float("nan")), "budget_ms"),
        (dict(budget_ms=10.0, ratios=()), "ratios"),
        (dict(budget_ms=10.0, ratios=(0.5, 1.0)), "ratios"),  # increasing
        (dict(budget_ms=10.0, ratios=(1.0, 1.0, 0.5)), "ratios"),  # repeated
        (dict(budget_ms=10.0, ratios=(1.2, 0.5)), "ratios"),
        (dict(budget_ms=10.0, ratios=(1.0, 0.0)), "ratios"),
        (dict(budget_ms=10.0, window=0), "window"),
        (dict(budget_ms=10.0, hysteresis=1.0), "hysteresis"),
        (dict(budget_ms=10.0, hysteresis=-0.1), "hysteresis"),
        (dict(budget_ms=10.0, retry_after=-1), "retry_after"),
        (dict(budget_ms=10.0, start=0.55), "start"),
    ],
)
def test_controller_validation(kwargs, message):
    with pytest.raises(ValueError, match=message):
        KeepRatioController(**kwargs)


def test_controller_starts_where_told():
    assert KeepRatioController(10.0).ratio == KEEP_RATIOS[0] == 1.0
    assert KeepRatioController(10.0, start=0.5).ratio == 0.5
    assert KeepRatioController(10.0, ratios=[0.9, 0.6], start=0.6).ratio == 0.6


def test_lowers_after_a_full_window_over_budget_and_not_before():
    c = KeepRatioController(10.0, window=5)
    assert math.isnan(c.last_p90_ms)
    assert [c.update(20.0) for _ in range(4)] == [1.0] * 4
    assert math.isnan(c.last_p90_ms)  # nothing judged yet
    assert c.update(20.0) == 0.9
    assert c.last_p90_ms == pytest.approx(20.0)
    # samples are collected afresh at the new ratio: again a full window before the next step down
    assert [c.update(20.0) for _ in range(4)] == [0.9] * 4
    assert c.update(20.0) == 0.8


def test_p90_is_what_is_judged():
    c = KeepRatioController(10.0, window=10, start=0.5)
    times = [3.0, 4.0, 5.0, 6.0, 7.0, 7.5, 7.0, 6.0, 11.0, 12.0]
    ratios = [c.update(t) for t in times]
    assert c.last_p90_ms == pytest.approx(float(np.percentile(times, 90)))
    assert c.last_p90_ms > 10.0 and ratios[-1] == 0.4  # two slow frames in ten: over budget


def test_one_slow_frame_does_not_move_the_ratio():
    """A sliding window of 20 with one 1-second frame in every 20: the p90 stays at the usual time."""
    c = KeepRatioController(10.0, start=0.7)  # default window 20
    times = [1000.0 if n % 20 == 0 else 9.0 for n in range(1, 201)]
    assert {c.update(t) for t in times} == {0.7}
    # ... whereas two slow frames inside one window are a trend
    c2 = KeepRatioController(10.0, start=0.7)
    assert [c2.update(t) for t in [9.0] * 18 + [1000.0, 1000.0]][-1] == 0.6


def test_raises_when_well_under_budget():
    c = KeepRatioController(10.0, start=0.5, window=20, hysteresis=0.2)
    ratios = [c.update(5.0) for _ in range(200)]
    changes = _changes(ratios, 0.5)
    assert changes == [(20, 0.5, 0.6), (40, 0.6, 0.7), (60, 0.7, 0.8), (80, 0.8, 0.9), (100, 0.9, 1.0)]
    assert ratios[-1] == 1.0  # and the top is where it stops


@pytest.mark.parametrize("times", [[8.5], [9.9], [10.0], [8.1, 9.0, 10.0, 9.5]])
def test_hysteresis_band_holds_the_ratio(times):
    """p90 between budget * (1 - hysteresis) = 8 and the budget (10, inclusive): no move either way."""
    c = KeepRatioController(10.0, start=0.5, window=10, hysteresis=0.2)
    seq = [times[n % len(times)] for n in range(300)]
    assert {c.update(t) for t in seq} == {0.5}


def test_just_below_the_band_raises():
    c = KeepRatioController(10.0, start=0.5, window=10, hysteresis=0.2)
    assert [c.update(7.9) for _ in range(10)][-1] == 0.6


def _simulate(controller: KeepRatioController, latency, frames: int) -> list[float]:
    """Run ``frames`` frames where a frame at ratio r takes ``latency(r)`` ms; returns the ratio used per frame."""
    used = []
    for _ in range(frames):
        r = controller.ratio
        used.append(r)
        controller.update(latency(r))
    return used


def test_a_ratio_over_budget_is_not_retried_before_retry_after():
    """time = 20 * r: 0.5 takes 10 ms (over the 9 ms budget), 0.4 takes 8 ms (under 9 * 0.9 = 8.1),
    so 0.4 always wants to try 0.5 again; only retry_after stops an oscillation."""
    retry_after, window = 100, 10

    def latency(r):
        return 0.0 + 20.0 * r

    c = KeepRatioController(9.0, window=window, hysteresis=0.1, retry_after=retry_after)
    used = _simulate(c, latency, 700)
    changes = _changes(used, 1.0)
    # down one step per window from 1.0 to 0.4, each step after exactly one fresh window
    descent = [(n, old, new) for n, old, new in changes if n <= 61]
    assert [(old, new) for _, old, new in descent] == list(zip(KEEP_RATIOS[:6], KEEP_RATIOS[1:7]))
    assert [n for n, _, _ in descent] == [1 + window * k for k in range(1, 7)]
    # afterwards only 0.4 <-> 0.5, and every retry of 0.5 waits retry_after frames after it failed
    later = changes[len(descent) :]
    assert later and all({old, new} == {0.4, 0.5} for _, old, new in later)
    failed_at = descent[-1][0] - 1  # the update that found 0.5 over budget
    retries = 0
    for n, old, new in later:
        if new == 0.5:
            assert (n - 1) - failed_at >= retry_after
            retries += 1
        else:
            failed_at = n - 1
    assert 1 <= retries <= 700 // retry_after
    settled = used[61:]
    assert sum(latency(r) > 9.0 for r in settled) <= retries * window  # over budget only while retrying

    # Without the retry delay the same latency model oscillates every window.
    c0 = KeepRatioController(9.0, window=window, hysteresis=0.1, retry_after=0)
    assert len(_changes(_simulate(c0, latency, 700), 1.0)) > 3 * len(changes)


def test_settles_at_the_highest_ratio_that_fits():
    """time = 2 + 10 * r: 0.7 (9 ms) fits a 9.5 ms budget, 0.8 (10 ms) does not."""

    def latency(r):
        return 2.0 + 10.0 * r

    c = KeepRatioController(9.5, window=20, hysteresis=0.2)
    used = _simulate(c, latency, 1000)
    assert used[-1] == 0.7 and min(used) == 0.7
    assert set(used[100:]) == {0.7}  # 9 ms is not "well under" (7.6 ms): it stays


def test_stays_at_the_lowest_ratio_when_nothing_fits():
    c = KeepRatioController(5.0, window=20)
    used = _simulate(c, lambda r: 1e6, 700)
    assert used[-1] == min(KEEP_RATIOS) and min(used) == min(KEEP_RATIOS)
    first = used.index(min(KEEP_RATIOS))
    assert first == 20 * (len(KEEP_RATIOS) - 1)
    assert set(used[first:]) == {min(KEEP_RATIOS)}
    assert c.last_p90_ms == pytest.approx(1e6)


# ---------------------------------------------------------------------------- tracker


@pytest.fixture(scope="module")
def frames(clip):
    """The packaged clip forwards then backwards (so long runs keep a continuous motion)."""
    folder = clip / "img"
    forward = [cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB) for p in sorted(folder.glob("*.jpg"))]
    return forward + forward[-2:0:-1]


@pytest.fixture(scope="module", params=[False, True], ids=["exact", "asym"])
def pruning_model(request):
    torch.manual_seed(0)
    return create_model(tiny_config(csa=True, asymmetric=request.param, prune_blocks=(0,)))


class _LiveTokens:
    """Counts the search tokens entering block 1 (right after the pruning block 0) on each call."""

    def __init__(self, model):
        self.npre = 0 if model.cfg.asymmetric else 1 + model.cfg.template_grid**2
        self.counts: list[int] = []
        self._hook = model.blocks[1].register_forward_pre_hook(self._count)

    def _count(self, _module, args):
        self.counts.append(args[0].shape[1] - self.npre)

    def remove(self):
        self._hook.remove()


def _track(tracker, frames, n, text=None):
    tracker.set_target(frames[0], text=text, box=FIRST_BOX)
    return [tracker.track(frames[i % len(frames)]) for i in range(1, n + 1)]


def _box_ok(result, frame):
    x, y, w, h = result.box_xywh_px
    fh, fw = frame.shape[:2]
    inside = x >= 0 and y >= 0 and x + w <= fw + 1e-6 and y + h <= fh + 1e-6
    return all(math.isfinite(v) for v in (x, y, w, h)) and inside


SENTENCE = "the person in the light blue jacket"  # the clip's language.txt


@pytest.mark.parametrize("text", [None, SENTENCE], ids=["bbox", "nlbbox"])
def test_fixed_keep_ratio_prunes_every_frame(pruning_model, frames, text):
    tracker = Tracker(pruning_model, TrackerConfig(keep_ratio=0.5, lost_after=0))
    tracker.set_target(frames[0], text=text, box=FIRST_BOX)
    live = _LiveTokens(pruning_model)
    try:
        results = [tracker.track(f) for f in frames[1:9]]
    finally:
        live.remove()
    assert [r.keep_ratio for r in results] == [0.5] * 8
    assert live.counts == [keep_count(NX, 0.5, 0)] * 8  # what the model really ran
    assert all(_box_ok(r, frames[0]) and 0 <= r.score <= 1 for r in results)


def test_default_keep_ratio_runs_every_token(pruning_model, frames):
    tracker = Tracker(pruning_model, TrackerConfig(lost_after=0))
    tracker.set_target(frames[0], box=FIRST_BOX)
    live = _LiveTokens(pruning_model)
    try:
        results = [tracker.track(f) for f in frames[1:4]]
    finally:
        live.remove()
    assert [r.keep_ratio for r in results] == [1.0] * 3 and live.counts == [NX] * 3


@pytest.mark.parametrize("start", [1.0, 0.45])
def test_impossible_budget_reaches_the_lowest_ratio(pruning_model, frames, start):
    """1e-6 ms cannot be met: the ratio steps down through every candidate below the start and stays at the lowest."""
    tracker = Tracker(pruning_model, TrackerConfig(keep_ratio=start, latency_budget_ms=1e-6, lost_after=0))
    candidates = sorted({*KEEP_RATIOS, start}, reverse=True)
    below = [r for r in candidates if r <= start]
    n = 20 * len(below) + 10  # the controller's default window per step, and some frames at the bottom
    live = _LiveTokens(pruning_model)
    try:
        results = _track(tracker, frames, n)
    finally:
        live.remove()
    used = [r.keep_ratio for r in results]
    assert used[0] == start
    assert all(a >= b for a, b in zip(used, used[1:]))
    assert sorted(set(used), reverse=True) == below  # one candidate at a time, none skipped
    assert used[-10:] == [min(candidates)] * 10
    # the reported ratio is the one the model ran with, frame by frame (set_target's pass is unpruned)
    assert live.counts[1:] == [keep_count(NX, r, 0) for r in used]
    assert all(_box_ok(r, frames[0]) for r in results)


def test_huge_budget_keeps_every_token(pruning_model, frames):
    tracker = Tracker(pruning_model, TrackerConfig(latency_budget_ms=1e9, lost_after=0))
    assert {r.keep_ratio for r in _track(tracker, frames, 45)} == {1.0}


def test_huge_budget_climbs_back_to_one(pruning_model, frames):
    """Started low, a budget far above every step time raises the ratio window by window to 1.0."""
    tracker = Tracker(pruning_model, TrackerConfig(keep_ratio=0.6, latency_budget_ms=1e9, lost_after=0))
    used = [r.keep_ratio for r in _track(tracker, frames, 20 * 4 + 10)]
    assert used[0] == 0.6 and all(a <= b for a, b in zip(used, used[1:]))
    assert sorted(set(used)) == [0.6, 0.7, 0.8, 0.9, 1.0] and used[-10:] == [1.0] * 10


def test_budget_needs_a_model_with_pruning_blocks():
    torch.manual_seed(0)
    plain = create_model(tiny_config())
    with pytest.raises(ValueError, match="pruning blocks"):
        Tracker(plain, TrackerConfig(latency_budget_ms=30.0))
    Tracker(plain, TrackerConfig(latency_budget_ms=0.0))  # 0: off, fine without pruning blocks


@pytest.mark.parametrize(
    "kwargs,message",
    [
        (dict(keep_ratio=0.0), "keep_ratio"),
        (dict(keep_ratio=1.5), "keep_ratio"),
        (dict(keep_ratio=-0.3), "keep_ratio"),
        (dict(latency_budget_ms=-1.0), "latency_budget_ms"),
        (dict(scale_lr=0.0), "scale_lr"),
        (dict(scale_lr=1.5), "scale_lr"),
        (dict(scale_step=-0.01), "scale_step"),
        (dict(scale_step=1.5), "scale_step"),
        (dict(aspect_anchor=-0.1), "aspect_anchor"),
        (dict(aspect_anchor=1.5), "aspect_anchor"),
    ],
)
def test_tracker_config_rejects_bad_values(kwargs, message):
    with pytest.raises(ValueError, match=message):
        TrackerConfig(**kwargs)
