#!/usr/bin/env bash
# Valgrind (memcheck) run of moe-run on a few small layers (on demand; not
# part of CI: each case takes a minute or two under valgrind). It checks
# that the default build is portable (no instruction valgrind's virtual CPU
# lacks: the runtime picks its kernels from the CPU's features, and
# valgrind reports a CPU without AVX-512) and that the runtime, the JIT and
# the compiled layer make no invalid read, write or free. Any valgrind
# error fails the run (--error-exitcode). Uses the normal build
# (scripts/setup.sh; BUILD_DIR and MOE_COMPILER as there) and refuses one
# configured with MOE_NATIVE=ON.
#   1. the hand-computable layer of test/Tools/moe-run on one rank, with the
#      kernels the CPU (as valgrind presents it) selects;
#   2. a w8a8 DeepSeek-style layer (mc2, shared experts) on 2 ranks with the
#      same kernels, checked against the NumPy reference;
#   3. a w4a8 layer (alltoall) on 2 ranks with MOE_CPU_ISA=portable,
#      checked against the NumPy reference.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
COMPILER=${MOE_COMPILER:-clang}
BUILD=${BUILD_DIR:-$ROOT/build}
[ "$COMPILER" = clang ] || BUILD=${BUILD_DIR:-$ROOT/build-gcc}
PY=/usr/bin/python3

"$ROOT/scripts/setup.sh"
if ! command -v valgrind >/dev/null; then
  SUDO=; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends valgrind
fi
if grep -q '^MOE_NATIVE:BOOL=ON' "$BUILD/CMakeCache.txt"; then
  echo "$BUILD is configured with MOE_NATIVE=ON: valgrind needs the portable build" >&2
  exit 2
fi

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
# The JIT writes code before running it: --smc-check makes valgrind notice.
cat > "$WORK/moe-run" <<WRAP
#!/bin/sh
exec valgrind -q --error-exitcode=99 --smc-check=all-non-file "$BUILD/bin/moe-run" "\$@"
WRAP
chmod +x "$WORK/moe-run"

echo "== 1. tiny layer, 1 rank"
$PY "$ROOT/test/Tools/moe-run/Inputs/tiny_inputs.py" "$WORK"
"$WORK/moe-run" "$ROOT/test/Tools/moe-run/Inputs/tiny_layer.mlir" \
  --input x="$WORK/x.npy" --input logits="$WORK/logits.npy" \
  --input w13="$WORK/w13.npy" --input w2="$WORK/w2.npy" --print --timing \
  | tee "$WORK/tiny.txt"
grep -q "1.09659 0.548294" "$WORK/tiny.txt"
grep -q "0.365529 0" "$WORK/tiny.txt"

echo "== 2. w8a8 mc2, 2 ranks"
# Collectives may wait long for a rank valgrind has not scheduled yet.
SLOW=(--timeout 900 --moe-run-arg=--timeout=600)
$PY "$ROOT/scripts/reference/run_case.py" --work-dir "$WORK/w8a8" \
  --moe-run "$WORK/moe-run" "${SLOW[@]}" --method mc2 --preset deepseek \
  --world 2 --quant w8a8 --tokens 5,11 --seed 7

echo "== 3. w4a8 alltoall, 2 ranks, portable kernels"
MOE_CPU_ISA=portable $PY "$ROOT/scripts/reference/run_case.py" \
  --work-dir "$WORK/w4a8" --moe-run "$WORK/moe-run" "${SLOW[@]}" \
  --method alltoall --preset mixtral --world 2 --quant w4a8 \
  --group-size 16 --tokens 6,3 --seed 8
echo "== valgrind: clean"
