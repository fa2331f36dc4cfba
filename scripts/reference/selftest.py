#!/usr/bin/python3
"""Self-checks of the dense reference, the case generator and the driver's
comparison, independent of moe-run.

    selftest.py [--moe-opt PATH]   (with moe-opt: generated layers must verify)

Each check_* function is one check; all run, failures are listed, and the
exit status is non-zero if any failed.
"""

import argparse
import os
import subprocess
import sys
import tempfile
import traceback

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dense_moe as dm  # noqa: E402
import make_case as mc  # noqa: E402
import run_case as rc  # noqa: E402

F32 = np.float32


def close(a, b, rtol=1e-5):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return a.shape == b.shape and np.abs(a - b).max(initial=0) <= rtol * max(
        np.abs(b).max(initial=0), 1e-30)


def layer_of(**spec):
    """(spec, dense layer) of a CaseSpec, seeded."""
    s = mc.CaseSpec(**spec)
    return s, mc.make_layer(s, np.random.default_rng(s.seed))


# --- gate ---------------------------------------------------------------

def check_gate_hand_example():
    logits = np.log(np.array([[1, 4, 2, 3]], dtype=np.float64))   # softmax = p
    w, ids = dm.gate(logits, dm.GateSpec(top_k=2, renormalize=True,
                                         routed_scaling=2.0))
    assert ids.tolist() == [[1, 3]] and ids.dtype == np.int32
    assert close(w, [[2 * 4 / 7, 2 * 3 / 7]])
    w, ids = dm.gate(logits, dm.GateSpec(top_k=2))                # no renorm
    assert close(w, [[0.4, 0.3]])


def check_gate_ties_lower_id():
    w, ids = dm.gate(np.zeros((1, 6)), dm.GateSpec(top_k=3, scoring="sigmoid"))
    assert ids.tolist() == [[0, 1, 2]] and close(w, [[0.5] * 3])


def check_grouped_topk_with_bias():
    # sigmoid(0) = 0.5 everywhere, so only the bias decides the selection;
    # weights stay the unbiased 0.5. Groups {0,1}, {2,3}, {4,5}.
    bias = np.array([0.30, -0.3, 0.2, 0.15, 0.25, 0.0], dtype=F32)
    spec = dm.GateSpec(top_k=2, scoring="sigmoid", num_groups=3, keep_groups=1)
    # Sum of two best biased: g0 = 1.0, g1 = 1.35, g2 = 1.25 -> keep g1.
    w, ids = dm.gate(np.zeros((1, 6)), spec, bias)
    assert ids.tolist() == [[2, 3]] and close(w, [[0.5, 0.5]])
    # Without a bias a group scores by its best score: expert 0 wins g0.
    logits = np.array([[3.0, -3, 1, 1.5, 2, -1]])
    _, ids = dm.gate(logits, spec)
    assert ids.tolist() == [[0, 1]]
    # keep 2 groups: best biased 0.8 (g0), 0.7 (g1), 0.75 (g2) by best
    # would differ from the sum rule; the sum rule keeps g1, g2.
    spec.keep_groups = 2
    _, ids = dm.gate(np.zeros((1, 6)), spec, bias)
    assert ids.tolist() == [[4, 2]], ids


def check_balanced_gate():
    # Group-balanced top-k (moe.gate ... balanced, Pangu Pro MoE): top_k / G
    # of every group. Groups {0,1}, {2,3}, {4,5}; plain top-3 would take
    # 0, 1, 2 (softmax probabilities 5, 4, 3 of 5+4+3+0.5+0.5+1 = 14).
    logits = np.log(np.array([[5, 4, 3, 0.5, 0.5, 1]], dtype=np.float64))
    spec = dm.GateSpec(top_k=3, num_groups=3, keep_groups=3, balanced=True)
    w, ids = dm.gate(logits, spec)
    assert ids.tolist() == [[0, 2, 5]] and close(w, [[5 / 14, 3 / 14, 1 / 14]])
    # Ties inside a group go to the lower id; two per group, best first.
    spec = dm.GateSpec(top_k=4, num_groups=2, keep_groups=2, balanced=True)
    _, ids = dm.gate(np.log(np.array([[1, 2, 2, 1, 4, 3, 5, 1.0]])), spec)
    assert ids.tolist() == [[1, 2, 6, 4]], ids
    # The margin is the smallest in-group gap behind the choice: 2nd vs 3rd
    # of group 0 (2 vs 1: 0.5) and of group 1 (4 vs 3: 0.25).
    m = dm.selection_margin(np.log(np.array([[1, 2, 2, 1, 4, 3, 5, 1.0]])),
                            spec)
    assert close(m[0], 0.25), m
    # Each of ep = 2 ranks owning one group gets top_k / 2 of every token.
    rng = np.random.default_rng(0)
    _, ids = dm.gate(rng.standard_normal((50, 8)), spec)
    assert ((ids < 4).sum(axis=1) == 2).all()


