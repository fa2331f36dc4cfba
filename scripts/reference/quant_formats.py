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

The fp4 micro-block formats (docs/Quantization.md, "mxfp4 and nvfp4"):
- FP4 E2M1 (OCP MX v1.0, section 5.3.3): bias 1, no infinities or NaN;
  the eight magnitudes are listed in the spec's table, 0, 0.5, 1, 1.5, 2,
  3, 4, 6; encoding is nearest table entry, ties to the even code,
  saturating to +-6 (the same rule as fp8 above, on that literal table).
- E8M0 (OCP MX v1.0, section 5.4.1): 2^(code - 127), 0xFF NaN.
- mxfp4 (OCP MX v1.0, section 6.3, "MX-compliant conversion"): per block
  of 32 along K, shared_exp = floor(log2(max|V|)) - emax_elem (emax of
  E2M1 = 2), X = 2^shared_exp as E8M0, P_i = E2M1(V_i / X). Here floor
  log2 is found by comparing with powers of two, not with frexp.
- nvfp4 (NVIDIA; vLLM scaled_fp4_quant, ModelOpt NVFP4QTensor): E2M1 with
  an E4M3 scale per 16 and a global f32 scale: x = e2m1 * e4m3 * global,
  global = amax / (6 * 448), e4m3 = RNE((amax_block / 6) / global).

Packed fp4: two elements per byte along K, element 2j in the low nibble
(the OCP MX / vLLM / torchao order).

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


# ---------------------------------------------------------------------------
# fp4: E2M1 elements, E8M0 and E4M3 scales
# ---------------------------------------------------------------------------

# OCP MX v1.0, table of FP4 E2M1 values, codes 0b0000 .. 0b0111.
E2M1_MAGNITUDES = (0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0)
FP4_BLOCK = {"mxfp4": 32, "nvfp4": 16}


def e2m1_decode(codes):
    """4-bit codes (low nibble of each element) -> float64 values."""
    c = np.asarray(codes, dtype=np.uint8) & 0xF
    mag = np.array(E2M1_MAGNITUDES)[c & 0x7]
    return np.where(c & 0x8, -mag, mag)


def e2m1_encode(x):
    """float array -> 4-bit codes: nearest table entry, ties to the even
    code, saturating at 6; NaN -> 0 (the scale carries the NaN)."""
    x = np.asarray(x, dtype=np.float64)
    table = np.array(E2M1_MAGNITUDES)
    a = np.minimum(np.abs(np.nan_to_num(x, nan=0.0)), 6.0)
    d = np.abs(a[..., None] - table)              # distance to every entry
    best = d.min(axis=-1, keepdims=True)
    ties = d == best
    # Among the nearest entries the one with the even code (lowest bit 0).
    even = ties & ((np.arange(8) & 1) == 0)
    code = np.where(even.any(axis=-1), even.argmax(axis=-1),
                    ties.argmax(axis=-1)).astype(np.uint8)
    return (code | np.where(np.signbit(x) & ~np.isnan(x), 8, 0)).astype(
        np.uint8)


def e8m0_decode(codes):
    c = np.asarray(codes, dtype=np.uint8).astype(np.float64)
    return np.where(c == 255, np.nan, 2.0 ** (c - 127))


def floor_log2(a):
    """floor(log2(a)) for positive finite a, by comparison with powers of
    two (exact)."""
    a = np.asarray(a, dtype=np.float64)
    e = np.floor(np.log2(a))
    e = np.where(2.0 ** e > a, e - 1, e)
    e = np.where(2.0 ** (e + 1) <= a, e + 1, e)
    return e


def mx_scale_code(amax):
    """OCP MX shared scale (E8M0 code) of blocks with max magnitude amax:
    clamp(floor(log2 amax) - 2, -127, 127) + 127; 0 for amax 0; 0xFF (NaN)
    for NaN / infinite amax (our choice for infinities)."""
    amax = np.asarray(amax, dtype=np.float64)
    bad = ~np.isfinite(amax)
    safe = np.where(bad | (amax == 0), 1.0, amax)
    shared = np.clip(floor_log2(safe) - 2, -127, 127)
    code = np.where(amax == 0, 0, shared + 127)
    return np.where(bad, 255, code).astype(np.uint8)


def e4m3_round(v):
    return decode_array(encode(v, "fp8_e4m3"), "fp8_e4m3").astype(F32)


def nv_global(amax):
    """nvfp4 global scale amax / (6 * 448), float32."""
    return (np.asarray(amax, dtype=F32) / F32(6 * 448)).astype(F32)


