#!/usr/bin/env bash
# Compile-time benchmarks (run on demand; not a test):
#  1. a from-scratch build of the project on this machine (no ccache);
#  2. moe-opt parse + verify + print of the 61-layer DeepSeek-V3 module, next to
#     a baseline run side by side: upstream mlir-opt parsing and printing the same
#     module as unregistered (generic) ops, i.e. the cost of the text alone.
#   BENCH_SKIP_BUILD=1 skips (1).  RUNS=N repetitions for (2) (default 30).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${BUILD_DIR:-$ROOT/build}
RUNS=${RUNS:-30}
MODULE=$ROOT/examples/deepseek_v3_61_layers.mlir

if [ "${BENCH_SKIP_BUILD:-0}" != 1 ]; then
  SCRATCH=$(mktemp -d)
  trap 'rm -rf "$SCRATCH"' EXIT
  cmake -G Ninja -S "$ROOT" -B "$SCRATCH" -DCMAKE_BUILD_TYPE=Release \
    -DMLIR_DIR=/usr/lib/llvm-19/lib/cmake/mlir \
    -DCMAKE_C_COMPILER=clang-19 -DCMAKE_CXX_COMPILER=clang++-19 -DLLVM_USE_LINKER=lld \
    -DPython3_EXECUTABLE=/usr/bin/python3 >/dev/null
  start=$(date +%s.%N)
  CCACHE_DISABLE=1 cmake --build "$SCRATCH" -- -j2 >/dev/null
  end=$(date +%s.%N)
  echo "from-scratch build (2 jobs, no ccache): $(echo "$end - $start" | bc) s"
fi

"$BUILD/bin/moe-opt" "$MODULE" --mlir-print-op-generic > "$BUILD/61-generic.mlir"
/usr/bin/python3 - "$BUILD/bin/moe-opt" "$MODULE" "$BUILD/61-generic.mlir" "$RUNS" <<'PY'
import statistics, subprocess, sys, time
moe_opt, module, generic, runs = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
cmds = {
    "moe-opt (parse+verify+print)": [moe_opt, module, "-o", "/dev/null"],
    "mlir-opt generic baseline": ["/usr/lib/llvm-19/bin/mlir-opt", "--allow-unregistered-dialect",
                                  "--mlir-print-op-generic", generic, "-o", "/dev/null"],
}
times = {k: [] for k in cmds}
for _ in range(runs):          # interleave so both see the same machine noise
    for name, cmd in cmds.items():
        t = time.perf_counter()
        subprocess.run(cmd, check=True)
        times[name].append((time.perf_counter() - t) * 1e3)
med = {k: statistics.median(v) for k, v in times.items()}
for k, v in med.items():
    print(f"{k:32s} median {v:7.1f} ms  (min {min(times[k]):.1f}, {runs} runs)")
print(f"ratio moe-opt / baseline: {med['moe-opt (parse+verify+print)'] / med['mlir-opt generic baseline']:.2f}")
PY
"$BUILD/bin/moe-opt" "$MODULE" -o /dev/null --mlir-timing 2>&1 | sed -n '1,20p'
