#!/usr/bin/python3
"""Small Hugging Face checkpoints for the safetensors loader's tests.

Independent of the C++ loader (lib/Import/CheckpointWeights.cpp): the
safetensors writer follows the format's specification (8-byte little-endian
header length, a JSON header padded with spaces to 8 bytes, the raw
little-endian data), and the tensor names are written here from the
Hugging Face modeling files of each family (modeling_deepseek_v3.py,
modeling_glm4_moe.py, modeling_qwen2_moe.py, modeling_qwen3_moe.py,
modeling_mixtral.py, modeling_llama4.py). The layer's routing comes from
check_import.expected (itself an independent reading of the configs).

    hf_checkpoint.py make CONFIG OUT --layer N --world W [--tp T]
                     [--format single|index|dir] [--tokens 3,0,...]
        writes OUT/ckpt/ (config.json and the safetensors files), the dense
        reference layer OUT/ref/ (dense_moe.save_layer: the logical
        experts as [E, H, 2I] gate-then-up and [E, I, H]) and the tokens
        OUT/x.rank<r>.npy, OUT/logits.rank<r>.npy (ranks of one TP group
        share them); with --redundant R (EPLB, expert parallelism over the
        W ranks) also the placement OUT/phys2log.npy [E + R] (replicas of
        random experts) and each rank's OUT/log2phy.rank<r>.npy [E] and
        OUT/expert_map.rank<r>.npy [E + R];
    hf_checkpoint.py check OUT OUTPUTS --world W
        compares OUTPUTS/0.rank<r>.npy with dense_moe of rank r's tokens.
"""

import argparse
import json
import os
import shutil
import struct
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from check_import import expected  # noqa: E402
from dense_moe import (F32, DenseLayer, GateSpec, MLPWeights,  # noqa: E402
                       dense_moe, load_layer, save_layer, selection_margin)
import quant_formats  # noqa: E402

MIN_MARGIN = 1e-3


# ---------------------------------------------------------------------------
# The format
# ---------------------------------------------------------------------------

def bf16_bits(a):
    """uint16 bf16 encodings of float32 values already representable."""
    bits = np.ascontiguousarray(a, dtype=F32).view(np.uint32)
    assert not (bits & 0xFFFF).any(), "values must be bf16-representable"
    return (bits >> 16).astype(np.uint16)


NUMPY_DTYPES = {np.dtype(np.float32): "F32", np.dtype(np.float16): "F16",
                np.dtype(np.float64): "F64", np.dtype(np.int8): "I8",
                np.dtype(np.uint8): "U8", np.dtype(np.int32): "I32",
                np.dtype(np.int64): "I64"}


def encode(value):
    """(dtype name, shape, bytes) of an array, or of ("BF16", f32 array)."""
    if isinstance(value, tuple):
        kind, a = value
        assert kind == "BF16"
        return "BF16", list(a.shape), bf16_bits(a).astype("<u2").tobytes()
    a = np.ascontiguousarray(value)
    return NUMPY_DTYPES[a.dtype], list(a.shape), a.astype(
        a.dtype.newbyteorder("<")).tobytes()


def write_safetensors(path, tensors, metadata=None):
    """Writes {name: array or ("BF16", f32 array)} in insertion order."""
    header, blobs, offset = {}, [], 0
    if metadata:
        header["__metadata__"] = metadata
    for name, value in tensors.items():
        dtype, shape, data = encode(value)
        header[name] = {"dtype": dtype, "shape": shape,
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)


# ---------------------------------------------------------------------------
# Hugging Face names (one table per family)
# ---------------------------------------------------------------------------

