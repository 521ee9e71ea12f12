"""tracker_node in its own process on a real ROS 2 graph (loopback only), fed real frames.

The node is started exactly as the launch file starts it (config/tracker.yaml plus the
overrides of litetrack_ros.launch_args), with a tiny random-weight checkpoint so that it is fast;
boxes are compared with the library's Tracker on the same frames and checkpoint.
"""

from __future__ import annotations

import contextlib
import math
import signal
import subprocess
import sys
import time

import cv2
import numpy as np
import pytest
import torch
import yaml

from conftest import tiny_config
from litetrack_core.models import create_model
from litetrack_core.tracking.load import load_tracker
from litetrack_core.weights.checkpoint import save_checkpoint
from litetrack_ros.dds_shm import orphaned_segments
from litetrack_ros.launch_args import DEFAULT_PARAMS_FILE, LAUNCH_ARGUMENTS, ros_args
from litetrack_ros.messages import stamp_ns

pytestmark = pytest.mark.slow
FRAMES = 8
# Frames tracked under a latency budget: more than the keep-ratio controller's window (20 frames
# at a ratio before it is judged, litetrack_core/tracking/budget.py), so that it decides once.
BUDGET_FRAMES = 24


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    torch.manual_seed(0)
    return save_checkpoint(create_model(tiny_config(csa=True)), tmp_path_factory.mktemp("ckpt") / "tiny.safetensors")


@pytest.fixture(scope="module")
def pruning_checkpoint(tmp_path_factory):
    """The same tiny model with search-token pruning after block 1 (keep_ratio, latency_budget_ms)."""
    torch.manual_seed(0)
    model = create_model(tiny_config(csa=True, prune_blocks=(1,)))
    return save_checkpoint(model, tmp_path_factory.mktemp("ckpt") / "tiny_pruning.safetensors")


@pytest.fixture(scope="module")
def sequence(clip):
    """The first 8 frames of the packaged clip (640x480), their boxes and its sentence."""
    files = sorted((clip / "img").glob("*.jpg"))[:FRAMES]
    frames = [cv2.cvtColor(cv2.imread(str(f)), cv2.COLOR_BGR2RGB) for f in files]
    gt = np.loadtxt(clip / "groundtruth.txt", delimiter=",")[:FRAMES]
    return frames, gt, (clip / "language.txt").read_text().strip()


def start_node(checkpoint, **overrides) -> subprocess.Popen:
    values = {name: default for name, (default, _) in LAUNCH_ARGUMENTS.items()}
    values.update(image_topic="/cam/image", checkpoint=str(checkpoint), device="cpu")
    values.update(overrides)
    cmd = [sys.executable, "-m", "litetrack_ros.tracker_node", *ros_args(values, values["params_file"] or DEFAULT_PARAMS_FILE)]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def stop_node(proc: subprocess.Popen, signum: int = signal.SIGINT) -> tuple[int, str]:
    if proc.poll() is None:
        proc.send_signal(signum)
    try:
        out, _ = proc.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
    return proc.returncode, out


class Graph:
    """The test's side of the graph: a camera publisher, the node's outputs, its services."""

    def __init__(self, node, spin_until) -> None:
        from diagnostic_msgs.msg import DiagnosticArray
        from rclpy.qos import QoSProfile
        from sensor_msgs.msg import CompressedImage, Image
        from std_srvs.srv import Trigger
        from vision_msgs.msg import Detection2D

        from litetrack_ros.msg import TrackStatus
        from litetrack_ros.srv import SetTarget

        self.node, self.spin_until = node, spin_until
        self.image = node.create_publisher(Image, "/cam/image", 10)
        self.compressed = node.create_publisher(CompressedImage, "/cam/image/compressed", 10)
        self.detections: dict[int, object] = {}
        self.statuses: dict[int, object] = {}
        self.diagnostics: list = []
        node.create_subscription(Detection2D, "/detection", lambda m: self.detections.__setitem__(stamp_ns(m.header.stamp), m), 50)
        node.create_subscription(TrackStatus, "/status", lambda m: self.statuses.__setitem__(stamp_ns(m.header.stamp), m), 50)
        node.create_subscription(DiagnosticArray, "/diagnostics", self.diagnostics.append, 10)
        # A response queue as deep as the node's request queue: a burst of answers (the test's 30 calls
        # at once, 22 refused within 30 ms) overflows the default depth of 10 when this process spins
        # late, and the overflowing answers are dropped (seen once on a loaded machine).
        self.set_target = node.create_client(SetTarget, "/track_target", qos_profile=QoSProfile(depth=100))
        self.stop = node.create_client(Trigger, "/stop_tracking")
        self.SetTarget = SetTarget

    def ready(self, timeout: float = 60.0) -> None:
        """Wait until the node serves track_target and has received a camera frame (discovery done
        both ways, so no later frame is lost)."""
        assert self.spin_until(lambda: self.set_target.service_is_ready(), timeout), "track_target never appeared"
        warmup = np.zeros((8, 8, 3), np.uint8)

        def received() -> bool:
            self.publish(warmup, 1)
            return any(int(_value(d, "frames_received") or 0) > 0 for d in self.diagnostics)

        assert self.spin_until(received, timeout), "the node never received a camera frame"

    def publish(self, frame: np.ndarray, stamp_ns: int, encoding: str = "rgb8") -> None:
        from std_msgs.msg import Header

        from litetrack_ros.image_conversion import rgb_to_image

        header = Header(frame_id="camera")
        header.stamp.sec, header.stamp.nanosec = divmod(stamp_ns, 10**9)
        self.image.publish(rgb_to_image(frame, header, encoding))

    def call(self, request, timeout: float = 30.0):
        future = self.set_target.call_async(request)
        assert self.spin_until(future.done, timeout), "track_target did not answer"
        return future.result()

    def request(self, text: str = "", box=None, stamp_ns: int = 0):
        req = self.SetTarget.Request(text=text)
        if box is not None:
            x, y, w, h = box
            req.box.center.position.x, req.box.center.position.y = x + w / 2, y + h / 2
            req.box.size_x, req.box.size_y = w, h
        req.stamp.sec, req.stamp.nanosec = divmod(stamp_ns, 10**9)
        return req

    def track(self, frames, first_stamp: int | None, timeout: float = 20.0) -> list:
        """Publish frames one at a time, each after the previous one's detection arrived.

        Stamps are ``first_stamp`` + 33 ms per frame, or the wall clock at publishing when
        ``first_stamp`` is None (as a live camera: needed wherever latency is measured, since
        synthetic 30 Hz stamps run ahead of the clock when the node is faster than 30 Hz)."""
        out = []
        for i, frame in enumerate(frames):
            stamp = time.time_ns() if first_stamp is None else first_stamp + i * 33_000_000
            self.publish(frame, stamp)
            assert self.spin_until(lambda: stamp in self.detections, timeout), f"no detection for frame {i}"
            out.append(self.detections[stamp])
        return out


