#!/usr/bin/env bash
# The main job: set up (install + build), compile an example MoE layer, then
# run a layer of that shape on 4 ranks with moe-run and compare every rank's
# output with the dense NumPy reference.
#   MOE_COMPILER clang (default) or gcc, as for scripts/setup.sh
#   BUILD_DIR    build directory (default <repo>/build, <repo>/build-gcc
#                for gcc)
#   MOE_WORK_DIR where the generated inputs go (default: a temporary
#                directory, removed afterwards; they take ~5 GB)
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${BUILD_DIR:-$ROOT/build}
[ "${MOE_COMPILER:-clang}" = clang ] || BUILD=${BUILD_DIR:-$ROOT/build-gcc}
"$ROOT/scripts/setup.sh"

EXAMPLE=$ROOT/examples/qwen3_30b_a3b.mlir
echo
echo "== 1. compiling $EXAMPLE with moe-opt -moe-compile"
echo "   (Qwen3-30B-A3B: H 2048, 128 experts, top-8, I 768; TP 2 x DP 2 with"
echo "    expert parallelism on Atlas A2; the remark says which method the"
echo "    compiler chose and why)"
"$BUILD/bin/moe-opt" "$EXAMPLE" -moe-compile -mlir-print-op-on-diagnostic=false \
  -o /dev/null

WORK=${MOE_WORK_DIR:-$(mktemp -d)}
[ -n "${MOE_WORK_DIR:-}" ] || trap 'rm -rf "$WORK"' EXIT
echo
echo "== 2. running a layer of that shape (f32) on 4 ranks with moe-run and"
echo "      comparing each rank's output with the dense reference"
/usr/bin/python3 "$ROOT/scripts/reference/run_case.py" \
  --moe-run "$BUILD/bin/moe-run" --work-dir "$WORK" \
  --hidden 2048 --experts 128 --top-k 8 --inter 768 --scoring softmax \
  --renormalize --world 4 --tp 2 --chip A2 --tokens 48,17