def hf_tensors(model_type, layer, w13, w2, bias, shared, shared_gate, router,
               wrap):
    """{HF name: value} of one MoE layer; `wrap` turns a float array into
    the stored value (the checkpoint's dtype)."""
    e_count, h, two_i = w13.shape
    i = two_i // 2
    out = {}
    if model_type == "llama4":
        # Llama4TextExperts: gate_up_proj [E, H, 2I] (gate then up, chunked
        # in forward), down_proj [E, I, H]; Llama4ForConditionalGeneration
        # keeps the text model under language_model.
        p = f"language_model.model.layers.{layer}.feed_forward."
        out[p + "router.weight"] = wrap(router)
        out[p + "experts.gate_up_proj"] = wrap(w13)
        out[p + "experts.down_proj"] = wrap(w2)
        s = p + "shared_expert."
    else:
        if model_type == "mixtral":
            p = f"model.layers.{layer}.block_sparse_moe."
            names = ("w1", "w3", "w2")
        else:
            p = f"model.layers.{layer}.mlp."
            names = ("gate_proj", "up_proj", "down_proj")
        out[p + "gate.weight"] = wrap(router)          # [E, H]
        for e in range(e_count):
            # nn.Linear weights are [out, in].
            g, u, d = (p + f"experts.{e}.{n}.weight" for n in names)
            out[g] = wrap(np.ascontiguousarray(w13[e][:, :i].T))
            out[u] = wrap(np.ascontiguousarray(w13[e][:, i:].T))
            out[d] = wrap(np.ascontiguousarray(w2[e].T))
        if bias is not None:
            out[p + "gate.e_score_correction_bias"] = bias.astype(F32)
        s = p + ("shared_experts." if model_type in
                 ("deepseek_v2", "deepseek_v3", "glm4_moe") else
                 "shared_expert.")
        if shared_gate is not None:
            out[p + "shared_expert_gate.weight"] = wrap(
                np.ascontiguousarray(shared_gate.T))    # [1, H]
    if shared is not None:
        sw13, sw2 = shared
        si = sw13.shape[1] // 2
        out[s + "gate_proj.weight"] = wrap(np.ascontiguousarray(sw13[:, :si].T))
        out[s + "up_proj.weight"] = wrap(np.ascontiguousarray(sw13[:, si:].T))
        out[s + "down_proj.weight"] = wrap(np.ascontiguousarray(sw2.T))
    return out


# ---------------------------------------------------------------------------
# make / check
# ---------------------------------------------------------------------------

def dtype_of(cfg):
    name = cfg.get("torch_dtype", cfg.get("dtype", "bfloat16"))
    return {"bfloat16": "bf16", "float16": "f16", "float32": "f32"}[name]


def make(a):
    with open(a.config) as f:
        cfg = json.load(f)
    layers, e = expected(cfg)
    assert a.layer in layers, f"layer {a.layer} is not an MoE layer"
    model_type = cfg.get("text_config", cfg)["model_type"]
    if model_type == "llama4_text":
        model_type = "llama4"
    dtype = dtype_of(cfg)
    rng = np.random.default_rng(a.seed)
    h, n, i = e["hidden"], e["experts"], e["inter"]

    def rnd(shape, fan_in):
        v = (rng.standard_normal(shape) / np.sqrt(fan_in)).astype(F32)
        return quant_formats.round_dtype(v, dtype)

    w13, w2 = rnd((n, h, 2 * i), h), rnd((n, i, h), i)
    router = rnd((n, h), h)
    bias = (rng.uniform(-0.1, 0.1, n).astype(F32) if e["bias"] else None)
    shared = ((rnd((h, 2 * e["shared"]), h), rnd((e["shared"], h), e["shared"]))
              if e["shared"] else None)
    shared_gate = rnd((h, 1), h) if e["shared_gate"] else None

    def wrap(v):
        if dtype == "bf16":
            return ("BF16", v)
        return v.astype(np.float16 if dtype == "f16" else F32)

    tensors = hf_tensors(model_type, a.layer, w13, w2, bias, shared,
                         shared_gate, router, wrap)
    ckpt = os.path.join(a.out, "ckpt")
    os.makedirs(ckpt, exist_ok=True)
    shutil.copy(a.config, os.path.join(ckpt, "config.json"))
    names = list(tensors)
    if a.format == "single":
        write_safetensors(os.path.join(ckpt, "model.safetensors"), tensors,
                          {"format": "pt"})
    else:
        parts = [names[k::a.files] for k in range(a.files)]
        weight_map = {}
        for k, part in enumerate(parts):
            file = f"model-{k + 1:05d}-of-{a.files:05d}.safetensors"
            write_safetensors(os.path.join(ckpt, file),
                              {t: tensors[t] for t in part}, {"format": "pt"})
            weight_map.update({t: file for t in part})
        if a.format == "index":
            with open(os.path.join(ckpt, "model.safetensors.index.json"),
                      "w") as f:
                json.dump({"metadata": {}, "weight_map": weight_map}, f,
                          indent=1)

    groups = e["groups"] or (0, 0)
    spec = GateSpec(top_k=e["top_k"],
                    scoring="sigmoid" if e["sigmoid"] else "softmax",
                    renormalize=e["renorm"], num_groups=groups[0],
                    keep_groups=groups[1], routed_scaling=e["scale"])
    layer = DenseLayer(
        gate=spec, experts=MLPWeights(w13=w13, w2=w2, dtype=dtype), bias=bias,
        shared=(MLPWeights(w13=shared[0][None], w2=shared[1][None],
                           dtype=dtype) if shared else None),
        shared_gate=shared_gate, weight_on_input=e["on_input"])
    save_layer(layer, os.path.join(a.out, "ref"))
    with open(os.path.join(a.out, "ref", "dtype"), "w") as f:
        f.write(dtype)   # save_layer keeps no float type

    counts = [int(t) for t in a.tokens.split(",")]
    assert len(counts) == a.world // a.tp, "one token count per TP group"
    for g, count in enumerate(counts):
        x = quant_formats.round_dtype(
            rng.standard_normal((count, h)).astype(F32), dtype)
        logits = rng.normal(0.0, 2.0, (count, n)).astype(F32)
        for _ in range(1000):
            bad = selection_margin(logits, spec, bias) < MIN_MARGIN
            if not bad.any():
                break
            logits[bad] = rng.normal(0.0, 2.0, (int(bad.sum()), n))
        for r in range(g * a.tp, (g + 1) * a.tp):
            np.save(os.path.join(a.out, f"x.rank{r}.npy"), x)
            np.save(os.path.join(a.out, f"logits.rank{r}.npy"), logits)
    if a.redundant:
        write_placement(a, n, rng)
    print(f"hf_checkpoint: {model_type} layer {a.layer}: {len(names)} "
          f"tensors in {a.format} form")


