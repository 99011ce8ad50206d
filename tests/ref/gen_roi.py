"""Reference fixtures for tests/test_roi.c (ROIPooling, RoIAlign).

ROIPooling: a plain NumPy implementation written from official-selsa.md §4.1 (MXNet 1.3.0
roi_pooling.cu). It is compared with torchvision.ops.roi_pool below and the comparison is
printed; torchvision 0.14 uses the same round()/floor/ceil rule for valid batch indices, but it
cannot take the negative batch index that MXNet maps to 0 (it would read out of bounds), so the
spec implementation is the reference.

RoIAlign: torchvision.ops.roi_align in float64 (forward, and autograd for the backward). An
independent NumPy implementation of the rules in mmtracking-selsa.md §2.6 (mmcv's
bilinear_interpolate: 0 outside [-1,H]x[-1,W], clamp at 0, y_low >= H-1 collapses to H-1) is
checked against torchvision here, including RoIs that hit those edges: they agree (mmcv's
common_cuda_helper.hpp bilinear_interpolate and torchvision's roi_align_kernel use identical
rules; mmcv is not installed, so the agreement with mmcv itself is by source reading).

Usage: /usr/bin/python3 tests/ref/gen_roi.py <fixture dir>
"""
import math
import os
import sys

import numpy as np
import torch
import torchvision

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _fixture_io import write_fixture  # noqa: E402

torch.set_num_threads(1)
f32 = np.float32


# ------------------------------------------------------------------ ROIPooling from §4.1 ---
def c_round(v):
    """C round(): half away from zero (v is a float32 value; float64 math is exact here)."""
    v = float(v)
    return int(math.copysign(math.floor(abs(v) + 0.5), v))


