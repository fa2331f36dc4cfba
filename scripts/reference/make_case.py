#!/usr/bin/python3
"""Generate one conformance case: an MoE layer on N simulated ranks.

A case directory holds (names are part of the contract with moe-run and
run_case.py; see test/Conformance/README.md):

  layer.mlir               the level-1 layer (moe dialect), token dim `?`,
                           entry arguments named with {moe.name = "..."}
  <name>.rank<r>.npy       rank r's value of a per-rank argument: x [T_r, H],
                           logits [T_r, E], log2phy [E], expert_map [E+R] and
                           the rank's LOCAL expert weights and scales
  <name>.npy               an argument equal on every rank (correction bias,
                           shared-expert weights)
  expected.rank<r>.npy     dense_moe(x_r) with the GLOBAL logical weights
  step.rank<r>.npy         (quantized cases) one-requantization-step bound
  layer.json, global.*.npy the dense layer (dense_moe.load_layer)
  case.json                all of the above, the layout and the spec

Arrays are C-order .npy: float32 for f32 tensors, int32 for i32, int8 for i8
and for i4 (one value in [-8, 7] per int8 element; the executor packs them).

w4a8 routed experts come as the checkpoint ships them (seed 001, quant
version 0): w13 [L, 2I, H] and w2 [L, H, I] int8 holding int4 values
(output channels first), w13_scale [L, 2I, 1], w2_scale [L, H, 1],
w13_scale_second [L, 2I, H/G], w2_scale_second [L, H, I/G]; the layer
processes them with moe.prepare_weights (docs/Quantization.md). With
--w4a8-version 1.0.0 the weights are packed two per byte along N (w13
[L, I, H], w2 [L, H/2, I]) and w13_scale_bias [L, 2I, 1], w2_scale_bias
[L, H, 16/tp'] carry the bias as partial sums. w4a8 shared experts are
weight-only (seed 001's AscendW4A8DynamicLinearMethod) and come as its
process_weights_after_loading leaves them (dense_moe.process_w4a8_linear of
a random checkpoint): shared_w13 [H, 2S] and shared_w2 [S, H] i4 and the
antiquant scales shared_w13_group_scale [H/G, 2S], shared_w2_group_scale
[S/G, H] (weight_scale * weight_scale_second, f32); no per-channel scales.

Weight placement (SEMANTICS §1, docs/Rationale.md): with expert parallelism
(ep = tp * dp > 1) rank r owns physical experts [r*L, (r+1)*L), L = (E+R)/ep;
physical expert p < E is logical expert p, the R redundant ones replicate the
hot expert (with --skew) and random others. Without it every rank holds all
E+R physical experts tensor-sharded over tp' = tp * dp ranks: rank r keeps
intermediate columns [r*I/tp', (r+1)*I/tp') of both W13 halves and those rows
of W2. Shared experts are whole on every rank. With tp > 1 and no sequence
parallelism the ranks of one DP group hold the same tokens.
"""

import argparse
import json
import os
import sys
from dataclasses import asdict, dataclass, field, fields
from typing import List, Optional

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dense_moe import (F32, QUANT_SCHEMES, DenseLayer, GateSpec,  # noqa: E402
                       MLPWeights, dense_moe, gate, pack_checkpoint_v1,
                       process_w4a8_linear,
                       save_layer, selection_margin)
import quant_formats  # noqa: E402
import quant_schemes  # noqa: E402

METHODS = ("unset", "allgather", "alltoall", "mc2", "fused_mc2", "moge")
CHIPS = ("A2", "A3", "A5", "A310P")
MIN_MARGIN = 1e-3          # relative gap behind every routing decision

PRESETS = {
    "mixtral": dict(hidden=64, experts=8, top_k=2, inter=32,
                    scoring="softmax", renormalize=True),
    "qwen": dict(hidden=64, experts=16, top_k=4, inter=32,
                 scoring="softmax", renormalize=True),
    "deepseek": dict(hidden=64, experts=16, top_k=4, inter=32,
                     shared_inter=32, scoring="sigmoid", bias=True, groups=4,
                     keep_groups=2, renormalize=True, routed_scaling=2.5),
}


def _opt(default, help_text):
    """A CaseSpec field with its command-line help."""
    return field(default=default, metadata={"help": help_text})


