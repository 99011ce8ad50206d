"""Reference fixtures for the dense group (tests/test_dense.c): torch.nn.functional.conv2d /
linear forward and autograd gradients, evaluated in float64 on float32 inputs.

Usage: /usr/bin/python3 tests/ref/gen_dense.py <fixture dir>   (writes dense.slfx)

Per conv case i (entries "c{i}_*"):
  p   int64 [N, Cin, H, W, Cout, kh, kw, sh, sw, ph, pw, dh, dw, groups, has_bias, relu]
  x (N,Cin,H,W), w (Cout,Cin/groups,kh,kw), b (Cout) float32 inputs (b zeros if has_bias=0)
  y   forward output act(conv(x, w) + b) (float64)
  g   upstream gradient dL/dy_pre, float32 (L = sum(g * conv(x, w, b)), no activation)
  dx, dw, db  autograd gradients of L (float64)
Per linear case j ("l{j}_*"): p int64 [N, C, H, W, Out, has_bias, relu], x, w (Out, C*H*W),
  b, y, g, dx, dw, db likewise.
Also "noise_conv" / "noise_linear": the max |fp32 torch − fp64| seen over the cases (for the
tolerance comments in the test).
"""
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _fixture_io import write_fixture  # noqa: E402

torch.set_num_threads(1)

# (N, Cin, H, W, Cout, kh, kw, sh, sw, ph, pw, dh, dw, groups, bias, relu)
CONV_CASES = [
    (1, 3, 13, 17, 4, 7, 7, 2, 2, 3, 3, 1, 1, 1, 1, 1),   # conv1-like 7x7 s2 p3, odd size
    (2, 4, 13, 17, 6, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 0),   # 3x3 s1 p1, N=2, bias
    (1, 8, 11, 9, 8, 3, 3, 1, 1, 2, 2, 2, 2, 1, 0, 1),    # dilation 2 (res5), no bias, relu
    (2, 6, 7, 5, 5, 1, 1, 1, 1, 0, 0, 1, 1, 1, 1, 0),     # 1x1 s1 p0 (direct GEMM)
    (1, 6, 13, 17, 8, 1, 1, 2, 2, 0, 0, 1, 1, 1, 0, 0),   # 1x1 s2 (strided gather)
    (2, 4, 9, 10, 6, 3, 3, 2, 2, 1, 1, 1, 1, 2, 1, 1),    # groups 2, stride 2
    (1, 8, 6, 7, 8, 3, 3, 1, 1, 1, 1, 1, 1, 4, 1, 0),     # groups 4
    (1, 5, 10, 8, 3, 3, 1, 2, 1, 1, 0, 1, 2, 1, 1, 0),    # 3x1 kernel, anisotropic stride/pad/dil
    (1, 2, 5, 4, 3, 3, 3, 1, 1, 3, 3, 1, 1, 1, 0, 0),     # pad 3 > kernel half
    (2, 4, 6, 5, 6, 1, 1, 1, 1, 0, 0, 1, 1, 2, 1, 1),     # 1x1 direct with groups 2, relu
    (1, 4, 12, 12, 4, 3, 3, 2, 2, 0, 0, 1, 1, 1, 1, 0),   # pad 0, stride 2, even size
    (1, 6, 9, 11, 4, 3, 3, 1, 2, 2, 1, 2, 1, 2, 0, 1),    # groups 2 + dilation (2,1) + stride (1,2)
]

# (N, C, H, W, Out, bias, relu)
LINEAR_CASES = [
    (5, 3, 2, 4, 7, 1, 1),
    (3, 10, 1, 1, 4, 0, 0),
    (2, 16, 7, 7, 32, 1, 0),
    (1, 1, 1, 1, 1, 1, 1),
]