def roi_pool_spec(feat, rois, ph, pw, s):
    """feat (N,C,H,W) float32, rois (R,5) float32 -> out (R,C,ph,pw), argmax (R,C,ph,pw)."""
    N, C, H, W = feat.shape
    R = rois.shape[0]
    out = np.zeros((R, C, ph, pw), f32)
    am = -np.ones((R, C, ph, pw), np.int32)
    s = f32(s)
    for r in range(R):
        b = int(rois[r, 0])  # (int) truncation
        if b < 0:
            continue  # negative batch index -> 0
        # products x*s in float32 (MXNet Dtype = float)
        xs, ys, xe, ye = (c_round(f32(rois[r, j]) * s) for j in (1, 2, 3, 4))
        rw, rh = max(xe - xs + 1, 1), max(ye - ys + 1, 1)
        bin_w, bin_h = f32(rw) / f32(pw), f32(rh) / f32(ph)  # float32 bin sizes
        for i in range(ph):
            hs = min(max(int(math.floor(f32(i) * bin_h)) + ys, 0), H)
            he = min(max(int(math.ceil(f32(i + 1) * bin_h)) + ys, 0), H)
            for j in range(pw):
                ws = min(max(int(math.floor(f32(j) * bin_w)) + xs, 0), W)
                we = min(max(int(math.ceil(f32(j + 1) * bin_w)) + xs, 0), W)
                if he <= hs or we <= ws:
                    continue  # empty bin -> 0, argmax -1
                blk = feat[b, :, hs:he, ws:we].reshape(C, -1)
                k = blk.argmax(axis=1)  # first maximum in row-major order
                out[r, :, i, j] = blk[np.arange(C), k]
                bw = we - ws
                am[r, :, i, j] = (hs + k // bw) * W + (ws + k % bw)
    return out, am


def roi_pool_backward_spec(dout, am, rois, feat_shape):
    N, C, H, W = feat_shape
    d = np.zeros((N, C, H * W), np.float64)
    R = rois.shape[0]
    for r in range(R):
        b = int(rois[r, 0])
        if b < 0:
            continue
        for c in range(C):
            for a, g in zip(am[r, c].ravel(), dout[r, c].ravel()):
                if a >= 0:
                    d[b, c, a] += g
    return d.reshape(N, C, H, W)


# ------------------------------------------------- RoIAlign from §2.6 (independent check) ---
def bilinear_spec(plane, y, x):
    H, W = plane.shape[-2:]
    if y < -1.0 or y > H or x < -1.0 or x > W:
        return 0.0
    y, x = max(y, 0.0), max(x, 0.0)
    yl, xl = int(y), int(x)
    if yl >= H - 1:
        yl = yh = H - 1
        y = float(yl)
    else:
        yh = yl + 1
    if xl >= W - 1:
        xl = xh = W - 1
        x = float(xl)
    else:
        xh = xl + 1
    ly, lx = y - yl, x - xl
    hy, hx = 1 - ly, 1 - lx
    return (hy * hx * plane[..., yl, xl] + hy * lx * plane[..., yl, xh]
            + ly * hx * plane[..., yh, xl] + ly * lx * plane[..., yh, xh])


def roi_align_spec(feat, rois, ph, pw, s, sr, aligned):
    N, C, H, W = feat.shape
    out = np.zeros((rois.shape[0], C, ph, pw))
    off = 0.5 if aligned else 0.0
    for r, roi in enumerate(rois.astype(np.float64)):
        b = int(roi[0])
        sx, sy, ex, ey = (roi[j] * s - off for j in (1, 2, 3, 4))
        rw, rh = ex - sx, ey - sy
        if not aligned:
            rw, rh = max(rw, 1.0), max(rh, 1.0)
        bh, bw = rh / ph, rw / pw
        gh = sr if sr > 0 else int(math.ceil(rh / ph))
        gw = sr if sr > 0 else int(math.ceil(rw / pw))
        cnt = max(gh * gw, 1)
        for i in range(ph):
            for j in range(pw):
                acc = np.zeros(C)
                for iy in range(max(gh, 0)):
                    y = sy + i * bh + (iy + 0.5) * bh / gh
                    for ix in range(max(gw, 0)):
                        x = sx + j * bw + (ix + 0.5) * bw / gw
                        acc = acc + bilinear_spec(feat[b], y, x)
                out[r, :, i, j] = acc / cnt
    return out


def tv_roi_align(feat, rois, ph, pw, s, sr, aligned, dout, dtype):
    x = torch.tensor(feat, dtype=dtype, requires_grad=True)
    rt = torch.tensor(rois, dtype=dtype)
    y = torchvision.ops.roi_align(x, rt, (ph, pw), spatial_scale=s, sampling_ratio=sr,
                                  aligned=aligned)
    (y * torch.tensor(dout, dtype=dtype)).sum().backward()
    return y.detach().numpy(), x.grad.numpy()


def edge_rois(img_h, img_w, rng, n_random, n_batch, inverted=True):
    """Random RoIs plus hand-made edge cases, in image pixels. inverted=False drops the
    x2 < x1 / y2 < y1 rows: torchvision's CPU kernel cannot run them with adaptive sampling
    when ceil(size/pooled) < 0 (it sizes a vector with the negative grid product and throws;
    mmcv's CUDA kernel outputs 0, mmcv's CPU kernel asserts). tests/test_roi.c checks the C
    behaviour (output 0, no gradient) for that case directly."""
    rows = []
    for _ in range(n_random):
        x1, x2 = np.sort(rng.uniform(-0.2 * img_w, 1.2 * img_w, 2))
        y1, y2 = np.sort(rng.uniform(-0.2 * img_h, 1.2 * img_h, 2))
        rows.append([rng.integers(0, n_batch), x1, y1, x2, y2])
    rows += [
        [0, 0.0, 0.0, img_w - 1.0, img_h - 1.0],            # whole image
        [1 % n_batch, img_w - 20.0, img_h - 12.0, img_w + 30.0, img_h + 25.0],  # bottom-right edge
        [0, -40.0, -35.0, 25.0, 18.0],                        # top-left, partly outside
        [0, -300.0, -300.0, -200.0, -150.0],                  # fully outside (above-left)
        [0, img_w + 50.0, 10.0, img_w + 90.0, 60.0],          # fully outside (right)
        [0, 50.0, 40.0, 50.0, 40.0],                          # zero area
        [0, 90.0, 30.0, 60.0, 70.0],                          # x2 < x1
        [0, 40.0, 80.0, 100.0, 50.0],                         # y2 < y1
        [1 % n_batch, 8.0, 24.0, 40.0, 56.0],                 # x*s on .5 (round half away)
        [0, -8.0, -24.0, 8.0, 24.0],                          # negative .5 rounding
        [0, 3.0, 5.0, 9.0, 11.0],                             # tiny (sub-pixel at 1/16)
        [0, img_w - 17.0, img_h - 17.0, img_w - 0.5, img_h - 0.5],  # last row/col (y_low>=H-1)
    ]
    if not inverted:
        rows = [r for r in rows if r[3] >= r[1] and r[4] >= r[2]]
    return np.array(rows, f32)


def main(out_dir):
    rng = np.random.default_rng(1234)
    fx = {}

    # ---------------- ROIPooling: spec implementation, odd map, scale 1/16, 7x7 ----------------
    for name, (N, C, H, W, ph, pw) in {"pool_a": (2, 3, 13, 17, 7, 7),
                                       "pool_b": (1, 2, 36, 63, 7, 7),
                                       "pool_c": (1, 2, 9, 11, 3, 5)}.items():
        s = 1.0 / 16
        # distinct values spaced 1/64 apart (no ties; finite differences stay inside one bin winner)
        feat = (rng.permutation(N * C * H * W).astype(np.float64) / 64.0 - 10.0).astype(f32)
        feat = feat.reshape(N, C, H, W)
        rois = edge_rois(H * 16, W * 16, rng, 10, N)
        if name == "pool_a":
            rois = np.concatenate([rois, np.array([[-1, 10, 10, 100, 100],
                                                   [-0.5, 10, 10, 100, 100]], f32)])
        out, am = roi_pool_spec(feat, rois, ph, pw, s)
        dout = rng.uniform(-1, 1, out.shape).astype(f32)
        dfeat = roi_pool_backward_spec(dout, am, rois, feat.shape)
        fx.update({f"{name}_feat": feat, f"{name}_rois": rois, f"{name}_out": out,
                   f"{name}_argmax": am, f"{name}_dout": dout, f"{name}_dfeat": dfeat,
                   f"{name}_scale": np.array([s], f32)})
        # torchvision comparison (valid batch indices only)
        valid = rois[:, 0] >= 0
        tv = torchvision.ops.roi_pool(torch.tensor(feat), torch.tensor(rois[valid]), (ph, pw), s)
        print(f"  {name}: |torchvision.roi_pool - spec| max = "
              f"{np.abs(tv.numpy() - out[valid]).max():.3g} over {valid.sum()} RoIs")

    # ---------------- RoIAlign: torchvision float64 + autograd ----------------
    cases = {
        "align_a": dict(N=2, C=3, H=13, W=17, ph=7, pw=7, s=1 / 16, sr=2, aligned=True),
        "align_b": dict(N=2, C=3, H=13, W=17, ph=7, pw=7, s=1 / 16, sr=0, aligned=True),
        "align_c": dict(N=2, C=3, H=13, W=17, ph=7, pw=7, s=1 / 16, sr=2, aligned=False),
        "align_d": dict(N=2, C=3, H=13, W=17, ph=7, pw=7, s=1 / 16, sr=0, aligned=False),
        "align_e": dict(N=1, C=4, H=36, W=63, ph=7, pw=7, s=1 / 16, sr=2, aligned=True),
        "align_f": dict(N=1, C=2, H=9, W=11, ph=3, pw=5, s=0.5, sr=0, aligned=True),
    }
    for name, c in cases.items():
        N, C, H, W, ph, pw, s = c["N"], c["C"], c["H"], c["W"], c["ph"], c["pw"], c["s"]
        feat = rng.uniform(-1, 1, (N, C, H, W)).astype(f32)
        rois = edge_rois(H / s, W / s, rng, 14, N, inverted=c["s"] < 0.1 or c["sr"] > 0)
        dout = rng.uniform(-1, 1, (rois.shape[0], C, ph, pw)).astype(f32)
        out64, d64 = tv_roi_align(feat, rois, ph, pw, s, c["sr"], c["aligned"], dout,
                                  torch.float64)
        out32, d32 = tv_roi_align(feat, rois, ph, pw, s, c["sr"], c["aligned"], dout,
                                  torch.float32)
        spec = roi_align_spec(feat.astype(np.float64), rois, ph, pw, s, c["sr"], c["aligned"])
        err_spec = np.abs(spec - out64).max()
        assert err_spec < 1e-9, f"{name}: NumPy spec RoIAlign disagrees with torchvision {err_spec}"
        print(f"  {name}: spec-vs-torchvision {err_spec:.2g}; torchvision fp32-vs-fp64 "
              f"out {np.abs(out32 - out64).max():.2g} dfeat {np.abs(d32 - d64).max():.2g}")
        fx.update({f"{name}_feat": feat, f"{name}_rois": rois, f"{name}_dout": dout,
                   f"{name}_out": out64, f"{name}_dfeat": d64,
                   f"{name}_params": np.array([ph, pw, c["sr"], int(c["aligned"])], np.int32),
                   f"{name}_scale": np.array([s], f32)})

    write_fixture(os.path.join(out_dir, "roi.slfx"), fx)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "build/fixtures")
