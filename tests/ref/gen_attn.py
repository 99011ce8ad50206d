"""Reference fixtures for tests/test_attn.c (SELSA attention, both variants).

Reference = PyTorch float64 with autograd, written from the spec formulas, not from the C code:
  official SELSA (official-selsa.md §4.2): one head, S = Q·Kᵀ/sqrt(1024), A = softmax over keys,
      Z = A·X with the values = raw X (q and k come from separate inputs here);
  MMTracking SelsaAggregator (mmtracking-selsa.md §2.5): 16 heads from view(n, 16, d),
      softmax over the reference axis, scale 1/sqrt(d) (= 1/8 for d = 64).
For each case the fixture holds q, k, v, dout (float32) and out, prob, dq, dk, dv (float64).

Usage: /usr/bin/python3 tests/ref/gen_attn.py <fixture dir>
"""
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _fixture_io import write_fixture  # noqa: E402

torch.set_num_threads(1)


def attention(q, k, v, heads, scale):
    """[N,D],[M,D],[M,Dv] -> out [N,Dv], prob [G,N,M]; heads = contiguous channel groups."""
    N, D = q.shape
    M, Dv = v.shape
    qh = q.view(N, heads, D // heads).permute(1, 0, 2)      # [G, N, d]
    kh = k.view(M, heads, D // heads).permute(1, 0, 2)      # [G, M, d]
    vh = v.view(M, heads, Dv // heads).permute(1, 0, 2)     # [G, M, dv]
    prob = torch.softmax(torch.bmm(qh, kh.transpose(1, 2)) * scale, dim=2)   # [G, N, M]
    out = torch.bmm(prob, vh).permute(1, 0, 2).reshape(N, Dv)
    return out, prob


def case(rng, N, M, D, Dv, heads, scale, amp, official):
    q = (rng.standard_normal((N, D)) * amp).astype(np.float32)
    k = (rng.standard_normal((M, D)) * amp).astype(np.float32)
    v = rng.standard_normal((M, Dv)).astype(np.float32)   # official: v = raw RoI features X
    dout = rng.standard_normal((N, Dv)).astype(np.float32)
    res = {}
    for tag, dt in (("64", torch.float64), ("32", torch.float32)):
        tq, tk, tv = (torch.tensor(a, dtype=dt, requires_grad=True) for a in (q, k, v))
        if official:
            # official form: Z = softmax(Q Kᵀ / 32) · X with X the raw features; the 1/32 is
            # sqrt(1024) whatever D is in the test
            s = torch.softmax(tq @ tk.t() / 32.0, dim=1)
            out, prob = s @ tv, s[None]
            o2, p2 = attention(tq, tk, tv, 1, scale)
            assert torch.allclose(o2, out) and torch.allclose(p2, prob)
        else:
            out, prob = attention(tq, tk, tv, heads, scale)
        (out * torch.tensor(dout, dtype=dt)).sum().backward()
        res[tag] = [t.detach().numpy() for t in (out, prob, tq.grad, tk.grad, tv.grad)]
    noise = [np.abs(a - b).max() / max(np.abs(b).max(), 1e-30)
             for a, b in zip(res["32"], res["64"])]
    out, prob, dq, dk, dv = res["64"]
    return dict(q=q, k=k, v=v, dout=dout, out=out, prob=prob.reshape(heads, N, M, 1), dq=dq,
                dk=dk, dv=dv, meta=np.array([heads], np.int32),
                scale=np.array([scale], np.float32)), noise


def main(out_dir):
    rng = np.random.default_rng(4321)
    cases = {
        # official SELSA: G = 1, scale 1/sqrt(1024), D = 1024, N != M
        "official": dict(N=40, M=56, D=1024, Dv=1024, heads=1, scale=1 / 32.0, amp=1.3,
                         official=True),
        # MMTracking: G = 16, d = 64, scale 1/8, N != M
        "mmtrack": dict(N=24, M=45, D=1024, Dv=1024, heads=16, scale=1 / 8.0, amp=1.5,
                        official=False),
        # non-square heads: D != Dv, small odd sizes
        "rect": dict(N=9, M=4, D=32, Dv=48, heads=4, scale=0.3, amp=2.0, official=False),
        "single": dict(N=1, M=1, D=6, Dv=3, heads=3, scale=1.0, amp=1.0, official=False),
    }
    fx = {}
    for name, c in cases.items():
        entries, noise = case(rng, **c)
        print(f"  {name}: torch fp32-vs-fp64 max rel (out, prob, dq, dk, dv) = "
              + ", ".join(f"{x:.2g}" for x in noise))
        fx.update({f"{name}_{k}": v for k, v in entries.items()})
    write_fixture(os.path.join(out_dir, "attn.slfx"), fx)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "build/fixtures")
