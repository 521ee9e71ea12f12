"""The worker's frames without ROS (litetrack_ros/intake.py): newest, recent, catch-up."""

from __future__ import annotations

from dataclasses import dataclass

from litetrack_ros.intake import CATCH_UP_HELD, CATCH_UP_STRIDE, Intake
from litetrack_ros.target_requests import TargetRequest, TargetRequests


@dataclass(frozen=True)
class Frame:
    stamp: int  # ns


def intake() -> Intake[Frame]:
    return Intake(lambda f: f.stamp, recent=8)


def test_a_request_for_a_frame_the_worker_dropped_gets_it_offered_again():
    frames, requests = intake(), TargetRequests(depth=4)
    frames.receive(Frame(100), 1)
    assert frames.slot.take(0.0) == (Frame(100), 1)  # taken and dropped: no target yet
    request = TargetRequest(None, (1.0, 2.0, 3.0, 4.0), 100)
    assert frames.queue(request, requests)
    msg, arrived = frames.slot.take(0.0)
    assert (msg, arrived) == (Frame(100), 1)
    assert frames.serve(requests, msg) == (request, (Frame(100), 1)) and not len(requests)


def test_a_request_queued_before_its_frame_is_served_when_the_frame_arrives():
    frames, requests = intake(), TargetRequests(depth=4)
    request = TargetRequest("the car", None, 200)
    assert frames.queue(request, requests) and frames.slot.take(0.0) is None
    frames.receive(Frame(100), 1)
    assert frames.serve(requests, Frame(100)) is None  # not this one: it waits on
    frames.receive(Frame(200), 2)
    msg, _ = frames.slot.take(0.0)
    assert frames.serve(requests, msg) == (request, (Frame(200), 2))


def test_a_stamp_older_than_every_recent_frame_is_refused_at_once():
    frames, requests = intake(), TargetRequests(depth=4)
    for stamp in (100, 200):
        frames.receive(Frame(stamp), stamp)
    request = TargetRequest("the car", None, 50)
    assert frames.queue(request, requests)
    assert request.done.is_set() and not request.success and "no frame with stamp 50" in request.message
    assert not len(requests)


def test_the_catch_up_spreads_over_the_frames_since_the_set_frame_and_ends_with_the_newest():
    frames = intake()
    for stamp in range(1, 4):
        frames.receive(Frame(stamp), 0)
    frames.open_catch_up(after_ns=1)  # frames 2 and 3 are already here
    for stamp in range(4, 14):
        frames.receive(Frame(stamp), 0)
    chosen = [f.stamp for f, _ in frames.close_catch_up(4, after_ns=1)]
    assert chosen == sorted(chosen) and len(chosen) == 4 and chosen[-1] == 13
    assert set(chosen) <= set(range(2, 14)) and max(chosen[0] - 1, *(b - a for a, b in zip(chosen, chosen[1:]))) <= 4
    frames.receive(Frame(14), 0)  # closed: no longer kept
    frames.open_catch_up(after_ns=13)
    assert [f.stamp for f, _ in frames.close_catch_up(4, after_ns=13)] == [14]


def test_the_catch_up_skips_older_frames_and_takes_all_when_few():
    frames = intake()
    frames.receive(Frame(10), 0)
    frames.open_catch_up(after_ns=10)
    for stamp in (5, 11, 12):  # 5: out of order, before the set frame
        frames.receive(Frame(stamp), 0)
    assert [f.stamp for f, _ in frames.close_catch_up(4, after_ns=10)] == [11, 12]
    frames.open_catch_up(after_ns=12)
    frames.receive(Frame(13), 0)
    assert frames.close_catch_up(0, after_ns=12) == []


def test_a_long_catch_up_holds_a_bounded_number_of_frames_evenly_thinned():
    frames = intake()
    frames.open_catch_up(after_ns=0)
    for stamp in range(1, 1001):
        frames.receive(Frame(stamp), 0)
    held = [f.stamp for f, _ in frames.close_catch_up(CATCH_UP_HELD * 2, after_ns=0)]
    gaps = {b - a for a, b in zip(held, held[1:])}
    assert CATCH_UP_HELD // 2 <= len(held) <= CATCH_UP_HELD and len(gaps) == 1, held
    assert held[0] <= gaps.pop() and held[-1] > 1000 - 2 * (held[1] - held[0])  # over the whole wait


