#!/usr/bin/env bash
# Trains the sanagraph demo model from scratch and exports it into models/demo/ (about 35 min on 2 CPU cores).
#   models/demo/train/run.sh            # full run
#   SMOKE=1 models/demo/train/run.sh    # 2-minute smoke test (tiny budgets, writes to /tmp/sg-demo-smoke)
# Needs Debian's torch: apt-get install -y python3-torch python3-onnx python3-numpy python3-pil libopenblas0-openmp
# Never run another torch process at the same time (both slow down ~10x).
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../../.." && pwd)"
PY=/usr/bin/python3
export OMP_NUM_THREADS=2 PYTHONHASHSEED=0
SEED="${SEED:-0}"
# SCHEDULER / SHIFT override the sampling defaults (common.py: DEFAULT_SCHEDULER, DEFAULT_SHIFT) that
# pipeline.json ships and the evaluation reports.
SAMPLING=()
if [[ -n "${SCHEDULER:-}" ]]; then SAMPLING+=(--scheduler "$SCHEDULER"); fi
if [[ -n "${SHIFT:-}" ]]; then SAMPLING+=(--shift "$SHIFT"); fi
if [[ "${SMOKE:-0}" == 1 ]]; then
  WORK=/tmp/sg-demo-smoke; OUT=/tmp/sg-demo-smoke/model; PARITY=/tmp/sg-demo-smoke/parity
  TRAIN_ARGS=(--images 600 --ae-steps 60 --dit-steps 60)
else
  WORK="$HERE/.work"; OUT="$HERE/.."; PARITY=/tmp/sg-demo-parity
  TRAIN_ARGS=(--images 24000 --ae-steps 5000 --dit-steps 4000)
fi
mkdir -p "$WORK" "$OUT"
if ! dpkg -s libopenblas0-openmp >/dev/null 2>&1; then
  echo "warning: libopenblas0-openmp is not installed; torch falls back to reference BLAS (about 10x slower)" >&2
fi
start=$(date +%s)
cd "$HERE"
echo "== train (seed $SEED)"
$PY train.py --work "$WORK" --seed "$SEED" "${TRAIN_ARGS[@]}"
t1=$(date +%s)
echo "== evaluate"
$PY evaluate.py --work "$WORK" "${SAMPLING[@]}"
t2=$(date +%s)
echo "== export"
$PY export.py --work "$WORK" --out "$OUT" --parity "$PARITY" "${SAMPLING[@]}"
t3=$(date +%s)
if [[ "${SMOKE:-0}" != 1 ]] && command -v node >/dev/null && [[ -d "$ROOT/node_modules/onnxruntime-node" ]]; then
  echo "== verify in onnxruntime-node"
  (cd "$ROOT" && node --import tsx models/demo/train/verify_onnx.mts "$PARITY" --e2e) || echo "verification FAILED" >&2
fi
t4=$(date +%s)
echo "== timings: train $((t1-start)) s, evaluate $((t2-t1)) s, export $((t3-t2)) s, verify $((t4-t3)) s, total $((t4-start)) s"
