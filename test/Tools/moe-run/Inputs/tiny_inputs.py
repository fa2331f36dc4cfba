"""Writes the inputs of tiny_layer.mlir (and its 2-rank variant) to DIR.

Expert 0: W13 = [[1, 2], [0, 0]] (gate column, up column), W2 = [[1, 0.5]].
Expert 1: W13 = [[0, 0], [1, 1]], W2 = [[2, 0]].
Tokens x = [1, 0] and [0, 1]; logits [ln 3, 0] -> softmax [0.75, 0.25].
"""
import math
import sys

import numpy as np

out = sys.argv[1]
x = np.array([[1, 0], [0, 1]], np.float32)
logits = np.array([[math.log(3), 0]] * 2, np.float32)
w13 = np.array([[[1, 2], [0, 0]], [[0, 0], [1, 1]]], np.float32)
w2 = np.array([[[1, 0.5]], [[2, 0]]], np.float32)
np.save(f"{out}/x.npy", x)
np.save(f"{out}/logits.npy", logits)
np.save(f"{out}/w13.npy", w13)
np.save(f"{out}/w2.npy", w2)
# Two ranks (DP 2, EP): one token and one expert each.
for r in range(2):
    np.save(f"{out}/x.rank{r}.npy", x[r:r + 1])
    np.save(f"{out}/logits.rank{r}.npy", logits[r:r + 1])
    np.save(f"{out}/w13.rank{r}.npy", w13[r:r + 1])
    np.save(f"{out}/w2.rank{r}.npy", w2[r:r + 1])
# Inputs that are wrong on purpose.
np.save(f"{out}/x_f64.npy", x.astype(np.float64))
np.save(f"{out}/x_h3.npy", np.zeros((2, 3), np.float32))
np.save(f"{out}/x_i32.npy", x.astype(np.int32))
np.save(f"{out}/x_u8.npy", np.zeros((2, 1), np.uint8))   # packed int4
np.save(f"{out}/u8_scalar.npy", np.uint8(3))             # packed, no dims
header = b"{'descr': '|u1', 'fortran_order': False, 'shape': (9223372036854775807,), }"
header += b" " * (63 - (10 + len(header)) % 64) + b"\n"
with open(f"{out}/u8_huge.npy", "wb") as f:  # twice the bytes overflow
    f.write(b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header)
with open(f"{out}/broken.npy", "wb") as f:
    f.write(b"\x93NUMPY\x01\x00")
# Tensor-parallel ranks that (wrongly) hold different tokens.
np.save(f"{out}/x_tp0.npy", x)
np.save(f"{out}/x_tp1.npy", x[:1])
np.save(f"{out}/logits_tp0.npy", logits)
np.save(f"{out}/logits_tp1.npy", logits[:1])
