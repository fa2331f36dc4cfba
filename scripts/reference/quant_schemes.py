"""The int8 weight-only and fp8 schemes of the quant descriptor (seed 003
FusedMoEQuantConfig) as the dense reference computes them, from the
definitions in docs/Quantization.md ("fp8 and int8 weight-only schemes")
and the bit-level formats of quant_formats.py (not from the runtime).

A scheme names its descriptor: activation format and group (per_token:
0, or a block [1, G] of G columns; None: weight-only, float activations)
and weight format and group shape. Weights [L, K, N] hold int8 values or
fp8 codes (uint8) with one float32 scale per block, [L, K/bk, N/bn].

Expert MLP of one expert on rows x [M, H] of float type `dtype`:
  weight-only: w = round_dtype(value(W) * scale)
               h = round_dtype(x @ w13);  a = round_dtype(swiglu(h))
               y = round_dtype(a @ w2)
  fp8 w8a8:    w = value(W) * scale (float32)
               h = round_dtype(quant_dequant(x) @ w13)
               a = round_dtype(swiglu(h))
               y = round_dtype(quant_dequant(a) @ w2)
with matmuls accumulated exactly (float64) here.
"""

import numpy as np

import quant_formats as qf

F32 = np.float32

# name: (activation format or None, activation group (0: per token; None:
# block [1, group_size]), weight format, weight group shape)
SCHEMES = {
    "fp8_e4m3_token": ("fp8_e4m3", 0, "fp8_e4m3", "per_token"),
    "fp8_e4m3_wtensor": ("fp8_e4m3", 0, "fp8_e4m3", "per_tensor"),
    "fp8_e4m3_block": ("fp8_e4m3", 128, "fp8_e4m3", "block128"),
    "fp8_e5m2_token": ("fp8_e5m2", 0, "fp8_e5m2", "per_token"),
    "int8_w8a16_channel": (None, None, "int8", "per_token"),
    "int8_w8a16_group": (None, None, "int8", "group"),
    # fp4 micro-block schemes (docs/Quantization.md, "mxfp4 and nvfp4"):
    # weights packed [L, K/2, N] with their block scales along K.
    "mxfp4_w4a4": ("mxfp4", 32, "mxfp4", "fp4"),
    "mxfp4_w4a16": (None, None, "mxfp4", "fp4"),
    "nvfp4_w4a4": ("nvfp4", 16, "nvfp4", "fp4"),
}

FP4 = ("mxfp4", "nvfp4")


def is_fp4(scheme):
    return SCHEMES[scheme][2] in FP4


