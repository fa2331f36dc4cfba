#!/usr/bin/python3
"""Checks that the comparison of a quant-scheme case can fail: the layer's
output of a case run by run_case.py (WORK_DIR/case, WORK_DIR/out) must
match the reference of its scheme and must NOT match the reference of the
same weights with the activation quantization left out (fp8 schemes; for
weight-only schemes: with the dequantized weights kept in float32, which
only f32-tolerance cases can tell apart). Prints one line per rank and
PASS / FAIL.

    quant_check.py WORK_DIR
"""

import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_case  # noqa: E402
import quant_schemes  # noqa: E402
import run_case  # noqa: E402
from dense_moe import dense_moe  # noqa: E402


def main():
    work = sys.argv[1]
    case = make_case.load_case(os.path.join(work, "case"))
    s = make_case.CaseSpec(**case["spec"])
    rng = np.random.default_rng(s.seed)
    layer = make_case.make_layer(s, rng)
    hot = int(rng.integers(s.experts))
    make_case.replica_layout(s, rng, hot)
    counts = make_case.token_counts(s, rng)
    groups = [make_case.make_tokens(s, layer, rng, n, hot) for n in counts]
    a, ag, w, shape = quant_schemes.SCHEMES[s.quant]
    # The wrong numerics: no activation quantization, or f32 weights.
    quant_schemes.SCHEMES[s.quant] = ((None, None, w, shape) if a else
                                      (a, ag, w, shape))
    if a is None:
        layer.experts.dtype = "f32"

    def wrong_outputs(r):
        x, logits = groups[s.token_group(r)]
        wrong = dense_moe(x, logits, layer)
        if a is None:
            wrong = wrong.astype(np.float64)
        return [("without the scheme's rounding", wrong)]

    return run_case.check_rejects(work, s.world,
                                  case.get("rtol", run_case.RTOL),
                                  wrong_outputs)


if __name__ == "__main__":
    sys.exit(main())
