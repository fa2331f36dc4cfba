#!/usr/bin/python3
"""The legality grid (issue 9): every method the compiler picks can run.

Enumerates chip {A2, A3, A5, 310P} x quant {none, w8a8, w4a8} x fused-mc2
{off, on} x layouts (EP on/off, sequence parallelism on/off, tp x dp with
world <= 8, plus world 16 where A2 runs MC2) x policy {table, cost-model} x
serving options (max-num-reqs 256 / 512 / 1024) x token counts on both
sides of every threshold, static and dynamic, and checks:

1. compile (fast, moe-opt only, one module per serving configuration): the
   layer compiles with `moe-compile` (so the chosen method expands) and
   lowers with `moe-lower-to-llvm`; every MC2 kernel the compiled layer can
   reach gets at most `capacity(C)` rows per rank, the rule the runtime
   checks: ceil(T / tp) rows after TP slicing, T with sequence parallelism
   (nothing is sliced), for a static T; for a dynamic T the largest count
   of the run-time switch case holding the kernel (its threshold), and the
   default case (every count above) holds no MC2 kernel;
2. run (`--run`): a representative subset of distinct (method, chip,
   quant, layout, tokens) cases end to end with moe-run at world <= 8 (one
   A2 case at world 16, the smallest world where A2 runs MC2) against the
   NumPy reference (run_case.py).

The token counts are 0, 1, the kernel limits 256 and 512 rows per rank
times 1 and tp (and one more), 600, and each threshold the compiler chose
for the dynamic layer and one more. Independent of the selection rules: a
wrong capacity in any of selection, expansion or runtime shows up as a
compile failure, a capacity check failure or a run-time failure.

It would have caught each of the wrong choices of issue 9, and did on the
code before the legality query (moe/Dialect/Moe/CommLegality.h):
(a) A2, max-num-reqs=512, world 16: mc2 picked at 257..512 tokens with
    capacity(256) -> capacity check (compile) and moe-run failure (run);
(b) A3, fused-mc2, w4a8: fused_mc2 picked, the expansion (then moe-expand-comm) refuses it ->
    compile failure;
(c) A3, fused-mc2: fused_mc2 picked at any count, npu.dispatch_ffn_combine
    with capacity(512) -> capacity check at 513 / 600 tokens, moe-run
    failure at 600 tokens;
(d) sequence parallelism, max-num-reqs=1024: mc2 admitted up to 1024 tokens
    with capacity(512) and nothing sliced -> capacity check at 513..1024,
    moe-run failure at 600.

    legality_grid.py --moe-opt BIN [--moe-run BIN --run] --work-dir DIR
"""

import argparse
import concurrent.futures
import math
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "..", "scripts", "reference"))
import make_case  # noqa: E402

CHIPS = ("A2", "A3", "A5", "A310P")
QUANTS = ("none", "w8a8", "w4a8")
# (tp, dp, expert_parallel, sequence_parallel)
LAYOUTS = [
    (1, 1, True, False), (1, 4, False, False), (2, 2, False, False),
    (1, 2, True, False), (1, 4, True, False), (1, 8, True, False),
    (2, 2, True, False), (2, 4, True, False), (4, 2, True, False),
    (8, 1, True, False),
    (2, 1, True, True), (2, 2, True, True), (4, 2, True, True),
    # A2 runs MC2 only from 16 devices on (compiled, one case run).
    (1, 16, True, False), (2, 8, True, False), (2, 8, True, True),
]
POLICIES = ("table", "cost-model")
SERVING = ("", "max-num-reqs=512", "max-num-reqs=1024")
KERNEL_ROWS = (256, 512)     # MC2 rows per rank of A2 and of A3 / A5
MC2_OPS = re.compile(r"npu\.(moe_distribute_dispatch|dispatch_ffn_combine)"
                     r"\b[^\n]*?capacity\((\d+)\)")


