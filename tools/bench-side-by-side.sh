#!/usr/bin/env bash
# bench-side-by-side.sh times this engine and the onnxruntime anchors
# (../shared/bench: onnxruntime-node and onnxruntime-web in headless
# Chromium, random-weight ViT-B/32) in one run on one machine, interleaved
# REPEATS times, so that their figures can be compared (the machines are
# noisy: compare medians and ratios from the same run, not across runs).
#
#   tools/bench-side-by-side.sh            # everything, output in $OUT
#
# Needs, once: ../shared/bench/run_all.sh setup and export (PyTorch from
# Debian exports the ONNX files; npm installs onnxruntime), with the same
# BENCH_DIR. Environment: BENCH_DIR (default $TMPDIR/bench, as the harness), OUT (default
# $BENCH_DIR/side-by-side), REPEATS (default 1), THREADS (default "1 2").
set -euo pipefail
cd "$(dirname "$0")/.."
HARNESS=$(cd ../shared/bench && pwd)
export BENCH_DIR=${BENCH_DIR:-${TMPDIR:-/tmp}/bench} # the harness's own default
OUT=${OUT:-$BENCH_DIR/side-by-side}
ROUNDS=${REPEATS:-1} # the harness below runs once per round (its own REPEATS=1)
THREADS=${THREADS:-1 2}
mkdir -p "$OUT"
export RESULTS_DIR="$OUT/ort" QUICK=1 REPEATS=1 THREADS
ours() { # native encoders, then the wasm build in Node, then the benchmark page in Chromium
  for t in $THREADS; do
    echo "== native, GOMAXPROCS=$t"
    GOMAXPROCS=$t go test -run xxx -bench 'ImageViTB32|TextViTB32' -benchtime 20x ./model/ | grep -E '^Benchmark'
  done
  echo "== js/wasm in Node"
  PATH="$PWD/tools/wasmexec:$PATH" GOOS=js GOARCH=wasm go test -run xxx -bench 'ImageViTB32|TextViTB32' -benchtime 3x ./model/ | grep -E '^Benchmark'
  echo "== benchmark page in headless Chromium"
  CLIP4CLIP_BENCH=1 go test -count=1 -run BenchPage -v -timeout 40m ./e2e/ | grep -E 'bench_test|^(ok|FAIL|---)'
}
for rep in $(seq "$ROUNDS"); do
  ours 2>&1 | tee -a "$OUT/ours.txt"
  "$HARNESS/run_all.sh" node browser 2>&1 | tee -a "$OUT/ort.log"
done
"$HARNESS/run_all.sh" report | tee "$OUT/ort-table.md"
echo "ours: $OUT/ours.txt; onnxruntime: $OUT/ort-table.md"
