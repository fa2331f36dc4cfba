#!/usr/bin/env python3
"""Checks a Chrome trace-event file moe-run --trace wrote.

Independent of the writer: reads the JSON and checks what the format and
our schedule promise. Every rank is a process named "rank R" with one
thread per stream ("stream S"); every device op and collective is a
complete event ("X") with a non-negative duration and its bytes; spans on
one stream never overlap (a stream runs one task at a time); every flow
arrow starts at an event record ("s") and ends at a wait of the same event
("f") on the same rank, no earlier than it starts. Prints a summary:
ranks, streams per rank, spans, flows, and the op names seen.

    check_trace.py trace.json [--ranks N] [--expect-op NAME ...]
"""
import argparse
import collections
import json
import sys


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("trace")
    ap.add_argument("--ranks", type=int)
    ap.add_argument("--expect-op", action="append", default=[])
    ap.add_argument("--expect-stream", type=int, action="append", default=[])
    a = ap.parse_args()
    with open(a.trace) as f:
        events = json.load(f)["traceEvents"]
    problems = []
    procs, threads = {}, collections.defaultdict(dict)
    spans = collections.defaultdict(list)
    starts, finishes = {}, {}
    names = set()
    for e in events:
        ph, pid = e["ph"], e["pid"]
        if ph == "M" and e["name"] == "process_name":
            procs[pid] = e["args"]["name"]
        elif ph == "M" and e["name"] == "thread_name":
            threads[pid][e["tid"]] = e["args"]["name"]
        elif ph == "X":
            if e["dur"] < 0 or e["ts"] < 0:
                problems.append(f"negative time: {e}")
            if not isinstance(e.get("args", {}).get("bytes"), int):
                problems.append(f"span without bytes: {e['name']}")
            spans[(pid, e["tid"])].append((e["ts"], e["ts"] + e["dur"], e["name"]))
            names.add(e["name"])
        elif ph == "s":
            starts[(pid, e["id"])] = e
        elif ph == "f":
            finishes[(pid, e["id"])] = e
    for pid, name in procs.items():
        if name != f"rank {pid}":
            problems.append(f"process {pid} is named {name!r}")
    for (pid, tid), s in spans.items():
        if threads[pid].get(tid) != f"stream {tid}":
            problems.append(f"rank {pid}: no thread name for stream {tid}")
        s.sort()
        for (b0, e0, n0), (b1, e1, n1) in zip(s, s[1:]):
            if b1 < e0 - 1e-3:
                problems.append(f"rank {pid} stream {tid}: {n1} starts at "
                                f"{b1} before {n0} ends at {e0}")
    for key, s in starts.items():
        f = finishes.get(key)
        if f is None:
            continue    # an event nothing waited for
        if f["ts"] < s["ts"] - 1e-3:
            problems.append(f"flow {key} ends before it starts")
    for key in finishes:
        if key not in starts:
            problems.append(f"flow {key} ends without a start")
    if a.ranks is not None and sorted(procs) != list(range(a.ranks)):
        problems.append(f"ranks {sorted(procs)}, expected {a.ranks}")
    for op in a.expect_op:
        if op not in names:
            problems.append(f"no span of {op}")
    for stream in a.expect_stream:
        if not any(tid == stream for (_, tid) in spans):
            problems.append(f"no span on stream {stream}")
    streams = sorted({tid for (_, tid) in spans})
    flows = sum(1 for k in starts if k in finishes)
    print(f"ranks {len(procs)}, streams {streams}, spans "
          f"{sum(len(s) for s in spans.values())}, flows {flows}")
    if problems:
        print("check_trace: FAIL")
        for p in problems[:20]:
            print("  " + p)
        return 1
    print("check_trace: PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
