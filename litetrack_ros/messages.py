"""TrackResult <-> ROS messages: Detection2D, TrackStatus, rviz markers (the request side: target_requests.py).

Boxes: the tracker speaks (x, y, w, h) in pixels, top-left corner; vision_msgs/BoundingBox2D
speaks centre + size in pixels. ``class_id`` of the hypothesis is the target's words, or
"target" for a box-only target.
"""

from __future__ import annotations

import math

from geometry_msgs.msg import Point
from std_msgs.msg import ColorRGBA, Header
from vision_msgs.msg import Detection2D, ObjectHypothesisWithPose
from visualization_msgs.msg import Marker

from litetrack_core.tracking.types import TrackResult, TrackState
from litetrack_ros.msg import TrackStatus

__all__ = ["STATE_CODES", "detection", "marker", "stamp_ns", "status"]

# TrackState -> TrackStatus.state: the message has a constant of each state's name.
STATE_CODES = {state: getattr(TrackStatus, state.value) for state in TrackState}


def stamp_ns(stamp) -> int:
    """A builtin_interfaces/Time as integer nanoseconds (the key frames and answers are matched by)."""
    return stamp.sec * 1_000_000_000 + stamp.nanosec


def detection(result: TrackResult, header: Header, label: str | None) -> Detection2D:
    """One Detection2D for a frame: the image's header, box centre/size in pixels, one hypothesis."""
    x, y, w, h = result.box_xywh_px
    msg = Detection2D(header=header, id="target")
    msg.bbox.center.position.x = x + w / 2
    msg.bbox.center.position.y = y + h / 2
    msg.bbox.size_x, msg.bbox.size_y = w, h
    hypothesis = ObjectHypothesisWithPose()
    hypothesis.hypothesis.class_id = label or "target"
    hypothesis.hypothesis.score = 0.0 if math.isnan(result.score) else float(result.score)
    msg.results.append(hypothesis)
    return msg


def status(header: Header, result: TrackResult, text: str | None, processed: int, dropped: int) -> TrackStatus:
    """The TrackStatus of one frame's result: its state, score, step time, keep ratio and grounding
    (the path that grounded words on this frame: "proposals", "model", "memory" or ""), the target memory's
    fill and last write, with the node's counters."""
    return TrackStatus(
        header=header,
        state=STATE_CODES[result.state],
        score=0.0 if math.isnan(result.score) else float(result.score),
        target_text=text or "",
        frames_processed=processed,
        frames_dropped=dropped,
        keep_ratio=float(result.keep_ratio),
        step_ms=float(result.timing.total_ms),
        grounding=result.grounding,
        grounding_score=0.0 if math.isnan(result.grounding_score) else float(result.grounding_score),
        memory_entries=result.memory_entries,
        memory_last_write=result.memory_last_write,
        memory_read=result.memory_read,
        memory_overruled=result.memory_overruled,
    )


def marker(result: TrackResult, header: Header, namespace: str = "litetrack") -> Marker:
    """The box as a closed LINE_STRIP in image pixel coordinates (z = 0) for rviz; green or red."""
    x, y, w, h = result.box_xywh_px
    msg = Marker(header=header, ns=namespace, id=0, type=Marker.LINE_STRIP, action=Marker.ADD)
    msg.scale.x = 2.0
    msg.pose.orientation.w = 1.0
    lost = result.state is TrackState.LOST
    msg.color = ColorRGBA(r=1.0 if lost else 0.0, g=0.0 if lost else 0.9, b=0.0, a=1.0)
    corners = [(x, y), (x + w, y), (x + w, y + h), (x, y + h), (x, y)]
    msg.points = [Point(x=float(px), y=float(py), z=0.0) for px, py in corners]
    return msg
