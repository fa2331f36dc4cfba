#!/usr/bin/env python3
"""Checks a module moe-import wrote against the config.json it came from.

Independent of the importer: the MoE layer rule and the routing of each
family are written here from the Hugging Face modeling code
(modeling_deepseek_v3.py, modeling_qwen2_moe.py, modeling_qwen3_moe.py,
modeling_mixtral.py, modeling_llama4.py, modeling_glm4_moe.py), and the
module is read as text. For every imported layer it checks the function
name, the gate (top_k, scoring, renormalize, groups, scale, correction
bias), the expert count, the expert weights' shapes (hidden and
intermediate size after sharding), the shared experts and the router
weight on input. Prints `check_import: PASS (N layers)` or the mismatches.

    check_import.py config.json module.mlir [--shards N] [--layers 3,4]
"""
import argparse
import json
import re
import sys


def expected(cfg):
    """(moe layer indices, per-layer expectations) of a config."""
    top = cfg
    cfg = cfg.get("text_config", cfg)
    mt = cfg["model_type"]
    n = cfg["num_hidden_layers"]
    e = {"hidden": cfg["hidden_size"], "bias": False, "groups": None,
         "scale": 1.0, "on_input": False, "shared": 0, "shared_gate": False}
    if mt in ("deepseek_v2", "deepseek_v3", "glm4_moe"):
        glm = mt == "glm4_moe"
        first = cfg.get("first_k_dense_replace", 0)
        freq = cfg.get("moe_layer_freq", 1)
        layers = [i for i in range(n) if i >= first and i % freq == 0]
        method = cfg.get("topk_method", "noaux_tc" if glm else "greedy")
        e.update(experts=cfg["n_routed_experts"], top_k=cfg["num_experts_per_tok"],
                 inter=cfg["moe_intermediate_size"],
                 sigmoid=cfg.get("scoring_func", "sigmoid" if glm else "softmax") == "sigmoid",
                 scale=cfg.get("routed_scaling_factor", 1.0),
                 bias=method == "noaux_tc",
                 shared=(cfg.get("n_shared_experts") or 0) * cfg["moe_intermediate_size"])
        e["renorm"] = bool(cfg.get("norm_topk_prob", False)) and e["top_k"] > 1
        if method != "greedy" and cfg.get("n_group", 1) > 1:
            e["groups"] = (cfg["n_group"], cfg.get("topk_group", cfg["n_group"]))
    elif mt in ("qwen2_moe", "qwen3_moe"):
        step = cfg.get("decoder_sparse_step", 1)
        skip = cfg.get("mlp_only_layers", []) or []
        layers = [i for i in range(n) if i not in skip and (i + 1) % step == 0]
        e.update(experts=cfg["num_experts"], top_k=cfg["num_experts_per_tok"],
                 inter=cfg["moe_intermediate_size"], sigmoid=False,
                 shared=cfg.get("shared_expert_intermediate_size", 0) or 0)
        # Qwen2MoeSparseMoeBlock: shared_expert_gate = Linear(H, 1).
        e["shared_gate"] = e["shared"] > 0
        e["renorm"] = bool(cfg.get("norm_topk_prob", mt == "qwen3_moe")) and e["top_k"] > 1
    elif mt == "mixtral":
        layers = list(range(n))
        e.update(experts=cfg["num_local_experts"], top_k=cfg["num_experts_per_tok"],
                 inter=cfg["intermediate_size"], sigmoid=False,
                 renorm=cfg["num_experts_per_tok"] > 1)
    elif mt in ("llama4_text", "llama4"):
        step = cfg.get("interleave_moe_layer_step", 1)
        layers = cfg.get("moe_layers") or list(range(step - 1, n, step))
        e.update(experts=cfg["num_local_experts"], top_k=1,
                 inter=cfg["intermediate_size"], sigmoid=True, renorm=False,
                 on_input=True, shared=cfg["intermediate_size"])
    else:
        raise SystemExit(f"check_import: no rule for model_type {mt}")
    return layers, e