def check_selection_margin():
    spec = dm.GateSpec(top_k=1)
    m = dm.selection_margin(np.log(np.array([[1.0, 1.0, 0.5], [4, 1, 1]])), spec)
    assert m[0] == 0 and close(m[1], 0.75)


# --- quantization ---------------------------------------------------------

def check_dynamic_quant_hand_example():
    x = np.array([[127, 63, -254, 125], [0, 0, 0, 0], [1.0, -0.3, 0.25, 0]],
                 dtype=F32)
    q, s = dm.dynamic_quant(x)
    assert close(s, [2, 0, 1 / 127])
    # Scale 2 is exact: 63.5 -> 64, 31.5 -> 32, 62.5 -> 62 (half to even).
    # Row 3: -0.3 * 127 = -38.1 -> -38, 0.25 * 127 = 31.75 -> 32.
    assert q.tolist() == [[64, 32, -127, 62], [0, 0, 0, 0],
                          [127, -38, 32, 0]], q


def check_quant_matmul_hand_example():
    q = np.array([[1, 2, 3, -1]], dtype=np.int8)
    w = np.array([[1], [1], [2], [3]], dtype=np.int8)
    # w8a8: acc = 1 + 2 + 6 - 3 = 6, * 0.5 * 2.
    assert close(dm.quant_matmul(q, F32([0.5]), w, F32([2])), [[6.0]])
    # w4a8, group size 2: (1 + 2) * 10 + (6 - 3) * 100 = 330, * 0.5 * 2.
    g = np.array([[10], [100]], dtype=F32)
    assert close(dm.quant_matmul(q, F32([0.5]), w, F32([2]), g), [[330.0]])


# --- experts and the layer -------------------------------------------------

def direct_swiglu(x, w13, w2):
    """Expert by the formula of SEMANTICS §0, written independently."""
    i = w2.shape[0]
    gate_, up = x @ w13[:, :i], x @ w13[:, i:]
    return (gate_ * (1 / (1 + np.exp(-gate_))) * up) @ w2


def check_one_expert_equals_swiglu():
    s, layer = layer_of(experts=1, top_k=1, inter=16, renormalize=False,
                        routed_scaling=1.5, seed=3)
    x = np.random.default_rng(0).standard_normal((5, s.hidden)).astype(F32)
    out = dm.dense_moe(x, np.zeros((5, 1)), layer)   # softmax of 1 = 1
    ref = 1.5 * direct_swiglu(x.astype(np.float64), layer.experts.w13[0],
                              layer.experts.w2[0])
    assert close(out, ref)


def check_layer_is_weighted_sum_plus_shared():
    s, layer = layer_of(experts=8, top_k=3, inter=16, shared_inter=8, seed=4)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((7, s.hidden)).astype(F32)
    logits = rng.standard_normal((7, s.experts))
    w, ids = dm.gate(logits, layer.gate)
    ref = np.zeros((7, s.hidden))
    for t in range(7):
        for k in range(s.top_k):
            e = ids[t, k]
            ref[t] += w[t, k] * direct_swiglu(x[t:t + 1].astype(np.float64),
                                              layer.experts.w13[e],
                                              layer.experts.w2[e])[0]
        ref[t] += direct_swiglu(x[t:t + 1].astype(np.float64),
                                layer.shared.w13[0], layer.shared.w2[0])[0]
    assert close(dm.dense_moe(x, logits, layer), ref)