def _xywh(det) -> tuple[float, float, float, float]:
    b = det.bbox
    return (b.center.position.x - b.size_x / 2, b.center.position.y - b.size_y / 2, b.size_x, b.size_y)


@pytest.fixture
def node_proc(checkpoint, request):
    proc = start_node(checkpoint)
    yield proc
    rc, out = stop_node(proc)
    if request.node.rep_call.failed if hasattr(request.node, "rep_call") else False:
        print(f"--- node output (exit {rc}) ---\n{out}")


@pytest.fixture
def graph(node_proc, ros_node, spin_until):
    g = Graph(ros_node("probe"), spin_until)
    g.ready()
    return g


@pytest.mark.parametrize("mode", ["bbox", "nl", "nlbbox"])
def test_detections_match_the_library(graph, node_proc, checkpoint, sequence, mode):
    frames, gt, sentence = sequence
    text = sentence if mode != "bbox" else ""
    box = tuple(gt[0]) if mode != "nl" else None
    base = time.time_ns()
    graph.publish(frames[0], base)
    answer = graph.call(graph.request(text, box, stamp_ns=base))
    assert answer.success, answer.message
    assert stamp_ns(answer.detection.header.stamp) == base
    got = graph.track(frames[1:], base + 33_000_000)

    library = load_tracker(str(checkpoint), device="cpu")
    first = library.set_target(frames[0], text=text or None, box=box)
    np.testing.assert_allclose(_xywh(answer.detection), first.box_xywh_px, atol=0.5)
    for det, frame in zip(got, frames[1:]):
        expected = library.track(frame)
        np.testing.assert_allclose(_xywh(det), expected.box_xywh_px, atol=0.5)
        assert det.results[0].hypothesis.class_id == (sentence if text else "target")
        assert det.results[0].hypothesis.score == pytest.approx(expected.score, abs=1e-3)
    stamps = sorted(graph.detections)
    assert stamps == [base + i * 33_000_000 for i in range(FRAMES)]  # one per frame, stamps of the images
    assert graph.spin_until(lambda: all(s in graph.statuses for s in stamps), 5.0)
    assert graph.statuses[stamps[-1]].frames_processed >= FRAMES - 1
    # Which path grounded the words (the detector's proposals, or the model), as the library says.
    assert graph.statuses[base].grounding == first.grounding
    assert (first.grounding != "") == (mode == "nl")
    assert graph.statuses[base].grounding_score == pytest.approx(0.0 if mode != "nl" else first.grounding_score, abs=1e-4)
    assert graph.spin_until(lambda: graph.diagnostics, 5.0)
    values = {kv.key: kv.value for kv in graph.diagnostics[-1].status[0].values}
    for key in ("processing_fps", "input_fps", "latency_p50_ms", "latency_p95_ms", "frames_dropped", "device", "precision",
                "keep_ratio", "latency_budget_ms", "state", "cpu_rss_mib", "grounding_with", "last_grounding"):
        assert key in values
    assert values["grounding_with"] == "proposals, else model"  # scripts/setup.sh installs the detector
    if mode == "nl":  # diagnostics come at 1 Hz: wait for one published after the grounding

        def last_grounding() -> str:
            return {kv.key: kv.value for kv in graph.diagnostics[-1].status[0].values}["last_grounding"]

        assert graph.spin_until(lambda: last_grounding().startswith(first.grounding), 5.0), last_grounding()
    else:
        assert values["last_grounding"] == "none"
    assert values["device"] == "cpu" and values["precision"] == "fp32"
    # config/tracker.yaml: engine auto, timed at activation among what setup installs; every core
    assert values["engine"] in ("torch", "onnxruntime", "openvino") and values["threads"] == "all"
    assert float(values["keep_ratio"]) == 1.0 and float(values["latency_budget_ms"]) == 0.0


