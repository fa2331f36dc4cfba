#!/usr/bin/env python3
"""Layer-forward benchmark: moe-mlir next to its peers, side by side.

For every configuration it runs, in the same session:
  - moe-mlir (build/bin/moe-layer-bench, one rank, the full pipeline, the
    environment as it is),
  - numpy-grouped (bench/peers/numpy_grouped.py: rows sorted by expert, one
    matmul per expert group),
  - torch-hf-loop (bench/peers/hf_loop.py: HuggingFace-style loop over the
    experts), with 1 and 2 torch threads; the best is kept,
and reports every figure as a ratio to the best peer and to the machine's
bound: max(bytes of the touched experts' weights / measured read bandwidth,
FLOPs / measured FMA throughput; for w8a8 1-byte weights and the measured
int8 multiply-add peak). Routing is drawn afresh every iteration.
Every program gets the same untimed warm-up, long enough that each expert
has been used about four times (4E / (T K) iterations, at least 3): a fresh
process reads every weight slower the first time (T = 1 f32 here: median
9.7-11.3 ms after 3 warm-up iterations, 5.2-6.7 ms after 30), and a
serving process has long since read them all.
Then the w8a8 configurations, w4a8 against w8a8 at T = 1 (one rank), peak
RSS at T = 4096, 4 ranks of allgather / mc2 / alltoall with a per-op
breakdown of rank 0, and 4 ranks with a shared expert (I 1536): each rank's
stream overlap and the collectives against the slowest rank's compute
(--overlap), next to the same layer on one stream (--multistream=false).

    /usr/bin/python3 bench/run_layer_bench.py [--build build] [--quick]
        [--only peers,w8a8,w4a8,rss,ranks,shared]
"""
import argparse
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
QWEN = dict(hidden=2048, experts=128, top_k=8, inter=768)
SMALL = dict(hidden=1024, experts=32, top_k=4, inter=512)
SECTIONS = ["peers", "w8a8", "w4a8", "rss", "ranks", "shared"]


def run(cmd, env=None):
    out = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if out.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{out.stdout}{out.stderr}")
    return out.stdout


def median_ms(text):
    return float(re.search(r"median ([0-9.]+) ms", text).group(1))


def shape_args(shape, tokens):
    return [f"--hidden={shape['hidden']}", f"--experts={shape['experts']}",
            f"--top-k={shape['top_k']}", f"--inter={shape['inter']}",
            f"--tokens={tokens}"]


