"""Peer: NumPy, rows sorted by expert, one matmul per expert group.

Run with /usr/bin/python3 (Debian's python3-numpy, OpenBLAS).
"""
import numpy as np

from common import make_weights, parse_args, routing, timed


def main():
    a = parse_args(__doc__.splitlines()[0])
    x, w13, w2 = make_weights(a)
    inter = a.inter

    def forward(it):
        ids, w = routing(a, it)
        flat = ids.reshape(-1)
        order = np.argsort(flat, kind="stable")
        rows = x[order // a.top_k]
        counts = np.bincount(flat, minlength=a.experts)
        y = np.empty((rows.shape[0], a.hidden), np.float32)
        start = 0
        for e in np.nonzero(counts)[0]:
            end = start + counts[e]
            h = rows[start:end] @ w13[e]
            act = h[:, :inter] / (1 + np.exp(-h[:, :inter])) * h[:, inter:]
            y[start:end] = act @ w2[e]
            start = end
        out = np.zeros_like(x)
        weights = w.reshape(-1)[order]
        np.add.at(out, order // a.top_k, y * weights[:, None])
        return out

    timed(a, "numpy-grouped", forward)


if __name__ == "__main__":
    main()
