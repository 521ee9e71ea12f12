"""What the launch file passes to the node, in one place, so tests start the node exactly so.

Values may be plain strings (tests, scripts) or launch substitutions (the launch file).
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["DEFAULT_PARAMS_FILE", "LAUNCH_ARGUMENTS", "node_overrides", "node_remappings", "ros_args"]

DEFAULT_PARAMS_FILE = Path(__file__).resolve().parents[1] / "config" / "tracker.yaml"

# launch argument -> (default, description)
LAUNCH_ARGUMENTS = {
    "image_topic": ("/camera/image_raw", "camera image topic, remapped onto the node's 'image' (and its '/compressed' onto 'image/compressed')"),
    "use_compressed": ("false", "subscribe to sensor_msgs/CompressedImage"),
    "checkpoint": ("", "model checkpoint; empty: the packaged default"),
    "device": ("auto", "auto, cuda or cpu"),
    "engine": ("auto", "per-frame model call: auto (fastest installed, timed at activation), torch, onnxruntime, openvino, tensorrt"),
    "precision": ("fp32", "fp32, fp16 / bf16 (torch autocast; OpenVINO bf16), or int8 (onnxruntime, quantised graphs)"),
    "threads": ("0", "CPU threads of torch and the engine; 0: every core"),
    "keep_ratio": ("1.0", "search tokens kept at each pruning block, in (0, 1]; 1.0: no pruning (a float: 1.0, not 1)"),
    "latency_budget_ms": ("0.0", "tracker step budget (p90, ms) that chooses the keep ratio at run time; 0.0: off"),
    "memory_size": ("0", "target memory: past frames kept besides the first template (0: off; asymmetric models)"),
    "params_file": ("", "parameters file (the launch file defaults it to the package's config/tracker.yaml)"),
    "namespace": ("", "namespace of the node"),
    "target_text": ("", "start tracking this target (words) right away"),
}


def node_overrides(values: dict) -> dict:
    """Parameters that the launch arguments override on top of the parameters file."""
    return {
        "use_compressed": values["use_compressed"],
        "checkpoint": values["checkpoint"],
        "device": values["device"],
        "engine": values["engine"],
        "threads": values["threads"],
        "precision": values["precision"],
        "keep_ratio": values["keep_ratio"],
        "latency_budget_ms": values["latency_budget_ms"],
        "memory_size": values["memory_size"],
        "target_text": values["target_text"],
    }


def node_remappings(values: dict) -> list[tuple[str, object]]:
    """The node subscribes to the relative names ``image`` and ``image/compressed``; the launch
    argument ``image_topic`` names the camera's topic they are remapped onto."""
    topic = values["image_topic"]
    compressed = f"{topic}/compressed" if isinstance(topic, str) else [topic, "/compressed"]
    return [("image", topic), ("image/compressed", compressed)]


def ros_args(values: dict[str, str], params_file: str | Path) -> list[str]:
    """The same as a command line: ``--ros-args --params-file F -p name:=value ... -r from:=to ... -r __ns:=NS``."""
    args = ["--ros-args", "--params-file", str(params_file)]
    for name, value in node_overrides(values).items():
        args += ["-p", f"{name}:={value if value != '' else chr(39) * 2}"]
    for name, target in node_remappings(values):
        args += ["-r", f"{name}:={target}"]
    if values.get("namespace"):
        args += ["-r", f"__ns:={values['namespace']}"]
    return args
