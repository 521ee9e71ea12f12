"""Target requests checked and queued without ROS (litetrack_ros/target_requests.py)."""

from __future__ import annotations

import threading

import pytest

from litetrack_ros.target_requests import MAX_BOX_PX, MAX_TEXT, TargetRequest, TargetRequests, parse_request

NAN, INF = float("nan"), float("inf")


def test_a_box_becomes_its_top_left_corner_and_size():
    assert parse_request("", 60.0, 40.0, 20.0, 10.0, 0.0) == (None, (50.0, 35.0, 20.0, 10.0))
    assert parse_request("  the red car ", 0.0, 0.0, 0.0, 0.0, 0.0) == ("the red car", None)
    assert parse_request("the red car", 60.0, 40.0, 20.0, 10.0, 0.0) == ("the red car", (50.0, 35.0, 20.0, 10.0))


@pytest.mark.parametrize("text, box, message", [
    ("", (0.0, 0.0, 0.0, 0.0, 0.0), "give text, a box"),
    ("   ", (0.0, 0.0, 0.0, 0.0, 0.0), "give text, a box"),
    ("", (10.0, 10.0, NAN, 20.0, 0.0), "box.size_x is nan"),
    ("", (NAN, 10.0, 20.0, 20.0, 0.0), "box.center.position.x is nan"),
    ("", (10.0, 10.0, 20.0, INF, 0.0), "box.size_y is inf"),
    ("the car", (10.0, 10.0, 20.0, 20.0, NAN), "box.center.theta is nan"),
    ("", (10.0, 10.0, 20.0, 20.0, 0.3), "theta is 0.3"),
    ("", (10.0, 10.0, -4.0, 20.0, 0.0), "positive"),
    ("", (1e308, 1e308, 1e308, 1e308, 0.0), "cannot be in an image"),
    ("", (10.0, 10.0, 1e12, 20.0, 0.0), "cannot be in an image"),
    ("", (-2 * MAX_BOX_PX, 10.0, 20.0, 20.0, 0.0), "cannot be in an image"),
    ("the red\ncar", (0.0, 0.0, 0.0, 0.0, 0.0), "control characters"),
    ("a\x00b", (0.0, 0.0, 0.0, 0.0, 0.0), "control characters"),
    ("red " * (MAX_TEXT // 4 + 1), (0.0, 0.0, 0.0, 0.0, 0.0), f"at most {MAX_TEXT}"),
])
def test_requests_that_cannot_name_a_target_are_refused_with_the_reason(text, box, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        parse_request(text, *box)


def test_the_longest_text_allowed_is_accepted():
    text, box = parse_request("red " * (MAX_TEXT // 4), 0.0, 0.0, 0.0, 0.0, 0.0)
    assert box is None and text.startswith("red red")


def test_the_queue_holds_at_most_its_depth():
    queue = TargetRequests(depth=2)
    first, second, third = (TargetRequest("a", None, 0) for _ in range(3))
    assert queue.submit(first) and queue.submit(second)
    assert not queue.submit(third) and len(queue) == 2
    queue.withdraw(first)
    assert queue.submit(third) and len(queue) == 2


def test_requests_are_served_oldest_first_on_the_frame_they_name():
    queue = TargetRequests(depth=4)
    next_frame = TargetRequest("next", None, 0)
    named = TargetRequest("named", None, 200)
    queue.submit(named)
    queue.submit(next_frame)
    # At frame 100, the request for frame 200 cannot be served yet; the one for "the next frame" can.
    assert queue.take(100, {100: "frame 100"}) == (next_frame, "frame 100")
    assert queue.take(100, {100: "frame 100"}) is None and len(queue) == 1
    assert queue.take(200, {100: "frame 100", 200: "frame 200"}) == (named, "frame 200")
    assert len(queue) == 0


def test_a_request_for_a_frame_that_is_gone_is_answered():
    queue = TargetRequests(depth=4)
    stale = TargetRequest(None, (1.0, 2.0, 3.0, 4.0), 50)
    queue.submit(stale)
    assert queue.take(100, {100: "frame 100"}) is None
    assert stale.done.is_set() and not stale.success and "no frame with stamp 50" in stale.message
    assert len(queue) == 0


def test_stopping_answers_every_waiting_request():
    queue = TargetRequests(depth=4)
    waiting = [TargetRequest("a", None, 0) for _ in range(3)]
    for r in waiting:
        queue.submit(r)
    answered = []
    threads = [threading.Thread(target=lambda r=r: answered.append(r.done.wait(5.0))) for r in waiting]
    for t in threads:
        t.start()
    queue.refuse_all("tracking stopped")
    for t in threads:
        t.join()
    assert answered == [True] * 3 and all(r.message == "tracking stopped" and not r.success for r in waiting)
    assert len(queue) == 0
