#!/usr/bin/env python3
"""Grammar-aware fuzzer of moe-opt's pipeline and moe-run's input loading.

Seeds are the examples (examples/*.mlir) and the test inputs
(test/**/*.mlir, split at `// -----`). Every case mutates one seed with one
to three mutations that know MLIR's surface syntax (integer attributes made
zero, negative or huge; floats made nan/inf; tensor shapes and element
types; ops moved, duplicated or deleted; keywords swapped; truncation and
bytes) and runs it through

  parse     moe-opt IN -o OUT
  compile   moe-opt IN -moe-compile -o OUT
  pipeline  moe-opt IN -moe-compile -moe-lower-to-llvm -o OUT

and, when moe-opt printed IR, `moe-opt OUT` again (the printed IR must
parse and verify). One case in 20 instead corrupts a .npy input of a tiny
layer (header, shape, dtype, version, truncation, bytes) and runs moe-run.

Outcomes: OK (exit 0), DIAG (non-zero exit with an error message), and the
failures: CRASH (signal, abort, 'LLVM ERROR', an assertion, a stack dump,
a sanitizer report, or a non-zero exit without a message), HANG (timeout),
UNVERIFIED (printed IR that does not parse and verify again). Each failure
is saved under --out as case-<n>.<ext> with the command that reproduces it.

Cases are generated from --seed alone, before any runs, so a run is
deterministic whatever --jobs is:

    fuzz.py --moe-opt B/bin/moe-opt --moe-run B/bin/moe-run --src ROOT \
        [--cases N] [--seed S] [--jobs J] [--out DIR]
"""
import argparse
import concurrent.futures
import glob
import os
import random
import re
import resource
import struct
import subprocess
import sys
import time

import npy_mutations

INTS = ["0", "-1", "1", "2", "3", "7", "64", "512", "65536", "2147483647",
        "2147483648", "4294967296", "9223372036854775807",
        "9223372036854775808", "-9223372036854775808",
        "4611686018427387906", "6148914691236517206", "18446744073709551617"]
FLOATS = ["nan", "inf", "-inf", "0x7FC00000", "0x7F800000", "0xFF800000",
          "1.0e39", "-0.0", "3.0e38", "1.0e-45", "0.0", "-1.0"]
TYPES = ["f32", "f16", "bf16", "f64", "i1", "i4", "i8", "i32", "i64",
         "index", "f8E4M3FN", "complex<f32>", "none"]
KEYWORDS = [["softmax", "sigmoid"], ["true", "false"],
            ["allgather", "alltoall", "mc2", "fused_mc2", "moge", "unset", "bogus"],
            ["tp", "dp", "ep"], ["func.func", "func.func private"],
            ["moe.gate", "moe.prepare", "moe.dispatch", "moe.experts",
             "moe.combine", "moe.finalize", "moe.shared_experts"]]
NASTY = b"0123456789<>()[]{}?x:%#!\",=-+.e \n\x00\xff"

INT_RE = re.compile(rb"(?<![\w.%#^@])-?\d+(?![\w.])")
FLOAT_RE = re.compile(rb"-?\d+\.\d*(?:e[+-]?\d+)?")
SHAPE_RE = re.compile(rb"(tensor|memref|vector)<([^<>]*?)>")
TYPE_RE = re.compile(rb"\b(f32|f16|bf16|i1|i4|i8|i32|i64|index)\b")
OP_LINE_RE = re.compile(rb"^\s*(%[\w#:, %]*=\s*)?[a-z_]+\.[a-z_.]+", re.M)


def pick_match(rng, regex, data):
    matches = list(regex.finditer(data))
    return rng.choice(matches) if matches else None


def replace(data, m, new, group=0):
    return data[:m.start(group)] + new + data[m.end(group):]


def mutate_int(rng, data):
    m = pick_match(rng, INT_RE, data)
    if not m:
        return data, "int: none"
    new = rng.choice(INTS).encode()
    return replace(data, m, new), f"int@{m.start()}={new.decode()}"


def mutate_float(rng, data):
    m = pick_match(rng, FLOAT_RE, data)
    if not m:
        return mutate_int(rng, data)
    new = rng.choice(FLOATS).encode()
    return replace(data, m, new), f"float@{m.start()}={new.decode()}"


