#!/usr/bin/env bash
# moe-compile on DeepSeek-V3 modules of 1, 8, 16, 32 and 61 layers, this
# build side by side with a baseline build (e.g. the previous main's), run on
# demand; not a test. Usage:
#   bench/pipeline_compare.sh BASELINE_BUILD_DIR
# For every size, interleaved so both binaries see the same machine noise:
#   - the median process wall time of `moe-opt M -moe-compile`,
#   - the median in-process time of the pass pipeline (--mlir-timing,
#     'func.func' Pipeline),
#   - when valgrind is installed, the instructions the pass pipeline executes
#     (callgrind, collecting inside the pass manager only: the passes and the
#     verifier runs between them), which this 2-core machine's noise does
#     not touch.
#   RUNS=N repetitions for the timings (default 11).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${BUILD_DIR:-$ROOT/build}
BASE=$(cd "${1:?usage: $0 BASELINE_BUILD_DIR}" && pwd)
RUNS=${RUNS:-11}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
for n in 1 8 16 32 61; do
  /usr/bin/python3 "$ROOT/scripts/gen_deepseek_v3_61.py" --layers "$n" "$WORK/l$n.mlir"
done
/usr/bin/python3 - "$BASE" "$BUILD" "$WORK" "$RUNS" <<'PY'
import os, re, shutil, statistics, subprocess, sys, time
base, new, work, runs = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
sizes = [1, 8, 16, 32, 61]
def tool(build):
    env = dict(os.environ, LD_LIBRARY_PATH=f"{build}/lib")
    return [f"{build}/bin/moe-opt"], env
B, N = tool(base), tool(new)
def wall(t, m):
    start = time.perf_counter()
    subprocess.run(t[0] + [m, "-moe-compile", "-o", "/dev/null"], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=t[1])
    return (time.perf_counter() - start) * 1e3
def passes(t, m):
    r = subprocess.run(t[0] + [m, "-moe-compile", "-o", "/dev/null", "--mlir-timing"],
                       check=True, capture_output=True, text=True, env=t[1])
    hit = re.search(r"^\s*([0-9.]+) \(\s*[0-9.]+%\)\s+'func.func' Pipeline", r.stderr, re.M)
    return float(hit.group(1)) * 1e3
def instructions(t, m):
    r = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
                        "--toggle-collect=mlir::detail::OpToOpPassAdaptor::run(*"]
                       + t[0] + [m, "-moe-compile", "-o", "/dev/null"],
                       check=True, capture_output=True, text=True, env=t[1])
    return int(re.search(r"Collected : (\d+)", r.stderr).group(1))
have_valgrind = shutil.which("valgrind") is not None
print("| layers | baseline wall | wall | ratio | baseline passes | passes | ratio |"
      + (" baseline instructions | instructions | ratio |" if have_valgrind else ""))
print("|---|---|---|---|---|---|---|" + ("---|---|---|" if have_valgrind else ""))
for n in sizes:
    m = f"{work}/l{n}.mlir"
    bw, nw, bp, np_ = [], [], [], []
    for _ in range(runs):
        bw.append(wall(B, m)); nw.append(wall(N, m))
        bp.append(passes(B, m)); np_.append(passes(N, m))
    a, b = statistics.median(bw), statistics.median(nw)
    c, d = statistics.median(bp), statistics.median(np_)
    row = f"| {n} | {a:.1f} ms | {b:.1f} ms | {b/a:.2f} | {c:.1f} ms | {d:.1f} ms | {d/c:.2f} |"
    if have_valgrind:
        e, f = instructions(B, m), instructions(N, m)
        row += f" {e/1e6:.1f} M | {f/1e6:.1f} M | {f/e:.3f} |"
    print(row, flush=True)
print(f"(medians of {runs} interleaved runs; instructions: callgrind, pass manager only)")
PY