def spec_of(chip, quant, layout):
    tp, dp, ep, sp = layout
    return make_case.CaseSpec(
        hidden=64, experts=16, top_k=4, inter=32, quant=quant,
        group_size=8 if quant == "w4a8" else 0, world=tp * dp, tp=tp,
        expert_parallel=ep, sequence_parallel=sp, chip=chip)


def function_text(name, spec, tokens):
    """The layer of `spec` as one func.func carrying its chip and layout;
    `tokens` None is a dynamic token count."""
    text = make_case.layer_mlir(spec)
    lines = text.split("\n")
    start = next(i for i, l in enumerate(lines) if "func.func @moe_layer" in l)
    header = "\n".join(lines[1:start])
    attrs = header[header.index("{") + 1:header.rindex("}")]
    attrs = " ".join(attrs.split())
    body = "\n".join(lines[start:-2])  # up to the func's closing brace
    body = body.replace("@moe_layer", "@" + name)
    xt = f"tensor<?x{spec.hidden}xf32>"
    body = body.replace(f") -> {xt} {{", f") -> {xt} attributes {{{attrs}}} {{")
    body = body.replace(f"\n      -> {xt} {{",
                        f"\n      -> {xt} attributes {{{attrs}}} {{")
    if tokens is not None:
        for width in (spec.hidden, spec.experts):
            body = body.replace(f"tensor<?x{width}xf32> {{moe.name",
                                f"tensor<{tokens}x{width}xf32> {{moe.name")
        body = body.replace(
            f": tensor<?x{spec.hidden}xf32>, tensor<?x{spec.experts}xf32> -> "
            "!moe.prepare_ctx",
            f": tensor<{tokens}x{spec.hidden}xf32>, "
            f"tensor<{tokens}x{spec.experts}xf32> -> !moe.prepare_ctx")
    return body


def valid(chip, quant, layout):
    try:
        make_case.check_spec(spec_of(chip, quant, layout))
        return True
    except ValueError:
        return False


def run(cmd, stdin=None):
    return subprocess.run(cmd, input=stdin, capture_output=True, text=True)


def functions_of(module_text):
    """{name: text} of the functions of a printed module."""
    out, name, buf = {}, None, []
    for line in module_text.split("\n"):
        m = re.match(r"\s*func\.func @(\w+)\(", line)
        if m:
            if name:
                out[name] = "\n".join(buf)
            name, buf = m.group(1), []
        buf.append(line)
    if name:
        out[name] = "\n".join(buf)
    # A layer's load-time function (moe-outline-load-time) travels with it.
    for fn in list(out):
        if fn.endswith("__load") and fn[:-len("__load")] in out:
            out[fn[:-len("__load")]] = out.pop(fn) + "\n" + out[fn[:-len("__load")]]
    return out


def pipeline(policy, fused, serving):
    opts = [f"policy={policy}"] + (["fused-mc2=true"] if fused else [])
    opts += [serving] if serving else []
    return " ".join(opts)


def slices(layout):
    tp, _, _, sp = layout
    return 1 if sp else tp


def check_capacities(case, compiled, segments):
    """Problems of one compiled function: MC2 kernels given more rows per
    rank than their capacity at the counts that reach them."""
    (chip, quant, layout, tokens) = case
    problems = []
    if tokens is not None:
        rows = tokens if layout[3] else math.ceil(tokens / layout[0])
        for op, cap in MC2_OPS.findall(compiled):
            if int(cap) and rows > int(cap):
                problems.append(f"npu.{op} capacity({cap}) gets {rows} rows "
                                f"per rank at {tokens} tokens")
        return problems
    # Dynamic: the switch's cases in order, then the default.
    parts = re.split(r"\n\s*(?:case \d+|default) \{", compiled)
    regions = parts[1:] if len(parts) > 1 else [compiled]
    for i, region in enumerate(regions):
        last = i == len(regions) - 1
        most = None if last else segments[i][0]
        for op, cap in MC2_OPS.findall(region):
            if not int(cap):
                continue
            if most is None:
                problems.append(f"npu.{op} capacity({cap}) runs every count "
                                "above the last threshold")
            else:
                rows = most if layout[3] else math.ceil(most / layout[0])
                if rows > int(cap):
                    problems.append(f"npu.{op} capacity({cap}) gets {rows} "
                                    f"rows per rank at {most} tokens")
    return problems