def test_a_target_set_on_an_earlier_frame_is_followed_through_the_frames_since(checkpoint, sequence, ros_node, spin_until, tmp_path):
    """Frames 0-6 arrive before the target is set on frame 0: the node steps through catch_up_frames
    of frames 1-6 (all of them when it is 6 or more), frame 6 included, as the library would on
    them, then goes on with frame 7. Reliable images, paced as a 30 Hz camera: none may be lost."""
    from litetrack_ros.parameters import PARAMETERS

    params = yaml.safe_load(DEFAULT_PARAMS_FILE.read_text())
    params["/**"]["ros__parameters"]["reliability"] = "reliable"
    (params_file := tmp_path / "reliable.yaml").write_text(yaml.safe_dump(params))
    frames, gt, _ = sequence
    with running_node(checkpoint, ros_node, spin_until, "probe_catch_up", params_file=str(params_file)) as graph:
        stamps = [time.time_ns() + i * 33_000_000 for i in range(FRAMES)]
        for frame, stamp in zip(frames[:-1], stamps):
            graph.publish(frame, stamp)
            graph.spin_until(lambda: False, 0.033)
        graph.spin_until(lambda: False, 1.0)  # all of them at the node before the request
        answer = graph.call(graph.request(box=tuple(gt[0]), stamp_ns=stamps[0]))
        assert answer.success, answer.message
        assert graph.spin_until(lambda: stamps[-2] in graph.detections, 10.0), "the newest frame was not tracked"
        caught_up = [i for i in range(1, FRAMES - 1) if stamps[i] in graph.detections]
        (last,) = graph.track(frames[-1:], stamps[-1])
    assert len(caught_up) == min(PARAMETERS["catch_up_frames"][0], FRAMES - 2) and caught_up[-1] == FRAMES - 2, caught_up

    library = load_tracker(str(checkpoint), device="cpu")
    library.set_target(frames[0], box=tuple(gt[0]))
    for i in caught_up:
        np.testing.assert_allclose(_xywh(graph.detections[stamps[i]]), library.track(frames[i]).box_xywh_px, atol=0.5)
    np.testing.assert_allclose(_xywh(last), library.track(frames[-1]).box_xywh_px, atol=0.5)


def test_bad_input_never_stops_the_node(graph, node_proc, sequence):
    """A few hundred malformed images and requests, then the node still tracks."""
    from sensor_msgs.msg import CompressedImage, Image

    frames, gt, sentence = sequence
    base = time.time_ns()
    graph.publish(frames[0], base)
    assert graph.call(graph.request(box=tuple(gt[0]), stamp_ns=base)).success

    bad = [
        Image(height=240, width=360, encoding="32FC1", step=1440, data=bytes(240 * 1440)),  # unknown encoding
        Image(height=240, width=360, encoding="rgb8", step=100, data=bytes(24000)),  # step < width * 3
        Image(height=240, width=360, encoding="rgb8", step=1080, data=bytes(1000)),  # truncated
        Image(height=0, width=0, encoding="rgb8", step=0, data=b""),  # zero size
    ]
    for i in range(300):
        msg = bad[i % len(bad)]
        msg.header.stamp.sec = i + 1
        graph.image.publish(msg)
    graph.compressed.publish(CompressedImage(format="jpeg", data=b"\xff\xd8 not a jpeg"))
    big = np.zeros((4320, 7680, 3), np.uint8)  # one 8K frame: processed or dropped, never fatal
    big[2000:2100, 3000:3100] = 200
    graph.publish(big, base + 5)

    requests = [
        (dict(), "give text, a box"),
        (dict(box=(10_000.0, 10.0, 20.0, 20.0)), "lies outside"),
        (dict(box=(10.0, 10.0, float("nan"), 20.0)), "finite"),
        (dict(box=(10.0, 10.0, -4.0, 20.0)), "positive"),
        (dict(text="red " * 2500, box=tuple(gt[0])), "tracking"),  # 10,000 characters: truncated, accepted
    ]
    for fields, message in requests:
        stamp = time.time_ns()
        graph.publish(frames[0], stamp)  # the request names this frame by its stamp
        answer = graph.call(graph.request(stamp_ns=stamp, **fields))
        assert answer.success == (message == "tracking") and message in answer.message, answer.message

    after = graph.track(frames[1:4], time.time_ns())
    assert len(after) == 3 and node_proc.poll() is None
    graph.spin_until(lambda: False, 1.2)  # a diagnostics period
    values = {kv.key: kv.value for kv in graph.diagnostics[-1].status[0].values}
    assert int(values["bad_frames"]) >= 1