def mutate_shape(rng, data):
    m = pick_match(rng, SHAPE_RE, data)
    if not m:
        return data, "shape: none"
    dims = m.group(2).split(b"x")
    kind = rng.choice(["dim", "drop", "add", "dynamic"])
    if kind == "dim" and len(dims) > 1:
        i = rng.randrange(len(dims) - 1)
        dims[i] = rng.choice(INTS[:10] + ["?"]).encode()
    elif kind == "drop" and len(dims) > 1:
        del dims[rng.randrange(len(dims) - 1)]
    elif kind == "add":
        dims.insert(rng.randrange(len(dims)), rng.choice([b"1", b"3", b"0", b"?"]))
    else:
        dims = [b"?" if d.isdigit() else d for d in dims]
    new = m.group(1) + b"<" + b"x".join(dims) + b">"
    return replace(data, m, new), f"shape@{m.start()}:{kind}"


def mutate_type(rng, data):
    m = pick_match(rng, TYPE_RE, data)
    if not m:
        return data, "type: none"
    new = rng.choice(TYPES).encode()
    # Upstream MLIR 19 bug, not the project's: `array<i1: 0>` (an integer
    # literal in an i1 dense array) crashes mlir's own parser / printer
    # (`mlir-opt` too), so the fuzzer does not make i1 dense arrays.
    if new == b"i1" and data[:m.start()].endswith(b"array<"):
        new = b"i64"
    return replace(data, m, new), f"type@{m.start()}={new.decode()}"


def mutate_keyword(rng, data):
    group = rng.choice(KEYWORDS)
    present = [k for k in group if k.encode() in data]
    if not present:
        return mutate_int(rng, data)
    old = rng.choice(present).encode()
    starts = [m.start() for m in re.finditer(re.escape(old), data)]
    at = rng.choice(starts)
    new = rng.choice(group).encode()
    return data[:at] + new + data[at + len(old):], f"keyword@{at}:{new.decode()}"


def mutate_placement(rng, data):
    lines = data.split(b"\n")
    ops = [i for i, l in enumerate(lines) if OP_LINE_RE.match(l)]
    if len(ops) < 2:
        return mutate_truncate(rng, data)
    kind = rng.choice(["swap", "duplicate", "delete", "move"])
    a, b = rng.sample(ops, 2)
    if kind == "swap":
        lines[a], lines[b] = lines[b], lines[a]
    elif kind == "duplicate":
        lines.insert(b, lines[a])
    elif kind == "delete":
        del lines[a]
    else:
        line = lines.pop(a)
        lines.insert(min(b, len(lines)), line)
    return b"\n".join(lines), f"ops:{kind} {a},{b}"


def mutate_truncate(rng, data):
    cut = rng.randrange(len(data) + 1)
    return data[:cut], f"truncate@{cut}"


def mutate_bytes(rng, data):
    buf = bytearray(data)
    edits = []
    for _ in range(rng.randint(1, 3)):
        pos = rng.randrange(len(buf) + 1)
        kind = rng.choice(("replace", "insert", "delete"))
        if kind == "replace" and pos < len(buf):
            buf[pos] = rng.choice(NASTY)
        elif kind == "delete" and pos < len(buf):
            del buf[pos]
        else:
            buf[pos:pos] = bytes([rng.choice(NASTY)])
        edits.append(f"{kind}@{pos}")
    return bytes(buf), "bytes:" + ",".join(edits)


MUTATORS = [(mutate_int, 5), (mutate_float, 2), (mutate_shape, 4),
            (mutate_type, 3), (mutate_keyword, 3), (mutate_placement, 3),
            (mutate_truncate, 1), (mutate_bytes, 2)]


def seeds(src, max_bytes):
    files = sorted(glob.glob(os.path.join(src, "examples", "*.mlir")) +
                   glob.glob(os.path.join(src, "test", "**", "*.mlir"),
                             recursive=True))
    out = []
    for path in files:
        if "/Fuzz/crashers/" in path:
            continue
        with open(path, "rb") as f:
            data = f.read()
        for i, chunk in enumerate(re.split(rb"\n// -----\n", data)):
            if 0 < len(chunk) <= max_bytes:
                out.append((f"{os.path.relpath(path, src)}#{i}", chunk))
    return out


def make_cases(args, corpus):
    """Every case from the seed alone: (kind, name, description, bytes, mode)."""
    weights = [w for _, w in MUTATORS]
    cases = []
    for n in range(args.cases):
        rng = random.Random(f"{args.seed}:{n}")
        if rng.random() < args.npy_fraction:
            data, what = npy_mutations.mutate(rng)
            cases.append(("npy", "tiny_layer x.npy", what, data, None))
            continue
        name, data = rng.choice(corpus)
        what = []
        for _ in range(rng.choice([1, 1, 2, 3])):
            fn = rng.choices([m for m, _ in MUTATORS], weights)[0]
            data, desc = fn(rng, data)
            what.append(desc)
        mode = rng.choice(["parse", "compile", "pipeline", "pipeline"])
        cases.append(("mlir", name, ", ".join(what), data, mode))
    return cases


