#!/usr/bin/env bash
# moe-compile time on DeepSeek-V3 modules of 1, 8, 16, 32 and 61 layers
# (run on demand; not a test). For every size: the median wall time of
#   moe-opt M -moe-compile            (the pipeline: select, expand, fuse,
#                                      schedule, verify; plus parse/print)
#   moe-opt M                         (parse + verify + print alone)
# run interleaved so both see the same machine noise; the difference is the
# pipeline's own time. Then the per-layer cost of the pipeline between sizes,
# which is flat when the pipeline is linear in the number of layers, and
# the in-process time of the passes alone (--mlir-timing, 'func.func'
# Pipeline), which is free of process start-up noise.
#   RUNS=N repetitions (default 15).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${BUILD_DIR:-$ROOT/build}
RUNS=${RUNS:-15}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
for n in 1 8 16 32 61; do
  /usr/bin/python3 "$ROOT/scripts/gen_deepseek_v3_61.py" --layers "$n" "$WORK/l$n.mlir"
done
/usr/bin/python3 - "$BUILD/bin/moe-opt" "$WORK" "$RUNS" <<'PY'
import statistics, subprocess, sys, time
moe_opt, work, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
sizes = [1, 8, 16, 32, 61]

import re

def pipeline_ms(m):
    r = subprocess.run([moe_opt, m, "-moe-compile", "-o", "/dev/null",
                        "--mlir-timing"], check=True, capture_output=True,
                       text=True)
    hit = re.search(r"^\s*([0-9.]+) \(\s*[0-9.]+%\)\s+'func.func' Pipeline",
                    r.stderr, re.M)
    return float(hit.group(1)) * 1e3

def wall(cmd):
    t = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    return (time.perf_counter() - t) * 1e3

full = {n: [] for n in sizes}
parse = {n: [] for n in sizes}
passes = {n: [] for n in sizes}
for _ in range(runs):
    for n in sizes:
        m = f"{work}/l{n}.mlir"
        full[n].append(wall([moe_opt, m, "-moe-compile", "-o", "/dev/null"]))
        parse[n].append(wall([moe_opt, m, "-o", "/dev/null"]))
        passes[n].append(pipeline_ms(m))
print(f"{'layers':>6} {'moe-compile':>12} {'parse+print':>12} {'difference':>11} "
      f"{'ms/layer':>9} {'passes':>9} {'ms/layer':>9}")
prev = None
for n in sizes:
    f, p = statistics.median(full[n]), statistics.median(parse[n])
    q = statistics.median(passes[n])
    step = qstep = " " * 9
    if prev is not None:
        step = f"{(f - prev[1]) / (n - prev[0]):9.2f}"
        qstep = f"{(q - prev[2]) / (n - prev[0]):9.2f}"
    print(f"{n:6d} {f:10.1f}ms {p:10.1f}ms {f - p:9.1f}ms {step} "
          f"{q:7.1f}ms {qstep}")
    prev = (n, f, q)
print(f"(medians of {runs} runs. moe-compile, parse+print: wall time of the "
      "process; passes: in-process time of the pass pipeline from "
      "--mlir-timing; ms/layer: time added per layer since the previous size)")
PY