def test_camera_stops_and_restarts(graph, node_proc, sequence):
    frames, gt, _ = sequence
    base = time.time_ns()
    graph.publish(frames[0], base)
    assert graph.call(graph.request(box=tuple(gt[0]), stamp_ns=base)).success
    graph.track(frames[1:3], base + 33_000_000)
    graph.diagnostics.clear()
    assert graph.spin_until(lambda: any(_value(d, "input_fps") == "0.0" for d in graph.diagnostics), 8.0)
    assert len(graph.track(frames[3:6], time.time_ns())) == 3 and node_proc.poll() is None


def test_stop_tracking_and_stale_stamp(graph, sequence):
    from std_srvs.srv import Trigger

    frames, gt, _ = sequence
    base = time.time_ns()
    graph.publish(frames[0], base)
    assert graph.call(graph.request(box=tuple(gt[0]), stamp_ns=base)).success
    future = graph.stop.call_async(Trigger.Request())
    assert graph.spin_until(future.done, 10.0) and future.result().success
    graph.publish(frames[1], base + 1)
    graph.spin_until(lambda: False, 1.0)
    assert base + 1 not in graph.detections  # idle: no detections
    graph.publish(frames[2], base + 2)
    answer = graph.call(graph.request(box=tuple(gt[0]), stamp_ns=base - 10**9))
    assert not answer.success and "no frame with stamp" in answer.message


def test_missing_checkpoint_is_reported_not_fatal(tmp_path, ros_node, spin_until):
    proc = start_node(tmp_path / "missing.safetensors")
    try:
        g = Graph(ros_node("probe_missing"), spin_until)
        g.ready()
        assert spin_until(lambda: g.diagnostics, 5.0)
        status = g.diagnostics[-1].status[0]
        assert status.level == status.ERROR and "checkpoint not found" in status.message
        answer = g.call(g.request(text="a person"))
        assert not answer.success and "model not loaded" in answer.message
        assert proc.poll() is None
    finally:
        rc, out = stop_node(proc)
    assert rc == 0, out


def test_sigint_shuts_down_cleanly(node_proc, ros_node, spin_until):
    Graph(ros_node("probe_sigint"), spin_until).ready()
    rc, out = stop_node(node_proc)
    assert rc == 0, out


def test_bad_parameters_are_refused_at_start(checkpoint):
    expected = {  # what the node says -> the launch arguments that make it say so
        "parameter device='tpu' is not one of ['auto', 'cpu', 'cuda']": dict(device="tpu"),
        "parameter keep_ratio=0.0 must be in (0, 1]": dict(keep_ratio="0.0"),
        "parameter keep_ratio refused (must be in (0, 1]): Invalid parameter value (1.5)": dict(keep_ratio="1.5"),
        # a range without words of its own: the range itself is quoted
        "parameter threads refused (must be in [0, 1024]): Invalid parameter value (-1)": dict(threads="-1"),
        "parameter engine='tflite' is not one of ['auto', 'torch', 'onnxruntime', 'openvino', 'tensorrt']": dict(engine="tflite"),
    }
    procs = {message: start_node(checkpoint, **args) for message, args in expected.items()}  # at once: seconds each
    for message, proc in procs.items():
        out, _ = proc.communicate(timeout=60)
        assert proc.returncode == 2 and message in out, out


def _value(diag, key: str) -> str | None:
    return {kv.key: kv.value for kv in diag.status[0].values}.get(key)


def test_latency_is_measured(graph, sequence):
    frames, gt, _ = sequence
    base = time.time_ns()
    graph.publish(frames[0], base)
    assert graph.call(graph.request(box=tuple(gt[0]), stamp_ns=base)).success
    graph.track(frames[1:], None)
    graph.diagnostics.clear()
    assert graph.spin_until(lambda: graph.diagnostics, 3.0)
    p50 = float(_value(graph.diagnostics[-1], "latency_p50_ms"))
    assert math.isfinite(p50) and p50 > 0


def test_compressed_input_and_debug_image(checkpoint, sequence, ros_node, spin_until):
    """use_compressed: JPEG frames in; the debug image is drawn while someone subscribes."""
    from sensor_msgs.msg import CompressedImage, Image

    frames, gt, _ = sequence
    proc = start_node(checkpoint, use_compressed="true")
    try:
        g = Graph(ros_node("probe_compressed"), spin_until)
        debug: list = []
        g.node.create_subscription(Image, "/debug_image", debug.append, 10)

        def send(frame, stamp_ns):
            msg = CompressedImage(format="jpeg", data=cv2.imencode(".jpg", cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))[1].tobytes())
            msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(stamp_ns, 10**9)
            g.compressed.publish(msg)

        g.publish = lambda frame, stamp_ns, encoding="rgb8": send(frame, stamp_ns)
        g.ready()
        base = time.time_ns()
        g.publish(frames[0], base)
        assert g.call(g.request(box=tuple(gt[0]), stamp_ns=base)).success
        assert len(g.track(frames[1:4], base + 10**6)) == 3
        assert spin_until(lambda: debug, 5.0)
        assert (debug[-1].height, debug[-1].width, debug[-1].encoding) == (480, 640, "rgb8")
    finally:
        rc, out = stop_node(proc)
    assert rc == 0, out