CRASH_MARKS = [b"LLVM ERROR", b"Assertion", b"PLEASE submit a bug report",
               b"Stack dump", b"AddressSanitizer", b"LeakSanitizer",
               b"runtime error:", b"terminate called", b"Segmentation fault",
               b"double free", b"corrupted"]


def limit_memory():
    # Runaway allocations become a failed allocation (a CRASH: "LLVM
    # ERROR: out of memory") instead of swapping the machine.
    limit = int(os.environ.get("MOE_FUZZ_MEMORY_MB", "4096")) << 20
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def run(cmd, timeout, stdin=None):
    """(class, rc, stderr) of one process."""
    sanitized = "ASAN_OPTIONS" in os.environ or "TSAN_OPTIONS" in os.environ
    try:
        proc = subprocess.run(cmd, input=stdin, capture_output=True,
                              timeout=timeout,
                              preexec_fn=None if sanitized else limit_memory)
    except subprocess.TimeoutExpired:
        return "HANG", None, b""
    err = proc.stderr
    rc = proc.returncode
    if rc < 0 or rc >= 128 or any(m in err for m in CRASH_MARKS):
        return "CRASH", rc, err
    if rc == 0:
        return "OK", rc, err
    if b"error" in err:
        return "DIAG", rc, err
    return "CRASH", rc, err  # a failure without a message


MODE_FLAGS = {"parse": [], "compile": ["-moe-compile"],
              "pipeline": ["-moe-compile", "-moe-lower-to-llvm"]}
SPLIT = b"\n// -----\n"


def run_case(args, n, case, work):
    """Runs one case on its own: (n, class, rc, stderr, command, path)."""
    kind, name, what, data, mode = case
    ext = "npy" if kind == "npy" else "mlir"
    path = os.path.join(work, f"case-{n}.{ext}")
    with open(path, "wb") as f:
        f.write(data)
    try:
        if kind == "npy":
            cmd = npy_mutations.command(args.moe_run, args.inputs, path, what)
            cls, rc, err = run(cmd, args.timeout)
            return n, cls, rc, err, cmd, path
        out = path + ".out"
        cmd = [args.moe_opt, path, "-o", out] + MODE_FLAGS[mode]
        cls, rc, err = run(cmd, args.timeout)
        if cls == "OK":
            again = [args.moe_opt, out, "-o", os.devnull]
            cls2, rc2, err2 = run(again, args.timeout)
            if cls2 in ("CRASH", "HANG"):
                return n, cls2, rc2, err2, again, path
            if cls2 != "OK":
                return n, "UNVERIFIED", rc2, err2, cmd + ["&&"] + again, path
        return n, cls, rc, err, cmd, path
    finally:
        if os.path.exists(path + ".out"):
            os.remove(path + ".out")


def run_batch(args, batch, cases, work):
    """Runs the moe-opt cases of `batch` (one mode) in one process with
    -split-input-file and re-verifies what it printed the same way; only
    when either step crashes, hangs or does not re-verify are the cases run
    one by one. Returns the results of run_case for those, or a summary."""
    mode = cases[batch[0]][4]
    path = os.path.join(work, f"batch-{batch[0]}.mlir")
    with open(path, "wb") as f:
        f.write(SPLIT.join(cases[n][3] for n in batch))
    out = path + ".out"
    try:
        cls, _, _ = run([args.moe_opt, path, "-split-input-file", "-o", out] +
                        MODE_FLAGS[mode], args.timeout * 2)
        if cls not in ("CRASH", "HANG") and os.path.exists(out):
            again, _, _ = run([args.moe_opt, out, "-split-input-file", "-o",
                               os.devnull], args.timeout * 2)
            if again != "OK" and os.path.getsize(out) > 0:
                cls = "RECHECK"
        if cls in ("OK", "DIAG"):
            return [(n, "PASSED", None, b"", None, None) for n in batch]
        return [run_case(args, n, cases[n], work) for n in batch]
    finally:
        for p in (path, out):
            if os.path.exists(p):
                os.remove(p)