lowered = set()  # (quant, layout, methods) lowered so far


def _methods_of(compiled):
    """The methods a compiled layer runs, from its device ops."""
    found = []
    if "npu.dispatch_ffn_combine" in compiled:
        found.append("fused_mc2")
    if "npu.moe_distribute_dispatch" in compiled:
        found.append("mc2")
    if "npu.all_to_all_v" in compiled:
        found.append("alltoall")
    if not found:
        found.append("allgather")
    return tuple(found)


def compile_config(moe_opt, work, policy, fused, serving):
    """Compiles the grid of one serving configuration; returns (cases,
    problems, picked) with picked {(method, chip, quant, layout, tokens)}."""
    opts = pipeline(policy, fused, serving)
    tag = re.sub(r"[^\w]+", "_", opts)
    cells = [(c, q, l) for c in CHIPS for q in QUANTS for l in LAYOUTS
             if valid(c, q, l)]
    # Dynamic layers first: their thresholds are token counts to test.
    dyn = {f"d{i}": (c, q, l, None) for i, (c, q, l) in enumerate(cells)}
    mod = "module {\n" + "\n".join(
        function_text(n, spec_of(c, q, l), None)
        for n, (c, q, l, _) in dyn.items()) + "\n}\n"
    sel = run([moe_opt, f"-moe-select-comm-method={opts}",
               "-mlir-print-op-on-diagnostic=false"], mod)
    if sel.returncode:
        return 0, [f"[{opts}] select failed: {sel.stderr[-2000:]}"], set()
    thresholds = {}
    for name, text in functions_of(sel.stdout).items():
        m = re.search(r"moe\.choose_method \S+ thresholds \[([\d, ]*)\] "
                      r"methods \[([\w, ]*)\]", text)
        if m:
            ts = [int(t) for t in m.group(1).split(",") if t.strip()]
            ms = [x.strip() for x in m.group(2).split(",")]
            thresholds[name] = list(zip(ts + [None], ms))
        else:
            m = re.search(r"!moe\.prepare_ctx<(\w+)>", text)
            thresholds[name] = [(None, m.group(1))]
    cases = dict(dyn)
    for i, (c, q, l) in enumerate(cells):
        counts = {0, 1, 600}
        for k in KERNEL_ROWS:
            for s in {1, l[0]}:
                counts |= {k * s, k * s + 1}
        for t, _ in thresholds[f"d{i}"]:
            if t is not None:
                counts |= {t, t + 1}
        for t in sorted(counts):
            cases[f"s{i}_{t}"] = (c, q, l, t)
    texts, starts, line = [], [], 2
    for n, (c, q, l, t) in cases.items():
        texts.append(function_text(n, spec_of(c, q, l), t))
        starts.append((line, n))
        line += texts[-1].count("\n") + 1
    mod = "module {\n" + "\n".join(texts) + "\n}\n"
    src = os.path.join(work, f"grid_{tag}.mlir")
    with open(src, "w") as f:
        f.write(mod)
    comp = run([moe_opt, src, f"-moe-compile={opts}",
                "-mlir-print-op-on-diagnostic=false",
                "-mlir-print-local-scope"])
    problems = []
    if comp.returncode:
        # Name the failing layers from the diagnostics' line numbers.
        for m in re.finditer(r"\.mlir:(\d+):\d+: error: (.*)", comp.stderr):
            at = int(m.group(1))
            name = max((st for st in starts if st[0] <= at),
                       default=starts[0])[1]
            c, q, l, t = cases[name]
            problems.append(f"[{opts}] {c} {q} layout{l} tokens "
                            f"{'?' if t is None else t}: moe-compile "
                            f"failed: {m.group(2)}")
        if not problems:
            problems.append(f"[{opts}] moe-compile failed: "
                            f"{comp.stderr[-2000:]}")
        return len(cases), problems, set()
    compiled = functions_of(comp.stdout)
    picked, lower = set(), []
    for name, case in cases.items():
        c, q, l, t = case
        segs = thresholds[name if t is None else "d" + name[1:].split("_")[0]]
        for p in check_capacities(case, compiled[name], segs):
            problems.append(f"[{opts}] {c} {q} layout{l} tokens "
                            f"{'?' if t is None else t}: {p}")
        if t is None:
            for upto, method in segs:
                picked.add((method, c, q, l, upto, opts))
        # Lowering depends on the methods, quant and layout, not on the
        # chip or the count: lower one layer of each such combination.
        key = (q, l, _methods_of(compiled[name]))
        if key not in lowered:
            lowered.add(key)
            lower.append(compiled[name])
    if lower:
        low = run([moe_opt, "-moe-lower-to-llvm"],
                  "module {\n" + "\n".join(lower) + "\n}\n")
        if low.returncode:
            problems.append(f"[{opts}] moe-lower-to-llvm failed: "
                            f"{low.stderr[-2000:]}")
    return len(cases), problems, picked


