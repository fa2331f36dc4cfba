#!/usr/bin/env python3
"""Issue 12's targets in one run: the machine's bounds, then every row.

Runs, one process per line and in order, for f32 / w8a8 / w4a8 at T = 1,
16, 128 and 1024 (Qwen3-30B-A3B shape, one rank): `moe-layer-bench
--machine` and then `moe-layer-bench [--quant Q] --tokens T`; then the
4-rank shared-expert runs with --overlap. The probe runs right before each
row because this machine's read bandwidth moves (35-73 GB/s over a day of
runs on a shared host). Prints a table with each median against its bound
(the row's probe):

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

    rows = []
    print(f"{'config':14} {'median':>10} {'bound':>18} {'of bound':>9} "
          f"{'first':>6}  {'memory':10} probe: read GB/s, fma, int8")
    for quant in ["none", "w8a8", "w4a8"]:
        for tokens in [1, 16, 128, 1024]:
            read, fma, int8 = probe()
            iters = 3 if opts.quick else (7 if tokens == 1024 else 30)
            warm = 1 if opts.quick else (3 if tokens >= 128 else 20)
            args = ["--tokens", str(tokens), "--iters", str(iters),
                    "--warmup", str(warm)]
            if quant != "none":
                args += ["--quant", quant]
            out = bench(opts.build, args)
            med = float(re.search(r"median ([\d.]+) ms", out).group(1)) / 1e3
            first = re.search(r"\(([\d.]+)x the median\)", out).group(1)
            mem = re.search(r"\(([\d.]+)x the live tensors\)", out)
            experts = E * (1 - (1 - K / E) ** tokens)
            weight_bytes = experts * 3 * H * I * BYTES[quant]
            ops = 2.0 * tokens * K * 3 * H * I
            read_bound = weight_bytes / read
            compute_bound = ops / (fma if quant == "none" else int8)
            bound = max(read_bound, compute_bound)
            kind = "read" if read_bound >= compute_bound else (
                "fma" if quant == "none" else "int8")
            rows.append((quant, tokens, med))
            print(f"{quant + ' T=' + str(tokens):14} {med * 1e3:8.3f} ms "
                  f"{bound * 1e3:9.3f} ms ({kind:4}) {bound / med:9.2f} "
                  f"{first:>5}x  {mem.group(1) if mem else '?'}x live  "
                  f"{read / 1e9:.1f}, {fma / 1e9:.0f}, {int8 / 1e9:.0f}")
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
