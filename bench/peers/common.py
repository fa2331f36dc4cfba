"""Shared set-up of the peer benchmarks: shapes, weights, fresh routing."""
import argparse
import time

import numpy as np


def parse_args(description):
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--hidden", type=int, default=2048)
    p.add_argument("--experts", type=int, default=128)
    p.add_argument("--top-k", type=int, default=8)
    p.add_argument("--inter", type=int, default=768)
    p.add_argument("--tokens", type=int, default=1)
    p.add_argument("--iters", type=int, default=20)
    p.add_argument("--warmup", type=int, default=3)
    return p.parse_args()


def make_weights(a, seed=0):
    """x [T, H]; W13 [E, H, 2I]; W2 [E, I, H] (k-major, as moe-mlir)."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, (a.tokens, a.hidden)).astype(np.float32)
    w13 = rng.uniform(-1, 1, (a.experts, a.hidden, 2 * a.inter)).astype(np.float32)
    w13 *= 1 / np.sqrt(a.hidden)
    w2 = rng.uniform(-1, 1, (a.experts, a.inter, a.hidden)).astype(np.float32)
    w2 *= 1 / np.sqrt(a.inter)
    return x, w13, w2


def routing(a, it):
    """Fresh logits every iteration: softmax top-k, renormalized."""
    rng = np.random.default_rng(1000 + it)
    logits = rng.uniform(-4, 4, (a.tokens, a.experts)).astype(np.float32)
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    p = e / e.sum(axis=1, keepdims=True)
    ids = np.argsort(-p, axis=1, kind="stable")[:, : a.top_k]
    w = np.take_along_axis(p, ids, axis=1)
    return ids, (w / w.sum(axis=1, keepdims=True)).astype(np.float32)


def timed(a, name, forward):
    """Runs forward(it) for warm-up + timed iterations; prints the median."""
    times = []
    for it in range(a.warmup + a.iters):
        t = time.perf_counter()
        forward(it)
        if it >= a.warmup:
            times.append(time.perf_counter() - t)
    times.sort()
    print(f"{name} H {a.hidden} E {a.experts} K {a.top_k} I {a.inter} "
          f"T {a.tokens}: median {times[len(times) // 2] * 1e3:.3f} ms, "
          f"best {times[0] * 1e3:.3f} ms ({a.iters} iterations)")