# The run subset: (description, run_case.py arguments). Every method, every
# chip, each quantization, EP on/off, sequence parallelism, tp > 1, and
# token counts on both sides of the thresholds of the wrong choices (a)-(d)
# with the run-time switch (the token dimension is dynamic).
RUN_CASES = [
    ("(a) A2 max-num-reqs=512, 300 tokens > 256 rows: allgather, not mc2",
     "moe-compile{max-num-reqs=512}", "--chip A2 --world 16 --experts 16 "
     "--tokens 300,0,3,1,0,2,5,0,1,1,0,0,2,0,7,1"),
    ("A2 world 16, 256 tokens: mc2 at its capacity",
     "moe-compile{max-num-reqs=512}", "--chip A2 --world 16 --experts 16 "
     "--tokens 256,0,3,1,0,2,5,0,1,1,0,0,2,0,7,1"),
    ("(b) A3 fused-mc2 w4a8: mc2, not fused_mc2", "moe-compile{fused-mc2=true}",
     "--chip A3 --world 4 --quant w4a8 --group-size 8 --tokens 9,0,17,40"),
    ("(c) A3 fused-mc2, 600 tokens > 512 rows: alltoall",
     "moe-compile{fused-mc2=true}", "--chip A3 --world 4 --quant w8a8 "
     "--tokens 600,3,0,9"),
    ("A3 fused-mc2, 256 tokens: fused_mc2 at its capacity",
     "moe-compile{fused-mc2=true}", "--chip A3 --world 4 --tokens 256,3,0,9"),
    ("(d) A3 SP tp 2 max-num-reqs=1024, 600 tokens > 512 rows: alltoall",
     "moe-compile{max-num-reqs=1024}", "--chip A3 --world 4 --tp 2 "
     "--sequence-parallel --quant w8a8 --tokens 600,3,0,9"),
    ("A3 SP tp 2 max-num-reqs=1024, 512 tokens: mc2 at its capacity",
     "moe-compile{max-num-reqs=1024}", "--chip A3 --world 4 --tp 2 "
     "--sequence-parallel --tokens 512,3,0,9"),
    ("A3 tp 2 dp 2 max-num-reqs=1024, 1024 tokens: mc2 (512 rows per rank)",
     "moe-compile{max-num-reqs=1024}", "--chip A3 --world 4 --tp 2 "
     "--tokens 1024,5"),
    ("A3 tp 2 dp 2 max-num-reqs=1024, 1025 tokens: alltoall",
     "moe-compile{max-num-reqs=1024}", "--chip A3 --world 4 --tp 2 "
     "--tokens 1025,5"),
    ("A5 cost model, 257 tokens, world 8 > top-4", "moe-compile{policy=cost-model}",
     "--chip A5 --world 8 --tokens 257,1,0,3,2,0,9,4"),
    ("A5 table, 256 tokens: mc2", "moe-compile",
     "--chip A5 --world 8 --quant w8a8 --tokens 256,1,0,3,2,0,9,4"),
    ("A5 table, 257 tokens, world 2 <= top-4: allgather", "moe-compile",
     "--chip A5 --world 2 --tokens 257,4"),
    ("310P EP: allgather", "moe-compile{fused-mc2=true}",
     "--chip A310P --world 4 --quant w8a8 --tokens 300,0,2,7"),
    ("A3 EP off tp 2 dp 2: allgather", "moe-compile{policy=cost-model}",
     "--chip A3 --world 4 --tp 2 --no-expert-parallel --tokens 513,3"),
    ("A3 cost model fused-mc2 max-num-reqs=512, 512 tokens",
     "moe-compile{policy=cost-model fused-mc2=true max-num-reqs=512}",
     "--chip A3 --world 8 --quant w8a8 --tokens 512,0,1,2,3,4,5,6"),
    ("A3 cost model fused-mc2 max-num-reqs=512, 513 tokens",
     "moe-compile{policy=cost-model fused-mc2=true max-num-reqs=512}",
     "--chip A3 --world 8 --quant w8a8 --tokens 513,0,1,2,3,4,5,6"),
]