@dataclass
class CaseSpec:
    """Everything a case is generated from (defaults: a small Mixtral)."""
    hidden: int = _opt(64, "hidden size H")
    experts: int = _opt(8, "logical experts E")
    top_k: int = _opt(2, "experts per token K")
    inter: int = _opt(32, "expert intermediate size I")
    shared_inter: int = _opt(0, "shared experts' intermediate size (0: none)")
    shared_gate: bool = _opt(False, "Qwen2-MoE's shared_expert_gate: the "
                                    "shared output scaled by sigmoid(x . Wg)")
    scoring: str = _opt("softmax", "router scores")
    renormalize: bool = _opt(True, "renormalize the top-k weights")
    groups: int = _opt(0, "grouped top-k: number of expert groups (0: off)")
    keep_groups: int = _opt(0, "grouped top-k: groups kept")
    balanced: bool = _opt(False, "group-balanced routing: top_k / groups "
                                 "experts from every group (moe.gate ... "
                                 "balanced; keep_groups = groups); moge "
                                 "needs it")
    bias: bool = _opt(False, "correction bias (selection only)")
    routed_scaling: float = _opt(1.0, "routed scaling factor")
    quant: str = _opt("none", "quantization scheme")
    dtype: str = _opt("f32", "float type of the layer's activations (bf16 "
                             "and f16 with the int8 / fp8 schemes)")
    group_size: int = _opt(0, "w4a8 group size")
    w4a8_version: str = _opt("0", "w4a8 checkpoint quant version: 0 (int4 "
                                  "in int8) or 1.0.0 (packed, scale_bias)")
    redundant: int = _opt(0, "EPLB redundant experts R (adds log2phy and "
                             "expert_map)")
    log2phy_per_rank: bool = _opt(False, "vary log2phy across ranks (not "
                                         "for allgather: every rank maps "
                                         "every token there)")
    world: int = _opt(1, "ranks N = tp * dp * pcp")
    tp: int = _opt(1, "attention tensor-parallel size (dp = world / (tp * "
                      "pcp))")
    pcp: int = _opt(1, "prefill context parallel size (seed 000 pcp_size): "
                       "the ranks of a PCP group hold different tokens")
    expert_parallel: bool = _opt(True, "expert parallelism")
    shared_expert_ranks: int = _opt(0, "#moe.layout shared_expert_ranks: "
                                       "the first S EP ranks run the shared "
                                       "experts (MC2's "
                                       "shared_expert_rank_num), the routed "
                                       "experts live on the others")
    sequence_parallel: bool = _opt(False, "sequence parallelism")
    chip: str = _opt("A3", "#moe.chip of the layer")
    dispatch_v2: bool = _opt(True, "#moe.chip dispatch_v2: torch_npu has "
                                   "npu_moe_distribute_dispatch_v2 (seed 002 "
                                   "enable_dispatch_v2)")
    hierarchical_comm: bool = _opt(False, "#moe.chip hierarchical_comm (A2; "
                                          "seed 002 need_expert_scale)")
    ir_method: str = _opt("unset", "method in the layer's context types")
    tokens: Optional[List[int]] = _opt(
        None, "comma-separated token counts per rank, or per DP group when "
              "its ranks share tokens (default: random)")
    max_tokens: int = _opt(40, "bound of random token counts")
    skew: bool = _opt(False, "route every token to one (hot) expert")
    weight_on_input: bool = _opt(False, "router weight on the input "
                                        "(apply_router_weight_on_input; "
                                        "top-1, allgather)")
    reduce_results: bool = _opt(True, "finalize reduces over TP (seed 000 "
                                      "reduce_results); false: the layer "
                                      "adds the shared output and reduces "
                                      "once (needs --ir-method)")
    replace_allreduce: bool = _opt(False, "moe.prepare replace_allreduce "
                                          "(seed 000; needs --ir-method)")
    enable_shared_expert_dp: bool = _opt(False, "moe.prepare "
                                                "enable_shared_expert_dp "
                                                "(seed 000; needs "
                                                "--ir-method)")
    seed: int = _opt(0, "random seed")

    # Derived layout (SEMANTICS §1).
    @property
    def dp(self):
        return self.world // (self.tp * self.pcp)

    @property
    def use_ep(self):
        return self.world > 1 and self.expert_parallel

    @property
    def ep(self):
        return self.world if self.use_ep else 1

    @property
    def shards(self):
        """tp': ranks an expert is tensor-sharded over (1 with EP)."""
        return 1 if self.use_ep else self.world

    @property
    def physical(self):
        return self.experts + self.redundant

    @property
    def routed_ep(self):
        """EP ranks holding routed experts (after the shared-expert ranks)."""
        return self.ep - self.shared_expert_ranks

    @property
    def local_experts(self):
        return self.physical // self.routed_ep

    @property
    def skips_tp_slicing(self):
        """replace_allreduce / enable_shared_expert_dp with a method that
        then pads and slices nothing by TP rank (seed 000)."""
        return ((self.replace_allreduce or self.enable_shared_expert_dp)
                and self.ir_method in ("alltoall", "mc2", "fused_mc2"))

    @property
    def shares_tokens(self):
        """Ranks of a DP group hold the same tokens (tp > 1, no SP, not
        skipping the TP slicing: then they hold distinct tokens)."""
        return (self.tp > 1 and not self.sequence_parallel
                and not self.skips_tp_slicing)

    @property
    def keeps_dp_rows(self):
        """allgather's finalize keeps the DP group's gathered rows
        (enable_shared_expert_dp); the layer reduce-scatters them."""
        return (self.enable_shared_expert_dp and self.ir_method == "allgather"
                and self.dp > 1 and not self.sequence_parallel)

    @property
    def partial_tp(self):
        """Finalize leaves a partial sum over TP (reduce_results false with
        allgather, tp > 1, no SP): the shared experts are TP-sharded too and
        the layer all-reduces their sum once."""
        return (not self.reduce_results and self.ir_method == "allgather"
                and self.tp > 1 and not self.sequence_parallel)

    @property
    def shared_shards(self):
        return self.tp if self.partial_tp else 1

    def token_group(self, rank):
        return rank // self.tp if self.shares_tokens else rank

    @property
    def token_groups(self):
        return self.world // self.tp if self.shares_tokens else self.world


def chip_params(s):
    """The #moe.chip parameters of `s`: the kind and the MC2 settings that
    differ from the attribute's defaults."""
    params = [s.chip]
    if not s.dispatch_v2:
        params.append("dispatch_v2 = false")
    if s.hierarchical_comm:
        params.append("hierarchical_comm = true")
    return ", ".join(params)