def main():
    out_dir = sys.argv[1] if len(sys.argv) > 1 else "build/fixtures"
    rng = np.random.default_rng(20261124)
    ent = {}
    noise_conv = 0.0
    for i, c in enumerate(CONV_CASES):
        n, cin, h, w, cout, kh, kw, sh, sw, ph, pw, dh, dw, groups, has_b, relu = c
        x = rng.uniform(-1, 1, (n, cin, h, w)).astype(np.float32)
        wt = rng.uniform(-1, 1, (cout, cin // groups, kh, kw)).astype(np.float32)
        b = (rng.uniform(-1, 1, cout) if has_b else np.zeros(cout)).astype(np.float32)
        kwargs = dict(stride=(sh, sw), padding=(ph, pw), dilation=(dh, dw), groups=groups)
        xd = torch.tensor(x, dtype=torch.float64, requires_grad=True)
        wd = torch.tensor(wt, dtype=torch.float64, requires_grad=True)
        bd = torch.tensor(b, dtype=torch.float64, requires_grad=True)
        yd = F.conv2d(xd, wd, bd if has_b else None, **kwargs)
        g = rng.uniform(-1, 1, tuple(yd.shape)).astype(np.float32)
        (yd * torch.tensor(g, dtype=torch.float64)).sum().backward()
        y = torch.relu(yd) if relu else yd
        y32 = F.conv2d(torch.tensor(x), torch.tensor(wt), torch.tensor(b) if has_b else None, **kwargs)
        if relu:
            y32 = torch.relu(y32)
        noise_conv = max(noise_conv, float((y32.double() - y.detach()).abs().max()))
        pre = f"c{i}_"
        ent[pre + "p"] = np.array(c, dtype=np.int64)
        ent[pre + "x"] = x
        ent[pre + "w"] = wt
        ent[pre + "b"] = b
        ent[pre + "y"] = y.detach().numpy()
        ent[pre + "g"] = g
        ent[pre + "dx"] = xd.grad.numpy()
        ent[pre + "dw"] = wd.grad.numpy()
        ent[pre + "db"] = (bd.grad.numpy() if has_b else np.zeros(cout))
    noise_lin = 0.0
    for j, c in enumerate(LINEAR_CASES):
        n, ch, h, w, out, has_b, relu = c
        k = ch * h * w
        x = rng.uniform(-1, 1, (n, ch, h, w)).astype(np.float32)
        wt = rng.uniform(-1, 1, (out, k)).astype(np.float32)
        b = (rng.uniform(-1, 1, out) if has_b else np.zeros(out)).astype(np.float32)
        xd = torch.tensor(x, dtype=torch.float64, requires_grad=True)
        wd = torch.tensor(wt, dtype=torch.float64, requires_grad=True)
        bd = torch.tensor(b, dtype=torch.float64, requires_grad=True)
        yd = F.linear(torch.flatten(xd, 1), wd, bd if has_b else None)
        g = rng.uniform(-1, 1, tuple(yd.shape)).astype(np.float32)
        (yd * torch.tensor(g, dtype=torch.float64)).sum().backward()
        y = torch.relu(yd) if relu else yd
        y32 = F.linear(torch.flatten(torch.tensor(x), 1), torch.tensor(wt),
                       torch.tensor(b) if has_b else None)
        if relu:
            y32 = torch.relu(y32)
        noise_lin = max(noise_lin, float((y32.double() - y.detach()).abs().max()))
        pre = f"l{j}_"
        ent[pre + "p"] = np.array(c, dtype=np.int64)
        ent[pre + "x"] = x
        ent[pre + "w"] = wt
        ent[pre + "b"] = b
        ent[pre + "y"] = y.detach().numpy()
        ent[pre + "g"] = g
        ent[pre + "dx"] = xd.grad.numpy()
        ent[pre + "dw"] = wd.grad.numpy()
        ent[pre + "db"] = (bd.grad.numpy() if has_b else np.zeros(out))
    ent["n_conv"] = np.array([len(CONV_CASES)], dtype=np.int64)
    ent["n_linear"] = np.array([len(LINEAR_CASES)], dtype=np.int64)
    ent["noise_conv"] = np.array([noise_conv])
    ent["noise_linear"] = np.array([noise_lin])
    write_fixture(os.path.join(out_dir, "dense.slfx"), ent)
    print(f"dense.slfx: {len(CONV_CASES)} conv + {len(LINEAR_CASES)} linear cases; "
          f"fp32 torch noise vs fp64: conv {noise_conv:.2e}, linear {noise_lin:.2e}")


if __name__ == "__main__":
    main()