def check_quantized_close_to_dequantized():
    # The quantized layer differs from the same layer with dequantized
    # weights and float activations by activation quantization only (~1%).
    for quant, gs in (("w8a8", 0), ("w4a8", 16)):
        s, layer = layer_of(experts=8, top_k=2, inter=32, shared_inter=16,
                            quant=quant, group_size=gs, seed=5)
        deq = lambda w: dm.MLPWeights(w13=w.dequantized("w13"),
                                      w2=w.dequantized("w2"))
        fl = dm.DenseLayer(layer.gate, deq(layer.experts), None,
                           deq(layer.shared))
        rng = np.random.default_rng(2)
        x = rng.standard_normal((20, s.hidden)).astype(F32)
        logits = rng.standard_normal((20, s.experts))
        a, b = dm.dense_moe(x, logits, layer), dm.dense_moe(x, logits, fl)
        rel = np.abs(a - b).max() / np.abs(b).max()
        assert 1e-4 < rel < 0.05, (quant, rel)


def check_weight_only_shared_experts():
    # Seed 001's linear method by hand: antiquant = scale * scale_second (f32),
    # weight transposed; the apply casts the scale to x's dtype and
    # dequantizes in it.
    weight = np.array([[1, -8, 7, -1], [3, 0, -2, 5]], dtype=np.int8)  # [N, K]
    scale = F32([[0.5], [2.0]])
    second = F32([[1.0, 0.5], [0.25, -0.5]])                          # [N, K/2]
    w, anti = dm.process_w4a8_linear(weight, scale, second)
    assert (w == weight.T).all()
    assert (anti == F32([[0.5, 0.5], [0.25, -1.0]])).all()
    x = F32([[1, 2, 0, -1]])
    # W deq [[0.5, 1.5], [-4, 0], [1.75, 2], [-0.25, -5]].
    assert (dm.weight_quant_matmul(x, w, anti) == F32([[-7.25, 6.5]])).all()
    # bf16: scale 0.3 -> 0x1.34p-2, 7s and 3s rounded, sum to 0x1.82p+1
    # (3.0 without the casts).
    y = dm.weight_quant_matmul(F32([[1, 1]]), np.array([[7], [3]]), F32([[0.3]]),
                               "bf16")
    assert y[0, 0] == float.fromhex("0x1.82p+1"), y
    # In a layer the shared experts are exactly the float SwiGLU of the
    # dequantized weights (f32), with no requantization step.
    s, layer = layer_of(experts=4, top_k=1, inter=16, shared_inter=16,
                        quant="w4a8", group_size=16, seed=8)
    assert layer.shared.weight_only and layer.shared.w13_scale is None
    xs = np.random.default_rng(3).standard_normal((5, s.hidden)).astype(F32)
    y, step = dm.mlp(xs, layer.shared, 0)
    ref = direct_swiglu(xs.astype(np.float64), layer.shared.dequantized("w13")[0],
                        layer.shared.dequantized("w2")[0])
    assert close(y, ref) and not step.any()


def check_zero_tokens_and_zero_rows():
    s, layer = layer_of(experts=8, top_k=2, quant="w8a8", shared_inter=8)
    assert dm.dense_moe(np.zeros((0, s.hidden)), np.zeros((0, 8)),
                        layer).shape == (0, s.hidden)
    out = dm.dense_moe(np.zeros((2, s.hidden)), np.zeros((2, 8)), layer)
    assert not out.any()


# --- placement -----------------------------------------------------------

