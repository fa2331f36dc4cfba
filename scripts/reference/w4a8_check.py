#!/usr/bin/python3
"""W4A8 from checkpoint tensors through moe-run, against dense_moe's
independent reference (docs/Quantization.md).

1. A checkpoint stack (weight [L, N, K] int8 holding int4 values, scale
   [L, N, 1], scale_second [L, N, K/G] as seed 001 loads them) goes through
   npu.w4a8_process_weights and the kernel form of npu.grouped_matmul in one
   moe-run call; the outputs must equal dense_moe.process_w4a8 (transposed
   weight exactly, merged float16-rounded scales bit for bit, bias to float32
   rounding) and dense_moe.w4a8_kernel_matmul (1e-5 of max|ref|). The
   float32-product numerics the executor used before must NOT pass the same
   check: the comparison is sharp enough to tell the two apart.
2. The same for a quant version 1.0.0 checkpoint (weight [L, N/2, K]
   packed along N, scale_bias [L, N, P] summed into the bias):
   dense_moe.process_w4a8_v1.
3. The processed weight given as a packed-int4 .npy (uint8, two values per
   byte, element 2i in the low nibble) to an i4 argument gives the same
   result; a packed file of the wrong shape, or given to an i8 argument, is
   rejected with a message saying what is wrong.

Usage: w4a8_check.py --moe-run PATH --work-dir DIR [--seed N]
"""

import argparse
import os
import subprocess
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dense_moe import (F32, pack_checkpoint_v1, pack_int4,  # noqa: E402
                       process_w4a8, process_w4a8_v1, quant_matmul,
                       w4a8_kernel_matmul)

L, N, K, G = 3, 32, 64, 16
PARTS = 4           # partial sums per channel in a version 1.0.0 scale_bias
COUNTS = [7, 0, 13]


def tensor(shape, element):
    return "tensor<" + "x".join(map(str, shape)) + "x" + element + ">"