def _declaring(width: int, height: int) -> bytes:
    """A small real JPEG whose header (SOF0) declares width x height pixels."""
    data = bytearray(cv2.imencode(".jpg", np.full((48, 64, 3), 128, np.uint8))[1].tobytes())
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = height.to_bytes(2, "big") + width.to_bytes(2, "big")
    return bytes(data)


def _peak_rss_mib(pid: int) -> float:
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


def test_an_image_declaring_a_huge_size_is_dropped_before_decoding(checkpoint, sequence, ros_node, spin_until):
    """A 2 kB JPEG whose header declares 16000x16000 pixels (768 MB decoded) is dropped from its header:
    the node's peak memory grows by less than 100 MB, diagnostics count it, tracking goes on."""
    from sensor_msgs.msg import CompressedImage

    frames, gt, _ = sequence
    proc = start_node(checkpoint, use_compressed="true")
    try:
        g = Graph(ros_node("probe_huge"), spin_until)

        def send(data: bytes, stamp_ns: int) -> None:
            msg = CompressedImage(format="jpeg", data=data)
            msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(stamp_ns, 10**9)
            g.compressed.publish(msg)

        jpeg = lambda frame: cv2.imencode(".jpg", cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))[1].tobytes()  # noqa: E731
        g.publish = lambda frame, stamp_ns, encoding="rgb8": send(jpeg(frame), stamp_ns)
        g.ready()
        base = time.time_ns()
        g.publish(frames[0], base)
        assert g.call(g.request(box=tuple(gt[0]), stamp_ns=base)).success
        g.track(frames[1:3], base + 10**6)
        before = _peak_rss_mib(proc.pid)
        for i in range(3):
            send(_declaring(16000, 16000), base + 10**7 + i)
            g.spin_until(lambda: False, 0.3)
        assert len(g.track(frames[3:5], base + 10**8)) == 2
        values = _diagnostics_after(g, 5)
        grown = _peak_rss_mib(proc.pid) - before
        assert int(values["dropped_too_large"]) >= 1 and grown < 100, (values["dropped_too_large"], grown)
    finally:
        rc, out = stop_node(proc)
    assert rc == 0, out


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_straight_after_start_ends_the_node_cleanly(checkpoint, ros_node, spin_until, signum):
    """Ctrl-C, or launch's SIGTERM, as soon as the node serves: exit status 0, no traceback (rclpy's
    own handlers raced the executor here), and no shared memory left behind (the node's frozen
    heap kept its DDS participant's 32 MB segment in /dev/shm after every run)."""
    proc = start_node(checkpoint)
    try:
        Graph(ros_node(f"probe_signal_{signum}"), spin_until).ready()
        orphans_before = set(orphaned_segments())
    finally:
        rc, out = stop_node(proc, signum)
    assert rc == 0 and "Traceback" not in out, out
    assert set(orphaned_segments()) - orphans_before == set()


def test_live_parameters_are_validated(graph):
    from rcl_interfaces.msg import Parameter, ParameterType, ParameterValue
    from rcl_interfaces.srv import SetParameters

    client = graph.node.create_client(SetParameters, "/litetrack_tracker/set_parameters")
    assert graph.spin_until(client.service_is_ready, 10.0)

    def set_param(name: str, value: ParameterValue):
        future = client.call_async(SetParameters.Request(parameters=[Parameter(name=name, value=value)]))
        assert graph.spin_until(future.done, 10.0)
        return future.result().results[0]

    ok = set_param("lost_score", ParameterValue(type=ParameterType.PARAMETER_DOUBLE, double_value=0.5))
    assert ok.successful
    out_of_range = set_param("lost_score", ParameterValue(type=ParameterType.PARAMETER_DOUBLE, double_value=2.0))
    assert not out_of_range.successful
    read_only = set_param("device", ParameterValue(type=ParameterType.PARAMETER_STRING, string_value="cuda"))
    assert not read_only.successful and "read-only" in read_only.reason


# ---------------------------------------------------------------- keep ratio and latency budget


@contextlib.contextmanager
def running_node(checkpoint, ros_node, spin_until, probe: str, **overrides):
    """A node started with these launch arguments and a ready Graph to it; stopped afterwards
    (its output is printed if the test failed)."""
    proc = start_node(checkpoint, **overrides)
    try:
        g = Graph(ros_node(probe), spin_until)
        g.ready()
        yield g
        assert proc.poll() is None
    except BaseException:
        print(f"--- node output ---\n{stop_node(proc)[1]}")
        raise
    rc, out = stop_node(proc)
    assert rc == 0, out


