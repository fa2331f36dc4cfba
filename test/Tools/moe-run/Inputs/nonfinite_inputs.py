"""Writes NaN/Inf variants of tiny_inputs.py's two-rank inputs to DIR.

Rank 0 keeps token [1, 0] with logits [ln 3, 0] (expert 0 with weight 0.75:
output [1.09659, 0.548294]). Rank 1 holds token [0, 1]:
  logits_pinf  [0, +inf]   softmax's limit: expert 1 with probability 1,
                           expert 0 with 0: 1 * W2_1 . (silu(1) * 1)
                           = [2 * 0.7310586, 0] = [1.46212, 0]
  logits_minf  [-inf, 0]   the same probabilities: [1.46212, 0]
  logits_none  [-inf, -inf] softmax undefined: an error
  logits_nan   [nan, 0]    an error
  x_nan        token [0, nan]: an error
  x_big        rank 0's token is [3e38, 0]: finite, but W13 . x overflows
"""
import math
import sys

import numpy as np

out = sys.argv[1]
inf, nan = np.inf, np.nan
rank0_logits = np.array([[math.log(3), 0]], np.float32)
for name, row in (("pinf", [0, inf]), ("minf", [-inf, 0]),
                  ("none", [-inf, -inf]), ("nan", [nan, 0])):
    np.save(f"{out}/logits_{name}.rank0.npy", rank0_logits)
    np.save(f"{out}/logits_{name}.rank1.npy", np.array([row], np.float32))
np.save(f"{out}/x_nan.rank0.npy", np.array([[1, 0]], np.float32))
np.save(f"{out}/x_nan.rank1.npy", np.array([[0, nan]], np.float32))
np.save(f"{out}/x_big.rank0.npy", np.array([[3e38, 0]], np.float32))
np.save(f"{out}/x_big.rank1.npy", np.array([[0, 1]], np.float32))