def test_after_a_long_wait_the_catch_up_steps_more_frames_to_keep_them_close_together():
    # a set that took 90 frames (3 s at 30 Hz): 8 frames would be 11 apart, a walker's width or more
    def close(count: int, max_stride: int) -> list[int]:
        frames = intake()
        frames.open_catch_up(after_ns=0)
        for stamp in range(1, 91):
            frames.receive(Frame(stamp), 0)
        return [f.stamp for f, _ in frames.close_catch_up(count, after_ns=0, max_stride=max_stride)]

    assert len(close(8, 0)) == 8 and close(0, CATCH_UP_STRIDE) == []  # unbounded as before; 0 still off
    chosen = close(8, CATCH_UP_STRIDE)
    assert chosen == sorted(set(chosen)) and chosen[-1] == 88  # the newest held (every 4th is held by 90)
    assert max(chosen[0], *(b - a for a, b in zip(chosen, chosen[1:]))) <= CATCH_UP_STRIDE, chosen
    assert close(8, 2) == chosen  # as close as the held frames allow, no closer
    short = close(8, CATCH_UP_STRIDE * 100)
    assert len(short) == 8  # never fewer than asked


def _camera_during_catch_up(frames: Intake[Frame], gap: int, count: int, per_step: int, stop_after: int = 0):
    """A target set on frame 0 while frames 1 .. gap-1 arrived; each step lets ``per_step`` more arrive.
    Returns the stamps stepped (``stop_after`` > 0: the step says stop on that one) and the newest received."""
    stepped, newest = [], gap - 1
    frames.open_catch_up(after_ns=0)
    for stamp in range(1, gap):
        frames.receive(Frame(stamp), 0)

    def step(item):
        nonlocal newest
        stepped.append(item[0].stamp)
        for stamp in range(newest + 1, newest + per_step + 1):
            frames.receive(Frame(stamp), 0)
        newest += per_step
        return len(stepped) != stop_after

    frames.chase(frames.close_catch_up(count, after_ns=0), step)
    return stepped, newest


def test_the_chase_halves_its_lag_each_round_and_ends_near_the_newest_frame_even_when_steps_are_slow():
    # 3 frames arrive per step (the step is slower than the camera): a single catch-up of 8 would
    # end 24 frames behind and jump to the newest; the chase goes on at twice the live stride and closes the gap.
    stepped, newest = _camera_during_catch_up(intake(), gap=30, count=8, per_step=3)
    assert stepped == sorted(set(stepped)) and stepped[7] == 29
    assert 8 < len(stepped) <= 16, stepped  # at most twice the first round
    assert max(b - a for a, b in zip(stepped[7:], stepped[8:])) <= 2 * 3 + 1, stepped  # no jump after the first round
    assert newest - stepped[-1] <= 2 * 3, (newest, stepped)  # the live frame that follows is near


def test_the_chase_stops_when_the_step_says_so_and_holds_no_frames_after():
    frames = intake()
    stepped, _ = _camera_during_catch_up(frames, gap=40, count=8, per_step=3, stop_after=10)
    assert len(stepped) == 10
    frames.receive(Frame(1000), 0)
    assert frames.close_catch_up(8, after_ns=0) == []  # nothing left open, nothing held


def test_a_fast_step_chases_every_frame_that_arrived():
    # a step of a third of a frame interval: one frame every third step; none is left behind
    frames = intake()
    frames.open_catch_up(after_ns=0)
    for stamp in range(1, 13):
        frames.receive(Frame(stamp), 0)
    stepped = []

    def step(item):
        stepped.append(item[0].stamp)
        if len(stepped) % 3 == 0:
            frames.receive(Frame(13 + len(stepped) // 3 - 1), 0)
        return True

    frames.chase(frames.close_catch_up(8, after_ns=0), step)
    assert stepped[:8] == [2, 3, 5, 6, 8, 9, 11, 12] and stepped[8:] == list(range(13, 13 + len(stepped[8:])))
    assert len(stepped) > 8
