"""Peer: PyTorch with a HuggingFace-style loop over the experts.

Like transformers' Qwen3MoeSparseMoeBlock / MixtralSparseMoeBlock: a one-hot
expert mask, then for every expert that got tokens gather its rows, run the
SwiGLU MLP and index_add the weighted result. Run with /usr/bin/python3.
"""
import torch
import torch.nn.functional as F

from common import make_weights, parse_args, routing, timed


def main():
    a = parse_args(__doc__.splitlines()[0])
    x, w13, w2 = (torch.from_numpy(t) for t in make_weights(a))
    inter = a.inter

    def forward(it):
        ids, w = (torch.from_numpy(t) for t in routing(a, it))
        out = torch.zeros_like(x)
        mask = F.one_hot(ids, a.experts).permute(2, 1, 0)  # [E, K, T]
        hit = torch.nonzero(mask.sum(dim=(-1, -2)) > 0).flatten().tolist()
        for e in hit:
            k, tok = torch.where(mask[e])
            h = x[tok] @ w13[e]
            act = F.silu(h[:, :inter]) * h[:, inter:]
            out.index_add_(0, tok, (act @ w2[e]) * w[tok, k, None])
        return out

    with torch.no_grad():
        timed(a, f"torch-hf-loop (threads {torch.get_num_threads()})", forward)


if __name__ == "__main__":
    main()
