"""``tracker_node``: LiteTrack as a ROS 2 lifecycle node.

Topics (relative, remap in the launch file):
    in   image (sensor_msgs/Image) or image/compressed (sensor_msgs/CompressedImage)
    out  detection (vision_msgs/Detection2D), status (litetrack_ros/TrackStatus),
         debug_image (sensor_msgs/Image, only while subscribed), marker (visualization_msgs/Marker),
         /diagnostics (diagnostic_msgs/DiagnosticArray, 1 Hz)
Services: track_target (litetrack_ros/SetTarget), stop_tracking (std_srvs/Trigger).

Data flows one way: image message -> numpy frame -> Tracker -> TrackResult -> messages. The image
callback only stores the newest message in a one-slot buffer; a worker thread converts it and
runs the tracker, so inference never blocks the executor and stale frames are dropped (counted).
Target requests are applied by the worker on the frame they name (or the next one), so the
tracker is only ever touched by one thread; it then steps through a few of the frames that arrived
meanwhile, then through fewer of those that arrived during that, and so on (``catch_up_frames``,
litetrack_ros/intake.py), before it goes on with the newest.
"""

from __future__ import annotations

import gc
import math
import signal
import sys
import threading
import time

import numpy as np
import rclpy
from rcl_interfaces.msg import ParameterDescriptor, SetParametersResult
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup, ReentrantCallbackGroup
from rclpy.exceptions import ParameterException
from rclpy.executors import MultiThreadedExecutor
from rclpy.lifecycle import LifecyclePublisher, Node, State, TransitionCallbackReturn
from rclpy.publisher import Publisher
from rclpy.service import Service
from rclpy.subscription import Subscription
from rclpy.timer import Timer
from rclpy.parameter import Parameter
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.qos import QoSProfile, qos_profile_sensor_data
from rclpy.signals import SignalHandlerOptions
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import Header
from std_srvs.srv import Trigger
from vision_msgs.msg import Detection2D
from visualization_msgs.msg import Marker

from litetrack_core.tracking.load import load_tracker
from litetrack_core.tracking.tracker import PRECISIONS, Tracker, TrackerConfig
from litetrack_core.tracking.types import TrackResult, TrackState
from litetrack_core.tracking.video import draw_result
from litetrack_ros import messages
from litetrack_ros.diagnostics import NodeState, NodeStats, diagnostics
from litetrack_ros.image_conversion import ImageTooLarge, compressed_to_rgb, image_to_rgb, rgb_to_image
from litetrack_ros.intake import CATCH_UP_STRIDE, Intake
from litetrack_ros.msg import TrackStatus
from litetrack_ros.parameters import DEVICES, ENGINES, LIVE, PARAMETERS, RELIABILITY, TRACKER_CONFIG, allowed
from litetrack_ros.srv import SetTarget
from litetrack_ros.target_requests import TargetRequest, TargetRequests, parse_request

__all__ = ["TrackerNode", "main"]

# Target requests that may wait for their frame at once; more are refused at once. Each waiting call
# holds one executor thread, so the executor has this many threads beyond those images and timers use.
REQUEST_DEPTH = 8
EXECUTOR_THREADS = 4 + REQUEST_DEPTH
# Images DDS keeps until the executor takes them (sensor-data QoS's depth); the worker still gets only the
# newest. The queue covers an executor late to take one (depth 1 lost a frame in six at 30 Hz, make demo).
IMAGE_QUEUE = 5
GIL_SWITCH_S = 0.0005