def _diagnostics_after(g: Graph, processed: int, timeout: float = 5.0) -> dict[str, str]:
    """Values of the newest diagnostics that count ``processed`` frames or more (so they describe
    the node after them, however the 1 Hz timer fell)."""

    def newest():
        done = [d for d in g.diagnostics if int(_value(d, "frames_processed") or 0) >= processed]
        return done[-1] if done else None

    assert g.spin_until(lambda: newest() is not None, timeout), "no diagnostics after the frames"
    return {kv.key: kv.value for kv in newest().status[0].values}


def _set_box_target(g: Graph, sequence) -> None:
    frames, gt, _ = sequence
    base = time.time_ns()
    g.publish(frames[0], base)
    assert g.call(g.request(box=tuple(gt[0]), stamp_ns=base)).success


def _keep_ratios(g: Graph, sequence, count: int) -> list[float]:
    """Track ``count`` frames (the sequence over and over): the keep ratio each one was tracked
    with, from its TrackStatus."""
    frames = sequence[0]
    dets = g.track([frames[1 + i % (FRAMES - 1)] for i in range(count)], None)
    stamps = [stamp_ns(d.header.stamp) for d in dets]
    assert g.spin_until(lambda: all(s in g.statuses for s in stamps), 5.0)
    return [g.statuses[s].keep_ratio for s in stamps]


def test_keep_ratio_is_used_and_a_tight_budget_lowers_it(pruning_checkpoint, sequence, ros_node, spin_until):
    """keep_ratio 0.5 is what the first frames are tracked with (TrackStatus, diagnostics); a
    budget no real step meets (0.001 ms) lowers it once the controller has judged its window."""
    with running_node(pruning_checkpoint, ros_node, spin_until, "probe_tight", keep_ratio="0.5", latency_budget_ms="0.001") as g:
        _set_box_target(g, sequence)
        first = _keep_ratios(g, sequence, 3)
        values = _diagnostics_after(g, 1 + 3)  # the target's frame + 3 tracked
        assert first == [0.5] * 3
        assert float(values["keep_ratio"]) == 0.5 and float(values["latency_budget_ms"]) == pytest.approx(0.001)

        later = _keep_ratios(g, sequence, BUDGET_FRAMES)
        values = _diagnostics_after(g, 1 + 3 + BUDGET_FRAMES)
    assert later[-1] < 0.5, later
    assert later == sorted(later, reverse=True), later  # over budget all along: never back up
    assert float(values["keep_ratio"]) == pytest.approx(later[-1])


def test_a_generous_budget_keeps_every_token(pruning_checkpoint, sequence, ros_node, spin_until):
    with running_node(pruning_checkpoint, ros_node, spin_until, "probe_generous", latency_budget_ms="10000.0") as g:
        _set_box_target(g, sequence)
        ratios = _keep_ratios(g, sequence, BUDGET_FRAMES)
        values = _diagnostics_after(g, 1 + BUDGET_FRAMES)
    assert ratios == [1.0] * BUDGET_FRAMES
    assert float(values["keep_ratio"]) == 1.0 and float(values["latency_budget_ms"]) == 10000.0


@pytest.fixture(scope="module")
def asymmetric_checkpoint(tmp_path_factory):
    """The tiny model with its target cached (asymmetric): what the target memory needs."""
    torch.manual_seed(0)
    model = create_model(tiny_config(csa=True, asymmetric=True))
    return save_checkpoint(model, tmp_path_factory.mktemp("ckpt") / "tiny_asymmetric.safetensors")


def test_the_target_memory_fills_and_says_so(asymmetric_checkpoint, sequence, ros_node, spin_until, tmp_path):
    """memory_size 2 (launch argument), a write every frame and read on every frame (parameters file):
    TrackStatus counts the entries up to 2, names the frame of the last write, and says that every frame
    after the first write read the memory."""
    params = yaml.safe_load(DEFAULT_PARAMS_FILE.read_text())
    params["/**"]["ros__parameters"].update(memory_interval=1, memory_score=0.0, memory_agreement=0.0, memory_read="always")
    params_file = tmp_path / "memory.yaml"
    params_file.write_text(yaml.safe_dump(params))
    with running_node(asymmetric_checkpoint, ros_node, spin_until, "probe_memory", memory_size="2",
                      params_file=str(params_file)) as g:
        _set_box_target(g, sequence)
        frames = sequence[0]
        dets = g.track(frames[1:FRAMES], None)
        stamps = [stamp_ns(d.header.stamp) for d in dets]
        assert g.spin_until(lambda: all(s in g.statuses for s in stamps), 5.0)
        statuses = [g.statuses[s] for s in stamps]
    entries = [s.memory_entries for s in statuses]
    assert entries == sorted(entries) and entries[-1] == 2, entries  # fills, then stays at its size
    writes = [s.memory_last_write for s in statuses]
    assert all(w <= i + 1 for i, w in enumerate(writes)) and writes[-1] > 0, writes
    reads = [s.memory_read for s in statuses]
    assert reads == [False] + [e > 0 for e in entries[:-1]] and any(reads), (reads, entries)