def check_spec(s):
    """Raises ValueError naming the first rule `s` breaks."""
    if not (s.world >= 1 and s.tp >= 1 and s.pcp >= 1
            and s.world % (s.tp * s.pcp) == 0):
        raise ValueError(f"invalid case: tp {s.tp} * pcp {s.pcp} must divide "
                         f"world {s.world}")
    rules = [
        (s.quant in QUANT_SCHEMES, f"quant must be one of {QUANT_SCHEMES}"),
        (s.ir_method in METHODS, f"ir_method must be one of {METHODS}"),
        (s.chip in CHIPS, f"chip must be one of {CHIPS}"),
        (not s.hierarchical_comm or s.chip == "A2",
         "hierarchical_comm is an A2 setting"),
        (s.scoring in ("softmax", "sigmoid"), "scoring: softmax or sigmoid"),
        (1 <= s.top_k <= s.experts, "need 1 <= top_k <= experts"),
        (s.physical % s.routed_ep == 0,
         f"the {s.routed_ep} routed-expert ranks must divide E + R = "
         f"{s.physical}"),
        (not s.shared_expert_ranks
         or (s.use_ep and 0 < s.shared_expert_ranks < s.ep
             and s.ep % s.shared_expert_ranks == 0),
         "shared_expert_ranks must divide the EP size and leave routed "
         "ranks"),
        (not s.shared_expert_ranks
         or (s.chip == "A3" and s.shared_inter and not s.shared_gate
             and s.quant in ("none", "w8a8")),
         "shared_expert_ranks need A3, ungated shared experts and "
         "unquantized or w8a8 experts"),
        (s.inter % s.shards == 0, f"tp' {s.shards} must divide I {s.inter}"),
        (not s.sequence_parallel or s.use_ep,
         "sequence parallelism needs expert parallelism with world > 1"),
        (s.ir_method in ("unset", "allgather", "moge") or s.use_ep,
         f"{s.ir_method} needs expert parallelism with world > 1"),
        (s.ir_method != "fused_mc2" or s.quant != "w4a8",
         "fused_mc2 runs unquantized or w8a8 experts"),
        (not s.log2phy_per_rank or s.redundant > 0,
         "log2phy varies only with redundant experts"),
        (not s.skew or s.top_k < s.experts, "skew needs top_k < experts"),
        (not s.weight_on_input or s.top_k == 1,
         "the router weight on the input needs top_k 1"),
        (not s.weight_on_input or s.ir_method in ("unset", "allgather"),
         "the router weight on the input runs with allgather only"),
        (s.ir_method != "unset" or (s.reduce_results and not
                                     s.replace_allreduce and not
                                     s.enable_shared_expert_dp),
         "the prepare/finalize flags act per method: set --ir-method"),
        (not s.partial_tp or not s.shared_inter or s.quant != "w4a8",
         "TP-sharded (partial) shared experts are unquantized or w8a8"),
        (not s.partial_tp or not s.shared_inter
         or s.shared_inter % s.tp == 0,
         f"tp {s.tp} must divide the shared intermediate size"),
    ]
    if s.groups:
        per = s.experts // max(s.groups, 1)
        rules += [
            (s.experts % s.groups == 0, "groups must divide experts"),
            (1 <= s.keep_groups <= s.groups, "need 1 <= keep_groups <= groups"),
            (s.keep_groups * per >= s.top_k, "kept groups must hold top_k"),
            (s.balanced or not s.bias or per >= 2,
             "with a bias a group needs 2 experts"),
        ]
    if s.balanced:
        rules += [
            (s.groups > 0 and s.keep_groups == s.groups,
             "balanced routing keeps every group: keep_groups = groups > 0"),
            (s.groups > 0 and s.top_k % s.groups == 0,
             "balanced routing needs groups to divide top_k"),
            (not s.skew, "skew routes every token to one expert, not "
                         "balanced"),
        ]
    if s.quant == "w4a8":
        sizes = [s.hidden, s.inter // s.shards] + (
            [s.shared_inter] if s.shared_inter else [])
        rules.append((s.group_size > 0 and all(n % s.group_size == 0
                                               for n in sizes),
                      f"group_size must divide H, I/tp' and shared I {sizes}"))
    if s.quant in quant_schemes.SCHEMES:
        rules += [
            (s.shards == 1, "the int8 / fp8 schemes run with expert "
                            "parallelism (or world 1)"),
            (not s.shared_inter, "the int8 / fp8 schemes have no shared "
                                 "experts here"),
            (not s.weight_on_input, "the int8 / fp8 schemes do not take "
                                    "the router weight on the input"),
            (not quant_schemes.is_fp4(s.quant)
             or (s.hidden % 32 == 0 and s.inter % 32 == 0),
             "fp4 micro-blocks of 32 / 16 need H and I multiples of 32"),
            (quant_schemes.SCHEMES[s.quant][3] != "block128"
             or (s.hidden % 128 == 0 and s.inter % 128 == 0),
             "128 x 128 blocks need H and I multiples of 128"),
            (quant_schemes.SCHEMES[s.quant][3] != "group"
             or (s.group_size > 0 and s.hidden % s.group_size == 0
                 and s.inter % s.group_size == 0),
             "group_size must divide H and I"),
        ]
    rules.append((s.dtype in ("f32", "bf16", "f16"), "dtype: f32, bf16, f16"))
    rules.append((s.dtype == "f32" or s.quant in quant_schemes.SCHEMES,
                  "bf16 / f16 layers run with the int8 / fp8 schemes"))
    rules.append((s.w4a8_version in ("0", "1.0.0"),
                  "w4a8_version: 0 or 1.0.0"))
    if s.w4a8_version == "1.0.0":
        rules += [(s.quant == "w4a8", "w4a8_version 1.0.0 needs w4a8"),
                  (16 % s.shards == 0 and s.inter % 16 == 0,
                   "w4a8_version 1.0.0 splits w2's bias into 16 / tp' "
                   "partial sums: tp' must divide 16 and 16 divide I")]
    for ok, message in rules:
        if not ok:
            raise ValueError("invalid case: " + message)


# ---------------------------------------------------------------------------
# Random layer and tokens
# ---------------------------------------------------------------------------

