#!/usr/bin/env python3
"""Issue 12's targets in one run: the machine's bounds, then every row.

Runs, one process per line and in order, for f32 / w8a8 / w4a8 at T = 1,
16, 128 and 1024 (Qwen3-30B-A3B shape, one rank): `moe-layer-bench
--machine` and then `moe-layer-bench [--quant Q] --tokens T`; then the
4-rank shared-expert runs with --overlap. The probe runs right before each
row because this machine's read bandwidth moves (35-73 GB/s over a day of
runs on a shared host). Every row runs three times (probe, then the layer
in a fresh process) and prints the median of each figure with its range.
Prints a table with each median against its bound (the run's probe):

  read bound    = bytes of the experts a step touches / read bandwidth
                  (E (1 - (1 - K/E)^T) experts expected; 4 bytes per f32
                  weight, 1 per int8, 1/2 per int4)
  compute bound = 2 T K (3 H I) operations / the FMA (f32) or int8 peak
  bound         = max of the two

and the first step after the load over the median, the memory line, and
the ratios the issue asks for (w8a8 over f32 at T = 1024, w8a8 over w4a8
at T = 1).

    /usr/bin/python3 bench/layer_targets.py [--build build] [--quick]
"""
import argparse
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
H, E, K, I = 2048, 128, 8, 768
BYTES = {"none": 4.0, "w8a8": 1.0, "w4a8": 0.5}


def bench(build, args):
    cmd = [os.path.join(build, "bin", "moe-layer-bench")] + args
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{out.stderr}")
    return out.stdout


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--build", default=os.path.join(ROOT, "build"))
    parser.add_argument("--quick", action="store_true",
                        help="fewer iterations (a smoke run, not figures)")
    opts = parser.parse_args()

    def probe():
        machine = bench(opts.build, ["--machine"])
        m = re.search(r"read ([\d.]+) GB/s, fma ([\d.]+) GFLOP/s.*int8 "
                      r"([\d.]+) GOP/s", machine)
        if not m:
            sys.exit("no machine line in:\n" + machine)
        return (float(v) * 1e9 for v in m.groups())

    # Each row runs `repeats` times, each run a probe and then the layer in
    # a fresh process (load, first step, timed steps), and prints the
    # median of each figure over the runs with their range: one run's
    # first step is a single sample, and this host's bandwidth can change
    # between it and the steps after it.
    repeats = 1 if opts.quick else 3
    print(f"{'config':14} {'median':>10} {'bound':>18} {'of bound':>16} "
          f"{'first':>16}  {'memory':>6}  probe: read GB/s, fma, int8")

    def mid(values):
        return sorted(values)[len(values) // 2]

    for quant in ["none", "w8a8", "w4a8"]:
        for tokens in [1, 16, 128, 1024]:
            runs = []
            for _ in range(repeats):
                read, fma, int8 = probe()
                iters = 3 if opts.quick else (7 if tokens == 1024 else 30)
                warm = 1 if opts.quick else (3 if tokens >= 128 else 20)
                args = ["--tokens", str(tokens), "--iters", str(iters),
                        "--warmup", str(warm)]
                if quant != "none":
                    args += ["--quant", quant]
                out = bench(opts.build, args)
                med = float(re.search(r"median ([\d.]+) ms", out).group(1))
                first = float(re.search(r"\(([\d.]+)x the median\)",
                                        out).group(1))
                mem = re.search(r"\(([\d.]+)x the live tensors\)", out)
                experts = E * (1 - (1 - K / E) ** tokens)
                weight_bytes = experts * 3 * H * I * BYTES[quant]
                ops = 2.0 * tokens * K * 3 * H * I
                read_bound = weight_bytes / read
                compute_bound = ops / (fma if quant == "none" else int8)
                bound = max(read_bound, compute_bound)
                kind = "read" if read_bound >= compute_bound else (
                    "fma" if quant == "none" else "int8")
                runs.append({"med": med, "bound": bound * 1e3, "kind": kind,
                             "of": bound * 1e3 / med, "first": first,
                             "mem": float(mem.group(1)) if mem else 0.0,
                             "probe": (read / 1e9, fma / 1e9, int8 / 1e9)})
            of = sorted(r["of"] for r in runs)
            firsts = sorted(r["first"] for r in runs)
            m = sorted(runs, key=lambda r: r["of"])[len(runs) // 2]
            print(f"{quant + ' T=' + str(tokens):14} {m['med']:8.3f} ms "
                  f"{m['bound']:9.3f} ms ({m['kind']:4}) "
                  f"{mid(of):5.2f} ({of[0]:.2f}-{of[-1]:.2f}) "
                  f"{mid(firsts):5.2f}x ({firsts[0]:.2f}-{firsts[-1]:.2f}) "
                  f"{mid([r['mem'] for r in runs]):5.2f}x  "
                  + "; ".join(f"{a:.1f}, {b:.0f}, {c:.0f}"
                              for a, b, c in (r["probe"] for r in runs)))
    # The ratios the issue asks for, from alternating runs (rows minutes
    # apart may see different bandwidth): each round runs both back to back.
    def median_of(args):
        out = bench(opts.build, args)
        return float(re.search(r"median ([\d.]+) ms", out).group(1))

    rounds = 2 if opts.quick else 5
    for label, a, b in [
            ("w4a8 over w8a8 at T=1",
             ["--quant", "w8a8", "--tokens", "1", "--iters", "60", "--warmup", "20"],
             ["--quant", "w4a8", "--tokens", "1", "--iters", "60", "--warmup", "20"]),
            ("w8a8 over f32 at T=1024",
             ["--tokens", "1024", "--iters", "5"],
             ["--quant", "w8a8", "--tokens", "1024", "--iters", "5"])]:
        ratios = []
        for _ in range(rounds):
            ratios.append(median_of(a) / median_of(b))
        ratios.sort()
        print(f"{label}, alternating: {ratios[len(ratios) // 2]:.2f}x faster "
              f"(median of {rounds} rounds: "
              + ", ".join(f"{r:.2f}" for r in ratios) + ")")

    for method in ["allgather", "mc2", "alltoall"]:
        out = bench(opts.build, ["--world", "4", "--tokens", "64",
                                 "--shared-inter", "1536", "--overlap",
                                 "--method", method, "--iters",
                                 "2" if opts.quick else "7"])
        med = re.search(r"median ([\d.]+) ms", out).group(1)
        longest = re.search(r"longest collective ([\d.]+) ms: (.*)", out)
        print(f"4 ranks {method}: median {med} ms; "
              + (longest.group(0) if longest else "no collective line"))
        for line in out.splitlines():
            if "overlap" in line and "rank" in line:
                print("  " + line.strip())


if __name__ == "__main__":
    main()