def test_memory_needs_an_asymmetric_model_and_the_node_says_so(checkpoint, ros_node, spin_until):
    with running_node(checkpoint, ros_node, spin_until, "probe_memory_exact", memory_size="2") as g:
        assert spin_until(lambda: any(d.status[0].level == d.status[0].ERROR for d in g.diagnostics), 5.0)
        message = next(d.status[0].message for d in g.diagnostics if d.status[0].level == d.status[0].ERROR)
        assert "memory_size needs an asymmetric model" in message, message


def test_an_engine_that_cannot_run_here_leaves_the_node_up_saying_why(checkpoint, ros_node, spin_until):
    with running_node(checkpoint, ros_node, spin_until, "probe_tensorrt", engine="tensorrt") as g:
        assert spin_until(lambda: any(d.status[0].level == d.status[0].ERROR for d in g.diagnostics), 5.0)
        message = next(d.status[0].message for d in g.diagnostics if d.status[0].level == d.status[0].ERROR)
        assert "engine tensorrt runs on cuda, the tracker's device is cpu" in message, message
        answer = g.call(g.request(text="a person"))
        assert not answer.success and "engine tensorrt" in answer.message, answer.message


def test_a_budget_needs_a_model_with_pruning_blocks(checkpoint, ros_node, spin_until):
    """The tiny test model has no pruning blocks: the node stays up, reports ERROR, serves nothing."""
    with running_node(checkpoint, ros_node, spin_until, "probe_no_pruning", latency_budget_ms="5.0") as g:
        assert spin_until(lambda: any(d.status[0].level == d.status[0].ERROR for d in g.diagnostics), 5.0)
        message = next(d.status[0].message for d in g.diagnostics if d.status[0].level == d.status[0].ERROR)
        assert "latency_budget_ms" in message and "pruning blocks" in message, message
        answer = g.call(g.request(text="a person"))
        assert not answer.success and "pruning blocks" in answer.message, answer.message


def test_impossible_boxes_are_refused_before_any_image(node_proc, ros_node, spin_until):
    """NaN and 1e308 boxes are answered from the request alone: no image is ever sent, and the answer
    comes long before the 10 s that a valid request would wait for its frame."""
    g = Graph(ros_node("probe"), spin_until)
    assert spin_until(lambda: g.set_target.service_is_ready(), 60.0), "track_target never appeared"
    for box, reason in (((10.0, 10.0, float("nan"), 20.0), "finite"), ((1e308, 1e308, 1e308, 1e308), "cannot be in an image")):
        answer = g.call(g.request(box=box), timeout=5.0)
        assert not answer.success and reason in answer.message, answer.message
    answer = g.call(g.request(), timeout=5.0)
    assert not answer.success and "give text, a box" in answer.message


def test_a_burst_of_requests_is_answered_while_tracking_goes_on(graph, node_proc, sequence):
    """30 track_target calls at once, while a 10 Hz camera runs: every call is answered (served, or
    refused at once beyond the queue's depth) and detections keep coming, none more than 1 s apart."""
    import threading

    from litetrack_ros.tracker_node import REQUEST_DEPTH

    frames, gt, _ = sequence
    base = time.time_ns()
    graph.publish(frames[0], base)
    assert graph.call(graph.request(box=tuple(gt[0]), stamp_ns=base)).success
    running = threading.Event()
    running.set()

    def camera() -> None:
        i = 0
        while running.is_set():
            graph.publish(frames[i % len(frames)], time.time_ns())
            i += 1
            time.sleep(0.1)

    thread = threading.Thread(target=camera, daemon=True)
    thread.start()
    try:
        graph.spin_until(lambda: False, 1.0)
        start = time.time_ns()
        futures = [graph.set_target.call_async(graph.request(box=tuple(gt[0]))) for _ in range(30)]
        assert graph.spin_until(lambda: all(f.done() for f in futures), 30.0), \
            f"{sum(not f.done() for f in futures)} of 30 calls never answered"
        graph.spin_until(lambda: False, 1.0)
        end = time.time_ns()
    finally:
        running.clear()
        thread.join()
    answers = [f.result() for f in futures]
    served = [a for a in answers if a.success]
    refused = [a for a in answers if not a.success]
    assert 1 <= len(served) and all("already waiting" in a.message for a in refused), [a.message for a in refused][:3]
    assert len(refused) <= 30 - 1 and len(served) >= min(REQUEST_DEPTH, 30) // 2
    stamps = sorted(s for s in graph.detections if start <= s <= end)
    gaps = np.diff(stamps) / 1e9
    assert len(stamps) >= 10 and gaps.max() <= 1.0, f"{len(stamps)} detections, largest gap {gaps.max():.2f} s"


# ---------------------------------------------------------------- lifecycle


def _ours(node, name: str = "litetrack_tracker") -> dict[str, set[str]] | None:
    """The node's publishers, subscriptions and services that on_configure makes, by name, as the
    ROS graph shows them (the lifecycle and parameter services are the node's own, always there);
    None while the graph does not know the node yet."""
    from rclpy.node import NodeNameNonExistentError

    own = ("/detection", "/status", "/debug_image", "/marker", "/diagnostics", "/cam/image", "/track_target", "/stop_tracking")
    try:
        return {
            "publishers": {n for n, _ in node.get_publisher_names_and_types_by_node(name, "/") if n in own},
            "subscriptions": {n for n, _ in node.get_subscriber_names_and_types_by_node(name, "/") if n in own},
            "services": {n for n, _ in node.get_service_names_and_types_by_node(name, "/") if n in own},
        }
    except NodeNameNonExistentError:
        return None


