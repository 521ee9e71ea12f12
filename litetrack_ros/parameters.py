"""tracker_node's parameters: names, defaults, descriptions, ranges (config/tracker.yaml mirrors them)."""

from __future__ import annotations

from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor
from rclpy.qos import ReliabilityPolicy

from litetrack_core.engines.engine import ENGINES
from litetrack_ros.intake import CATCH_UP_STRIDE

__all__ = ["DEVICES", "ENGINES", "LIVE", "PARAMETERS", "RELIABILITY", "TRACKER_CONFIG", "allowed"]

DEVICES = ("auto", "cpu", "cuda")
RELIABILITY = {"best_effort": ReliabilityPolicy.BEST_EFFORT, "reliable": ReliabilityPolicy.RELIABLE}
# Live-tunable parameters: each is the TrackerConfig field of the same name.
LIVE = ("lost_score", "lost_after", "regrounding", "reground_every", "reground_score", "scale_lr", "scale_step",
        "aspect_anchor", "words_in_step")
# Every parameter that is a TrackerConfig field of the same name (the others are read-only: the
# tracker sets up its keep-ratio controller when it is made).
TRACKER_CONFIG = (*LIVE, "keep_ratio", "latency_budget_ms", "memory_size", "memory_interval", "memory_score",
                  "memory_agreement", "memory_read", "memory_check")


def _float_range(lo: float, hi: float) -> list[FloatingPointRange]:
    return [FloatingPointRange(from_value=lo, to_value=hi, step=0.0)]


def _int_range(lo: int, hi: int) -> list[IntegerRange]:
    return [IntegerRange(from_value=lo, to_value=hi, step=1)]


