#!/usr/bin/python3
"""Dense single-device reference of one MoE layer (SEMANTICS §0).

    out[t] = sum_k w[t,k] * Expert_{id[t,k]}(x[t])  (+ shared_expert(x[t]))
    Expert_e(v) = SwiGLU MLP with W13 [H, 2I] (gate columns, then up) and W2 [I, H]

Written from the documents (SEMANTICS §0/§4/§6, docs/Rationale.md, the
moe.gate / moe.experts and npu.dynamic_quant / npu.grouped_matmul pages of
docs/Dialects/), not from the C++ runtime. Every token is computed on its
own with the GLOBAL logical experts: no communication, no padding, no EPLB.

Numerics:
- The gate runs in float32 like the executor (SEMANTICS §4 + Rationale "Gate
  semantics"): softmax|sigmoid scores; the correction bias steers the
  selection only; grouped top-k scores a group by its best score, or with a
  bias by the sum of its two best biased scores, and keeps the best
  `keep_groups`; top-k with ties to the lower id; weights are the unbiased
  scores, renormalized, then multiplied by the routed scaling factor.
- Unquantized experts are computed in float64 (a reference more exact than
  the executor's float32).
- w8a8 / w4a8 experts follow the scheme step by step in float32 with exact
  integer matmuls, so the only differences left against a float32 executor
  are float32 reassociation in the dequantization (see `mlp`'s `step`).
- w4a8 routed experts in the NPU kernel's form (`MLPWeights.kernel`, what
  the executor runs after moe.prepare_weights) start from the checkpoint
  tensors: `process_w4a8` is seed 001's process_weights_after_loading
  (merged scale `(scale * scale_second)` rounded to float16, bias
  `8 * sum(W * scale_second * scale)`), `w4a8_kernel_matmul` the A8W4
  grouped matmul of the CANN documentation (int8 x split into a high and an
  offset low int4 half, i.e. blocks of `(x - 8) . W`, merged scale, + bias,
  * per-token scale). docs/Quantization.md.
- w4a8 shared experts are weight-only (`MLPWeights.weight_only`), seed
  001's AscendW4A8DynamicLinearMethod: `process_w4a8_linear` is its
  process_weights_after_loading (antiquant scale `scale * scale_second` in
  float32), `weight_quant_matmul` its apply (npu_weight_quant_batchmatmul:
  the antiquant scale cast to x's dtype, the int4 weight dequantized in
  x's dtype, the product accumulated in float, the result in x's dtype).
  The activations are never quantized, so they add no requantization step.

Library: `gate`, `dynamic_quant`, `swiglu`, `mlp`, `dense_moe`, the
`GateSpec` / `MLPWeights` / `DenseLayer` containers and `save_layer` /
`load_layer`. CLI: `dense_moe.py LAYER_DIR X.npy LOGITS.npy -o OUT.npy`.
"""

import argparse
import json
import os
from dataclasses import asdict, dataclass
from typing import Optional

import numpy as np

import quant_formats
import quant_schemes  # the int8 weight-only and fp8 schemes

F32 = np.float32

QUANT_SCHEMES = ("none", "w8a8", "w4a8") + tuple(quant_schemes.SCHEMES)
WEIGHT_FIELDS = ("w13", "w2", "w13_scale", "w2_scale",
                 "w13_group_scale", "w2_group_scale")


@dataclass
class GateSpec:
    """The attributes of `moe.gate`."""
    top_k: int
    scoring: str = "softmax"        # softmax | sigmoid
    renormalize: bool = False
    num_groups: int = 0             # 0: no grouped top-k
    keep_groups: int = 0
    balanced: bool = False          # top_k / num_groups from every group
    routed_scaling: float = 1.0


