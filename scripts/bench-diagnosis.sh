#!/usr/bin/env bash
# Inference benchmark: Consilium's engines (tract; onnxruntime through the `ort` feature) beside
# onnxruntime in Python (version pinned below) on the same models and inputs, in one run.
# Usage: scripts/bench-diagnosis.sh [iterations, default 30]
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/consilium-target}"
ITER="${1:-30}"
VENV="${CONSILIUM_BENCH_VENV:-/var/tmp/consilium-bench-py}"
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'import onnxruntime' 2>/dev/null; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q onnxruntime==1.32.0 numpy==2.4.6 pillow==13.0.0
fi
LIB=$(ls "$VENV"/lib/python3*/site-packages/onnxruntime/capi/libonnxruntime.so.* | head -n 1)
BASELINE=$(mktemp)
trap 'rm -f "$BASELINE"' EXIT
cargo build -q --release -p consilium-tests --features ort --benches
for model in diagnosisnet sklesion; do
  for threads in 1 2; do
    "$VENV/bin/python" models/bench_onnxruntime.py "models/$model" --threads "$threads" \
      --iterations "$ITER" --warmup 3 | tee -a "$BASELINE"
  done
done
cargo bench -q --profile release -p consilium-tests --features ort --bench diagnosis -- \
  --ort-lib "$LIB" --iterations "$ITER" --baseline "$BASELINE"