def warmup_args(shape, tokens):
    n = -(-4 * shape["experts"] // (tokens * shape["top_k"]))
    return [f"--warmup={max(3, n)}"]


def bound_ms(shape, tokens, machine, weight_bytes=4):
    """max(touched weight bytes / read bandwidth, operations / peak): the
    f32 FMA peak for f32 weights, the int8 multiply-add peak for 1-byte
    weights (w8a8)."""
    h, e, k, i = shape["hidden"], shape["experts"], shape["top_k"], shape["inter"]
    touched = e * (1 - (1 - k / e) ** tokens)
    read = touched * 3 * h * i * weight_bytes / (machine["gbps"] * 1e9)
    peak = machine["gflops"] if weight_bytes == 4 else machine["int8_gops"]
    ops = 2 * tokens * k * 3 * h * i / (peak * 1e9)
    return max(read, ops) * 1e3


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--build", default=os.path.join(ROOT, "build"))
    p.add_argument("--quick", action="store_true", help="fewer iterations")
    p.add_argument("--only", default=",".join(SECTIONS),
                   help="comma-separated sections to run, of: " +
                   ", ".join(SECTIONS))
    a = p.parse_args()
    only = a.only.split(",")
    for name in only:
        if name not in SECTIONS:
            sys.exit(f"--only: unknown section '{name}' (sections: "
                     f"{', '.join(SECTIONS)})")
    bench = os.path.join(a.build, "bin", "moe-layer-bench")
    iters = ["--iters=5"] if a.quick else []
    py = "/usr/bin/python3"
    peers = os.path.join(ROOT, "bench", "peers")

    m = run([bench, "--machine"])
    machine = {"gbps": float(re.search(r"read ([0-9.]+) GB/s", m).group(1)),
               "gflops": float(re.search(r"fma ([0-9.]+) GFLOP/s", m).group(1)),
               "int8_gops": float(re.search(r"int8 ([0-9.]+) GOP/s", m).group(1))}
    print(m.strip())
    if "peers" in only:
        print(f"{'config':34s} {'moe-mlir':>10s} {'numpy':>10s} "
              f"{'torch':>10s} {'bound':>9s} {'vs peer':>8s} "
              f"{'vs bound':>9s}")

    def compare(label, shape, tokens):
        ours = median_ms(run([bench] + shape_args(shape, tokens) +
                             warmup_args(shape, tokens) + iters))
        pargs = [f"--{k.replace('_', '-')}={v}" for k, v in shape.items()]
        pargs += [f"--tokens={tokens}"] + warmup_args(shape, tokens) + iters
        env = dict(os.environ, OPENBLAS_NUM_THREADS="2")
        npy = median_ms(run([py, os.path.join(peers, "numpy_grouped.py")] + pargs,
                            env))
        torch = min(
            median_ms(run([py, "-c",
                           f"import torch, sys; torch.set_num_threads({t}); "
                           f"sys.argv = ['hf_loop.py'] + {pargs!r}; "
                           f"sys.path.insert(0, {peers!r}); "
                           "import hf_loop; hf_loop.main()"], env))
            for t in (1, 2))
        best = min(npy, torch)
        b = bound_ms(shape, tokens, machine)
        print(f"{label:34s} {ours:9.2f}m {npy:9.2f}m {torch:9.2f}m {b:8.2f}m "
              f"{best / ours:7.2f}x {b / ours:8.2f}")

    if "peers" in only:
        for t in (1, 16, 128, 1024):
            compare(f"Qwen3 f32 T={t}", QWEN, t)
        compare("small f32 T=4096", SMALL, 4096)
    if "w8a8" in only:
        w8a8_section(bench, iters, machine)
    if "w4a8" in only:
        w4a8_section(bench, iters)
    if "rss" in only:
        rss_section(bench)
    if "ranks" in only:
        ranks_section(bench, iters)
    if "shared" in only:
        shared_section(bench, iters)


def w8a8_section(bench, iters, machine):
    print("\nw8a8 (int8 weights, per-token int8 activations):")
    for t in (1, 1024):
        args = [bench] + shape_args(QWEN, t) + warmup_args(QWEN, t) + iters
        f32 = median_ms(run(args))
        w8 = median_ms(run(args + ["--quant=w8a8"]))
        b = bound_ms(QWEN, t, machine, weight_bytes=1)
        print(f"  Qwen3 T={t}: w8a8 {w8:.2f} ms, f32 {f32:.2f} ms "
              f"({f32 / w8:.2f}x faster), bound {b:.2f} ms "
              f"({b / w8:.2f} of it)")


def w4a8_section(bench, iters):
    print("\nw4a8 (int4 weights, group size 256) against w8a8, T=1, "
          "alternating, 3 runs each:")
    args = [bench] + shape_args(QWEN, 1) + warmup_args(QWEN, 1) + iters
    w4, w8 = [], []
    for _ in range(3):
        w4.append(median_ms(run(args + ["--quant=w4a8"])))
        w8.append(median_ms(run(args + ["--quant=w8a8"])))
    w4m, w8m = sorted(w4)[1], sorted(w8)[1]
    print(f"  Qwen3 T=1: w4a8 {w4m:.2f} ms, w8a8 {w8m:.2f} ms "
          f"(w8a8 / w4a8 = {w8m / w4m:.2f}; issue target >= 1.7); runs "
          f"w4a8 {w4}, w8a8 {w8}")


def rss_section(bench):
    print("\npeak RSS, Qwen3 f32 T=4096:")
    out = subprocess.run(["/usr/bin/time", "-v", bench] + shape_args(QWEN, 4096) +
                         ["--iters=1", "--warmup=0"], capture_output=True,
                         text=True)
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)",
                        out.stderr).group(1)) * 1024
    h, e, k, i = (QWEN[x] for x in ("hidden", "experts", "top_k", "inter"))
    weights = e * 3 * h * i * 4
    # x, logits, output, and the expanded rows through the MLP (K per token).
    acts = 4096 * (2 * h + e) * 4 + 4096 * k * (2 * h + 3 * i) * 4
    print(f"  {rss / 2**30:.2f} GiB; weights + activations "
          f"{(weights + acts) / 2**30:.2f} GiB; ratio "
          f"{rss / (weights + acts):.2f}")


def ranks_section(bench, iters):
    print("\n4 ranks, Qwen3 f32, T=64 per rank, rank 0's time per op:")
    for method in ("allgather", "mc2", "alltoall"):
        print(run([bench] + shape_args(QWEN, 64) + warmup_args(QWEN, 64) +
                  iters +
                  ["--world=4", f"--method={method}", "--stages"]).rstrip())


def shared_section(bench, iters):
    print("\n4 ranks, Qwen3 f32 + shared expert I 1536, T=64 per rank: stream "
          "overlap per rank, collectives against the slowest rank's compute; "
          "then the same layer on one stream:")
    for method in ("allgather", "mc2", "alltoall"):
        for multistream in ("true", "false"):
            print(run([bench] + shape_args(QWEN, 64) + warmup_args(QWEN, 64) +
                      iters + ["--world=4", f"--method={method}",
                               "--shared-inter=1536", "--overlap",
                               f"--multistream={multistream}"]).rstrip())


if __name__ == "__main__":
    main()
