#!/usr/bin/python3
"""Bit-level fp8 formats and the int8 / fp8 schemes of the quant
descriptor, written from the OCP 8-bit floating point specification (OFP8
v1.0) and seed 003, not from the runtime (docs/Quantization.md, "fp8 and
int8 weight-only schemes").

Formats (OFP8 v1.0, section 5):
- E4M3 ("e4m3fn"): bias 7, no infinities, S.1111.111 is NaN, largest
  finite 0x7E = 448, smallest subnormal 2^-9.
- E5M2: bias 15, IEEE-like: S.11111.00 is infinity, S.11111.{01,10,11}
  NaN, largest finite 0x7B = 57344, smallest subnormal 2^-16.

Conversion float -> fp8 (the one the schemes use): round to nearest, ties
to even (the code with an even mantissa), saturating: magnitudes beyond
the largest finite value (and infinities) become +-max; NaN stays NaN.
This module implements it differently from the runtime: it decodes all
256 codes into a table and picks the nearest table entry.

Run it to self-test on known bit patterns: /usr/bin/python3 quant_formats.py
"""

import sys

import numpy as np

F32 = np.float32

FORMATS = {
    # name: (exponent bits, mantissa bits, bias, ieee specials)
    "fp8_e4m3": (4, 3, 7, False),
    "fp8_e5m2": (5, 2, 15, True),
}


def decode(code, fmt):
    """Value of one fp8 code (int 0..255) as a Python float."""
    e_bits, m_bits, bias, ieee = FORMATS[fmt]
    sign = -1.0 if code & 0x80 else 1.0
    exp = (code >> m_bits) & ((1 << e_bits) - 1)
    man = code & ((1 << m_bits) - 1)
    top = (1 << e_bits) - 1
    if ieee and exp == top:
        return sign * float("inf") if man == 0 else float("nan")
    if not ieee and exp == top and man == (1 << m_bits) - 1:
        return float("nan")
    if exp == 0:
        return sign * man * 2.0 ** (1 - bias - m_bits)
    return sign * (1 + man / 2.0 ** m_bits) * 2.0 ** (exp - bias)


def _positive_table(fmt):
    """(values ascending, codes) of the finite non-negative codes."""
    vals = [(decode(c, fmt), c) for c in range(0x80)]
    vals = [(v, c) for v, c in vals if np.isfinite(v)]
    vals.sort()
    return (np.array([v for v, _ in vals]),
            np.array([c for _, c in vals], dtype=np.uint8))


def max_finite(fmt):
    return float(_positive_table(fmt)[0][-1])


def encode(x, fmt):
    """float array -> uint8 codes, RNE with saturation, NaN -> 0x7F|sign."""
    x = np.asarray(x, dtype=np.float64)
    values, codes = _positive_table(fmt)
    a = np.minimum(np.abs(np.nan_to_num(x, nan=0.0, posinf=np.inf)),
                   values[-1])
    hi = np.clip(np.searchsorted(values, a, side="left"), 0, len(values) - 1)
    lo = np.clip(hi - 1, 0, len(values) - 1)
    d_lo, d_hi = a - values[lo], values[hi] - a
    even_hi = (codes[hi] & 1) == 0
    pick_hi = (d_hi < d_lo) | ((d_hi == d_lo) & even_hi)
    out = np.where(pick_hi, codes[hi], codes[lo]).astype(np.uint8)
    out = out | np.where(np.signbit(x), 0x80, 0).astype(np.uint8)
    return np.where(np.isnan(x), np.uint8(0x7F) | out & 0x80, out).astype(
        np.uint8)


def decode_array(codes, fmt):
    table = np.array([decode(c, fmt) for c in range(256)], dtype=np.float64)
    return table[np.asarray(codes, dtype=np.uint8)]


def round_to_format(v, fmt):
    """v (float32) quantized to `fmt` and decoded back, as float32."""
    if fmt == "int8":
        return np.clip(np.round(v), -127, 127).astype(F32)  # half-even
    return decode_array(encode(v, fmt), fmt).astype(F32)


def format_max(fmt):
    return 127.0 if fmt == "int8" else max_finite(fmt)