def write_placement(a, experts, rng):
    """EPLB tables (SEMANTICS §4): physical p < E is logical p, the R
    redundant ones replicate random experts; rank r sends logical e to one
    of its replicas (which one varies with r and e); expert_map gives the
    local index of the physical experts [r L, (r + 1) L) rank r holds."""
    physical = experts + a.redundant
    assert physical % a.world == 0, "E + R must divide over the ranks"
    phys2log = np.concatenate([np.arange(experts),
                               rng.choice(experts, a.redundant)]).astype(np.int32)
    np.save(os.path.join(a.out, "phys2log.npy"), phys2log)
    local = physical // a.world
    for r in range(a.world):
        log2phy = [np.flatnonzero(phys2log == e)[(e + r) % int(
            (phys2log == e).sum())] for e in range(experts)]
        np.save(os.path.join(a.out, f"log2phy.rank{r}.npy"),
                np.array(log2phy, dtype=np.int32))
        table = np.full(physical, -1, dtype=np.int32)
        table[r * local:(r + 1) * local] = np.arange(local)
        np.save(os.path.join(a.out, f"expert_map.rank{r}.npy"), table)


def check(a):
    layer = load_layer(os.path.join(a.out, "ref"))
    with open(os.path.join(a.out, "ref", "dtype")) as f:
        dtype = layer.experts.dtype = f.read()
    # f32: the placement exactly (float32 reassociation only). bf16 / f16:
    # the layer rounds its intermediates (gate-up output, SwiGLU) to the
    # type, which the float64 reference does not, so a few units in the
    # last place at max|ref|; a misplaced weight moves the output by O(1).
    rtol = {"f32": 1e-4, "bf16": 2.0 ** -5, "f16": 2.0 ** -8}[dtype]
    worst = 0.0
    for r in range(a.world):
        x = np.load(os.path.join(a.out, f"x.rank{r}.npy"))
        logits = np.load(os.path.join(a.out, f"logits.rank{r}.npy"))
        ref = dense_moe(x, logits, layer)
        got = np.load(os.path.join(a.outputs, f"0.rank{r}.npy"))
        if got.shape != ref.shape:
            sys.exit(f"hf_checkpoint: FAIL: rank {r} output {got.shape}, "
                     f"reference {ref.shape}")
        if not ref.size:
            continue
        err = float(np.abs(got.astype(np.float64) - ref).max()
                    / max(float(np.abs(ref).max()), 1e-30))
        worst = max(worst, err)
        if err > rtol:
            sys.exit(f"hf_checkpoint: FAIL: rank {r} relative error {err:.3g}"
                     f" > {rtol:.3g}")
    print(f"hf_checkpoint: PASS ({a.world} ranks, max relative error "
          f"{'%.1e' % worst}, within {rtol:.3g})")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("make")
    m.add_argument("config")
    m.add_argument("out")
    m.add_argument("--layer", type=int, required=True)
    m.add_argument("--world", type=int, default=1)
    m.add_argument("--tp", type=int, default=1,
                   help="ranks of one TP group share their tokens")
    m.add_argument("--tokens", default=None,
                   help="token count per TP group (default 5 each)")
    m.add_argument("--format", choices=("single", "index", "dir"),
                   default="single")
    m.add_argument("--files", type=int, default=2,
                   help="files of an index / dir checkpoint")
    m.add_argument("--redundant", type=int, default=0,
                   help="EPLB redundant experts: write the placement tables")
    m.add_argument("--seed", type=int, default=0)
    c = sub.add_parser("check")
    c.add_argument("out")
    c.add_argument("outputs")
    c.add_argument("--world", type=int, default=1)
    a = p.parse_args()
    if a.cmd == "make":
        if a.tokens is None:
            a.tokens = ",".join(["5"] * (a.world // a.tp))
        make(a)
    else:
        check(a)


if __name__ == "__main__":
    main()