FUNC = re.compile(r"func\.func @layer_(\d+)\((.*?)\) -> ", re.S)


def check_layer(index, body, args, e, shards, problems):
    def want(cond, what):
        if not cond:
            problems.append(f"layer {index}: {what}")

    gate = re.search(r"moe\.gate (.*?) : tensor<\?", body)
    want(gate is not None, "no moe.gate")
    if not gate:
        return
    g = gate.group(1)
    want(f"top_k({e['top_k']})" in g, f"top_k is not {e['top_k']}: {g}")
    want(("sigmoid" if e["sigmoid"] else "softmax") in g, f"scoring: {g}")
    want(("renormalize" in g) == e["renorm"], f"renormalize should be {e['renorm']}: {g}")
    want(("bias(" in g) == e["bias"], f"correction bias should be {e['bias']}: {g}")
    groups = re.search(r"groups\((\d+), (\d+)\)", g)
    want((tuple(map(int, groups.groups())) if groups else None) == e["groups"],
         f"groups should be {e['groups']}: {g}")
    scale = re.search(r"scale\(([^)]*)\)", g)
    want(abs((float(scale.group(1)) if scale else 1.0) - e["scale"]) < 1e-6,
         f"scale should be {e['scale']}: {g}")
    disp = re.search(r"moe\.dispatch .*? experts\((\d+)", body)
    want(disp and int(disp.group(1)) == e["experts"], f"experts should be {e['experts']}")
    want(("router_weight_on_input" in body) == e["on_input"],
         f"router_weight_on_input should be {e['on_input']}")
    w13 = re.search(r'tensor<(\d+)x(\d+)x(\d+)x\w+> \{moe\.name = "w13"\}', args)
    want(w13 and int(w13.group(2)) == e["hidden"]
         and int(w13.group(3)) * shards == 2 * e["inter"],
         f"w13 should be [L, {e['hidden']}, 2 * {e['inter']} / {shards}]")
    sw13 = re.search(r'tensor<(\d+)x(\d+)x\w+> \{moe\.name = "shared_w13"\}', args)
    if e["shared"]:
        want(sw13 and int(sw13.group(2)) == 2 * e["shared"],
             f"shared_w13 should be [H, 2 * {e['shared']}]")
        want("moe.shared_experts" in body, "no moe.shared_experts")
        gate = re.search(r'tensor<(\d+)x1x\w+> \{moe\.name = "shared_expert_gate"\}', args)
        want((gate is not None and int(gate.group(1)) == e["hidden"]
              and "gate(%" in body) == e["shared_gate"],
             f"shared_expert_gate [H, 1] should be {e['shared_gate']}")
    else:
        want(sw13 is None and "moe.shared_experts" not in body,
             "shared experts the config does not have")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("config")
    ap.add_argument("module")
    ap.add_argument("--shards", type=int, default=1,
                    help="ranks each expert is tensor-sharded over")
    ap.add_argument("--layers", default="", help="the layers imported "
                    "(default: every MoE layer)")
    a = ap.parse_args()
    with open(a.config) as f:
        layers, e = expected(json.load(f))
    if a.layers:
        layers = [int(x) for x in a.layers.split(",")]
    with open(a.module) as f:
        text = f.read()
    funcs = list(FUNC.finditer(text))
    got = [int(m.group(1)) for m in funcs]
    problems = []
    if got != layers:
        problems.append(f"layers {got} but the config's MoE layers are {layers}")
    for k, m in enumerate(funcs):
        end = funcs[k + 1].start() if k + 1 < len(funcs) else len(text)
        check_layer(int(m.group(1)), text[m.end():end], m.group(2), e,
                    a.shards, problems)
    if problems:
        print("check_import: FAIL")
        for p in problems[:20]:
            print("  " + p)
        sys.exit(1)
    print(f"check_import: PASS ({len(funcs)} layers)")


if __name__ == "__main__":
    main()
