#!/usr/bin/python3
"""Renders a moe-run --trace file as a timeline PNG: one row per (rank,
stream), every span a bar labelled with its op, event flows as arrows.
Needs matplotlib (Debian: python3-matplotlib); run on demand.

    scripts/trace_png.py trace.json out.png [--title TEXT]
"""
import argparse
import json

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

COLORS = {"matmul": "#4c72b0", "swiglu": "#55a868", "quant": "#c44e52",
          "all_": "#8172b2", "reduce": "#8172b2", "distribute": "#8172b2",
          "dispatch": "#8172b2", "combine": "#8172b2", "gating": "#ccb974",
          "routing": "#64b5cd", "unpermute": "#64b5cd",
          "npu.wait": "#e0e0e0", "npu.record": "#e0e0e0"}


def color(name):
    for key, c in COLORS.items():
        if key in name:
            return c
    return "#999999"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("trace")
    ap.add_argument("png")
    ap.add_argument("--title", default="moe-run timeline")
    a = ap.parse_args()
    with open(a.trace) as f:
        events = json.load(f)["traceEvents"]
    spans = [e for e in events if e["ph"] == "X"]
    rows = sorted({(e["pid"], e["tid"]) for e in spans})
    row = {key: i for i, key in enumerate(rows)}
    t0 = min(e["ts"] for e in spans)
    fig, ax = plt.subplots(figsize=(14, 0.6 * len(rows) + 1.5))
    for e in spans:
        y = row[(e["pid"], e["tid"])]
        ax.barh(y, e["dur"], left=e["ts"] - t0, height=0.6,
                color=color(e["name"]), edgecolor="black", linewidth=0.3)
    flows = {}
    for e in events:
        if e["ph"] in ("s", "f"):
            flows.setdefault((e["pid"], e["id"]), {})[e["ph"]] = e
    for ends in flows.values():
        if "s" in ends and "f" in ends:
            s, f = ends["s"], ends["f"]
            ax.annotate("", xy=(f["ts"] - t0, row[(f["pid"], f["tid"])]),
                        xytext=(s["ts"] - t0, row[(s["pid"], s["tid"])]),
                        arrowprops=dict(arrowstyle="->", color="#d62728",
                                        lw=0.6))
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels([f"rank {p} / stream {t}" for p, t in rows])
    ax.invert_yaxis()
    ax.set_xlabel("time (us)")
    ax.set_title(a.title)
    handles = [plt.Rectangle((0, 0), 1, 1, color=c) for c in
               ("#4c72b0", "#55a868", "#c44e52", "#8172b2", "#ccb974",
                "#64b5cd", "#e0e0e0", "#999999")]
    ax.legend(handles, ["matmul", "swiglu", "quantize", "communication",
                        "gating", "routing", "event wait", "other"],
              loc="upper right", fontsize=7)
    fig.tight_layout()
    fig.savefig(a.png, dpi=110)


if __name__ == "__main__":
    main()
