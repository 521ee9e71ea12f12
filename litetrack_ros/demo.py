"""``litetrack-ros-demo``: the product end to end on this machine, no robot needed.

Starts ``tracker_node`` in its own process with the launch file's parameters, replays a real
sequence as a camera topic (stamped at publication; the packaged clip played forth and back at 30
Hz by default), sets the target by words on the first frame and by box half-way, and writes what a user would look at: an annotated video, the
received detections (CSV) and a one-screen summary (frames, FPS, latency, drops, states).

DDS stays on this machine: ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST and a domain id of its own.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from litetrack_core.clips import PEDESTRIAN

__all__ = ["main"]

CAMERA_TOPIC = "/camera/image_raw"
FASTDDS_PROFILE = Path(__file__).resolve().parents[1] / "config" / "fastdds_large_images.xml"


@dataclass
class Received:
    """What came back, keyed by the image stamp (ns)."""

    detections: dict[int, tuple[float, float, float, float, float, float]] = field(default_factory=dict)
    status: dict[int, tuple[int, float]] = field(default_factory=dict)  # state, step_ms
    diagnostics: dict[str, str] = field(default_factory=dict)  # the node's last diagnostics values
    lock: threading.Lock = field(default_factory=threading.Lock)
    node_cpu: float = float("nan")  # the node's CPU time over the replay's wall time (1.0 = one core)


def _isolate_dds() -> None:
    """Keep DDS on loopback and away from other runs, and let 640x480 frames through shared
    memory (config/fastdds_large_images.xml says why). Set before rclpy starts; the node inherits it."""
    os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    os.environ.setdefault("FASTDDS_DEFAULT_PROFILES_FILE", str(FASTDDS_PROFILE))
    os.environ.setdefault("ROS_DOMAIN_ID", str(random.randint(1, 101)))
    os.environ.setdefault("ROS_LOG_DIR", tempfile.mkdtemp(prefix="litetrack_ros_log_"))


def _load(sequence: Path, size: tuple[int, int], count: int) -> tuple[list[np.ndarray], np.ndarray, str]:
    """``count`` frames (RGB, resized to ``size``) and their ground truth scaled the same way, the
    sequence played forth and back as often as needed (a camera that never jumps), and the sentence."""
    files = sorted((sequence / "img").glob("*.jpg"))
    if not files:
        raise SystemExit(f"error: no frames in {sequence / 'img'}")
    frames, scale = [], None
    for f in files:
        rgb = cv2.cvtColor(cv2.imread(str(f)), cv2.COLOR_BGR2RGB)
        scale = np.array([size[0] / rgb.shape[1], size[1] / rgb.shape[0]] * 2)
        frames.append(cv2.resize(rgb, size, interpolation=cv2.INTER_LINEAR))
    gt = np.loadtxt(sequence / "groundtruth.txt", delimiter=",")[: len(frames)] * scale
    sentence = (sequence / "language.txt").read_text().strip().splitlines()[0]
    order = _forth_and_back(len(frames), count)
    return [frames[i] for i in order], gt[order], sentence


def _forth_and_back(n: int, count: int) -> list[int]:
    """0, 1, ..., n-1, n-2, ..., 0, 1, ... cut to ``count`` indices."""
    cycle = list(range(n)) + list(range(n - 2, 0, -1)) if n > 1 else [0]
    return [cycle[i % len(cycle)] for i in range(count)]


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="litetrack-ros-demo", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sequence", type=Path, default=PEDESTRIAN,
                   help="folder with img/, groundtruth.txt, language.txt (default: the packaged clip)")
    p.add_argument("--size", default="640x480", help="camera resolution WxH")
    p.add_argument("--rate", type=float, default=30.0, help="camera rate, Hz (default 30, a robot camera's)")
    p.add_argument("--frames", type=int, default=300,
                   help="frames to publish; the sequence is played forth and back to make them (default 300: 10 s at 30 Hz)")
    p.add_argument("--checkpoint", default="", help="model checkpoint (default: the packaged model)")
    p.add_argument("--engine", default="auto", help="the node's engine (default auto: the fastest installed, timed at activation)")
    # bf16 where OpenVINO computes it (CPUs with AVX512-BF16 or AMX; elsewhere it falls back to fp32):
    # no loss of accuracy on the dev seven, and the step fits a 30 Hz camera on two cores (docs/engines.md).
    p.add_argument("--precision", default="bf16", help="the node's precision (default bf16; fp32, int8: docs/engines.md)")
    p.add_argument("--threads", type=int, default=0, help="the node's CPU threads for torch and the engine (0: every core)")
    p.add_argument("--out", type=Path, default=Path("results/demo"))
    return p.parse_args(argv)


def _start_node(args: argparse.Namespace, log: Path) -> subprocess.Popen:
    """tracker_node in its own process, started as the launch file starts it, its output in ``log``."""
    from litetrack_ros.launch_args import DEFAULT_PARAMS_FILE, LAUNCH_ARGUMENTS, ros_args

    values = {name: default for name, (default, _) in LAUNCH_ARGUMENTS.items()}
    values.update(image_topic=CAMERA_TOPIC, checkpoint=args.checkpoint, device="auto", engine=args.engine,
                  threads=str(args.threads), precision=args.precision)
    return subprocess.Popen([sys.executable, "-m", "litetrack_ros.tracker_node", *ros_args(values, DEFAULT_PARAMS_FILE)],
                            stdout=log.open("w"), stderr=subprocess.STDOUT)


def _listen(me, got: Received) -> None:
    """Record the node's detections, statuses and diagnostics into ``got``."""
    from diagnostic_msgs.msg import DiagnosticArray
    from vision_msgs.msg import Detection2D

    from litetrack_ros.messages import stamp_ns
    from litetrack_ros.msg import TrackStatus

    def on_detection(msg: Detection2D) -> None:
        b = msg.bbox
        score = msg.results[0].hypothesis.score if msg.results else 0.0
        with got.lock:
            got.detections[stamp_ns(msg.header.stamp)] = (b.center.position.x - b.size_x / 2, b.center.position.y - b.size_y / 2,
                                              b.size_x, b.size_y, score, time.time_ns())

    def on_diagnostics(msg: DiagnosticArray) -> None:
        with got.lock:
            got.diagnostics = {kv.key: kv.value for kv in msg.status[0].values} if msg.status else {}

    def on_status(msg: TrackStatus) -> None:
        with got.lock:
            got.status[stamp_ns(msg.header.stamp)] = (msg.state, msg.step_ms)

    me.create_subscription(Detection2D, "/detection", on_detection, 100)
    me.create_subscription(TrackStatus, "/status", on_status, 100)
    me.create_subscription(DiagnosticArray, "/diagnostics", on_diagnostics, 10)


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` so far, all its threads (Linux /proc)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _replay(me, pub, client, frames: list[np.ndarray], gt: np.ndarray, sentence: str, rate: float) -> tuple[list[int], list]:
    """Publish the frames at ``rate`` Hz, stamped at publication; set the target by words on the
    first frame and by box half-way. The stamps, and (how, future) of each target request."""
    from std_msgs.msg import Header

    from litetrack_ros.image_conversion import rgb_to_image
    from litetrack_ros.srv import SetTarget

    stamps, answers = [], []
    start = time.monotonic()
    for i, frame in enumerate(frames):
        now = me.get_clock().now()
        if i == 0:
            answers.append(("words", client.call_async(SetTarget.Request(text=sentence))))
        if i == len(frames) // 2:
            # Stamp 0 = the next frame the node receives: on a loaded 2-core machine DDS may
            # drop this very frame, and a stamped request for it would then be refused.
            req = SetTarget.Request()
            x, y, w, h = gt[i]
            req.box.center.position.x, req.box.center.position.y = x + w / 2, y + h / 2
            req.box.size_x, req.box.size_y = w, h
            answers.append(("box", client.call_async(req)))
        pub.publish(rgb_to_image(frame, Header(stamp=now.to_msg(), frame_id="camera")))
        stamps.append(now.nanoseconds)
        time.sleep(max(0.0, start + (i + 1) / rate - time.monotonic()))
    return stamps, answers


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    size = tuple(int(v) for v in args.size.lower().split("x"))
    frames, gt, sentence = _load(args.sequence, size, args.frames)
    _isolate_dds()

    import rclpy
    from lifecycle_msgs.srv import GetState
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import Image

    from litetrack_ros.messages import stamp_ns
    from litetrack_ros.srv import SetTarget

    node_log = args.out / "node.log"
    args.out.mkdir(parents=True, exist_ok=True)
    node_proc = _start_node(args, node_log)
    rclpy.init()
    me = rclpy.create_node("litetrack_demo_camera")
    got = Received()
    pub = me.create_publisher(Image, CAMERA_TOPIC, qos_profile_sensor_data)
    _listen(me, got)
    client = me.create_client(SetTarget, "/track_target")
    lifecycle = me.create_client(GetState, "/litetrack_tracker/get_state")
    threading.Thread(target=rclpy.spin, args=(me,), daemon=True).start()
    try:
        print(f"waiting for tracker_node (log: {node_log}) ...")
        if not _wait_active(lifecycle, timeout=180.0):
            print(f"error: tracker_node did not become active; see {node_log}", file=sys.stderr)
            return 1
        while pub.get_subscription_count() == 0:  # discovery, so that frame 0 is not lost
            time.sleep(0.05)
        cpu_start = _cpu_seconds(node_proc.pid), time.monotonic()
        stamps, answers = _replay(me, pub, client, frames, gt, sentence, args.rate)
        got.node_cpu = (_cpu_seconds(node_proc.pid) - cpu_start[0]) / (time.monotonic() - cpu_start[1])
        time.sleep(1.0)
        set_on = []  # stamps of the frames the targets were set on
        for name, future in answers:
            result = future.result() if future.done() else None
            print(f"target by {name}: {result.message if result else 'no answer'}")
            if result and result.success:
                set_on.append(stamp_ns(result.detection.header.stamp))
    finally:
        node_proc.send_signal(signal.SIGINT)
        try:
            node_proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            node_proc.kill()
        me.destroy_node()
        rclpy.try_shutdown()
    return _report(args.out, frames, gt, sentence, stamps, got, node_proc.returncode, set_on)


class _Missing(dict):
    def __missing__(self, key: str) -> str:
        return "?"


def _wait_active(client, timeout: float) -> bool:
    """Poll the node's lifecycle state until it is 'active' (the model is loaded)."""
    from lifecycle_msgs.srv import GetState

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if client.wait_for_service(timeout_sec=1.0):
            future = client.call_async(GetState.Request())
            while not future.done() and time.monotonic() < deadline:
                time.sleep(0.05)
            if future.done() and future.result().current_state.label == "active":
                return True
        time.sleep(0.2)
    return False


def _report(out: Path, frames: list[np.ndarray], gt: np.ndarray, sentence: str, stamps: list[int], got: Received,
            node_rc: int | None, set_on: list[int]) -> int:
    from litetrack_core.eval.metrics import iou
    from litetrack_core.tracking.types import TrackResult
    from litetrack_core.tracking.video import VideoSink, draw_result
    from litetrack_ros.messages import STATE_CODES

    lines, latency, overhead, states = ["stamp_ns,x,y,w,h,score,state,step_ms,latency_ms"], [], [], {}
    # Frames published while a target was being set, detected afterwards: the node's catch-up
    # (catch_up_frames), late by design; their latency is reported apart from the live frames'.
    caught_up = {s for t in set_on if t in got.detections for s in stamps if t < s < got.detections[t][5]}
    late = []
    overlap = {"words": [], "box": []}  # IoU with the named person's true box, by how the target was set
    with VideoSink(out / "demo.mp4", 30.0) as sink:
        for i, (stamp, frame) in enumerate(zip(stamps, frames)):
            det = got.detections.get(stamp)
            state, step_ms = got.status.get(stamp, (0, float("nan")))
            if det is None:
                sink.write(frame)
                continue
            track_state = next(s for s, code in STATE_CODES.items() if code == state)
            name = track_state.value
            states[name] = states.get(name, 0) + 1
            overlap["words" if i < len(frames) // 2 else "box"].append(float(iou(np.array([det[:4]]), gt[i : i + 1])[0]))
            e2e = (det[5] - stamp) / 1e6
            (late if stamp in caught_up else latency).append(e2e)
            if np.isfinite(step_ms) and stamp not in caught_up:
                overhead.append(e2e - step_ms)
            result = TrackResult(0, det[:4], det[4], track_state)
            sink.write(draw_result(frame, result))
            lines.append(f"{stamp},{det[0]:.2f},{det[1]:.2f},{det[2]:.2f},{det[3]:.2f},{det[4]:.4f},{name},{step_ms:.2f},{e2e:.2f}")
    (out / "detections.csv").write_text("\n".join(lines) + "\n")
    n, k = len(stamps), len(latency) + len(late)
    pct = lambda v, q: float(np.percentile(v, q)) if v else float("nan")  # noqa: E731
    duration = (stamps[-1] - stamps[0]) / 1e9 if n > 1 else float("nan")
    summary = [
        f"camera frames published   {n} at {frames[0].shape[1]}x{frames[0].shape[0]}, {n / max(duration, 1e-9):.1f} per second",
        "tracker                   engine {engine}, {threads} threads, {precision} on {device}".format_map(_Missing(got.diagnostics))
        + f"; node CPU during the replay {got.node_cpu:.0%} of one core ({os.cpu_count()} cores)",
        f"detections received       {k} ({k / max(duration, 1e-9):.1f} per second); frames not processed {n - k}",
        f"latency image->detection  p50 {pct(latency, 50):.1f} ms, p95 {pct(latency, 95):.1f} ms (live frames); "
        f"{len(late)} frames caught up after a target was set, p50 {pct(late, 50):.1f} ms",
        f"overhead beyond tracker   p50 {pct(overhead, 50):.2f} ms, p95 {pct(overhead, 95):.2f} ms (latency minus step_ms)",
        "  of which (node, p50)    transport {transport_p50_ms} ms, queueing {queue_p50_ms} ms, tracker step {step_p50_ms} ms, "
        "conversion + publishing {node_p50_ms} ms".format_map(_Missing(got.diagnostics)),
        f"frames at the node        received {got.diagnostics.get('frames_received', '?')}, "
        f"dropped while busy {got.diagnostics.get('frames_dropped', '?')} (latest frame wins)",
        f"on the named person       {sentence!r}: " + "; ".join(
            f"set by {how}: {np.mean(np.array(v) > 0.5):.0%} of {len(v)} detections overlap its true box by > 0.5 (mean IoU {np.mean(v) if v else float('nan'):.2f})"
            for how, v in overlap.items()),
        f"states                    {', '.join(f'{s} {c}' for s, c in sorted(states.items())) or 'none'}",
        f"node exit code            {node_rc}",
        f"written                   {out / 'demo.mp4'}, {out / 'detections.csv'}, {out / 'node.log'}",
    ]
    (out / "summary.txt").write_text("\n".join(summary) + "\n")
    print("\n".join(summary))
    return 0 if k > 0 and node_rc == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