class TrackerNode(Node):
    """See the module docstring. Parameters are listed in ``PARAMETERS``."""

    def __init__(self, **kwargs) -> None:
        super().__init__("litetrack_tracker", **kwargs)
        for name, (default, text, extra) in PARAMETERS.items():
            descriptor = ParameterDescriptor(description=text, **extra)
            try:
                self.declare_parameter(name, default, descriptor)
            except ParameterException as err:  # out of range or of the wrong type (command line, parameters file)
                rule = descriptor.additional_constraints or allowed(descriptor)
                raise ValueError(f"parameter {name} refused{f' (must be {rule})' if rule else ''}: {err}") from None
        self._check_choices()
        self.add_on_set_parameters_callback(self._check_parameters)
        self.add_post_set_parameters_callback(self._apply_parameters)
        self.stats = NodeStats()
        # (message, node-clock ns at arrival): arrival splits latency into transport and queueing.
        self.intake: Intake[Image | CompressedImage] = Intake(lambda msg: messages.stamp_ns(msg.header.stamp))
        self.tracker: Tracker | None = None
        self.load_error: str | None = None
        self.state = TrackState.IDLE
        self.last_keep_ratio: float | None = None  # the last TrackResult's (None before the first one)
        self.last_grounding: tuple[str, float] | None = None  # path and score of the last grounding by words
        self._requests = TargetRequests(REQUEST_DEPTH)
        self._stop_requested = threading.Event()
        self._worker: threading.Thread | None = None
        self._running = threading.Event()
        self._last_processed = 0.0
        self._last_msg: Image | CompressedImage | None = None  # the last frame set on or tracked
        self._entities: list = []  # what on_configure made, destroyed by on_cleanup / on_shutdown
        # Set once an activation has finished (model loaded or failed): target requests wait for it (request_timeout_s).
        self._settled = threading.Event()
        if self.get_parameter("autostart").value:
            # Not in the constructor itself: loading the model takes seconds.
            self._autostart_timer = self.create_timer(0.0, self._autostart)

    # ------------------------------------------------------------------ parameters

    def _p(self, name: str):
        return self.get_parameter(name).value

    def _check_choices(self) -> None:
        """Refuse bad enum values at start, quoted, with what is allowed."""
        choices = {"device": DEVICES, "precision": tuple(PRECISIONS), "reliability": tuple(RELIABILITY), "engine": ENGINES}
        for name, options in choices.items():
            if self._p(name) not in options:
                raise ValueError(f"parameter {name}={self._p(name)!r} is not one of {list(options)}")
        box = list(self._p("target_box"))
        if box != [0.0] and (len(box) != 4 or not all(math.isfinite(v) for v in box) or box[2] <= 0 or box[3] <= 0):
            raise ValueError(f"parameter target_box={box} must be [x, y, w, h] in pixels with w, h > 0, or [0.0]")
        try:  # what a descriptor's closed range cannot say (keep_ratio > 0), as TrackerConfig says it
            self._tracker_config()
        except ValueError as err:
            raise ValueError(f"parameter {err}") from None

    def _tracker_config(self, overrides: dict[str, object] | None = None) -> TrackerConfig:
        values = {name: self._p(name) for name in TRACKER_CONFIG}
        values.update(overrides or {})
        return TrackerConfig(**values)

    def _check_parameters(self, params: list[Parameter]) -> SetParametersResult:
        """Validate live changes as a whole (ranges are checked by the descriptors); nothing is applied here."""
        live = {p.name: p.value for p in params if p.name in LIVE}
        if live:
            try:
                self._tracker_config(live)
            except ValueError as err:
                return SetParametersResult(successful=False, reason=str(err))
        return SetParametersResult(successful=True)

    def _apply_parameters(self, params: list[Parameter]) -> None:
        """Apply live changes once they are set (after ``_check_parameters`` accepted them)."""
        tracker = self.tracker
        if tracker is not None and any(p.name in LIVE for p in params):
            tracker.config = self._tracker_config()

    # ------------------------------------------------------------------ lifecycle

    def _autostart(self) -> None:
        self._autostart_timer.cancel()
        self.destroy_timer(self._autostart_timer)
        if self.trigger_configure() == TransitionCallbackReturn.SUCCESS:
            self.trigger_activate()

    def on_configure(self, state: State) -> TransitionCallbackReturn:
        compressed = self._p("use_compressed")
        qos = QoSProfile(depth=IMAGE_QUEUE, reliability=RELIABILITY[self._p("reliability")], history=qos_profile_sensor_data.history)
        qos.durability = qos_profile_sensor_data.durability
        services = ReentrantCallbackGroup()
        self.detection_pub = self.create_lifecycle_publisher(Detection2D, "detection", 10)
        self.status_pub = self.create_lifecycle_publisher(TrackStatus, "status", 10)
        self.debug_pub = self.create_lifecycle_publisher(Image, "debug_image", 1)
        self.marker_pub = self.create_lifecycle_publisher(Marker, "marker", 1)
        self.diag_pub = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self.image_sub = self.create_subscription(
            CompressedImage if compressed else Image,
            "image/compressed" if compressed else "image",  # relative: remapped by the launch file
            self._on_image,
            qos,
            callback_group=MutuallyExclusiveCallbackGroup(),
        )
        # A deep request queue in DDS: a burst of calls is read at once and each answered (served or refused).
        self.target_srv = self.create_service(SetTarget, "track_target", self._on_track_target,
                                              qos_profile=QoSProfile(depth=100), callback_group=services)
        self.stop_srv = self.create_service(Trigger, "stop_tracking", self._on_stop_tracking, callback_group=services)
        self.diag_timer = self.create_timer(1.0, self._publish_diagnostics)
        self._entities = [self.detection_pub, self.status_pub, self.debug_pub, self.marker_pub, self.diag_pub,
                          self.image_sub, self.target_srv, self.stop_srv, self.diag_timer]
        self.get_logger().info(f"configured: {'compressed ' if compressed else ''}images on '{self.image_sub.topic_name}'")
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state: State) -> TransitionCallbackReturn:
        self._load_model()
        if self.tracker is None:  # diagnostics and service answers say why (load_error)
            self._settled.set()
            return TransitionCallbackReturn.FAILURE
        _freeze_heap()
        self._running.set()
        self._worker = threading.Thread(target=self._work, name="litetrack-worker", daemon=True)
        self._worker.start()
        text, box = self._p("target_text") or None, list(self._p("target_box"))
        if text or box != [0.0]:
            self._queue(TargetRequest(text, tuple(box) if box != [0.0] else None, 0))
        result = super().on_activate(state)
        self._settled.set()
        return result

    def on_deactivate(self, state: State) -> TransitionCallbackReturn:
        self._stop_worker()
        self._release()  # the model (and its GPU memory) comes back with the next activation
        return super().on_deactivate(state)

    def on_cleanup(self, state: State) -> TransitionCallbackReturn:
        self._stop_worker()
        self._release()
        self._destroy_entities()
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state: State) -> TransitionCallbackReturn:
        self._stop_worker()
        self._release()
        self._destroy_entities()
        return TransitionCallbackReturn.SUCCESS

    def _destroy_entities(self) -> None:
        """Undo on_configure: a later configure makes them anew, with the parameters of then."""
        destroy = {LifecyclePublisher: self.destroy_lifecycle_publisher, Publisher: self.destroy_publisher,
                   Subscription: self.destroy_subscription, Service: self.destroy_service, Timer: self.destroy_timer}
        for entity in self._entities:
            next(d for kind, d in destroy.items() if isinstance(entity, kind))(entity)
        self._entities = []

    def _load_model(self) -> None:
        """Load the model; a failure leaves the node up, reporting ERROR (diagnostics, services)."""
        try:
            self.tracker = load_tracker(
                self._p("checkpoint") or None,
                self._p("config") or None,
                self._p("device"),
                self._tracker_config(),
                self._p("precision"),
                engine=self._p("engine"),
                threads=self._p("threads"),
                graph_dir=self._p("onnx_dir") or None,
            )
            self.tracker.warm_up()  # the first request by words must not wait for the detector to load
            self.load_error = None
            self.last_keep_ratio = None
            cfg, keep, budget = self.tracker.model.cfg, self._p("keep_ratio"), self._p("latency_budget_ms")
            pruning = f"keep ratio {keep:g}" + (f" at start, then chosen for a step budget of {budget:g} ms (p90)" if budget > 0 else "")
            threads = self._p("threads") or "all"
            self.get_logger().info(f"model {cfg.name} on {self.tracker.device} ({self.tracker.precision}), engine "
                                   f"{self.tracker.engine.name} ({threads} threads), {pruning}")
            if keep < 1.0 and not cfg.prune_blocks:
                self.get_logger().warning(f"keep_ratio={keep:g} has no effect: model {cfg.name} has no pruning blocks")
        except (OSError, ValueError, RuntimeError) as err:  # CheckpointError is a ValueError
            self.tracker, self.load_error = None, f"model not loaded: {err}"
            self.get_logger().error(self.load_error)

    def _release(self) -> None:
        """Free the model (and GPU memory) with the node's state."""
        self._settled.clear()
        gc.unfreeze()  # the model's objects are the collector's again, and freed
        self.tracker = None
        gc.collect()
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()

    def _stop_worker(self) -> None:
        self._running.clear()
        if self._worker is not None:
            self._worker.join(timeout=5.0)
            self._worker = None
        self._requests.refuse_all("tracking stopped before the request was served")

    # ------------------------------------------------------------------ callbacks

    def _on_image(self, msg: Image | CompressedImage) -> None:
        self.stats.arrived()
        self.intake.receive(msg, self.get_clock().now().nanoseconds)

    def _on_track_target(self, request: SetTarget.Request, response: SetTarget.Response) -> SetTarget.Response:
        try:
            response.success, response.message, detection = self._serve(request)
            if detection is not None:
                response.detection = detection
        except Exception as err:  # noqa: BLE001 - a service must always answer, never take the node down
            response.success, response.message = False, f"internal error: {type(err).__name__}: {err}"
        if response.success:
            self.get_logger().info(f"track_target: {response.message}")
        else:
            self.get_logger().warning(f"track_target refused: {response.message}")
        return response

    def _serve(self, request: SetTarget.Request) -> tuple[bool, str, Detection2D | None]:
        """Check the request, queue it for the worker and wait for its answer: (success, message, detection)."""
        b = request.box
        try:
            text, box = parse_request(request.text, b.center.position.x, b.center.position.y, b.size_x, b.size_y, b.center.theta)
        except ValueError as err:
            return False, str(err), None
        timeout = self._p("request_timeout_s")
        if not self._settled.wait(timeout):
            return False, f"the node did not become active within {timeout:.1f} s", None
        if self.tracker is None:
            return False, self.load_error or "the node is not active", None
        req = TargetRequest(text, box, messages.stamp_ns(request.stamp))
        if not self.intake.queue(req, self._requests):
            return False, f"{REQUEST_DEPTH} target requests are already waiting for frames; try again", None
        if not req.done.wait(timeout):
            self._requests.withdraw(req)
            return False, f"no image on '{self.image_sub.topic_name}' within {timeout:.1f} s to set the target on", None
        return req.success, req.message, req.detection if req.success else None

    def _on_stop_tracking(self, request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        self._stop_requested.set()
        response.success, response.message = True, "tracking stopped"
        return response

    # ------------------------------------------------------------------ worker

    def _work(self) -> None:
        while self._running.is_set():
            item = self.intake.slot.take(timeout=0.1)
            if item is None or self.tracker is None:
                continue
            self._still_tracking()
            max_rate = self._p("max_rate_hz")
            if not len(self._requests) and max_rate > 0 and time.monotonic() - self._last_processed < 1.0 / max_rate:
                self.stats.drop("rate_limit")
                continue
            try:
                self._process(*item)
            except Exception as err:  # noqa: BLE001 - one bad frame must never stop the node
                self.stats.drop("error")
                self.get_logger().error(f"frame dropped: {type(err).__name__}: {err}", throttle_duration_sec=1.0)

    def _process(self, msg: Image | CompressedImage, arrived_ns: int) -> None:
        taken_ns = self.get_clock().now().nanoseconds
        # The recent frames are looked up only while a request waits (rarely).
        served = self.intake.serve(self._requests, msg) if len(self._requests) else None
        if served is None:
            if self.tracker.has_target and msg is not self._last_msg:  # not the frame a request was served on
                self._step(msg, arrived_ns, taken_ns)
            return
        request, (msg, arrived_ns) = served  # the frame the request names (this one, or a recent one)
        count, stamp = self._p("catch_up_frames"), messages.stamp_ns(msg.header.stamp)
        if count:
            self.intake.open_catch_up(stamp)
        try:
            done = self._set(request, msg, arrived_ns, taken_ns)
        finally:
            frames = self.intake.close_catch_up(count, stamp, CATCH_UP_STRIDE)
        if done:
            self.intake.chase(frames, self._catch_up)

    def _catch_up(self, item: tuple[Image | CompressedImage, int]) -> bool:
        """Track one frame that arrived while the target was set; False: the target was stopped meanwhile."""
        if self._still_tracking():
            self._step(*item, None)
        return self.tracker.has_target

    def _still_tracking(self) -> bool:
        """Carry out a stop_tracking call (the service thread only flags it; the tracker is the worker's)."""
        if self._stop_requested.is_set():
            self._stop_requested.clear()
            self.tracker.reset()
            self.state = TrackState.IDLE
        return self.tracker.has_target

    def _set(self, request: TargetRequest, msg: Image | CompressedImage, arrived_ns: int, taken_ns: int) -> bool:
        """Serve ``request`` on ``msg``: set the target, answer, publish. False: refused (answered why)."""
        frame = self._rgb(msg)
        if isinstance(frame, str):
            request.answer(False, f"the image to set the target on is unusable: {frame}")
            return False
        try:
            self.state = TrackState.GROUNDING if request.box is None else self.state
            result = self.tracker.set_target(frame, request.text, request.box)
        except ValueError as err:
            self.state = TrackState.TRACKING if self.tracker.has_target else TrackState.IDLE
            request.answer(False, str(err))
            return False
        request.answer(True, f"tracking {request.text or 'box'} from {_fmt(result.box_xywh_px)}",
                       messages.detection(result, msg.header, request.text))
        _freeze_heap()  # a first grounding by words has loaded the object detector
        self._publish(result, msg.header, frame)
        self._account(msg.header, arrived_ns, taken_ns, result.timing.total_ms)
        return True

    def _step(self, msg: Image | CompressedImage, arrived_ns: int, taken_ns: int | None) -> None:
        """Track the target on ``msg`` and publish the result. ``taken_ns`` None: a frame caught up
        after a target was set, late by design, kept out of the latency figures (they describe the
        live frames; 8 late ones in the window of 100 would set diagnostics to WARN after every set)."""
        frame = self._rgb(msg)
        if isinstance(frame, str):
            return
        result = self.tracker.track(frame)
        self._publish(result, msg.header, frame)
        if taken_ns is not None:
            self._account(msg.header, arrived_ns, taken_ns, result.timing.total_ms)

    def _rgb(self, msg: Image | CompressedImage) -> np.ndarray | str:
        """The message's frame (RGB uint8), or what is wrong with it (the frame is dropped, counted)."""
        self._last_processed, self._last_msg = time.monotonic(), msg
        try:
            limit = self._p("max_image_pixels")
            return compressed_to_rgb(msg, limit) if isinstance(msg, CompressedImage) else image_to_rgb(msg, limit)
        except ValueError as err:
            self.stats.drop("too_large" if isinstance(err, ImageTooLarge) else "bad_image")
            self.get_logger().warning(f"bad image: {err}", throttle_duration_sec=1.0)
            return str(err)

    def _publish(self, result: TrackResult, header: Header, frame) -> None:
        self.state = result.state
        self.last_keep_ratio = result.keep_ratio
        text = self.tracker.target_text
        self.detection_pub.publish(messages.detection(result, header, text))
        self.status_pub.publish(messages.status(header, result, text, self.stats.processed(), self.intake.slot.dropped))
        if result.grounding:
            self.last_grounding = (result.grounding, result.grounding_score)
        self.marker_pub.publish(messages.marker(result, header))
        if self._p("publish_debug_image") and self.debug_pub.get_subscription_count() > 0:
            self.debug_pub.publish(rgb_to_image(draw_result(frame, result, text), header))

    def _account(self, header: Header, arrived_ns: int, taken_ns: int, step_ms: float) -> None:
        """Split stamp -> publish latency: transport (to our callback), queueing (in the slot),
        the tracker step, and the rest of this node's work (conversion, publishing)."""
        done_ns = self.get_clock().now().nanoseconds
        stamp_ns = messages.stamp_ns(header.stamp)
        self.stats.timed(
            latency_ms=(done_ns - stamp_ns) / 1e6,
            transport_ms=(arrived_ns - stamp_ns) / 1e6,
            queue_ms=(taken_ns - arrived_ns) / 1e6,
            step_ms=step_ms,
            node_ms=(done_ns - taken_ns) / 1e6 - step_ms,
        )

    def _publish_diagnostics(self) -> None:
        device = str(self.tracker.device) if self.tracker else self._p("device")
        precision = self.tracker.precision if self.tracker else self._p("precision")
        self.diag_pub.publish(
            diagnostics(self.get_clock().now().to_msg(), self.stats, NodeState(
                name=f"{self.get_name()}: tracker",
                dropped=self.intake.slot.dropped, device=device, precision=precision,
                engine=self.tracker.engine.name if self.tracker else self._p("engine"),
                threads=self._p("threads"), state=self.state,
                latency_warn_ms=self._p("latency_warn_ms"), error=self.load_error,
                keep_ratio=self.last_keep_ratio if self.last_keep_ratio is not None else self._p("keep_ratio"),
                latency_budget_ms=self._p("latency_budget_ms"), grounding=self.last_grounding,
                proposals=self.tracker is not None and self.tracker.grounder is not None,
            ))
        )


def _fmt(box: tuple[float, float, float, float]) -> str:
    return "x,y,w,h = " + ",".join(f"{v:.1f}" for v in box)


def _freeze_heap() -> None:
    """Keep what exists now (the model, the object detector, ROS entities) out of Python's
    collector: its full collections scan every tracked object with the interpreter lock held (one
    took 504 ms 12 s into `make demo`, stalling images and step; with the freeze none took over
    20 ms in 30 s). Objects made later are collected as usual; ``gc.unfreeze`` before the model is
    dropped."""
    gc.collect(1)
    gc.freeze()


def main(args: list[str] | None = None) -> None:
    """Console entry point: spin the node on a multi-threaded executor until SIGINT or SIGTERM.

    The signals only set a flag that the spin loop checks every 0.1 s; the context is shut down
    after the loop. rclpy's own handlers shut the context down from inside the signal, racing the
    executor (seen: an RCLError from a wait set built on the dead context, and a node that never
    exited)."""
    # Hand the interpreter lock over within 0.5 ms instead of 5: the worker's step gives it up and
    # takes it back dozens of times a frame, and each time waited up to the interval for the
    # executor thread (make demo at 30 Hz: step p99 250-550 ms before, 51-71 ms after).
    sys.setswitchinterval(GIL_SWITCH_S)
    rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    try:
        node = TrackerNode()
    except Exception as err:  # noqa: BLE001 - a bad parameter must end with a message, not a trace
        rclpy.logging.get_logger("litetrack_tracker").fatal(str(err))
        rclpy.try_shutdown()
        raise SystemExit(2) from None
    executor = MultiThreadedExecutor(num_threads=EXECUTOR_THREADS)
    executor.add_node(node)
    try:
        while not stop.is_set() and rclpy.ok():
            executor.spin_once(timeout_sec=0.1)
    finally:
        node._stop_worker()
        executor.shutdown()
        node.destroy_node()
        rclpy.try_shutdown()
        gc.unfreeze()  # frozen objects are never finalised: the DDS participant's 32 MB stayed in /dev/shm


if __name__ == "__main__":
    main()