@dataclass
class MLPWeights:
    """SwiGLU weights of a stack of L experts, k-major (docs/Rationale.md).

    w13 [L, H, 2I] (gate columns then up columns), w2 [L, I, H].
    none: float weights. w8a8: int8 values, per-output-channel scales
    w13_scale [L, 2I], w2_scale [L, H]. w4a8: int values in [-8, 7], the same
    per-channel scales and group scales w13_group_scale [L, H/gs, 2I],
    w2_group_scale [L, I/gs, H] along the reduced dimension. w4a8 with
    `weight_only` (the shared experts, seed 001's linear method): no
    per-channel scales; the group scales are the processed antiquant scales
    `scale * scale_second` (process_w4a8_linear).
    Shared experts are a stack of one.
    """
    w13: np.ndarray
    w2: np.ndarray
    quant: str = "none"
    w13_scale: Optional[np.ndarray] = None
    w2_scale: Optional[np.ndarray] = None
    w13_group_scale: Optional[np.ndarray] = None
    w2_group_scale: Optional[np.ndarray] = None
    kernel: bool = False     # w4a8: the kernel form (see process_w4a8)
    dtype: str = "f32"       # float type of the rows (quant_schemes only)
    weight_only: bool = False  # w4a8 shared experts (process_w4a8_linear)

    @property
    def inter(self):
        return self.w2.shape[1]

    def arrays(self):
        """{field: array} of the fields that are present."""
        return {f: getattr(self, f) for f in WEIGHT_FIELDS
                if getattr(self, f) is not None}

    def select(self, experts):
        """The stack of `experts` (indices along L)."""
        idx = np.asarray(experts, dtype=np.int64)
        return MLPWeights(quant=self.quant, kernel=self.kernel,
                          weight_only=self.weight_only, dtype=self.dtype,
                          **{f: a[idx] for f, a in self.arrays().items()})

    def dequantized(self, name):
        """w13 or w2 as float64 [L, K, N], scales applied."""
        w = getattr(self, name).astype(np.float64)
        if self.quant == "none":
            return w
        if self.quant == "w4a8":
            g = getattr(self, name + "_group_scale").astype(np.float64)
            w = w * np.repeat(g, w.shape[1] // g.shape[1], axis=1)
            if self.weight_only:
                return w
        return w * getattr(self, name + "_scale")[:, None, :]


@dataclass
class DenseLayer:
    """Everything the dense reference needs: gate, logical experts, shared."""
    gate: GateSpec
    experts: MLPWeights
    bias: Optional[np.ndarray] = None       # [E] correction bias
    shared: Optional[MLPWeights] = None     # stack of one
    # Qwen2-MoE's shared_expert_gate [H, 1]: the shared output of token t
    # is scaled by sigmoid(x[t] . gate).
    shared_gate: Optional[np.ndarray] = None
    # apply_router_weight_on_input (seed 002, top-1): the weight scales the
    # token before its expert, out[t] = Expert(w[t] * x[t]).
    weight_on_input: bool = False


# ---------------------------------------------------------------------------
# Gate (SEMANTICS §4)
# ---------------------------------------------------------------------------

def scores_of(logits, scoring):
    """softmax or sigmoid of the logits, float32."""
    z = np.asarray(logits, dtype=F32)
    with np.errstate(over="ignore"):
        if scoring == "softmax":
            e = np.exp(z - z.max(axis=1, keepdims=True))
            return e / e.sum(axis=1, keepdims=True)
        if scoring == "sigmoid":
            return F32(1) / (F32(1) + np.exp(-z))
    raise ValueError(f"unknown scoring {scoring!r}")


def _descending(values):
    """Indices sorting each row by descending value, ties to the lower index."""
    return np.argsort(-values, axis=1, kind="stable")


def _group_scores(biased, spec, has_bias):
    """[T, G]: best score of each group, or the sum of its two best biased."""
    t, e = biased.shape
    grouped = biased.reshape(t, spec.num_groups, e // spec.num_groups)
    ordered = -np.sort(-grouped, axis=2)
    return ordered[:, :, :2].sum(axis=2) if has_bias else ordered[:, :, 0]


def _selectable(logits, spec, bias):
    """(unbiased scores, biased scores with unselectable experts at -inf,
    group scores or None)."""
    scores = scores_of(logits, spec.scoring)
    biased = scores + bias.astype(F32) if bias is not None else scores.copy()
    groups = None
    if spec.num_groups:
        groups = _group_scores(biased, spec, bias is not None)
        kept = _descending(groups)[:, :spec.keep_groups]
        keep = np.zeros_like(groups, dtype=bool)
        np.put_along_axis(keep, kept, True, axis=1)
        per_group = biased.shape[1] // spec.num_groups
        biased = np.where(np.repeat(keep, per_group, axis=1), biased, -np.inf)
    return scores, biased.astype(F32), groups


def _balanced_ids(biased, spec):
    """Group-balanced top-k (Pangu Pro MoE's router, `moe.gate ... balanced`):
    the top_k / G best of each of the G groups, group by group."""
    t, e = biased.shape
    g, per = spec.num_groups, e // spec.num_groups
    each = spec.top_k // g
    grouped = biased.reshape(t, g, per)
    best = _descending(grouped.reshape(t * g, per))[:, :each].reshape(t, g, each)
    return (best + (np.arange(g) * per)[None, :, None]).reshape(t, g * each)


def gate(logits, spec, bias=None):
    """moe.gate: logits [T, E] -> (weights [T, K] f32, ids [T, K] i32)."""
    if spec.balanced:
        scores = scores_of(logits, spec.scoring)
        biased = scores + bias.astype(F32) if bias is not None else scores
        ids = _balanced_ids(biased.astype(F32), spec).astype(np.int32)
        w = np.take_along_axis(scores, ids, axis=1)
        if spec.renormalize:
            w = w / w.sum(axis=1, keepdims=True)
        return (w * F32(spec.routed_scaling)).astype(F32), ids
    scores, biased, _ = _selectable(logits, spec, bias)
    ids = _descending(biased)[:, :spec.top_k].astype(np.int32)
    w = np.take_along_axis(scores, ids, axis=1)
    if spec.renormalize:
        w = w / w.sum(axis=1, keepdims=True)
    return (w * F32(spec.routed_scaling)).astype(F32), ids


def _relative_gap(sorted_desc, n):
    """Relative gap between the n-th and (n+1)-th value of each row (inf
    when there is no (n+1)-th selectable value)."""
    if n >= sorted_desc.shape[1]:
        return np.full(sorted_desc.shape[0], np.inf)
    a, b = sorted_desc[:, n - 1], sorted_desc[:, n]
    with np.errstate(invalid="ignore"):
        gap = (a - b) / np.maximum(np.maximum(abs(a), abs(b)), 1e-30)
    return np.where(np.isinf(b), np.inf, gap)


def selection_margin(logits, spec, bias=None):
    """[T]: the smallest relative gap behind every routing decision of a
    token (kept groups vs the next group, k-th vs (k+1)-th selectable
    expert). Cases keep it >= 1e-3 so float32 rounding cannot change a
    choice."""
    if spec.balanced:
        scores = scores_of(logits, spec.scoring)
        biased = scores + bias.astype(F32) if bias is not None else scores
        t, e = biased.shape
        per = e // spec.num_groups
        grouped = biased.astype(np.float64).reshape(t * spec.num_groups, per)
        gaps = _relative_gap(-np.sort(-grouped, axis=1),
                             spec.top_k // spec.num_groups)
        return gaps.reshape(t, spec.num_groups).min(axis=1)
    _, biased, groups = _selectable(logits, spec, bias)
    margin = _relative_gap(-np.sort(-biased.astype(np.float64), axis=1),
                           spec.top_k)
    if groups is not None:
        margin = np.minimum(margin, _relative_gap(
            -np.sort(-groups.astype(np.float64), axis=1), spec.keep_groups))
    return margin


# ---------------------------------------------------------------------------
# Quantization and the expert MLP (SEMANTICS §6, npu.dynamic_quant)
# ---------------------------------------------------------------------------

def dynamic_quant(x):
    """Per-row int8: scale = max|row| / 127, q = round-half-even(x / scale)
    clamped to [-127, 127]; an all-zero row gets scale 0 and zeros."""
    x = np.asarray(x, dtype=F32)
    scale = (np.abs(x).max(axis=1, initial=F32(0)) / F32(127)).astype(F32)
    safe = np.where(scale > 0, scale, F32(1))[:, None]
    q = np.clip(np.rint(x / safe), -127, 127)
    q[scale == 0] = 0
    return q.astype(np.int8), scale


def swiglu(h):
    """silu(h[:, :I]) * h[:, I:] in h's float type."""
    i = h.shape[1] // 2
    g, u = h[:, :i], h[:, i:]
    with np.errstate(over="ignore"):
        return g / (1 + np.exp(-g)) * u


def quant_matmul(q, a_scale, w, w_scale, group_scale=None):
    """Dequantized int8 x int matmul in float32, in the executor's order:
    w8a8: (acc * a_scale[m]) * w_scale[n], acc exact;
    w4a8: acc_g exact per group of gs reduced rows, sum_g acc_g * G[g, n]
    (in group order), then * a_scale[m] * w_scale[n]."""
    q64, w64 = q.astype(np.int64), w.astype(np.int64)
    if group_scale is None:
        acc = (q64 @ w64).astype(F32)
    else:
        gs = w.shape[0] // group_scale.shape[0]
        acc = np.zeros((q.shape[0], w.shape[1]), dtype=F32)
        for g in range(group_scale.shape[0]):
            part = q64[:, g * gs:(g + 1) * gs] @ w64[g * gs:(g + 1) * gs]
            acc = acc + part.astype(F32) * group_scale[g].astype(F32)
    return acc * a_scale[:, None] * w_scale.astype(F32)[None, :]


def process_w4a8(weight, scale, scale_second):
    """Seed 001's process_weights_after_loading of the w4a8_dynamic fused-MoE
    method (quant version 0) on one checkpoint stack, from the seed text:
    weight [L, N, K] (int4 values in int8), scale [L, N, 1], scale_second
    [L, N, K/G] -> (w [L, K, N] int8 values, merged [L, K/G, N] float32,
    bias [L, N] float32)."""
    w = np.ascontiguousarray(weight.transpose(0, 2, 1))
    s = scale.transpose(0, 2, 1)                       # [L, 1, N]
    g = scale_second.transpose(0, 2, 1)                # [L, K/G, N]
    groups, (l, k, n) = g.shape[1], w.shape
    # process_scale: weight_high = W * per_group_scale (float32), bias =
    # 8 * sum over K of weight_high * scale.
    high = (w.astype(F32).reshape(l, groups, k // groups, n)
            * g.reshape(l, groups, 1, n)).reshape(l, k, n)
    bias = (F32(8) * (high.astype(F32) * s).sum(axis=1)).astype(F32)
    # (scale * per_group_scale) in the scales' dtype, to float16 and back.
    merged = (s * g).astype(scale.dtype).astype(np.float16).astype(F32)
    return w, merged, bias


def pack_checkpoint_v1(weight):
    """int4 values [L, N, K] -> a quant version 1.0.0 checkpoint weight
    [L, N/2, K] int8: byte [e, j, k] holds channel 2j (low nibble) and
    2j + 1 (high nibble) of row k."""
    v = np.asarray(weight).astype(np.uint8) & 0xF
    return (v[:, 0::2, :] | (v[:, 1::2, :] << 4)).astype(np.uint8).view(np.int8)


def process_w4a8_v1(packed, scale, scale_second, scale_bias):
    """Seed 001's process_weights_after_loading for new_quant_version
    (quant version 1.0.0): the weight [L, N/2, K] is transposed as bytes
    (pack_to_int32 only reinterprets them), process_scale restores n * 2
    and computes no bias, update_bias sums scale_bias [L, N, P] over P.
    -> (w [L, K, N] int8 values, merged [L, K/G, N], bias [L, N])."""
    b = np.ascontiguousarray(packed.transpose(0, 2, 1)).view(np.uint8)
    lo = (b & 0xF).astype(np.int8)
    hi = (b >> 4).astype(np.int8)
    w = np.empty(b.shape[:2] + (2 * b.shape[2],), dtype=np.int8)
    w[..., 0::2] = np.where(lo >= 8, lo - 16, lo)
    w[..., 1::2] = np.where(hi >= 8, hi - 16, hi)
    s = scale.transpose(0, 2, 1)
    g = scale_second.transpose(0, 2, 1)
    merged = (s * g).astype(scale.dtype).astype(np.float16).astype(F32)
    bias = scale_bias.transpose(0, 2, 1).sum(axis=1).astype(F32)
    return w, merged, bias


def pack_int4(values):
    """int4 values [..., N] (N even) -> uint8 [..., N/2], two per byte,
    element 2i in the low nibble."""
    v = np.asarray(values).astype(np.uint8) & 0xF
    return (v[..., 0::2] | (v[..., 1::2] << 4)).astype(np.uint8)


def w4a8_kernel_matmul(q, a_scale, w, merged, bias):
    """The A8W4 grouped matmul on processed weights: per block of gs
    reduced rows the exact (q - 8) . w, times the merged scale, summed in
    block order, + bias, * a_scale[m] (float32)."""
    q64, w64 = q.astype(np.int64) - 8, w.astype(np.int64)
    gs = w.shape[0] // merged.shape[0]
    acc = np.zeros((q.shape[0], w.shape[1]), dtype=F32)
    for b in range(merged.shape[0]):
        part = q64[:, b * gs:(b + 1) * gs] @ w64[b * gs:(b + 1) * gs]
        acc = acc + part.astype(F32) * merged[b]
    return (acc + bias[None, :]) * a_scale[:, None]


def process_w4a8_linear(weight, scale, scale_second):
    """Seed 001's AscendW4A8DynamicLinearMethod.process_weights_after_loading
    on one linear layer, from the seed text: weight [N, K] (int4 values in
    int8) is transposed to [K, N]; weight_scale [N, 1] is flattened and cast
    to float32; process_scale_second(weight, scale, scale_second^T) gives
    the antiquant scale (scale * per_group_scale).reshape(group_num, n),
    a float32 product. (Its bias, weight_scale_bias, is not read by apply;
    the int4 packing only changes the storage.)
    -> (w [K, N] int8 values, antiquant [K/G, N] float32)."""
    w = np.ascontiguousarray(np.asarray(weight).T)
    s = np.asarray(scale).reshape(-1).astype(F32)                # [N]
    per_group = np.asarray(scale_second).T.astype(F32)           # [K/G, N]
    return w, (s[None, :] * per_group).astype(F32)


def round_to(a, dtype):
    """`a` rounded to the float type `dtype` ("f32", "f16" or "bf16";
    nearest even), as float32 values."""
    a = np.asarray(a, dtype=F32)
    if dtype == "f32":
        return a
    if dtype == "f16":
        return a.astype(np.float16).astype(F32)
    if dtype == "bf16":
        bits = a.view(np.uint32).astype(np.uint64)
        bits = (bits + 0x7FFF + ((bits >> 16) & 1)) >> 16 << 16
        return bits.astype(np.uint32).view(F32)
    raise ValueError(f"unknown float type {dtype!r}")


def weight_quant_matmul(x, w, antiquant, dtype="f32"):
    """Seed 001's linear apply, npu_weight_quant_batchmatmul(x, weight,
    antiquant_scale=antiquant.to(x.dtype), antiquant_group_size=G): x [M, K]
    of float type `dtype`, w [K, N] int4 values, antiquant [K/G, N]. The
    scale is cast to x's dtype, every weight dequantized in x's dtype
    (W * scale, rounded), x . W accumulated in float64, the result rounded
    to x's dtype."""
    gs = w.shape[0] // antiquant.shape[0]
    scale = np.repeat(round_to(antiquant, dtype), gs, axis=0)
    deq = round_to(w.astype(F32) * scale, dtype)
    y = np.asarray(x, dtype=np.float64) @ deq.astype(np.float64)
    return round_to(y.astype(F32), dtype)


def checkpoint_of(w, name, e, rows=slice(None)):
    """The checkpoint tensors of matrix `name` of expert `e` of `w` (rows of
    the reduced dimension `rows`): weight [1, N, K], scale [1, N, 1],
    scale_second [1, N, K/G]."""
    mat = getattr(w, name)[e][rows]
    g = getattr(w, name + "_group_scale")[e]
    gs = getattr(w, name).shape[1] // g.shape[0]
    start = rows.start or 0
    stop = rows.stop if rows.stop is not None else mat.shape[0] + start
    g = g[start // gs:stop // gs]
    return (mat.T[None], getattr(w, name + "_scale")[e][None, :, None],
            g.T[None])


def _kernel_matmul(q, s, w, name, e, rows=slice(None)):
    pw, merged, bias = process_w4a8(*checkpoint_of(w, name, e, rows))
    return w4a8_kernel_matmul(q, s, pw[0], merged[0], bias[0])


def mlp(x, w, e, a2_shards=1):
    """Expert `e` of `w` on rows x [M, H] -> (y [M, H], step [M, H]).

    Unquantized: float64. Quantized: quantize x per row, gate-up matmul,
    dequantize, SwiGLU, requantize per row, down matmul (SEMANTICS §6).
    With `a2_shards` > 1 the intermediate dimension is cut into that many
    contiguous slices requantized separately and their outputs summed: the
    quantized computation of an expert tensor-sharded over that many ranks
    (no EP), where each rank requantizes its own slice.

    `step[m, n]` bounds how much one requantized intermediate element moving
    by one int8 step changes y[m, n]: a2_scale[m] * max_i |W2[i, n]|
    (dequantized; max over shards). Zero when unquantized.
    """
    m, h = x.shape
    if w.quant in quant_schemes.SCHEMES:
        return quant_schemes.mlp(x, w, e, w.dtype)
    if w.weight_only:
        a = swiglu(weight_quant_matmul(x, w.w13[e], w.w13_group_scale[e]))
        y = weight_quant_matmul(a, w.w2[e], w.w2_group_scale[e])
        return y.astype(np.float64), np.zeros((m, h))
    if w.quant == "none":
        hid = np.asarray(x, dtype=np.float64) @ w.w13[e].astype(np.float64)
        return swiglu(hid) @ w.w2[e].astype(np.float64), np.zeros((m, h))
    w4 = w.quant == "w4a8"
    kernel = w4 and w.kernel
    q, s = dynamic_quant(x)
    if kernel:
        a = swiglu(_kernel_matmul(q, s, w, "w13", e))
    else:
        a = swiglu(quant_matmul(q, s, w.w13[e], w.w13_scale[e],
                                w.w13_group_scale[e] if w4 else None))
    y = np.zeros((m, h), dtype=F32)
    step = np.zeros((m, h))
    w2_deq = w.dequantized("w2")[e]
    per_shard = w.inter // a2_shards
    for part in range(a2_shards):
        rows = slice(part * per_shard, (part + 1) * per_shard)
        g2 = None
        if w4:
            gs = w.inter // w.w2_group_scale.shape[1]
            g2 = w.w2_group_scale[e][rows.start // gs:rows.stop // gs]
        q2, s2 = dynamic_quant(a[:, rows])
        if kernel:
            y = y + _kernel_matmul(q2, s2, w, "w2", e, rows)
        else:
            y = y + quant_matmul(q2, s2, w.w2[e][rows], w.w2_scale[e], g2)
        step = np.maximum(step, s2[:, None].astype(np.float64)
                          * np.abs(w2_deq[rows]).max(axis=0)[None, :])
    return y.astype(np.float64), step


def dense_moe(x, logits, layer, a2_shards=1, return_step=False,
              shared_a2_shards=1):
    """SEMANTICS §0 for tokens x [T, H] with router logits [T, E].

    Returns out [T, H] float32, and with `return_step` also step [T, H]:
    the sum over the token's experts (and the shared expert) of
    |w[t, k]| * one-requantization-step effect (see `mlp`), i.e. how much
    one flipped rounding per expert may move the output.
    `a2_shards` applies to the routed experts (see `mlp`);
    `shared_a2_shards` to the shared experts (tensor-sharded over the TP
    ranks when the layer reduces their partial sums itself: seed 000
    reduce_results=False).
    """
    x = np.asarray(x, dtype=F32)
    t, h = x.shape
    out = np.zeros((t, h))
    step = np.zeros((t, h))
    weights, ids = gate(logits, layer.gate, layer.bias)
    for e in np.unique(ids):
        tok, slot = np.nonzero(ids == e)   # a token picks an expert once
        w = weights[tok, slot].astype(np.float64)[:, None]
        if layer.weight_on_input:
            # The executor scales in the hidden states' float type.
            scaled = (x[tok] * weights[tok, slot][:, None]).astype(F32)
            y, st = mlp(scaled, layer.experts, e, a2_shards)
            out[tok] += y
            step[tok] += st
            continue
        y, st = mlp(x[tok], layer.experts, e, a2_shards)
        out[tok] += w * y
        step[tok] += abs(w) * st
    if layer.shared is not None:
        y, st = mlp(x, layer.shared, 0, shared_a2_shards)
        if layer.shared_gate is not None:
            logit = x.astype(np.float64) @ layer.shared_gate.astype(np.float64)
            g = 1.0 / (1.0 + np.exp(-logit))          # [T, 1]
            y, st = y * g, st * g
        out += y
        step += st
    out = out.astype(F32)
    if layer.experts.dtype != "f32":   # the layer's bf16 / f16 output
        out = quant_formats.round_dtype(out, layer.experts.dtype)
    return (out, step) if return_step else out


# ---------------------------------------------------------------------------
# Saving and loading a layer; CLI
# ---------------------------------------------------------------------------

def save_layer(layer, directory):
    """layer.json plus global.<name>.npy for every array of the layer."""
    os.makedirs(directory, exist_ok=True)
    arrays = {"e_score_correction_bias": layer.bias}
    arrays.update(layer.experts.arrays())
    if layer.shared is not None:
        arrays.update({"shared_" + f: a for f, a in layer.shared.arrays().items()})
    arrays["shared_expert_gate"] = layer.shared_gate
    for name, a in arrays.items():
        if a is not None:
            np.save(os.path.join(directory, f"global.{name}.npy"), a)
    meta = {"gate": asdict(layer.gate), "quant": layer.experts.quant,
            "w4a8_kernel": layer.experts.kernel,
            "shared_weight_only": (layer.shared is not None
                                   and layer.shared.weight_only),
            "bias": layer.bias is not None, "shared": layer.shared is not None,
            "shared_gate": layer.shared_gate is not None,
            "weight_on_input": layer.weight_on_input}
    with open(os.path.join(directory, "layer.json"), "w") as f:
        json.dump(meta, f, indent=1)


def load_layer(directory):
    """The DenseLayer save_layer wrote to `directory`."""
    with open(os.path.join(directory, "layer.json")) as f:
        meta = json.load(f)

    def load(name):
        path = os.path.join(directory, f"global.{name}.npy")
        return np.load(path) if os.path.exists(path) else None

    def weights(prefix):
        return MLPWeights(quant=meta["quant"],
                          **{f: load(prefix + f) for f in WEIGHT_FIELDS})

    experts = weights("")
    experts.kernel = bool(meta.get("w4a8_kernel", False))
    shared = weights("shared_") if meta["shared"] else None
    if shared is not None:
        shared.weight_only = bool(meta.get("shared_weight_only", False))
    return DenseLayer(gate=GateSpec(**meta["gate"]), experts=experts,
                      bias=load("e_score_correction_bias") if meta["bias"] else None,
                      shared=shared,
                      shared_gate=(load("shared_expert_gate")
                                   if meta.get("shared_gate") else None),
                      weight_on_input=meta.get("weight_on_input", False))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("layer_dir", help="directory with layer.json and global.*.npy")
    p.add_argument("x", help="hidden states [T, H] .npy")
    p.add_argument("logits", help="router logits [T, E] .npy")
    p.add_argument("-o", "--output", required=True, help="output [T, H] .npy")
    p.add_argument("--a2-shards", type=int, default=1,
                   help="requantize the intermediate in this many slices "
                        "(tensor-sharded experts, see mlp())")
    args = p.parse_args()
    out = dense_moe(np.load(args.x), np.load(args.logits),
                    load_layer(args.layer_dir), args.a2_shards)
    np.save(args.output, out)


if __name__ == "__main__":
    main()
