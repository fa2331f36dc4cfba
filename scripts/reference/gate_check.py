#!/usr/bin/python3
"""Checks that the comparison of a gated-shared-expert case can fail: the
output of a case run by run_case.py --shared-gate (WORK_DIR/case,
WORK_DIR/out) must match the reference and must NOT match the reference
of the same layer with Qwen2-MoE's shared_expert_gate left out (nor with
the gate's factor applied twice). Prints one line per rank and PASS / FAIL.

    gate_check.py WORK_DIR
"""

import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_case  # noqa: E402
import run_case  # noqa: E402
from dense_moe import dense_moe, load_layer  # noqa: E402


def main():
    work = sys.argv[1]
    case_dir = os.path.join(work, "case")
    case = make_case.load_case(case_dir)
    s = make_case.CaseSpec(**case["spec"])
    layer = load_layer(case_dir)
    gate = layer.shared_gate
    assert gate is not None, "not a --shared-gate case"

    def wrong_outputs(r):
        x = np.load(os.path.join(case_dir, f"x.rank{r}.npy")).astype(np.float32)
        logits = np.load(os.path.join(case_dir, f"logits.rank{r}.npy"))
        wrong = []
        for name, wrong_gate in (("no gate", None), ("gate twice", 2 * gate)):
            layer.shared_gate = wrong_gate
            wrong.append((name, dense_moe(x, logits, layer)))
        layer.shared_gate = gate
        return wrong

    return run_case.check_rejects(work, s.world,
                                  case.get("rtol", run_case.RTOL),
                                  wrong_outputs)


if __name__ == "__main__":
    sys.exit(main())