def module_text(packed_input, version1=False):
    """@process: checkpoint -> processing -> kernel-form grouped matmul;
    with packed_input the processed operands are the arguments instead;
    version1: a quant version 1.0.0 checkpoint with its scale_bias."""
    wt, mt = tensor([L, K, N], "i4"), tensor([L, K // G, N], "f32")
    bt, xt = tensor([L, N], "f32"), tensor(["?", K], "i8")
    tt, ct, yt = tensor(["?"], "f32"), tensor([L], "i64"), tensor(["?", N], "f32")
    arg = lambda n, t, name: f'%{n}: {t} {{moe.name = "{name}"}}'
    tail = [arg("x", xt, "x"), arg("t", tt, "per_token_scale"),
            arg("counts", ct, "counts")]
    gmm = (f"    %y = npu.grouped_matmul %x, %w, %counts per_token_scale(%t : {tt})"
           f" group_scale(%m : {mt}) bias(%b : {bt}) w4a8 count\n"
           f"        : {xt}, {wt}, {ct} -> {yt}\n")
    if packed_input:
        args = [arg("w", wt, "weight"), arg("m", mt, "merged_scale"),
                arg("b", bt, "bias")] + tail
        body, results, ret = gmm, [yt], "%y"
    else:
        ck = tensor([L, N // 2 if version1 else N, K], "i8")
        st, sbt = tensor([L, N, 1], "f32"), tensor([L, N, PARTS], "f32")
        sst = tensor([L, N, K // G], "f32")
        args = [arg("ckpt", ck, "weight"), arg("s", st, "scale"),
                arg("ss", sst, "scale_second")]
        extra = ""
        if version1:
            args.append(arg("sb", sbt, "scale_bias"))
            extra = f" scale_bias(%sb : {sbt})"
        args += tail
        body = (f"    %w, %m, %b = npu.w4a8_process_weights %ckpt, %s, %ss{extra}\n"
                f"        : {ck}, {st}, {sst} -> {wt}, {mt}, {bt}\n" + gmm)
        results, ret = [wt, mt, bt, yt], "%w, %m, %b, %y"
    return ("module {\n  func.func @process(" + ", ".join(args) + ")\n"
            f"      -> ({', '.join(results)}) {{\n" + body +
            f"    return {ret} : {', '.join(results)}\n  }}\n}}\n")


def run(moe_run, mlir, inputs, out_dir, expect_error=None):
    cmd = [moe_run, mlir, "--pipeline="]
    cmd += [f"--input={n}={p}" for n, p in inputs.items()]
    cmd += ["--output-dir", out_dir]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if expect_error is not None:
        assert proc.returncode != 0, f"moe-run accepted it: {cmd}"
        assert expect_error in proc.stderr, proc.stderr
        print(f"rejected as expected: {proc.stderr.strip().splitlines()[-1]}")
        return None
    assert proc.returncode == 0, proc.stderr
    return [np.load(os.path.join(out_dir, f"{i}.rank0.npy"))
            for i in range(len([f for f in os.listdir(out_dir)
                                if f.endswith(".rank0.npy")]))]


def close(name, got, want, rtol):
    err = float(np.abs(got.astype(np.float64) - want).max())
    tol = rtol * float(np.abs(want).max())
    print(f"{name}: max_abs_err {err:.3e} (tol {tol:.3e})")
    return err <= tol


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--moe-run", required=True)
    p.add_argument("--work-dir", required=True)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    d = args.work_dir
    os.makedirs(d, exist_ok=True)
    rng = np.random.default_rng(args.seed)

    ckpt = rng.integers(-8, 8, size=(L, N, K)).astype(np.int8)
    scale = (rng.uniform(0.5, 1.5, (L, N, 1)) / 40).astype(F32)
    second = rng.uniform(0.5, 1.5, (L, N, K // G)).astype(F32)
    x = rng.integers(-127, 128, size=(sum(COUNTS), K)).astype(np.int8)
    pts = rng.uniform(0.001, 0.01, sum(COUNTS)).astype(F32)
    counts = np.array(COUNTS, dtype=np.int64)

    # The independent reference, expert by expert (rows in group order).
    w, merged, bias = process_w4a8(ckpt, scale, second)
    ends = np.cumsum(COUNTS)
    y_ref = np.zeros((sum(COUNTS), N), dtype=F32)
    y_old = np.zeros_like(y_ref)
    for e in range(L):
        rows = slice(ends[e] - COUNTS[e], ends[e])
        y_ref[rows] = w4a8_kernel_matmul(x[rows], pts[rows], w[e], merged[e],
                                         bias[e])
        # What the executor computed before: float32 product of the scales.
        y_old[rows] = quant_matmul(x[rows], pts[rows], w[e], scale[e, :, 0],
                                   second[e].T)

    files = dict(weight=ckpt, scale=scale, scale_second=second, x=x,
                 per_token_scale=pts, counts=counts)
    for name, a in files.items():
        np.save(os.path.join(d, name + ".npy"), a)
    paths = {n: os.path.join(d, n + ".npy") for n in files}
    with open(os.path.join(d, "process.mlir"), "w") as f:
        f.write(module_text(False))
    pw, pm, pb, py = run(args.moe_run, os.path.join(d, "process.mlir"),
                         paths, os.path.join(d, "out"))
    ok = True
    ok &= bool((pw == w).all())
    print(f"processed weight equal: {bool((pw == w).all())}")
    same_bits = bool((pm.view(np.uint32) == merged.view(np.uint32)).all())
    print(f"merged scales bit-equal: {same_bits}")
    ok &= same_bits
    ok &= close("bias", pb, bias, 1e-6)
    ok &= close("grouped matmul", py, y_ref, 1e-5)
    sharp = not close("float32-product numerics (must fail)", y_old, y_ref,
                      1e-5)
    print(f"the check tells the float32 product apart: {sharp}")
    ok &= sharp

    # 2. Quant version 1.0.0: packed along N, the bias from scale_bias.
    partial = rng.uniform(-2, 2, (L, N, PARTS)).astype(F32)
    w1, merged1, bias1 = process_w4a8_v1(pack_checkpoint_v1(ckpt), scale,
                                         second, partial)
    assert (w1 == w).all() and (merged1 == merged).all()
    y1 = np.zeros_like(y_ref)
    for e in range(L):
        rows = slice(ends[e] - COUNTS[e], ends[e])
        y1[rows] = w4a8_kernel_matmul(x[rows], pts[rows], w1[e], merged1[e],
                                      bias1[e])
    np.save(os.path.join(d, "weight_v1.npy"), pack_checkpoint_v1(ckpt))
    np.save(os.path.join(d, "scale_bias.npy"), partial)
    with open(os.path.join(d, "process_v1.mlir"), "w") as f:
        f.write(module_text(False, version1=True))
    v1_inputs = dict(paths, weight=os.path.join(d, "weight_v1.npy"),
                     scale_bias=os.path.join(d, "scale_bias.npy"))
    vw, vm, vb, vy = run(args.moe_run, os.path.join(d, "process_v1.mlir"),
                         v1_inputs, os.path.join(d, "out-v1"))
    v1_ok = bool((vw == w1).all()) and bool(
        (vm.view(np.uint32) == merged1.view(np.uint32)).all())
    print(f"version 1.0.0 weight and merged scales equal: {v1_ok}")
    ok &= v1_ok
    ok &= close("version 1.0.0 bias", vb, bias1, 1e-6)
    ok &= close("version 1.0.0 grouped matmul", vy, y1, 1e-5)

    # 3. The processed weight as a packed-int4 .npy.
    np.save(os.path.join(d, "packed.npy"), pack_int4(w))
    np.save(os.path.join(d, "merged.npy"), merged)
    np.save(os.path.join(d, "bias.npy"), bias)
    with open(os.path.join(d, "packed.mlir"), "w") as f:
        f.write(module_text(True))
    packed_inputs = dict(paths, weight=os.path.join(d, "packed.npy"),
                         merged_scale=os.path.join(d, "merged.npy"),
                         bias=os.path.join(d, "bias.npy"))
    del packed_inputs["scale"], packed_inputs["scale_second"]
    (qy,) = run(args.moe_run, os.path.join(d, "packed.mlir"), packed_inputs,
                os.path.join(d, "out-packed"))
    ok &= close("grouped matmul, packed int4 input", qy, y_ref, 1e-5)
    np.save(os.path.join(d, "packed-short.npy"), pack_int4(w[:, :, :N // 2]))
    run(args.moe_run, os.path.join(d, "packed.mlir"),
        dict(packed_inputs, weight=os.path.join(d, "packed-short.npy")),
        os.path.join(d, "out-bad"),
        expect_error=f"is tensor<3x64x16xi4> but the argument is "
                     f"tensor<3x64x32xi4>")
    run(args.moe_run, os.path.join(d, "process.mlir"),
        dict(paths, weight=os.path.join(d, "packed.npy")),
        os.path.join(d, "out-bad2"),
        expect_error="is tensor<3x64x16xi8> but the argument is tensor<3x")
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