def random_mlp(rng, n, h, i, quant, group_size, dtype="f32"):
    """n random SwiGLU experts with unit-scale outputs."""
    if quant in quant_schemes.SCHEMES:
        return MLPWeights(quant=quant, dtype=dtype, **quant_schemes.
                          random_weights(rng, n, h, i, quant, group_size))
    if quant == "none":
        return MLPWeights(
            w13=(rng.standard_normal((n, h, 2 * i)) / np.sqrt(h)).astype(F32),
            w2=(rng.standard_normal((n, i, h)) / np.sqrt(i)).astype(F32))
    lo, hi, std = (-127, 127, 73.3) if quant == "w8a8" else (-8, 7, 4.61)

    def ints(k, m):
        return rng.integers(lo, hi + 1, size=(n, k, m)).astype(np.int8)

    def channel_scale(k, m):
        return (rng.uniform(0.5, 1.5, (n, m)) / (std * np.sqrt(k))).astype(F32)

    def group_scale(k, m):
        if quant != "w4a8":
            return None
        return rng.uniform(0.5, 1.5, (n, k // group_size, m)).astype(F32)

    return MLPWeights(quant=quant, w13=ints(h, 2 * i), w2=ints(i, h),
                      w13_scale=channel_scale(h, 2 * i),
                      w2_scale=channel_scale(i, h),
                      w13_group_scale=group_scale(h, 2 * i),
                      w2_group_scale=group_scale(i, h))


def weight_only_shared(rng, h, i, group_size):
    """w4a8 shared experts (a stack of one) through seed 001's linear
    method: a random checkpoint (weight [N, K], weight_scale [N, 1],
    weight_scale_second [N, K/G]) processed by process_w4a8_linear."""
    w = random_mlp(rng, 1, h, i, "w4a8", group_size)
    out = {}
    for name in ("w13", "w2"):
        ckpt = (getattr(w, name)[0].T,
                getattr(w, name + "_scale")[0][:, None],
                getattr(w, name + "_group_scale")[0].T)
        mat, antiquant = process_w4a8_linear(*ckpt)
        out[name], out[name + "_group_scale"] = mat[None], antiquant[None]
    return MLPWeights(quant="w4a8", weight_only=True, **out)


def make_layer(s, rng):
    """The global (logical) layer of spec `s`."""
    spec = GateSpec(top_k=s.top_k, scoring=s.scoring, renormalize=s.renormalize,
                    num_groups=s.groups, keep_groups=s.keep_groups,
                    balanced=s.balanced, routed_scaling=s.routed_scaling)
    experts = random_mlp(rng, s.experts, s.hidden, s.inter, s.quant,
                         s.group_size, s.dtype)
    experts.kernel = s.quant == "w4a8"   # checkpoint + moe.prepare_weights
    bias = rng.uniform(-0.1, 0.1, s.experts).astype(F32) if s.bias else None
    shared = None
    if s.shared_inter and s.quant == "w4a8":
        shared = weight_only_shared(rng, s.hidden, s.shared_inter, s.group_size)
    elif s.shared_inter:
        shared = random_mlp(rng, 1, s.hidden, s.shared_inter, s.quant,
                            s.group_size)
    gate = None
    if s.shared_gate:
        # Logits of a few units: the gate matters, sigmoid is not saturated.
        gate = quant_formats.round_dtype(
            rng.normal(0, 2.0 / np.sqrt(s.hidden), (s.hidden, 1)).astype(F32),
            s.dtype).astype(F32)
    return DenseLayer(gate=spec, experts=experts, bias=bias, shared=shared,
                      shared_gate=gate, weight_on_input=s.weight_on_input)


def make_tokens(s, layer, rng, count, hot):
    """x [count, H] and logits [count, E] whose routing decisions all have a
    relative margin >= MIN_MARGIN (and, with skew, all pick `hot`), so the
    executor's float32 selection equals the reference's."""
    def draw(n):
        z = rng.normal(0.0, 2.0, (n, s.experts))
        if s.skew:
            z[:, hot] = z.max(axis=1) + 3.0
        return z.astype(F32)

    def bad(logits):
        wrong = selection_margin(logits, layer.gate, layer.bias) < MIN_MARGIN
        if s.skew:
            wrong |= ~(gate(logits, layer.gate, layer.bias)[1] == hot).any(1)
        return wrong

    x = rng.standard_normal((count, s.hidden)).astype(F32)
    # bf16 / f16 layers: values the layer's type holds exactly.
    x = quant_formats.round_dtype(x, s.dtype)
    logits = draw(count)
    for _ in range(1000):
        rows = bad(logits)
        if not rows.any():
            return x, logits
        logits[rows] = draw(int(rows.sum()))
    raise RuntimeError("could not draw logits with robust routing")


def token_counts(s, rng):
    """Token count of every token group (rank, or DP group when ranks of a
    DP group share tokens)."""
    n = s.token_groups
    if s.tokens is None:
        return [int(t) for t in rng.integers(0, s.max_tokens + 1, size=n)]
    t = list(s.tokens)
    if len(t) == s.world and n != s.world:
        if any(t[r] != t[s.token_group(r) * s.tp] for r in range(s.world)):
            raise ValueError("invalid case: ranks of a DP group share tokens "
                             "(tp > 1, no sequence parallelism): " + str(t))
        t = t[::s.tp]
    if len(t) != n or min(t) < 0:
        raise ValueError(f"invalid case: need {n} token counts >= 0, got {t}")
    return t


# ---------------------------------------------------------------------------
# Placement: EPLB tables and local weights
# ---------------------------------------------------------------------------

def replica_layout(s, rng, hot):
    """phys2log [E+R]: physical expert p < E is logical p; the R redundant
    ones replicate the hot expert first (with skew), then random experts."""
    extra = rng.choice(s.experts, size=s.redundant,
                       replace=s.redundant > s.experts)
    if s.skew and s.redundant:
        extra[0] = hot
    return np.concatenate([np.arange(s.experts), extra]).astype(np.int32)


def log2phy(s, phys2log, rank):
    """[E] i32: the replica rank `rank` sends logical expert e to; cycles
    through e's replicas, shifted by the rank when log2phy_per_rank."""
    shift = 1 + (rank if s.log2phy_per_rank else 0)
    table = []
    for e in range(s.experts):
        replicas = np.flatnonzero(phys2log == e)
        table.append(replicas[(e + shift) % len(replicas)])
    return np.array(table, dtype=np.int32)


def local_physical(s, rank):
    """Physical experts held by `rank` (the S shared-expert ranks hold
    none, routed rank r the L experts from (r - S) * L)."""
    if not s.use_ep:
        return np.arange(s.physical)
    if rank < s.shared_expert_ranks:
        return np.arange(0)
    first = (rank - s.shared_expert_ranks) * s.local_experts
    return np.arange(first, first + s.local_experts)


def expert_map(s, rank):
    """[E+R] i32: local index of physical expert p on `rank`, or -1."""
    table = np.full(s.physical, -1, dtype=np.int32)
    local = local_physical(s, rank)
    table[local] = np.arange(len(local))
    return table


def shard_inter(w, part, parts):
    """Slice `part` of `parts` of the intermediate dimension of every expert
    of `w`: gate and up columns of W13 (gate then up), rows of W2, and the
    matching scales (W2's per-channel scale is along H and stays whole)."""
    i = w.inter
    n = i // parts
    cols = np.r_[part * n:(part + 1) * n, i + part * n:i + (part + 1) * n]
    rows = slice(part * n, (part + 1) * n)
    out = dict(w13=w.w13[:, :, cols], w2=w.w2[:, rows])
    if w.quant != "none":
        out.update(w13_scale=w.w13_scale[:, cols], w2_scale=w.w2_scale)
    if w.quant == "w4a8":
        gs = i // w.w2_group_scale.shape[1]
        out.update(w13_group_scale=w.w13_group_scale[:, :, cols],
                   w2_group_scale=w.w2_group_scale[:, rows.start // gs:
                                                   rows.stop // gs])
    return MLPWeights(quant=w.quant, kernel=w.kernel, **out)


def local_weights(s, layer, phys2log, rank):
    """The expert weights `rank` holds: its physical experts (replicas carry
    their logical expert's weights), intermediate-sharded without EP."""
    held = local_physical(s, rank)
    if s.use_ep and rank < s.shared_expert_ranks:
        # The argument still has L experts; a shared-expert rank never reads
        # them: give it the last routed rank's, reversed.
        held = np.arange(s.physical - s.local_experts, s.physical)[::-1]
    w = layer.experts.select(phys2log[held])
    return shard_inter(w, rank, s.shards) if s.shards > 1 else w


# ---------------------------------------------------------------------------
# The layer's MLIR
# ---------------------------------------------------------------------------

ELEMENT = {"none": "f32", "w8a8": "i8", "w4a8": "i4"}


def tensor(shape, element):
    return "tensor<" + "x".join(map(str, shape)) + "x" + element + ">"


def mlp_arguments(s, prefix, lead, i):
    """(name, type) of one MLP's weight arguments; `lead` is [L] or []. The
    w4a8 shared experts (`lead` []) are weight-only: no per-channel
    scales."""
    if s.quant in quant_schemes.SCHEMES and quant_schemes.is_fp4(s.quant):
        args = {}
        for name, k, m in (("w13", s.hidden, 2 * i), ("w2", i, s.hidden)):
            for suffix, shape, el in quant_schemes.fp4_arguments(
                    s.quant, lead, k, m):
                args[prefix + name + suffix] = tensor(shape, el)
        order = ["w13", "w2", "w13_scale", "w2_scale", "w13_group_scale",
                 "w2_group_scale"]
        return [(prefix + n, args[prefix + n]) for n in order
                if prefix + n in args]
    if s.quant in quant_schemes.SCHEMES:
        el = quant_schemes.MLIR_ELEMENT[quant_schemes.SCHEMES[s.quant][2]]
        args = []
        for name, k, m in (("w13", s.hidden, 2 * i), ("w2", i, s.hidden)):
            bk, bn = quant_schemes.weight_block(s.quant, k, m, s.group_size)
            args += [(prefix + name, tensor(lead + [k, m], el)),
                     (prefix + name + "_scale",
                      tensor(lead + [k // bk, m // bn], "f32"))]
        return [args[0], args[2], args[1], args[3]]
    h, el = s.hidden, ELEMENT[s.quant]
    args = [(prefix + "w13", tensor(lead + [h, 2 * i], el)),
            (prefix + "w2", tensor(lead + [i, h], el))]
    weight_only = s.quant == "w4a8" and not lead
    if s.quant != "none" and not weight_only:
        args += [(prefix + "w13_scale", tensor(lead + [2 * i], "f32")),
                 (prefix + "w2_scale", tensor(lead + [h], "f32"))]
    if s.quant == "w4a8":
        g = s.group_size
        args += [(prefix + "w13_group_scale", tensor(lead + [h // g, 2 * i], "f32")),
                 (prefix + "w2_group_scale", tensor(lead + [i // g, h], "f32"))]
    return args


def checkpoint_arguments(s, lead, i):
    """(name, type) of the routed experts' w4a8 checkpoint tensors; quant
    version 1.0.0 packs the weights along N and adds the scale biases."""
    h, g = s.hidden, s.group_size
    v1 = s.w4a8_version == "1.0.0"
    pack = 2 if v1 else 1
    args = [("w13", tensor(lead + [2 * i // pack, h], "i8")),
            ("w2", tensor(lead + [h // pack, i], "i8")),
            ("w13_scale", tensor(lead + [2 * i, 1], "f32")),
            ("w2_scale", tensor(lead + [h, 1], "f32")),
            ("w13_scale_second", tensor(lead + [2 * i, h // g], "f32")),
            ("w2_scale_second", tensor(lead + [h, i // g], "f32"))]
    if v1:
        args += [("w13_scale_bias", tensor(lead + [2 * i, 1], "f32")),
                 ("w2_scale_bias", tensor(lead + [h, 16 // s.shards], "f32"))]
    return args


def checkpoint_arrays(w, version="0", shards=1):
    """The checkpoint tensors of local experts `w` (k-major logical
    weights): output channels first, scales [L, N, 1] and [L, N, K/G]. Quant
    version 1.0.0: weights packed two per byte along N, w13_scale_bias
    [L, 2I, 1] (the whole bias) and w2_scale_bias [L, H, 16 / tp']: the
    bias of each of the 16 / tp' equal slices of this rank's I rows (the
    rank's share of the checkpoint's 16 partial sums)."""
    out = {}
    for name in ("w13", "w2"):
        ckpt = (np.ascontiguousarray(getattr(w, name).transpose(0, 2, 1)),
                np.ascontiguousarray(getattr(w, name + "_scale")[:, :, None]),
                np.ascontiguousarray(
                    getattr(w, name + "_group_scale").transpose(0, 2, 1)))
        out[name], out[name + "_scale"], out[name + "_scale_second"] = ckpt
        if version != "1.0.0":
            continue
        out[name] = pack_checkpoint_v1(ckpt[0])
        parts = 1 if name == "w13" else 16 // shards
        k = ckpt[0].shape[2]
        # 8 * W * scale_second * scale per element (process_scale's
        # weight_high * scale), summed over each slice of K.
        high = (ckpt[0].astype(F32)
                * np.repeat(ckpt[2], k // ckpt[2].shape[2], axis=2)) * ckpt[1]
        step = k // parts
        out[name + "_scale_bias"] = np.ascontiguousarray(np.stack(
            [F32(8) * high[:, :, p * step:(p + 1) * step].sum(axis=2)
             for p in range(parts)], axis=2).astype(F32))
    return out


def entry_arguments(s):
    """(moe.name, MLIR type, per_rank) of every entry argument, in the order
    of examples/deepseek_v3.mlir; per_rank is False for the arguments equal
    on every rank."""
    h, e = s.hidden, s.experts
    args = [("x", tensor(["?", h], s.dtype), True),
            ("logits", tensor(["?", e], "f32"), True)]
    if s.bias:
        args.append(("e_score_correction_bias", tensor([e], "f32"), False))
    if s.redundant:
        args += [("log2phy", tensor([e], "i32"), True),
                 ("expert_map", tensor([s.physical], "i32"), True)]
    routed = (checkpoint_arguments if s.quant == "w4a8" else
              lambda s, lead, i: mlp_arguments(s, "", lead, i))
    args += [(n, ty, True) for n, ty in
             routed(s, [s.local_experts], s.inter // s.shards)]
    if s.shared_inter:
        args += [(n, ty, s.partial_tp) for n, ty in
                 mlp_arguments(s, "shared_", [], s.shared_inter // s.shared_shards)]
        if s.shared_gate:
            args.append(("shared_expert_gate", tensor([h, 1], s.dtype), False))
    return args


def mlp_clause(s, types, prefix):
    """weights(...) [scales(...)] [group_scales(...)] [quant <...>]."""
    def clause(keyword, names):
        if names[0] not in types:
            return ""
        return (f"\n        {keyword}(%{names[0]}, %{names[1]} : "
                f"{types[names[0]]}, {types[names[1]]})")
    text = clause("weights", [prefix + "w13", prefix + "w2"])
    text += clause("scales", [prefix + "w13_scale", prefix + "w2_scale"])
    text += clause("group_scales", [prefix + "w13_group_scale",
                                    prefix + "w2_group_scale"])
    if s.quant in quant_schemes.SCHEMES:
        text += ("\n        quant "
                 + quant_schemes.descriptor(s.quant, s.group_size))
    elif s.quant == "w8a8":
        text += "\n        quant <w8a8_dynamic>"
    elif s.quant == "w4a8":
        text += f"\n        quant <w4a8_dynamic, group_size = {s.group_size}>"
    return text


def prepare_lines(s, types):
    """moe.prepare_weights of the routed w4a8 checkpoint tensors."""
    if s.quant != "w4a8":
        return []
    l, h, i, g = s.local_experts, s.hidden, s.inter // s.shards, s.group_size
    lines = []
    for name, k, n in (("w13", h, 2 * i), ("w2", i, h)):
        ins = [name, name + "_scale", name + "_scale_second"]
        outs = [tensor([l, k, n], "i4"), tensor([l, k // g, n], "f32"),
                tensor([l, n], "f32")]
        sb = name + "_scale_bias"
        extra = (f" scale_bias(%{sb} : {types[sb]})" if sb in types else "")
        lines += [f"    %{name}p, %{name}g, %{name}b = moe.prepare_weights "
                  + ", ".join("%" + a for a in ins) + extra
                  + f" quant <w4a8_dynamic, group_size = {g}>",
                  "        : " + ", ".join(types[a] for a in ins)
                  + " -> " + ", ".join(outs)]
    return lines


def routed_clause(s, types):
    """The routed moe.experts clauses; w4a8 in the kernel form."""
    if s.quant != "w4a8":
        return mlp_clause(s, types, "")
    l, h, i, g = s.local_experts, s.hidden, s.inter // s.shards, s.group_size
    t = {"w13": (h, 2 * i), "w2": (i, h)}
    w = {n: tensor([l, k, m], "i4") for n, (k, m) in t.items()}
    gs = {n: tensor([l, k // g, m], "f32") for n, (k, m) in t.items()}
    b = {n: tensor([l, m], "f32") for n, (k, m) in t.items()}
    return (f"\n        weights(%w13p, %w2p : {w['w13']}, {w['w2']})"
            f"\n        group_scales(%w13g, %w2g : {gs['w13']}, {gs['w2']})"
            f"\n        biases(%w13b, %w2b : {b['w13']}, {b['w2']})"
            f"\n        quant <w4a8_dynamic, group_size = {g}>")


def layer_mlir(s):
    """The level-1 layer of spec `s` as moe-dialect text."""
    args = entry_arguments(s)
    types = {n: ty for n, ty, _ in args}
    h, m = s.hidden, s.ir_method
    xt = tensor(["?", h], s.dtype)
    lt = tensor(["?", s.experts], "f32")
    wt, it = tensor(["?", s.top_k], "f32"), tensor(["?", s.top_k], "i32")
    ct = tensor([s.local_experts], "i64")
    layout = f"tp = {s.tp}, dp = {s.dp}"
    layout += ", expert_parallel = true" if s.expert_parallel else ""
    layout += ", sequence_parallel = true" if s.sequence_parallel else ""
    layout += f", pcp = {s.pcp}" if s.pcp > 1 else ""
    layout += (f", shared_expert_ranks = {s.shared_expert_ranks}"
               if s.shared_expert_ranks else "")
    gate_attrs = f"top_k({s.top_k}) {s.scoring}"
    gate_attrs += " renormalize" if s.renormalize else ""
    gate_attrs += f" groups({s.groups}, {s.keep_groups})" if s.groups else ""
    gate_attrs += " balanced" if s.balanced else ""
    gate_attrs += f" scale({s.routed_scaling!r})" if s.routed_scaling != 1.0 else ""
    bias = (f" bias(%e_score_correction_bias : {types['e_score_correction_bias']})"
            if s.bias else "")
    experts = f"{s.experts} + {s.redundant}" if s.redundant else f"{s.experts}"
    eplb = (f"\n        log2phy(%log2phy : {types['log2phy']}) "
            f"expert_map(%expert_map : {types['expert_map']})"
            if s.redundant else "")
    signature = ",\n".join(f'      %{n}: {ty} {{moe.name = "{n}"}}'
                           for n, ty, _ in args)
    lines = [
        "// Generated by scripts/reference/make_case.py; spec in case.json.",
        f"module attributes {{moe.chip = #moe.chip<{chip_params(s)}>,",
        f"                   moe.layout = #moe.layout<{layout}>}} {{",
        "  func.func @moe_layer(",
        signature + f")\n      -> {xt} {{",
        f"    %h, %l, %pctx = moe.prepare %x, %logits",
        f"        : {xt}, {lt} -> !moe.prepare_ctx<{m}>",
        f"    %weights, %ids = moe.gate %l{bias} {gate_attrs}",
        f"        : {lt} -> {wt}, {it}",
        f"    %rows, %counts, %dctx = moe.dispatch %h, %weights, %ids "
        f"experts({experts}){eplb}"
        + (" router_weight_on_input" if s.weight_on_input else ""),
        f"        : {xt}, {wt}, {it} -> {ct}, !moe.dispatch_ctx<{m}>",
        *prepare_lines(s, types),
        f"    %y = moe.experts %rows, %counts{routed_clause(s, types)}",
        f"        : {xt}, {ct}",
        f"    %routed = moe.combine %y, %dctx : {xt}, !moe.dispatch_ctx<{m}>",
    ]
    lines[lines.index(f"        : {xt}, {lt} -> !moe.prepare_ctx<{m}>")] = (
        "       " + (" replace_allreduce" if s.replace_allreduce else "")
        + (" enable_shared_expert_dp" if s.enable_shared_expert_dp else "")
        + f" : {xt}, {lt} -> !moe.prepare_ctx<{m}>")
    shared = ""
    if s.shared_inter:
        gate = (f"\n        gate(%shared_expert_gate : {types['shared_expert_gate']})"
                if s.shared_gate else "")
        # The assembly format puts gate(...) before quant <...>.
        clause = mlp_clause(s, types, 'shared_')
        at = clause.find("\n        quant ")
        at = len(clause) if at < 0 else at
        lines += [f"    %shared = moe.shared_experts %x"
                  f"{clause[:at]}{gate}{clause[at:]} : {xt}"]
        shared = f" shared(%shared : {xt})"
    # Seed 000: with reduce_results=False (or the DP group's rows kept by
    # enable_shared_expert_dp) the layer adds the shared output itself, after
    # the DP reduce-scatter it owes, and reduces over TP once.
    late_shared = bool(shared) and (not s.reduce_results or s.keeps_dp_rows)
    lines += [f"    %out = moe.finalize %routed, %pctx"
              + ("" if late_shared else shared)
              + ("" if s.reduce_results else " reduce_results(false)"),
              f"        : {xt}, !moe.prepare_ctx<{m}>"]
    result = "%out"
    if s.keeps_dp_rows:
        lines += ["    %c0 = arith.constant 0 : index",
                  f"    %n = tensor.dim %x, %c0 : {xt}",
                  f"    %rs = npu.reduce_scatter %out dp : {xt} -> {xt}",
                  f"    %mine = npu.slice_rows %rs to %n : {xt} -> {xt}"]
        result = "%mine"
    if late_shared:
        lines += [f"    %sum = npu.add {result}, %shared : {xt}"]
        result = "%sum"
    if s.partial_tp:
        lines += [f"    %reduced = npu.all_reduce {result} sum tp : {xt}"]
        result = "%reduced"
    lines += [f"    return {result} : {xt}", "  }", "}", ""]
    return "\n".join(lines)


# ---------------------------------------------------------------------------
# Writing a case
# ---------------------------------------------------------------------------

def rank_file(name):
    return name + ".rank{rank}.npy"


def generate(s, out_dir):
    """Writes the case of spec `s` to `out_dir`; returns the case dict."""
    check_spec(s)
    os.makedirs(out_dir, exist_ok=True)
    rng = np.random.default_rng(s.seed)
    layer = make_layer(s, rng)
    hot = int(rng.integers(s.experts))
    phys2log = replica_layout(s, rng, hot)
    counts = token_counts(s, rng)
    groups = [make_tokens(s, layer, rng, n, hot) for n in counts]
    save_layer(layer, out_dir)
    args = entry_arguments(s)
    with open(os.path.join(out_dir, "layer.mlir"), "w") as f:
        f.write(layer_mlir(s))

    shared = {"e_score_correction_bias": layer.bias,
              "shared_expert_gate": layer.shared_gate}
    if layer.shared is not None:
        shared.update({"shared_" + k: v[0]
                       for k, v in layer.shared.arrays().items()})
    for name, _, per_rank in args:
        if not per_rank:
            np.save(os.path.join(out_dir, name + ".npy"), shared[name])
    quantized = s.quant != "none"
    for r in range(s.world):
        x, logits = groups[s.token_group(r)]
        arrays = dict(x=x, logits=logits, log2phy=log2phy(s, phys2log, r),
                      expert_map=expert_map(s, r))
        if s.partial_tp and layer.shared is not None:
            part = shard_inter(layer.shared, r % s.tp, s.tp)
            arrays.update({"shared_" + k: v[0]
                           for k, v in part.arrays().items()})
        local = local_weights(s, layer, phys2log, r)
        arrays.update(checkpoint_arrays(local, s.w4a8_version, s.shards)
                      if s.quant == "w4a8" else local.arrays())
        for name, _, per_rank in args:
            if per_rank:
                np.save(os.path.join(out_dir, rank_file(name).format(rank=r)),
                        np.ascontiguousarray(arrays[name]))
        out, step = dense_moe(x, logits, layer, a2_shards=s.shards,
                              return_step=True,
                              shared_a2_shards=s.shared_shards)
        np.save(os.path.join(out_dir, rank_file("expected").format(rank=r)), out)
        if quantized:
            np.save(os.path.join(out_dir, rank_file("step").format(rank=r)),
                    step.astype(F32))

    case = {
        "spec": asdict(s),
        "layout": dict(world=s.world, tp=s.tp, dp=s.dp, pcp=s.pcp,
                       use_ep=s.use_ep,
                       ep=s.ep, shards=s.shards, local_experts=s.local_experts,
                       shares_tokens=s.shares_tokens),
        "tokens_per_rank": [counts[s.token_group(r)] for r in range(s.world)],
        "hot_expert": hot,
        "phys2log": phys2log.tolist(),
        "mlir": "layer.mlir",
        "inputs": [{"name": n, "type": ty,
                    "path": rank_file(n) if per_rank else n + ".npy"}
                   for n, ty, per_rank in args],
        "expected": rank_file("expected"),
        "step": rank_file("step") if quantized else None,
        "a2_shards": s.shards,
        # Tolerance of max|out - ref| relative to max|ref| (run_case.py):
        # f32 layers 1e-4; bf16 / f16 layers 2 units in the last place of
        # the type at max|ref| (the reference rounds where the layer does,
        # but an accumulation order can move a rounding by one unit).
        "rtol": {"f32": 1e-4, "bf16": 2.0 ** -7, "f16": 2.0 ** -10}[s.dtype],
    }
    with open(os.path.join(out_dir, "case.json"), "w") as f:
        json.dump(case, f, indent=1)
    return case


def load_case(case_dir):
    """case.json of a generated case."""
    with open(os.path.join(case_dir, "case.json")) as f:
        return json.load(f)


# ---------------------------------------------------------------------------
# Command line (shared with run_case.py)
# ---------------------------------------------------------------------------

def add_case_arguments(p):
    """Adds --preset and one option per CaseSpec field to parser `p`."""
    p.add_argument("--preset", choices=sorted(PRESETS),
                   help="start from a small model-shaped layer")
    choices = dict(scoring=("softmax", "sigmoid"), quant=QUANT_SCHEMES,
                   dtype=("f32", "bf16", "f16"),
                   w4a8_version=("0", "1.0.0"),
                   ir_method=METHODS, chip=CHIPS)
    for f in fields(CaseSpec):
        flag, help_text = "--" + f.name.replace("_", "-"), f.metadata["help"]
        if f.type is bool:
            p.add_argument(flag, action=argparse.BooleanOptionalAction,
                           default=None, help=help_text)
        elif f.name == "tokens":
            p.add_argument(flag, default=None, help=help_text,
                           type=lambda v: [int(t) for t in v.split(",")])
        else:
            p.add_argument(flag, type=type(f.default), default=None,
                           choices=choices.get(f.name), help=help_text)


def spec_from_args(args):
    """CaseSpec from defaults, then the preset, then explicit options."""
    values = dict(PRESETS.get(args.preset) or {})
    values.update({f.name: getattr(args, f.name) for f in fields(CaseSpec)
                   if getattr(args, f.name) is not None})
    return CaseSpec(**values)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("out_dir")
    add_case_arguments(p)
    args = p.parse_args()
    try:
        case = generate(spec_from_args(args), args.out_dir)
    except ValueError as e:
        sys.exit(f"make_case.py: {e}")
    print(f"{args.out_dir}: world {case['layout']['world']}, tokens "
          f"{case['tokens_per_rank']}")


if __name__ == "__main__":
    main()
