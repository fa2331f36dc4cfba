#!/usr/bin/env python3
"""Feeds truncated and byte-mutated copies of the examples to moe-opt.

Every run must end with exit code 0 (the mutant still parses) or 1 with a
diagnostic on stderr; a signal, an abort, another exit code, a silent
failure or a hang (timeout) is a bug. Mutants are seeded, so a failure is
reproducible; the failing mutant is kept under --keep-dir.

    mutate_examples.py MOE_OPT EXAMPLE... [--mutants N] [--seed S]
"""
import argparse
import os
import random
import subprocess
import sys
import tempfile

NASTY = b"0123456789<>()[]{}?x:%#!\",=-+.e \n\x00\xff"


def mutants(data: bytes, rng: random.Random, count: int):
    """Yields (description, bytes) pairs."""
    # Truncations at evenly spaced offsets, and at a few random ones.
    cuts = sorted({len(data) * i // 24 for i in range(1, 24)} |
                  {rng.randrange(len(data)) for _ in range(8)})
    for cut in cuts:
        yield f"truncate at {cut}", data[:cut]
    for i in range(count):
        buf = bytearray(data)
        edits = []
        for _ in range(rng.randint(1, 3)):
            pos = rng.randrange(len(buf))
            kind = rng.choice(("replace", "insert", "delete", "digit"))
            if kind == "replace":
                buf[pos] = rng.choice(NASTY)
            elif kind == "insert":
                buf[pos:pos] = bytes([rng.choice(NASTY)])
            elif kind == "delete":
                del buf[pos]
            else:
                # Numbers drive shapes and attributes: make them extreme.
                buf[pos:pos] = rng.choice((b"0", b"-1", b"9999999999", b"1"))
            edits.append(f"{kind}@{pos}")
        yield f"mutant {i} ({', '.join(edits)})", bytes(buf)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("moe_opt")
    parser.add_argument("examples", nargs="+")
    parser.add_argument("--mutants", type=int, default=150)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--timeout", type=float, default=20.0)
    parser.add_argument("--keep-dir", default=tempfile.gettempdir())
    args = parser.parse_args()

    failures = 0
    runs = 0
    for path in args.examples:
        with open(path, "rb") as f:
            data = f.read()
        rng = random.Random(f"{args.seed}:{os.path.basename(path)}")
        count = args.mutants if len(data) < 20000 else max(10, args.mutants // 10)
        for what, text in mutants(data, rng, count):
            for extra in ([], ["-canonicalize"]):
                runs += 1
                try:
                    proc = subprocess.run([args.moe_opt, "-", "-o", os.devnull] + extra,
                                          input=text, capture_output=True,
                                          timeout=args.timeout)
                    rc, err = proc.returncode, proc.stderr
                except subprocess.TimeoutExpired:
                    rc, err = "timeout", b""
                ok = rc == 0 or (rc == 1 and b"error" in err)
                if not ok:
                    failures += 1
                    keep = os.path.join(args.keep_dir, f"mutant-{failures}.mlir")
                    with open(keep, "wb") as f:
                        f.write(text)
                    print(f"FAIL {os.path.basename(path)} {what} {' '.join(extra)}: "
                          f"exit {rc}; kept as {keep}\n{err.decode(errors='replace')[-2000:]}")
    print(f"{runs} runs, {failures} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