def fp4_arguments(scheme, lead, k, n):
    """(suffix, shape, MLIR element) of one fp4 weight's tensors: the
    packed bytes, the block scales and (nvfp4) the global scales."""
    fmt = SCHEMES[scheme][2]
    b = qf.FP4_BLOCK[fmt]
    out = [("", lead + [k // 2, n], "i8"),
           ("_scale", lead + [k // b, n],
            "i8" if fmt == "mxfp4" else "f8E4M3FN")]
    if fmt == "nvfp4":
        out.append(("_group_scale", lead, "f32"))
    return out

MLIR_ELEMENT = {"fp8_e4m3": "f8E4M3FN", "fp8_e5m2": "f8E5M2", "int8": "i8"}


def weight_block(scheme, k, n, group_size):
    """(block along K, block along N) of one weight scale."""
    shape = SCHEMES[scheme][3]
    return {"per_token": (k, 1), "per_tensor": (k, n), "block128": (128, 128),
            "group": (group_size, 1)}[shape]


def descriptor(scheme, group_size):
    """The #moe.quant body of `scheme`."""
    a, ag, w, shape = SCHEMES[scheme]
    if shape == "fp4":
        parts = ([f"a1 = #moe.qdesc<{a}>", f"a2 = #moe.qdesc<{a}>"]
                 if a else [])
        parts += [f"w1 = #moe.qdesc<{w}>", f"w2 = #moe.qdesc<{w}>"]
        return "<" + ", ".join(parts) + ">"
    wdesc = {"per_token": f"{w}, per_token", "per_tensor": f"{w}, per_tensor",
             "block128": f"{w}, block [128, 128]",
             "group": f"{w}, block [1, {group_size}]"}[shape]
    parts = []
    if a is not None:
        adesc = f"{a}, per_token" if ag == 0 else f"{a}, block [1, {ag}]"
        parts += [f"a1 = #moe.qdesc<{adesc}>", f"a2 = #moe.qdesc<{adesc}>"]
    parts += [f"w1 = #moe.qdesc<{wdesc}>", f"w2 = #moe.qdesc<{wdesc}>"]
    return "<" + ", ".join(parts) + ">"


def random_weights(rng, n, h, i, scheme, group_size):
    """{w13, w2, w13_scale, w2_scale}: random unit-scale float weights
    quantized per block (the checkpoint side)."""
    fmt = SCHEMES[scheme][2]
    out = {}
    for name, k, m in (("w13", h, 2 * i), ("w2", i, h)):
        w = (rng.standard_normal((n, k, m)) / np.sqrt(k)).astype(F32)
        if fmt in FP4:
            packed, scale, glob = qf.quantize_fp4_weight(w, fmt)
            out[name], out[name + "_scale"] = packed, scale
            if glob is not None:
                out[name + "_group_scale"] = glob
            continue
        bk, bn = weight_block(scheme, k, m, group_size)
        out[name], out[name + "_scale"] = qf.quantize_weight(w, fmt, bk, bn)
    return out


def _dequantized(w, name, e, scheme, dtype):
    q, s = getattr(w, name)[e:e + 1], getattr(w, name + "_scale")[e:e + 1]
    weight_only = SCHEMES[scheme][0] is None
    if is_fp4(scheme):
        g = getattr(w, name + "_group_scale")
        return qf.dequantize_fp4_weight(
            q, s, None if g is None else g[e:e + 1], SCHEMES[scheme][2],
            dtype if weight_only else "f32")[0]
    k, n = q.shape[1], q.shape[2]
    bk, bn = k // s.shape[1], n // s.shape[2]
    fmt = SCHEMES[scheme][2]
    return qf.dequantize_weight(q, s, fmt, bk, bn,
                                dtype if weight_only else "f32")[0]


def mlp(x, w, e, dtype):
    """Expert `e` of `w` (scheme w.quant) on rows x [M, H] -> (y [M, H],
    step [M, H]): step bounds how much one flipped fp8 rounding of one
    requantized intermediate element moves y: the largest spacing of the
    format (top_quantum) times the row's largest a2 scale times
    max_i |W2[i, n]| (zero for weight-only)."""
    scheme = w.quant
    afmt, agroup, _, _ = SCHEMES[scheme]
    w13 = _dequantized(w, "w13", e, scheme, dtype).astype(np.float64)
    w2 = _dequantized(w, "w2", e, scheme, dtype).astype(np.float64)
    x = np.asarray(x, dtype=F32)
    m, h = x.shape
    if afmt is not None:
        x, _ = _quant_dequant(x, afmt, agroup)
    hid = qf.round_dtype((x.astype(np.float64) @ w13).astype(F32), dtype)
    i = hid.shape[1] // 2
    g, u = hid[:, :i].astype(F32), hid[:, i:].astype(F32)
    with np.errstate(over="ignore"):
        act = qf.round_dtype((g / (F32(1) + np.exp(-g)) * u).astype(F32), dtype)
    step = np.zeros((m, h))
    if afmt is not None:
        act, a2_scale = _quant_dequant(act, afmt, agroup)
        if m:
            step = (a2_scale.max(axis=1).astype(np.float64)[:, None]
                    * qf.top_quantum(afmt) * np.abs(w2).max(axis=0)[None, :])
    y = qf.round_dtype((act.astype(np.float64) @ w2).astype(F32), dtype)
    return y.astype(np.float64), step


def _quant_dequant(x, fmt, group):
    """The activation quantization of `fmt`: fp4 micro-blocks or fp8 per
    row / group; (dequantized rows, per-group scales)."""
    if fmt in FP4:
        return qf.fp4_quant_dequant(x, fmt)
    return qf.quant_dequant(x, fmt, group)
