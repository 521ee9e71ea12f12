"""Fixtures for every ROS 2 test: a private, loopback-only DDS environment and an rclpy context.

The ROS environment is set when this file is imported, i.e. before any test module of test/ros
imports rclpy and long before anything calls rclpy.init():
  * ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST, ROS_STATIC_PEERS empty: DDS discovery stays on
    loopback (ROS_LOCALHOST_ONLY is ignored by Kilted and leaks multicast, so it is removed).
    LOCALHOST rather than OFF so that a test may start the node in a subprocess.
  * ROS_DOMAIN_ID: the test session's own, 1 + pid % 101 (1..101), so parallel runs (other
    checkouts, CI) do not see each other; LITETRACK_TEST_ROS_DOMAIN_ID overrides it.
  * ROS_LOG_DIR and ROS_HOME: a temporary folder, removed at exit.
Subprocesses inherit all of it through os.environ; `ros_env` gives the values.

Usage:
    def test_something(ros_node, spin_until):
        node = ros_node("probe")              # a node in a fresh context, destroyed afterwards
        ...
        assert spin_until(lambda: got, timeout=5.0)

    def test_lower_level(rclpy_context):      # just the initialised context
        node = rclpy.create_node("x", context=rclpy_context)
"""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from litetrack_ros.dds_shm import remove_orphaned_segments

if "rclpy" in sys.modules and getattr(sys.modules["rclpy"], "ok", lambda: False)():
    # Too late to set the environment for an already initialised default context.
    raise RuntimeError("rclpy was initialised before test/ros/conftest.py set the ROS environment")


def _test_domain_id() -> int:
    override = os.environ.get("LITETRACK_TEST_ROS_DOMAIN_ID")
    if override:
        return int(override)
    return 1 + os.getpid() % 101


ROS_DOMAIN_ID = _test_domain_id()
ROS_LOG_DIR = tempfile.mkdtemp(prefix="litetrack-ros-test-")
atexit.register(shutil.rmtree, ROS_LOG_DIR, True)

if os.environ.get("ROS_AUTOMATIC_DISCOVERY_RANGE") != "OFF":  # OFF is stricter: keep it
    os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
os.environ["ROS_STATIC_PEERS"] = ""
os.environ.pop("ROS_LOCALHOST_ONLY", None)
os.environ["ROS_DOMAIN_ID"] = str(ROS_DOMAIN_ID)
os.environ["ROS_LOG_DIR"] = os.path.join(ROS_LOG_DIR, "log")
os.environ["ROS_HOME"] = os.path.join(ROS_LOG_DIR, "home")
os.environ.setdefault("RMW_IMPLEMENTATION", "rmw_fastrtps_cpp")
# Camera-sized frames through shared memory, as the demo does (the file says why).
os.environ["FASTDDS_DEFAULT_PROFILES_FILE"] = os.path.join(
    os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "config", "fastdds_large_images.xml"
)

# What killed processes of earlier runs left in /dev/shm is memory this session may need (CI was
# killed for want of it once, with 19 GB of them there): removed, as `fastdds shm clean` would.
_removed, _freed = remove_orphaned_segments()
if _removed:
    print(f"test/ros: removed {_removed} orphaned Fast DDS segments ({_freed / 2**20:.0f} MiB) from /dev/shm", file=sys.stderr)


@pytest.fixture(scope="session")
def ros_env() -> dict[str, str]:
    """The ROS environment variables this session runs under (already in os.environ)."""
    keys = ("ROS_AUTOMATIC_DISCOVERY_RANGE", "ROS_STATIC_PEERS", "ROS_DOMAIN_ID", "ROS_LOG_DIR",
            "ROS_HOME", "RMW_IMPLEMENTATION")
    return {k: os.environ[k] for k in keys}


@pytest.fixture
def rclpy_context() -> Iterator[Any]:
    """A fresh, initialised rclpy Context on the session's domain; shut down after the test."""
    import rclpy
    from rclpy.context import Context

    context = Context()
    rclpy.init(context=context, domain_id=ROS_DOMAIN_ID)
    try:
        yield context
    finally:
        rclpy.try_shutdown(context=context)


@pytest.fixture
def ros_executor(rclpy_context) -> Iterator[Any]:
    """A SingleThreadedExecutor of `rclpy_context`; nodes made by `ros_node` are added to it."""
    from rclpy.executors import SingleThreadedExecutor

    executor = SingleThreadedExecutor(context=rclpy_context)
    try:
        yield executor
    finally:
        executor.shutdown(timeout_sec=1.0)


@pytest.fixture
def ros_node(rclpy_context, ros_executor) -> Iterator[Callable[..., Any]]:
    """Factory: ros_node(name, **node_kwargs) -> rclpy Node in `rclpy_context`, added to
    `ros_executor`, destroyed after the test."""
    from rclpy.node import Node

    nodes = []

    def make(name: str, **kwargs: Any) -> Any:
        node = Node(name, context=rclpy_context, **kwargs)
        nodes.append(node)
        ros_executor.add_node(node)
        return node

    try:
        yield make
    finally:
        for node in reversed(nodes):
            ros_executor.remove_node(node)
            node.destroy_node()


@pytest.fixture
def spin_until(ros_executor) -> Callable[..., bool]:
    """spin_until(predicate, timeout=5.0) -> bool: spin `ros_executor` until predicate() is true."""

    def spin(predicate: Callable[[], Any], timeout: float = 5.0) -> bool:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                return False
            ros_executor.spin_once(timeout_sec=0.05)
        return True

    return spin