def run_subset(moe_run, work, jobs):
    runner = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..",
                          "..", "scripts", "reference", "run_case.py")
    base = "--preset qwen --seed 7"

    def one(i):
        desc, pipe, args = RUN_CASES[i]
        cmd = [sys.executable, runner, "--work-dir",
               os.path.join(work, f"run{i}"), "--moe-run", moe_run,
               "--pipeline", pipe] + (base + " " + args).split()
        r = run(cmd)
        return desc, pipe, args, r

    failures = []
    with concurrent.futures.ThreadPoolExecutor(jobs) as pool:
        for desc, pipe, args, r in pool.map(one, range(len(RUN_CASES))):
            ok = r.returncode == 0
            print(f"{'PASS' if ok else 'FAIL'}: {desc}", flush=True)
            if not ok:
                failures.append(f"{desc}: {pipe} {args}\n"
                                f"{(r.stdout + r.stderr)[-1500:]}")
    return failures


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--moe-opt", required=True)
    p.add_argument("--moe-run")
    p.add_argument("--work-dir", required=True)
    p.add_argument("--run", action="store_true",
                   help="also run the subset end to end (needs --moe-run)")
    p.add_argument("--jobs", type=int, default=2)
    args = p.parse_args()
    os.makedirs(args.work_dir, exist_ok=True)

    configs = [(pol, fused, srv) for pol in POLICIES for fused in (False, True)
               for srv in SERVING]
    total, problems, picked = 0, [], set()
    with concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:
        for n, probs, pk in pool.map(
                lambda c: compile_config(args.moe_opt, args.work_dir, *c),
                configs):
            total += n
            problems += probs
            picked |= pk
    methods = sorted({p[0] for p in picked})
    print(f"compiled {total} layers in {len(configs)} configurations; "
          f"methods picked: {', '.join(methods)}; "
          f"{len(problems)} problems", flush=True)
    for prob in problems[:60]:
        print("FAIL: " + prob)
    failures = []
    if args.run:
        failures = run_subset(args.moe_run, args.work_dir, args.jobs)
        for f in failures:
            print("FAIL: " + f)
    sys.exit(1 if problems or failures else 0)


if __name__ == "__main__":
    main()
