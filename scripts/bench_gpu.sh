#!/usr/bin/env bash
# The GPU figures of docs/benchmarks.md: litetrack-b256 and litetrack-s168 on one CUDA device,
# every precision, exact vs asymmetric (target caching), keep 1.0 vs 0.5, eager vs CUDA graphs,
# then each config's fastest setting alone in its process for its peak memory, then pruning
# schedules compared on litetrack-b256 (bf16, CUDA graphs, asymmetric).
#   usage: scripts/bench_gpu.sh [OUT_DIR] [SEQUENCE_DIR]
set -u
out=${1:-results/bench-gpu}
seq=${2:-../shared/data/sequences/crossing_otb}
mkdir -p "$out"
bench() { python3 -m litetrack_core.cli bench --device cuda --sequence "$seq" --warmup 10 "$@"; }
for config in litetrack-b256 litetrack-s168; do
  bench --config $config --precision fp32 bf16 fp16 --attention exact asymmetric --keep 1.0 0.5 \
    --graphs both --frames 40 --json "$out/$config-cases.json" || echo "FAILED: $config cases"
  for precision in bf16 fp16; do
    bench --config $config --precision $precision --attention asymmetric --keep 0.5 --graphs on \
      --frames 100 --json "$out/$config-$precision-alone.json" || echo "FAILED: $config $precision alone"
  done
done
bench --config litetrack-b256 --precision bf16 --attention asymmetric --graphs on --keep 1.0 0.7 0.5 \
  --prune similarity@1 similarity@2 similarity@2,6 attention@3,6,9 --frames 40 --json "$out/b256-schedules.json" \
  || echo "FAILED: schedules"
