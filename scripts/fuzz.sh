#!/usr/bin/env bash
# Runs the grammar-aware fuzzer (test/Fuzz/fuzz.py) for longer than CI does:
#   scripts/fuzz.sh [CASES] [SEED]     (defaults: 20000 cases, seed: the time)
# against BUILD_DIR (default build/); failing cases and the commands that
# reproduce them stay in FUZZ_OUT (default build/fuzz-<seed>/). With a
# build of scripts/asan.sh (BUILD_DIR=build-asan; its sanitizer options,
# scripts/asan-env.sh, are then set) memory errors are found too. The
# libFuzzer targets (bin/moe-fuzz-npy, bin/moe-fuzz-mlir; built when the
# compiler supports -fsanitize=fuzzer) run on their own, e.g.
#   build/bin/moe-fuzz-npy -max_total_time=600 test/Fuzz/corpus/npy
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${BUILD_DIR:-$ROOT/build}
CASES=${1:-20000}
SEED=${2:-$(date +%s)}
OUT=${FUZZ_OUT:-$BUILD/fuzz-$SEED}
if grep -q '^LLVM_USE_SANITIZER.*Address' "$BUILD/CMakeCache.txt" 2>/dev/null; then
  . "$ROOT/scripts/asan-env.sh"
fi
exec /usr/bin/python3 "$ROOT/test/Fuzz/fuzz.py" --moe-opt "$BUILD/bin/moe-opt" \
  --moe-run "$BUILD/bin/moe-run" --src "$ROOT" --cases "$CASES" --seed "$SEED" \
  --jobs "$(nproc)" --out "$OUT"