def check_shards_reassemble_and_sum():
    for quant, gs in (("none", 0), ("w8a8", 0), ("w4a8", 8)):
        s, layer = layer_of(world=4, expert_parallel=False, experts=8,
                            top_k=2, inter=32, quant=quant, group_size=gs,
                            seed=6)
        phys2log = np.arange(8)
        parts = [mc.local_weights(s, layer, phys2log, r) for r in range(4)]
        for f, glob in layer.experts.arrays().items():
            n = glob.shape[-1] // 2 if f.startswith("w13") else None
            if f in ("w13", "w13_scale", "w13_group_scale"):
                cat = np.concatenate(
                    [p.arrays()[f][..., :n // 4] for p in parts] +
                    [p.arrays()[f][..., n // 4:] for p in parts], axis=-1)
            elif f == "w2_scale":
                cat = parts[0].w2_scale
                assert all((p.w2_scale == cat).all() for p in parts)
            else:
                cat = np.concatenate([p.arrays()[f] for p in parts], axis=1)
            assert (cat == glob).all(), (quant, f)
        # Sum over the 4 ranks' partial outputs = the full output (with
        # per-shard requantization when quantized).
        rng = np.random.default_rng(3)
        x = rng.standard_normal((9, s.hidden)).astype(F32)
        logits = rng.standard_normal((9, s.experts))
        total = sum(dm.dense_moe(x, logits, dm.DenseLayer(layer.gate, p))
                    .astype(np.float64) for p in parts)
        assert close(total, dm.dense_moe(x, logits, layer, a2_shards=4)), quant
        if quant == "none":
            assert close(total, dm.dense_moe(x, logits, layer))


def check_eplb_replicas():
    s = mc.CaseSpec(world=4, experts=16, redundant=4, skew=True,
                    log2phy_per_rank=True)
    rng = np.random.default_rng(0)
    layer = mc.make_layer(s, rng)
    hot = 5
    phys2log = mc.replica_layout(s, rng, hot)
    assert phys2log[16] == hot and (phys2log[:16] == np.arange(16)).all()
    owners = np.zeros(20, dtype=int)
    tables = [mc.log2phy(s, phys2log, r) for r in range(4)]
    for r in range(4):
        emap = mc.expert_map(s, r)
        w = mc.local_weights(s, layer, phys2log, r)
        for p in np.flatnonzero(emap >= 0):
            owners[p] += 1
            assert p // s.local_experts == r
            for f, a in w.arrays().items():
                assert (a[emap[p]] == layer.experts.arrays()[f][phys2log[p]]).all()
        assert (phys2log[tables[r]] == np.arange(16)).all()
    assert (owners == 1).all()
    assert len({tuple(t) for t in tables}) > 1, "log2phy should vary"
    s.log2phy_per_rank = False
    assert len({tuple(mc.log2phy(s, phys2log, r)) for r in range(4)}) == 1


# --- generated cases ------------------------------------------------------

CASES = [
    dict(preset="qwen", world=2, ir_method="moge", groups=4, keep_groups=4,
         balanced=True, tokens=[3, 0]),
    dict(preset="deepseek", world=4, quant="w8a8", redundant=4, skew=True,
         log2phy_per_rank=True, tokens=[0, 7, 40, 3]),
    dict(preset="mixtral", world=4, tp=2, expert_parallel=False,
         quant="w4a8", group_size=8, tokens=[5, 0]),
    dict(preset="mixtral", world=4, tp=2, expert_parallel=False,
         quant="w4a8", group_size=8, w4a8_version="1.0.0", tokens=[3, 4]),
    dict(preset="qwen", world=8, tp=2, sequence_parallel=True, top_k=8,
         ir_method="alltoall", seed=7),
    dict(preset="mixtral", world=1, top_k=1, tokens=[3]),
]


DTYPES = dict(f32=np.float32, i32=np.int32, i8=np.int8, i4=np.int8)


def check_generated_cases(moe_opt=None):
    for spec in CASES:
        spec = dict(spec)
        s = mc.CaseSpec(**{**mc.PRESETS[spec.pop("preset")], **spec})
        with tempfile.TemporaryDirectory() as d:
            case = mc.generate(s, d)
            again = mc.generate(s, os.path.join(d, "again"))
            assert case["tokens_per_rank"] == again["tokens_per_rank"]
            layer = dm.load_layer(d)
            for r in range(s.world):
                load = lambda pat: np.load(os.path.join(d, pat.format(rank=r)))
                args = {a["name"]: load(a["path"]) for a in case["inputs"]}
                for a in case["inputs"]:
                    arr, dims = args[a["name"]], a["type"][7:-1].split("x")
                    assert len(dims) - 1 == arr.ndim and arr.flags.c_contiguous
                    assert all(d in ("?", str(n)) for d, n in zip(dims, arr.shape)), a
                    assert arr.dtype == DTYPES[dims[-1]], a
                    if dims[-1] == "i4":
                        assert -8 <= arr.min() and arr.max() <= 7
                x, logits = args["x"], args["logits"]
                assert x.shape[0] == case["tokens_per_rank"][r]
                assert (dm.selection_margin(logits, layer.gate, layer.bias)
                        >= mc.MIN_MARGIN).all()
                if s.skew:
                    ids = dm.gate(logits, layer.gate, layer.bias)[1]
                    assert (ids == case["hot_expert"]).any(axis=1).all()
                if s.shares_tokens:
                    head = s.token_group(r) * s.tp
                    assert (x == np.load(os.path.join(
                        d, f"x.rank{head}.npy"))).all()
                exp = load(case["expected"])
                assert (exp == dm.dense_moe(x, logits, layer, s.shards)).all()
                assert (exp == load(os.path.join("again", case["expected"]))).all()
            if moe_opt:
                subprocess.run([moe_opt, os.path.join(d, "layer.mlir")],
                               check=True, stdout=subprocess.DEVNULL)


def check_invalid_specs_rejected():
    for bad in (dict(world=4, tp=3), dict(world=3, experts=8),
                dict(world=2, expert_parallel=False, sequence_parallel=True),
                dict(world=2, quant="w4a8", group_size=5),
                dict(world=2, ir_method="fused_mc2", quant="w4a8", group_size=16),
                dict(world=2, quant="w4a8", group_size=16, w4a8_version="2"),
                dict(world=2, quant="w8a8", w4a8_version="1.0.0"),
                dict(world=4, expert_parallel=False, quant="w4a8",
                     group_size=2, inter=40, w4a8_version="1.0.0"),
                dict(world=4, tp=2, tokens=[1, 2, 3, 4]),
                dict(experts=8, groups=3, keep_groups=1),
                dict(experts=8, top_k=2, groups=2, keep_groups=1,
                     balanced=True),
                dict(experts=8, top_k=3, groups=2, keep_groups=2,
                     balanced=True),
                dict(world=2, ir_method="moge", top_k=2, groups=2,
                     keep_groups=2, balanced=True, skew=True)):
        try:
            mc.check_spec(mc.CaseSpec(**bad))
            mc.token_counts(mc.CaseSpec(**bad), np.random.default_rng(0))
        except ValueError:
            continue
        raise AssertionError(f"accepted {bad}")


# --- the driver's comparison ------------------------------------------------

def check_compare():
    rng = np.random.default_rng(0)
    ref = rng.standard_normal((40, 16)).astype(F32)
    step = np.full(ref.shape, 0.01)
    assert rc.compare(ref + 1e-6, ref)[0]
    assert not rc.compare(ref + 1e-3 * np.abs(ref).max(), ref)[0]
    assert not rc.compare(ref[:39], ref)[0]
    assert rc.compare(np.zeros((0, 16)), np.zeros((0, 16)))[0]
    flipped = ref.copy()
    flipped[3] += 0.015                      # one row, 1.5 steps
    assert rc.compare(flipped, ref, step)[0]
    assert not rc.compare(flipped, ref)[0]   # never for float32 cases
    flipped[4] += 0.015                      # a second row: too many
    assert not rc.compare(flipped, ref, step)[0]
    far = ref.copy()
    far[3] += 0.05                           # 5 steps: not a flip
    assert not rc.compare(far, ref, step)[0]
    nan = ref.copy()
    nan[0, 0] = np.nan
    assert not rc.compare(nan, ref)[0]


def check_pipeline_string():
    assert (rc.pipeline_string("mc2", "true", "false") ==
            "moe-compile{policy=fixed method=mc2 fuse-quant=true multistream=false}")
    assert rc.pipeline_string(None, "false", "true") == (
        "moe-compile{fuse-quant=false multistream=true}")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--moe-opt", help="verify the generated layers with it")
    args = p.parse_args()
    checks = [(n, f) for n, f in globals().items() if n.startswith("check_")]
    failed = []
    for name, fn in checks:
        try:
            fn(args.moe_opt) if name == "check_generated_cases" else fn()
            print(f"ok   {name}")
        except Exception:
            failed.append(name)
            print(f"FAIL {name}\n{traceback.format_exc()}")
    print(f"{len(checks) - len(failed)}/{len(checks)} checks passed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