def replay(args):
    """Runs every reproducer in args.replay: .mlir files in every mode,
    .npy files as x and as logits; prints one line per failure."""
    bad = 0
    files = sorted(glob.glob(os.path.join(args.replay, "*.mlir")) +
                   glob.glob(os.path.join(args.replay, "*.npy")))
    for path in files:
        with open(path, "rb") as f:
            data = f.read()
        if path.endswith(".npy"):
            cases = [("npy", path, t + ": replay", data, None)
                     for t in ("x", "logits")]
        else:
            cases = [("mlir", path, "replay", data, m) for m in MODE_FLAGS]
        for n, case in enumerate(cases):
            _, cls, rc, err, cmd, kept = run_case(args, n, case, args.out)
            if cls in ("CRASH", "HANG", "UNVERIFIED"):
                bad += 1
                print(f"{cls} {os.path.basename(path)} ({case[4] or case[2]}): "
                      f"exit {rc}\n  {' '.join(cmd)}")
            else:
                os.remove(kept)
    print(f"{len(files)} reproducers, {bad} failures")
    return 1 if bad else 0


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--moe-opt", required=True)
    parser.add_argument("--moe-run", required=True)
    parser.add_argument("--src", required=True, help="the repository root")
    parser.add_argument("--cases", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--timeout", type=float, default=60.0,
                        help="seconds per process before a case is a HANG")
    parser.add_argument("--max-seed-bytes", type=int, default=16000)
    parser.add_argument("--npy-fraction", type=float, default=0.05)
    parser.add_argument("--out", required=True,
                        help="work directory; failing cases stay here")
    parser.add_argument("--batch", type=int, default=20,
                        help="moe-opt cases per process (-split-input-file)")
    parser.add_argument("--verbose", action="store_true")
    parser.add_argument("--replay", metavar="DIR",
                        help="run the reproducers in DIR instead of fuzzing")
    args = parser.parse_args()
    args.moe_opt = os.path.abspath(args.moe_opt)
    args.moe_run = os.path.abspath(args.moe_run)
    os.makedirs(args.out, exist_ok=True)
    args.inputs = npy_mutations.prepare(args.src, args.out)
    if args.replay:
        return replay(args)

    corpus = seeds(args.src, args.max_seed_bytes)
    cases = make_cases(args, corpus)
    start = time.time()
    counts = {c: 0 for c in ["PASSED", "OK", "DIAG", "CRASH", "HANG",
                             "UNVERIFIED"]}
    failures = []
    # moe-opt cases in batches of one mode (a process start costs more
    # than most cases); .npy cases one moe-run each.
    batches, open_batch = [], {}
    for n, case in enumerate(cases):
        if case[0] == "npy":
            batches.append(("one", n))
            continue
        group = open_batch.setdefault(case[4], [])
        group.append(n)
        if len(group) == args.batch:
            batches.append(("batch", group))
            open_batch[case[4]] = []
    batches += [("batch", g) for g in open_batch.values() if g]
    with concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:
        futures = [pool.submit(run_case, args, b, cases[b], args.out)
                   if kind == "one" else
                   pool.submit(run_batch, args, b, cases, args.out)
                   for kind, b in batches]
        for fut in concurrent.futures.as_completed(futures):
            results = fut.result()
            for n, cls, rc, err, cmd, path in (
                    results if isinstance(results, list) else [results]):
                counts[cls] += 1
                if cls in ("CRASH", "HANG", "UNVERIFIED"):
                    failures.append((n, cls, rc, err, cmd, path))
                elif path and not args.verbose:
                    os.remove(path)
    for n, cls, rc, err, cmd, path in sorted(failures):
        kind, name, what, _, mode = cases[n]
        with open(path + ".cmd", "w") as f:
            f.write(" ".join(cmd) + "\n")
        lines = err.decode(errors="replace").strip().splitlines()
        first = next((l for l in lines if l.strip()), "")
        print(f"{cls} case {n}: {name} [{what}] {mode or 'moe-run'}: exit {rc}; "
              f"kept as {path}\n  {' '.join(cmd)}\n  {first[:300]}")
    # PASSED: in a batch that ended with exit 0 or clean diagnostics.
    print(f"{len(cases)} cases from {len(corpus)} seeds, seed {args.seed}, "
          f"{time.time() - start:.0f} s: " +
          ", ".join(f"{counts[c]} {c}" for c in counts))
    bad = counts["CRASH"] + counts["HANG"] + counts["UNVERIFIED"]
    print(f"{bad} failures")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
