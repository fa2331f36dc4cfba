"""Dense reference for moe_mlir: random inputs for a compiled layer and its
expected outputs, independent of the runtime.

The layer's meaning is read from the model's config.json (after the
overrides, as import_config applied them) by scripts/reference/
check_import.py, and the case (random weights placed on the ranks, tokens,
expected outputs) is made by scripts/reference/make_case.py and
dense_moe.py: the project's NumPy reference, shipped with the package in
moe_mlir/_reference. Nothing here runs the compiler or the runtime.

    case = moe_mlir.reference.random_case(exe, tokens=[5, 3, 0, 7], torch=True)
    print(case.check(moe_mlir.World(exe, ranks=8).run(case.inputs)))
"""
import json
import os
import sys
import tempfile

import numpy as np

_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_reference")
if _DIR not in sys.path:
    sys.path.insert(0, _DIR)
import check_import  # noqa: E402
import make_case  # noqa: E402
import run_case  # noqa: E402

__all__ = ["SCALED_DOWN_DEEPSEEK_V3", "case_spec", "random_case", "Case"]

#: Overrides that make DeepSeek-V3's MoE layer 3 small enough to run on a
#: laptop (its real weights need tens of GB per rank): 4 decoder layers
#: (layer 3 the only MoE one), H 64, 16 routed experts in 4 groups (2
#: kept), top-4, intermediate 32, float32 hidden states (the reference
#: computes w8a8 layers in f32).
SCALED_DOWN_DEEPSEEK_V3 = dict(
    num_hidden_layers=4, hidden_size=64, n_routed_experts=16,
    moe_intermediate_size=32, n_group=4, topk_group=2, num_experts_per_tok=4,
    torch_dtype="float32")

_QUANT = {"none": "none", "w8a8_dynamic": "w8a8", "w4a8_dynamic": "w4a8"}
_DTYPE = {"float32": "f32", "bfloat16": "bf16", "float16": "f16"}


def case_spec(config, layers=(), chip="A3", tp=1, dp=1, ep=False,
              quant="checkpoint", redundant_experts=0, group_size=256,
              shared_expert_ranks=0, **_):
    """make_case.CaseSpec of one MoE layer of `config` (a dict) deployed as
    import_config's options say."""
    moe_layers, e = check_import.expected(config)
    layers = list(layers) or moe_layers
    if len(layers) != 1 or layers[0] not in moe_layers:
        raise ValueError(f"the reference builds one MoE layer, not {layers}")
    if quant == "checkpoint":
        if config.get("quantization_config"):
            raise ValueError("pass quant= explicitly: the reference does not "
                             "read quantization_config")
        quant = "none"
    text = config.get("text_config", config)
    dtype = _DTYPE[text.get("torch_dtype", config.get("torch_dtype",
                                                      "bfloat16"))]
    groups, keep = e["groups"] or (0, 0)
    return make_case.CaseSpec(
        hidden=e["hidden"], experts=e["experts"], top_k=e["top_k"],
        inter=e["inter"], shared_inter=e["shared"],
        shared_gate=e["shared_gate"],
        scoring="sigmoid" if e["sigmoid"] else "softmax",
        renormalize=e["renorm"], groups=groups, keep_groups=keep,
        bias=e["bias"], routed_scaling=float(e["scale"]),
        quant=_QUANT[quant], dtype=dtype,
        group_size=group_size if quant == "w4a8_dynamic" else 0,
        redundant=redundant_experts, world=tp * dp, tp=tp,
        expert_parallel=ep, shared_expert_ranks=shared_expert_ranks,
        chip=chip, weight_on_input=e["on_input"])


class Case:
    """Per-rank inputs (dicts name -> array, or torch tensors) and the dense
    reference's expected outputs of a generated case."""

    def __init__(self, directory, as_torch):
        case = make_case.load_case(directory)
        world = case["spec"]["world"]
        load = lambda p, r: np.load(os.path.join(directory, p.format(rank=r)))  # noqa: E731
        self.inputs = [{i["name"]: load(i["path"], r) for i in case["inputs"]}
                       for r in range(world)]
        self.expected = [load(case["expected"], r) for r in range(world)]
        self.step = ([load(case["step"], r) for r in range(world)]
                     if case["step"] else [None] * world)
        self.rtol = case["rtol"]
        self.tokens = case["tokens_per_rank"]
        if as_torch:
            import torch
            self.inputs = [{k: torch.from_numpy(v) for k, v in rank.items()}
                           for rank in self.inputs]

    def check(self, outputs):
        """Compares World.run's outputs (first result of each rank) with the
        reference (run_case.compare's tolerance); raises AssertionError
        naming the rank on a mismatch, else returns a one-line summary."""
        worst = 0.0
        for r, (out, want, step) in enumerate(zip(outputs, self.expected,
                                                  self.step)):
            got = out[0]
            if hasattr(got, "float") and hasattr(got, "numpy"):
                got = got.float().numpy()
            ok, text = run_case.compare(np.asarray(got, dtype=np.float32),
                                        want, step, self.rtol)
            if not ok:
                raise AssertionError(f"rank {r}: {text}")
            scale = float(np.abs(want).max()) if want.size else 0.0
            err = float(np.abs(np.asarray(got, np.float64) - want).max()) \
                if want.size else 0.0
            worst = max(worst, err / scale if scale else err)
        return (f"{len(outputs)} ranks match the dense reference "
                f"(tokens {self.tokens}, max rel err {worst:.1e})")


def random_case(executable_or_module, tokens=None, seed=0, torch=False):
    """A random case for the layer of an import_config module (or an
    Executable compiled from one): random weights placed on the ranks,
    random tokens (`tokens`: count per rank, or per DP group when its ranks
    share tokens) and the dense reference's outputs."""
    module = getattr(executable_or_module, "module", executable_or_module)
    config = getattr(module, "config", None)
    if config is None:
        raise ValueError("random_case needs a module from import_config "
                         "(or an Executable compiled from one)")
    spec = case_spec(config, **module.options)
    spec.tokens = list(tokens) if tokens is not None else None
    spec.seed = seed
    with tempfile.TemporaryDirectory(prefix="moe-case-") as d:
        make_case.generate(spec, d)
        return Case(d, torch)
