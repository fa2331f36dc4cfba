#!/usr/bin/env python3
"""Issue 12's targets in one run: every row against its bound, then the
ratios and the 4-rank overlap.

For f32 / w8a8 / w4a8 at T = 1, 16, 128 and 1024 (Qwen3-30B-A3B shape, one
rank) runs `moe-layer-bench --bound [--quant Q] --tokens T` three times,
each in a fresh process (load, first step, timed steps). The bench holds
the bound's one definition (bench/layer/Bounds.h: the bytes of the experts
a step touches over the read bandwidth, or its operations over the FMA or
int8 peak, whichever is larger) and measures the read bandwidth in the
same process, over the layer's own weights, before and after every ~20 ms
window of steps: this host's bandwidth moves by 2x within seconds (35-80
GB/s), so a probe taken in another process says little about the steps.
Prints per row the median over the three runs of: the step time, the
bound, the step against the bound (each run's median over its windows),
the first step after the load over the median of the run and over the
median of the 10 steps right after it (the steady state at that moment),
and the memory line.

The ratios the issue asks for (w4a8 over w8a8 at T = 1, w8a8 over f32 at
T = 1024) come from `--versus`: both layers in one process, alternating
step by step on the same routing, the median of the per-step ratios.

    /usr/bin/python3 bench/layer_targets.py [--build build] [--quick]
"""
import argparse
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def bench(build, args):
    cmd = [os.path.join(build, "bin", "moe-layer-bench")] + args
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{out.stderr}")
    return out.stdout


def need(pattern, out):
    m = re.search(pattern, out)
    if not m:
        sys.exit(f"no match for {pattern!r} in:\n{out}")
    return m


def mid(values):
    return sorted(values)[len(values) // 2]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--build", default=os.path.join(ROOT, "build"))
    parser.add_argument("--quick", action="store_true",
                        help="fewer iterations (a smoke run, not figures)")
    opts = parser.parse_args()

    repeats = 1 if opts.quick else 3
    print(f"{'config':14} {'median':>10} {'bound':>17} {'of bound':>17} "
          f"{'first / median':>17}  {'first / next 10':>17}  {'memory':>6}  "
          "read GB/s per run")
    for quant in ["none", "w8a8", "w4a8"]:
        for tokens in [1, 16, 128, 1024]:
            runs = []
            for _ in range(repeats):
                iters = 3 if opts.quick else (7 if tokens == 1024 else
                                              30 if tokens >= 128 else 200)
                warm = 1 if opts.quick else (3 if tokens >= 128 else 20)
                out = bench(opts.build, [
                    "--bound", "--quant", quant, "--tokens", str(tokens),
                    "--iters", str(iters), "--warmup", str(warm)])
                of = need(r"of bound: ([\d.]+) .*; bound ([\d.]+) ms "
                          r"\((\w+)\)", out)
                mem = re.search(r"\(([\d.]+)x the live tensors\)", out)
                runs.append({
                    "med": float(need(r"median ([\d.]+) ms", out).group(1)),
                    "of": float(of.group(1)), "bound": float(of.group(2)),
                    "kind": of.group(3),
                    "first": float(need(r"\(([\d.]+)x the median;",
                                        out).group(1)),
                    "next": float(need(r"; ([\d.]+)x the median of the \d+ "
                                       r"steps after it\)", out).group(1)),
                    "mem": float(mem.group(1)) if mem else 0.0,
                    "read": need(r"the weights ([\d.]+ GB/s \([\d.-]+\))",
                                 out).group(1)})
            ofs = sorted(r["of"] for r in runs)
            firsts = sorted(r["first"] for r in runs)
            nexts = sorted(r["next"] for r in runs)
            m = sorted(runs, key=lambda r: r["of"])[len(runs) // 2]
            print(f"{quant + ' T=' + str(tokens):14} {m['med']:8.3f} ms "
                  f"{m['bound']:8.3f} ms ({m['kind']:4}) "
                  f"{mid(ofs):5.2f} ({ofs[0]:.2f}-{ofs[-1]:.2f}) "
                  f"{mid(firsts):5.2f}x ({firsts[0]:.2f}-{firsts[-1]:.2f}) "
                  f"{mid(nexts):5.2f}x ({nexts[0]:.2f}-{nexts[-1]:.2f}) "
                  f"{mid([r['mem'] for r in runs]):5.2f}x  "
                  + "; ".join(r["read"] for r in runs))

    for label, args in [
            ("w4a8 over w8a8 at T=1",
             ["--quant", "w4a8", "--versus", "w8a8", "--tokens", "1",
              "--iters", "20" if opts.quick else "400", "--warmup", "20"]),
            ("w8a8 over f32 at T=1024",
             ["--quant", "w8a8", "--versus", "none", "--tokens", "1024",
              "--iters", "2" if opts.quick else "9", "--warmup", "2"])]:
        out = bench(opts.build, args)
        ratio = need(r"time: median ([\d.]+)x \(middle half ([\d.-]+)x, "
                     r"(\d+) pairs\)", out)
        print(f"{label}, alternating step by step in one process: "
              f"{ratio.group(1)}x faster (middle half {ratio.group(2)}x, "
              f"{ratio.group(3)} pairs)")

    for method in ["allgather", "mc2", "alltoall"]:
        out = bench(opts.build, ["--world", "4", "--tokens", "64",
                                 "--shared-inter", "1536", "--overlap",
                                 "--method", method, "--iters",
                                 "2" if opts.quick else "7"])
        med = need(r"median ([\d.]+) ms", out).group(1)
        longest = re.search(r"longest collective ([\d.]+) ms: (.*)", out)
        print(f"4 ranks {method}: median {med} ms; "
              + (longest.group(0) if longest else "no collective line"))
        for line in out.splitlines():
            if "overlap" in line and "rank" in line:
                print("  " + line.strip())


if __name__ == "__main__":
    main()