def quant_dequant(x, fmt, group=0):
    """Dynamic activation quantization of rows x [M, K] per group of
    `group` columns (0: the whole row), dequantized: scale = max|g| / max
    (float32), out = round_to_format(x / scale) * scale in float32; a zero
    group stays zero."""
    x = np.asarray(x, dtype=F32)
    m, k = x.shape
    g = group or k
    xs = x.reshape(m, k // g, g)
    amax = np.abs(xs).max(axis=2, keepdims=True) if m else np.zeros((0, k // g, 1), F32)
    scale = (amax / F32(format_max(fmt))).astype(F32)
    safe = np.where(scale == 0, F32(1), scale)
    q = round_to_format((xs / safe).astype(F32), fmt)
    out = np.where(scale == 0, F32(0), (q * scale).astype(F32))
    return out.reshape(m, k).astype(F32), scale.reshape(m, k // g)


def quantize_weight(w, fmt, block_k, block_n):
    """Float weights [L, K, N] -> (codes or int8 values, scales
    [L, K/bk, N/bn] f32): per block scale = max|block| / max, q =
    round(w / scale). The checkpoint side (vLLM's per-block fp8 / int8
    quantization); the layer only reads its result."""
    w = np.asarray(w, dtype=F32)
    l, k, n = w.shape
    blocks = w.reshape(l, k // block_k, block_k, n // block_n, block_n)
    amax = np.abs(blocks).max(axis=(2, 4))
    scale = (np.maximum(amax, F32(1e-12)) / F32(format_max(fmt))).astype(F32)
    full = np.repeat(np.repeat(scale, block_k, axis=1), block_n, axis=2)
    v = (w / full).astype(F32)
    if fmt == "int8":
        return np.clip(np.round(v), -127, 127).astype(np.int8), scale
    return encode(v, fmt), scale


def dequantize_weight(q, scale, fmt, block_k, block_n, dtype="f32"):
    """[L, K, N] codes / int8 with scales [L, K/bk, N/bn] -> float32
    value * scale (float32), rounded to `dtype`."""
    vals = (q.astype(F32) if fmt == "int8"
            else decode_array(q, fmt).astype(F32))
    full = np.repeat(np.repeat(scale, block_k, axis=1), block_n, axis=2)
    return round_dtype((vals * full).astype(F32), dtype)


def round_dtype(a, dtype):
    """float32 values rounded to bf16 / f16 (nearest even), as float32."""
    a = np.asarray(a, dtype=F32)
    if dtype == "f16":
        return a.astype(np.float16).astype(F32)
    if dtype == "bf16":
        bits = a.view(np.uint32).astype(np.uint64)
        rounded = (bits + 0x7FFF + ((bits >> 16) & 1)) & 0xFFFF0000
        out = rounded.astype(np.uint32).view(F32)
        return np.where(np.isnan(a), a, out).astype(F32)
    return a


def top_quantum(fmt):
    """Spacing of the format's values in its top binade, in units of the
    scale: how far one rounding flip can move a dequantized element."""
    if fmt == "int8":
        return 1.0
    values, _ = _positive_table(fmt)
    return float(values[-1] - values[-2])


def selftest():
    ok = True

    def expect(what, got, want):
        nonlocal ok
        if got != want:
            ok = False
            print(f"FAIL {what}: got {got!r}, want {want!r}")

    e4, e5 = "fp8_e4m3", "fp8_e5m2"
    expect("e4m3 max", max_finite(e4), 448.0)
    expect("e5m2 max", max_finite(e5), 57344.0)
    expect("448 -> 0x7E", int(encode([448.0], e4)[0]), 0x7E)
    expect("57344 -> 0x7B", int(encode([57344.0], e5)[0]), 0x7B)
    expect("1.0 e4m3", int(encode([1.0], e4)[0]), 0x38)
    expect("1.0 e5m2", int(encode([1.0], e5)[0]), 0x3C)
    expect("-2.0 e4m3", int(encode([-2.0], e4)[0]), 0xC0)
    expect("min subnormal e4m3", decode(0x01, e4), 2.0 ** -9)
    expect("min subnormal e5m2", decode(0x01, e5), 2.0 ** -16)
    expect("0x7F e4m3 NaN", np.isnan(decode(0x7F, e4)), True)
    expect("0x7C e5m2 inf", decode(0x7C, e5), float("inf"))
    # Ties to even: 1.0625 lies between 1.0 (0x38) and 1.125 (0x39).
    expect("tie down", int(encode([1.0625], e4)[0]), 0x38)
    expect("tie up", int(encode([1.1875], e4)[0]), 0x3A)
    expect("saturate", int(encode([1e6], e4)[0]), 0x7E)
    expect("saturate inf", int(encode([-np.inf], e5)[0]), 0xFB)
    expect("464 ties to 448", int(encode([464.0], e4)[0]), 0x7E)
    expect("NaN", int(encode([np.nan], e4)[0]) & 0x7F, 0x7F)
    expect("half min subnormal -> 0", int(encode([2.0 ** -10], e4)[0]), 0x00)
    expect("0.75 min subnormal -> 1", int(encode([1.5 * 2.0 ** -10], e4)[0]),
           0x01)
    expect("-0", int(encode([-0.0], e4)[0]), 0x80)
    codes = np.arange(256, dtype=np.uint8)
    for fmt in (e4, e5):
        vals = decode_array(codes, fmt)
        fin = np.isfinite(vals)
        back = encode(vals[fin], fmt)
        expect(f"{fmt} round trip", bool((back == codes[fin]).all()), True)
    expect("top quantum e4m3", top_quantum(e4), 32.0)
    expect("top quantum e5m2", top_quantum(e5), 8192.0)
    out, scale = quant_dequant(np.array([[448.0, -1.0, 0.0, 3.3]], F32), e4)
    expect("quant_dequant scale", float(scale[0, 0]), 1.0)
    expect("quant_dequant 3.3", float(out[0, 3]), 3.25)
    expect("bf16 round", float(round_dtype(np.array([1 + 2 ** -8], F32),
                                           "bf16")[0]), 1.0)
    print("quant_formats selftest:", "PASS" if ok else "FAIL")
    return ok


if __name__ == "__main__":
    sys.exit(0 if selftest() else 1)