def test_lifecycle_makes_and_destroys_what_it_should(checkpoint, sequence, ros_node, spin_until):
    """configure -> activate -> deactivate -> cleanup -> configure -> activate -> shutdown under a
    lifecycle manager's calls (autostart off): after each, the graph shows exactly the node's entities
    of that state, and once active again a box target tracks on real frames."""
    from lifecycle_msgs.msg import Transition
    from lifecycle_msgs.srv import ChangeState, GetState

    values = {name: default for name, (default, _) in LAUNCH_ARGUMENTS.items()}
    values.update(image_topic="/cam/image", checkpoint=str(checkpoint), device="cpu")
    cmd = [sys.executable, "-m", "litetrack_ros.tracker_node", *ros_args(values, DEFAULT_PARAMS_FILE), "-p", "autostart:=false"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    configured = {"publishers": {"/detection", "/status", "/debug_image", "/marker", "/diagnostics"},
                  "subscriptions": {"/cam/image"}, "services": {"/track_target", "/stop_tracking"}}
    nothing = {"publishers": set(), "subscriptions": set(), "services": set()}
    try:
        g = Graph(ros_node("probe_lifecycle"), spin_until)
        change = g.node.create_client(ChangeState, "/litetrack_tracker/change_state")
        get = g.node.create_client(GetState, "/litetrack_tracker/get_state")
        assert spin_until(change.service_is_ready, 60.0) and spin_until(get.service_is_ready, 10.0)

        def transition(transition_id: int, label: str, entities: dict) -> None:
            future = change.call_async(ChangeState.Request(transition=Transition(id=transition_id)))
            assert spin_until(future.done, 60.0) and future.result().success, f"transition {transition_id} failed"
            state = get.call_async(GetState.Request())
            assert spin_until(state.done, 10.0) and state.result().current_state.label == label
            assert spin_until(lambda: _ours(g.node) == entities, 10.0), f"{label}: {_ours(g.node)}"

        def tracks() -> None:
            g.ready()
            frames, gt, _ = sequence
            base = time.time_ns()
            g.publish(frames[0], base)
            assert g.call(g.request(box=tuple(gt[0]), stamp_ns=base)).success
            assert len(g.track(frames[1:4], time.time_ns())) == 3

        assert spin_until(lambda: _ours(g.node) == nothing, 10.0)
        transition(Transition.TRANSITION_CONFIGURE, "inactive", configured)
        transition(Transition.TRANSITION_ACTIVATE, "active", configured)
        tracks()
        transition(Transition.TRANSITION_DEACTIVATE, "inactive", configured)
        transition(Transition.TRANSITION_CLEANUP, "unconfigured", nothing)
        transition(Transition.TRANSITION_CONFIGURE, "inactive", configured)  # once again: nothing made twice
        transition(Transition.TRANSITION_ACTIVATE, "active", configured)
        tracks()
        transition(Transition.TRANSITION_ACTIVE_SHUTDOWN, "finalized", nothing)
    finally:
        rc, out = stop_node(proc)
    assert rc == 0 and "Traceback" not in out, out


def test_a_target_set_as_the_node_starts_waits_for_the_model(sequence, ros_node, spin_until, tmp_path):
    """A mission script sets the target in the same second the node is launched: the request waits
    while the model loads (the packaged default model: seconds, after the service appears) and
    succeeds on the first frame after. The wait's bound (``request_timeout_s``, 10 s by default) is
    raised to the test's own 60 s: on a loaded machine the load and warm-up took over 10 s."""
    import threading

    params = yaml.safe_load(DEFAULT_PARAMS_FILE.read_text())
    params["/**"]["ros__parameters"]["request_timeout_s"] = 60.0
    (params_file := tmp_path / "patient.yaml").write_text(yaml.safe_dump(params))
    frames, gt, _ = sequence
    g = Graph(ros_node("probe_startup"), spin_until)
    proc = start_node("", params_file=str(params_file))
    running = threading.Event()
    running.set()

    def camera() -> None:
        while running.is_set():
            g.publish(frames[0], time.time_ns())
            time.sleep(0.1)

    thread = threading.Thread(target=camera, daemon=True)
    try:
        assert spin_until(lambda: g.set_target.service_is_ready(), 60.0)
        future = g.set_target.call_async(g.request(box=tuple(gt[0])))  # as soon as the service exists
        thread.start()
        assert spin_until(future.done, 60.0), "track_target did not answer"
        answer = future.result()
        assert answer.success and answer.message.startswith("tracking box"), answer.message
    finally:
        running.clear()
        if thread.is_alive():
            thread.join()
        rc, out = stop_node(proc)
    assert rc == 0, out