def fp4_quant_dequant(x, fmt):
    """Dynamic fp4 activation quantization of rows x [M, K], dequantized
    (float32) -> (out, per-block scale [M, K / block]).
    mxfp4: per 32 columns X = E8M0(mx_scale_code(amax)), out = e2m1(x / X)
    * X. nvfp4: the row's global g = amax_row / 2688 (per token: our
    choice, see docs), per 16 columns sf = e4m3((amax_b / 6) / g), out =
    (e2m1(x / (sf * g)) * sf) * g, scale sf * g. float32 arithmetic."""
    x = np.asarray(x, dtype=F32)
    m, k = x.shape
    b = FP4_BLOCK[fmt]
    xs = x.reshape(m, k // b, b)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        amax = np.abs(xs).max(axis=2) if m else np.zeros((0, k // b), F32)
        if fmt == "mxfp4":
            nan = np.isnan(xs).any(axis=2) if m else amax.astype(bool)
            code = np.where(nan, 255, mx_scale_code(amax)).astype(np.uint8)
            scale = e8m0_decode(code).astype(F32)
            q = e2m1_encode((xs / scale[:, :, None]).astype(F32))
            out = (e2m1_decode(q).astype(F32) * scale[:, :, None]).astype(F32)
            out = np.where(np.isnan(scale)[:, :, None], np.nan, out)
            return out.reshape(m, k).astype(F32), scale
        row = amax.max(axis=1) if m else np.zeros(0, F32)
        g = nv_global(row)[:, None]
        sf = np.where(g == 0, F32(0),
                      e4m3_round(((amax / F32(6)).astype(F32)
                                  / np.where(g == 0, F32(1), g)).astype(F32)))
        sf = sf.astype(F32)
        scale = (sf * g).astype(F32)
        safe = np.where(scale == 0, F32(1), scale)
        q = e2m1_encode((xs / safe[:, :, None]).astype(F32))
        out = ((e2m1_decode(q).astype(F32) * sf[:, :, None]).astype(F32)
               * g[:, :, None]).astype(F32)
        out = np.where((sf == 0)[:, :, None], F32(0), out)
    return out.reshape(m, k).astype(F32), scale


def pack_fp4(codes):
    """4-bit codes [..., K, N] -> bytes [..., K / 2, N]: row 2j in the low
    nibble, row 2j + 1 in the high nibble."""
    c = np.asarray(codes, dtype=np.uint8)
    return (c[..., 0::2, :] | (c[..., 1::2, :] << 4)).astype(np.uint8)


def unpack_fp4(packed):
    p = np.asarray(packed, dtype=np.uint8)
    out = np.empty(p.shape[:-2] + (2 * p.shape[-2], p.shape[-1]), np.uint8)
    out[..., 0::2, :] = p & 0xF
    out[..., 1::2, :] = p >> 4
    return out


def quantize_fp4_weight(w, fmt):
    """Float weights [L, K, N] -> (packed bytes [L, K/2, N] uint8, scales
    [L, K/b, N] uint8 (E8M0 codes for mxfp4, E4M3 codes for nvfp4), global
    [L] float32 (nvfp4) or None). The checkpoint side: per block along K
    as for the activations; nvfp4's global per expert is amax(W_e) / 2688."""
    w = np.asarray(w, dtype=F32)
    l, k, n = w.shape
    b = FP4_BLOCK[fmt]
    blocks = w.reshape(l, k // b, b, n)
    amax = np.abs(blocks).max(axis=2)                     # [L, K/b, N]
    if fmt == "mxfp4":
        code = mx_scale_code(amax)
        scale = e8m0_decode(code).astype(F32)
        q = e2m1_encode((blocks / scale[:, :, None, :]).astype(F32))
        return pack_fp4(q.reshape(l, k, n)), code, None
    g = nv_global(amax.reshape(l, -1).max(axis=1))        # [L]
    sf_code = encode(((amax / F32(6)).astype(F32)
                      / g[:, None, None]).astype(F32), "fp8_e4m3")
    sf = decode_array(sf_code, "fp8_e4m3").astype(F32)
    full = (sf * g[:, None, None]).astype(F32)
    q = e2m1_encode((blocks / np.where(full == 0, F32(1), full)[:, :, None, :])
                    .astype(F32))
    return pack_fp4(q.reshape(l, k, n)), sf_code, g


def dequantize_fp4_weight(packed, scale, glob, fmt, dtype="f32"):
    """Packed [L, K/2, N] with scales -> float32 [L, K, N] rounded to
    `dtype`: mxfp4 e2m1 * 2^(s - 127); nvfp4 (e2m1 * e4m3) * global."""
    v = e2m1_decode(unpack_fp4(packed)).astype(F32)
    l, k, n = v.shape
    b = FP4_BLOCK[fmt]
    if fmt == "mxfp4":
        s = np.repeat(e8m0_decode(scale).astype(F32), b, axis=1)
        return round_dtype((v * s).astype(F32), dtype)
    s = np.repeat(decode_array(scale, "fp8_e4m3").astype(F32), b, axis=1)
    return round_dtype(((v * s).astype(F32)
                        * np.asarray(glob, F32)[:, None, None]).astype(F32),
                       dtype)


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
    if fmt in FP4_BLOCK:
        return E2M1_MAGNITUDES[-1] - E2M1_MAGNITUDES[-2]
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
    # fp4 (OCP MX v1.0 tables, NVIDIA nvfp4).
    expect("e2m1 6 -> 0x7", int(e2m1_encode([6.0])[0]), 0x7)
    expect("e2m1 -0.5 -> 0x9", int(e2m1_encode([-0.5])[0]), 0x9)
    expect("e2m1 1.5 -> 0x3", int(e2m1_encode([1.5])[0]), 0x3)
    expect("e2m1 3 -> 0x5", int(e2m1_encode([3.0])[0]), 0x5)
    expect("e2m1 0xE -> -4", float(e2m1_decode([0xE])[0]), -4.0)
    expect("e2m1 saturate 100", int(e2m1_encode([100.0])[0]), 0x7)
    expect("e2m1 saturate -inf", int(e2m1_encode([-np.inf])[0]), 0xF)
    # Ties to the even code: 0.25 -> 0 (0x0), 0.75 -> 1.0 (0x2),
    # 1.25 -> 1.0, 1.75 -> 2.0 (0x4), 2.5 -> 2.0, 3.5 -> 4.0 (0x6),
    # 5 -> 4.0.
    for v, c in ((0.25, 0), (0.75, 2), (1.25, 2), (1.75, 4), (2.5, 4),
                 (3.5, 6), (5.0, 6), (0.3, 1), (5.1, 7)):
        expect(f"e2m1 {v}", int(e2m1_encode([v])[0]), c)
    codes16 = np.arange(16, dtype=np.uint8)
    back = e2m1_encode(e2m1_decode(codes16))
    expect("e2m1 round trip (but -0)", list(back[1:]), list(codes16[1:]))
    expect("e8m0 127 -> 1", float(e8m0_decode([127])[0]), 1.0)
    expect("e8m0 0 -> 2^-127", float(e8m0_decode([0])[0]), 2.0 ** -127)
    expect("e8m0 0xFF NaN", bool(np.isnan(e8m0_decode([255])[0])), True)
    # amax 6 -> floor(log2 6) - 2 = 0 -> code 127; amax 7.9 -> 127;
    # amax 8 -> 128; amax 0.75 -> -3 -> 124.
    for a, c in ((6.0, 127), (7.9, 127), (8.0, 128), (0.75, 124),
                 (4.0, 127), (3.99, 126), (0.0, 0), (np.nan, 255)):
        expect(f"mx scale of {a}", int(mx_scale_code([a])[0]), c)
    expect("pack low nibble first", int(pack_fp4(np.array([[1], [0xA]]))[0, 0]),
           0xA1)
    row = np.array([[6.0, -3.0, 1.2, 0.0] + [0.0] * 28], F32)
    out, sc = fp4_quant_dequant(row, "mxfp4")
    expect("mxfp4 scale", float(sc[0, 0]), 1.0)
    expect("mxfp4 1.2 -> 1.0", float(out[0, 2]), 1.0)
    big = row * F32(16)
    out, sc = fp4_quant_dequant(big, "mxfp4")
    expect("mxfp4 x16 scale", float(sc[0, 0]), 16.0)
    expect("mxfp4 x16 -48", float(out[0, 1]), -48.0)
    # A block whose amax is 7: X = 1, 7 saturates to 6 (the OCP MX rule
    # clips rather than raising the scale).
    out, _ = fp4_quant_dequant(np.array([[7.0] + [0.0] * 31], F32), "mxfp4")
    expect("mxfp4 clip 7 -> 6", float(out[0, 0]), 6.0)
    # nvfp4: row amax 2688 -> global 1; block amax 6 -> sf 1 -> exact.
    r = np.zeros((1, 32), F32)
    r[0, 0], r[0, 1], r[0, 16], r[0, 17] = 2688.0, 3.0, 6.0, -2.9
    out, sc = fp4_quant_dequant(r, "nvfp4")
    expect("nvfp4 block 0 scale 448", float(sc[0, 0]), 448.0)
    expect("nvfp4 2688 exact", float(out[0, 0]), 2688.0)
    expect("nvfp4 block 1 scale 1", float(sc[0, 1]), 1.0)
    expect("nvfp4 -2.9 -> -3", float(out[0, 17]), -3.0)
    expect("nvfp4 3 -> 0 (448 steps)", float(out[0, 1]), 0.0)
    rng = np.random.default_rng(5)
    for fmt in ("mxfp4", "nvfp4"):
        w = rng.standard_normal((2, 64, 8)).astype(F32)
        p, s_, g = quantize_fp4_weight(w, fmt)
        d = dequantize_fp4_weight(p, s_, g, fmt)
        rel = float(np.abs(d - w).max() / np.abs(w).max())
        expect(f"{fmt} weight round trip within 1/4", rel < 0.25, True)
        # Quantizing the dequantized weights again gives the same bytes.
        p2, s2, g2 = quantize_fp4_weight(d, fmt)
        expect(f"{fmt} requantize idempotent", bool((p2 == p).all()), True)
    print("quant_formats selftest:", "PASS" if ok else "FAIL")
    return ok


if __name__ == "__main__":
    sys.exit(0 if selftest() else 1)