# name -> (default, description, extra descriptor fields). Read-only ones need a restart.
PARAMETERS: dict[str, tuple[object, str, dict]] = {
    "use_compressed": (False, "subscribe to 'image/compressed' (CompressedImage) instead of 'image' (Image)", {"read_only": True}),
    "reliability": ("best_effort", "image QoS reliability: best_effort (sensor data) or reliable", {"read_only": True}),
    "config": ("", "model config name; empty: the checkpoint's, or the default CPU model", {"read_only": True}),
    "checkpoint": ("", "model checkpoint (.safetensors / UVLTrack .pth.tar); empty: the packaged default model", {"read_only": True}),
    "device": ("auto", "auto (CUDA when available), cuda or cpu", {"read_only": True}),
    "precision": ("fp32", "fp32, or fp16 / bf16 (torch autocast; OpenVINO bf16, TensorRT fp16), or int8 "
                          "(onnxruntime, quantised graphs in onnx_dir)", {"read_only": True}),
    "engine": ("auto", "per-frame model call: auto (the fastest installed here, measured at activation), torch, "
                       "onnxruntime, openvino or tensorrt", {"read_only": True}),
    "threads": (0, "CPU threads of torch and the engine (0: every core)", {"read_only": True, "integer_range": _int_range(0, 1024)}),
    "onnx_dir": ("", "graphs written by `litetrack export onnx` for the ONNX engines; empty: exported at activation",
                 {"read_only": True}),
    "lost_score": (0.2, "a frame whose score is below this is weak", {"floating_point_range": _float_range(0.0, 1.0)}),
    "lost_after": (10, "weak frames in a row before the state is LOST (0: never)", {"integer_range": _int_range(0, 1000)}),
    "regrounding": (True, "look for a target named in words on the whole frame while LOST", {}),
    "reground_every": (5, "frames between grounding attempts while LOST", {"integer_range": _int_range(1, 1000)}),
    "reground_score": (0.4, "grounding score needed to resume tracking", {"floating_point_range": _float_range(0.0, 1.0)}),
    "scale_lr": (0.3, "how far the box's size moves toward the model's each frame (1.0: all the way, no damping)",
                 {"floating_point_range": _float_range(0.0, 1.0), "additional_constraints": "in (0, 1]"}),
    "scale_step": (0.02, "the most the box's width and height may change from one tracked frame to the next, as a "
                         "fraction (0: no bound)", {"floating_point_range": _float_range(0.0, 1.0)}),
    "aspect_anchor": (0.5, "how strongly the box's aspect ratio is held to the first frame's (0: the model's, 1: the first "
                           "frame's)", {"floating_point_range": _float_range(0.0, 1.0)}),
    "words_in_step": (False, "words + box: the words also condition every frame's model call (UVLTrack's), or only "
                             "find the target again while LOST (false); from the next target on", {}),
    "keep_ratio": (
        1.0,
        "search tokens kept at each of the model's pruning blocks (1.0: no pruning); with latency_budget_ms, the starting ratio",
        {"read_only": True, "floating_point_range": _float_range(0.0, 1.0), "additional_constraints": "in (0, 1]"},
    ),
    "latency_budget_ms": (
        0.0,
        "per-frame tracker step budget: the keep ratio is chosen at run time so that the step's p90 stays within it "
        "(0: off, keep_ratio is fixed); needs a model with pruning blocks",
        {"read_only": True, "floating_point_range": _float_range(0.0, 60000.0), "additional_constraints": "in [0, 60000] (0: off)"},
    ),
    "memory_size": (0, "past frames the target memory holds besides the first template (0: off; asymmetric models)",
                    {"read_only": True, "integer_range": _int_range(0, 64)}),
    "memory_interval": (10, "frames between target memory writes", {"read_only": True, "integer_range": _int_range(1, 10000)}),
    "memory_score": (0.5, "score a frame needs to be written to the target memory",
                     {"read_only": True, "floating_point_range": _float_range(0.0, 1.0)}),
    "memory_agreement": (0.8, "share of the first frame's agreement with the target (template, words) a frame needs "
                              "to be written to the memory", {"read_only": True, "floating_point_range": _float_range(0.0, 1.0)}),
    "memory_read": ("weak", "when the model reads the target memory: weak (on a frame after one scoring under memory_score) "
                            "or always (every frame)", {"read_only": True, "additional_constraints": "weak or always"}),
    "memory_check": (0.5, "IoU with the last box under which a box found reading the memory is checked against the "
                          "first template alone, whose answer stands where they disagree (0: never)",
                     {"read_only": True, "floating_point_range": _float_range(0.0, 1.0)}),
    "catch_up_frames": (8, "after a target is set, the tracker steps through this many of the frames that arrived "
                           f"meanwhile (evenly spaced; more after a long set, so that they stay at most {CATCH_UP_STRIDE} frames apart), "
                           "then through half as many of those that arrived during that, and so on, before the newest; "
                           "0: straight to the newest",
                        {"integer_range": _int_range(0, 16)}),
    "max_rate_hz": (0.0, "process at most this many frames per second (0: as fast as possible)", {"floating_point_range": _float_range(0.0, 1000.0)}),
    "latency_warn_ms": (100.0, "diagnostics WARN when latency p95 (image stamp -> detection) exceeds this (0: off)", {"floating_point_range": _float_range(0.0, 60000.0)}),
    "max_image_pixels": (40_000_000, "images with more pixels are dropped, from the header before decoding (0: no bound)",
                         {"integer_range": _int_range(0, 2_000_000_000)}),
    "publish_debug_image": (True, "draw and publish debug_image while someone subscribes", {}),
    "target_text": ("", "start tracking this target (words) on the first frame", {"read_only": True}),
    "target_box": ([0.0], "start tracking this box [x, y, w, h] (pixels) on the first frame; [0.0]: none", {"read_only": True}),
    "request_timeout_s": (10.0, "how long track_target waits for the frame it refers to", {"floating_point_range": _float_range(0.1, 600.0)}),
    "autostart": (True, "configure and activate on start (set false under a lifecycle manager)", {"read_only": True}),
}


def allowed(descriptor: ParameterDescriptor) -> str:
    """A descriptor's range in words ("in [0.0, 1.0]"), or "" when it has none."""
    ranges = [*descriptor.floating_point_range, *descriptor.integer_range]
    return f"in [{ranges[0].from_value}, {ranges[0].to_value}]" if ranges else ""
