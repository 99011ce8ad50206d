"""Reference fixtures for the elementwise / pooling / loss / optimiser group (tests/test_elem.c).

Usage: /usr/bin/python3 tests/ref/gen_elem.py <fixture dir>   (writes elem.slfx)

Inputs are float32; references are evaluated in float64 (torch double or NumPy) unless noted.
PyTorch implements the same math for: relu, max_pool2d (floor / ceil_mode), softmax, sigmoid,
cross_entropy (ignore_index; reduction sum / sum÷N / mean = MXNet 'valid'),
binary_cross_entropy_with_logits, mmdet smooth-L1 (written in torch as in mmdet) and
torch.optim.SGD. MXNet-only semantics are written in NumPy from the spec text
(official-selsa.md §2.2 pool1, §8.1, §8.4): pooling_convention 'valid'/'full', smooth_l1(σ),
SGD sgd_mom_update, BatchNorm use_global_stats, SoftmaxOutput normalization='valid'.

Entries (prefix per op):
  relu_x, relu_y, relu_g, relu_dx
  pool{i}_p int64 [N,C,H,W,kh,kw,sh,sw,ph,pw,convention], pool{i}_x, _y, _am (int32), _g, _dx
  smx_x, smx_y, smx_g, smx_dx          softmax over C of (N,C,H,W)
  sig_x, sig_y, sig_g, sig_dx
  ce{i}_x (N,C,H,W), _lab int32 (N·H·W), _p int64 [N,C,H,W], _gs grad_scale,
        _loss_none/_loss_batch/_loss_valid (float64, already × grad_scale), _pos (per position),
        _prob, _dx_none/_dx_batch/_dx_valid
  bce_x, bce_t, bce_w, bce_scale, bce_loss, bce_loss_nw (no weights), bce_elem, bce_dx, bce_dx_nw
  sl1{i}_x, _t, _w, _p float64 [kind, sigma, beta, scale], _loss, _elem, _dx
  sgdt_* torch.optim.SGD trajectory, sgdm_* MXNet trajectory (NumPy)
  bn_* frozen BN affine (torch F.batch_norm eval) and fold into a conv (NumPy, float64)
"""
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _fixture_io import write_fixture  # noqa: E402

torch.set_num_threads(1)
rng = np.random.default_rng(20240611)
ent = {}


def f32(a):
    return np.asarray(a, dtype=np.float32)


def t64(a):
    return torch.tensor(np.asarray(a, dtype=np.float64), requires_grad=True)


# ---------------------------------------------------------------- ReLU (values away from the kink)
x = f32(rng.uniform(-2, 2, (2, 3, 5, 7)))
x[np.abs(x) < 1e-2] = 0.5
g = f32(rng.uniform(-1, 1, x.shape))
xt = t64(x)
y = F.relu(xt)
y.backward(torch.tensor(g, dtype=torch.float64))
ent.update(relu_x=x, relu_y=y.detach(), relu_g=g, relu_dx=xt.grad)

# ---------------------------------------------------------------- max-pool
# convention: 0 MXNet valid, 1 MXNet full, 2 torch floor, 3 torch ceil
POOL_CASES = [
    (2, 3, 9, 11, 3, 3, 2, 2, 1, 1, 2),   # torch floor, ResNet stem
    (1, 2, 10, 13, 3, 3, 2, 2, 1, 1, 3),  # torch ceil
    (1, 2, 7, 9, 2, 2, 2, 2, 0, 0, 3),    # torch ceil, odd sizes, no pad
    (1, 1, 5, 5, 2, 2, 2, 2, 1, 1, 3),    # torch ceil: the last window is dropped (out 3, not 4)
    (2, 2, 13, 10, 3, 3, 2, 2, 1, 1, 0),  # MXNet valid, pool1 of the official model
    (1, 2, 10, 13, 3, 3, 2, 2, 1, 1, 1),  # MXNet full
    (1, 1, 7, 8, 2, 3, 3, 2, 1, 1, 1),    # MXNet full with stride > kernel - pad: empty window
    (1, 3, 6, 7, 3, 2, 1, 2, 0, 1, 0),    # MXNet valid, rectangular kernel/stride
]


def np_pool_out(n_in, k, s, p, conv):
    span = n_in + 2 * p - k
    if conv in (0, 2):
        return span // s + 1
    out = -(-span // s) + 1
    if conv == 3 and (out - 1) * s >= n_in + p:
        out -= 1
    return out


def np_maxpool(x, kh, kw, sh, sw, ph, pw, conv):
    """MXNet 1.3 pool.h semantics from the spec: window clipped to the input, max over the
    in-bounds part, first max in row-major order; an empty window gives the lowest float and
    no gradient (argmax -1)."""
    N, C, H, W = x.shape
    OH, OW = np_pool_out(H, kh, sh, ph, conv), np_pool_out(W, kw, sw, pw, conv)
    y = np.empty((N, C, OH, OW), np.float32)
    am = np.full((N, C, OH, OW), -1, np.int32)
    for n in range(N):
        for c in range(C):
            for oh in range(OH):
                hs, he = oh * sh - ph, min(oh * sh - ph + kh, H)
                hs = max(hs, 0)
                for ow in range(OW):
                    ws, we = ow * sw - pw, min(ow * sw - pw + kw, W)
                    ws = max(ws, 0)
                    if hs >= he or ws >= we:
                        y[n, c, oh, ow] = np.finfo(np.float32).min
                        continue
                    win = x[n, c, hs:he, ws:we]
                    k = int(np.argmax(win))  # first max in row-major order
                    y[n, c, oh, ow] = win.flat[k]
                    am[n, c, oh, ow] = (hs + k // (we - ws)) * W + ws + k % (we - ws)
    return y, am


for i, (N, C, H, W, kh, kw, sh, sw, ph, pw, conv) in enumerate(POOL_CASES):
    # distinct values: no ties, so the argmax (and the gradient) is unambiguous
    x = f32(rng.permutation(N * C * H * W).reshape(N, C, H, W) / 7.0 - 10.0)
    if conv in (2, 3):
        xt = t64(x)
        y, am = F.max_pool2d(xt, (kh, kw), (sh, sw), (ph, pw), ceil_mode=(conv == 3),
                             return_indices=True)
        g = f32(rng.uniform(-1, 1, y.shape))
        y.backward(torch.tensor(g, dtype=torch.float64))
        y, am, dx = y.detach().numpy(), am.numpy().astype(np.int32), xt.grad.numpy()
        ny, nam = np_maxpool(x, kh, kw, sh, sw, ph, pw, conv)  # cross-check the NumPy model
        assert ny.shape == y.shape and np.array_equal(nam, am) and np.allclose(ny, y)
    else:
        y, am = np_maxpool(x, kh, kw, sh, sw, ph, pw, conv)
        g = f32(rng.uniform(-1, 1, y.shape))
        dx = np.zeros(x.shape, np.float64)
        for n in range(N):
            for c in range(C):
                for idx, gv in zip(am[n, c].ravel(), g[n, c].ravel()):
                    if idx >= 0:
                        dx[n, c].flat[idx] += gv
    ent[f"pool{i}_p"] = np.array([N, C, H, W, kh, kw, sh, sw, ph, pw, conv], np.int64)
    ent[f"pool{i}_x"] = x
    ent[f"pool{i}_y"] = f32(y)
    ent[f"pool{i}_am"] = am.astype(np.int32)
    ent[f"pool{i}_g"] = g
    ent[f"pool{i}_dx"] = dx
ent["pool_count"] = np.array([len(POOL_CASES)], np.int64)

# ---------------------------------------------------------------- softmax over channels, sigmoid
x = f32(rng.normal(0, 3, (2, 5, 3, 4)))
x[0, :, 0, 0] += 80.0  # large logits: needs the max subtraction
g = f32(rng.uniform(-1, 1, x.shape))
xt = t64(x)
y = F.softmax(xt, dim=1)
y.backward(torch.tensor(g, dtype=torch.float64))
ent.update(smx_x=x, smx_y=y.detach(), smx_g=g, smx_dx=xt.grad)

x = f32(rng.normal(0, 4, (3, 2, 4, 5)))
x.flat[:6] = [100.0, -100.0, 30.0, -30.0, 90.0, -90.0]  # saturating values
g = f32(rng.uniform(-1, 1, x.shape))
xt = t64(x)
y = torch.sigmoid(xt)
y.backward(torch.tensor(g, dtype=torch.float64))
ent.update(sig_x=x, sig_y=y.detach(), sig_g=g, sig_dx=xt.grad)

# ---------------------------------------------------------------- softmax CE with ignore label
# case 0: RPN-like multi_output (N, 2, H, W); case 1: RCNN-like (R, 31, 1, 1) with OHEM ignores;
# case 2: 4 classes, spatial, one large logit
CE_CASES = [((2, 2, 3, 5), 1.0, 0.3), ((7, 31, 1, 1), 0.5, 0.4), ((2, 4, 3, 4), 2.0, 0.25)]
for i, ((N, C, H, W), gs, p_ign) in enumerate(CE_CASES):
    x = f32(rng.normal(0, 2, (N, C, H, W)))
    if i == 2:
        x[1, 2, 1, 1] = 60.0
    lab = rng.integers(0, C, (N, H, W)).astype(np.int32)
    lab[rng.uniform(size=lab.shape) < p_ign] = -1
    lab.flat[0] = 0  # at least one valid
    labt = torch.tensor(lab, dtype=torch.int64)
    out = {}
    for norm, red, div in (("none", "sum", 1.0), ("batch", "sum", float(N)),
                           ("valid", "sum", float(max((lab != -1).sum(), 1)))):
        xt = t64(x)
        # torch 'mean' with ignore_index divides by the number of non-ignored = MXNet 'valid'
        loss = gs * F.cross_entropy(xt, labt, ignore_index=-1, reduction=red) / div
        loss.backward()
        out[norm] = (loss.item(), xt.grad.numpy())
    xt = t64(x)
    mean = F.cross_entropy(xt, labt, ignore_index=-1, reduction="mean").item()
    assert abs(mean * gs - out["valid"][0]) < 1e-9
    pos = F.cross_entropy(t64(x), labt, ignore_index=-1, reduction="none").detach()
    ent[f"ce{i}_x"] = x
    ent[f"ce{i}_lab"] = lab.reshape(-1)
    ent[f"ce{i}_p"] = np.array([N, C, H, W], np.int64)
    ent[f"ce{i}_gs"] = np.array([gs], np.float64)
    for k in ("none", "batch", "valid"):
        ent[f"ce{i}_loss_{k}"] = np.array([out[k][0]], np.float64)
        ent[f"ce{i}_dx_{k}"] = out[k][1]
    ent[f"ce{i}_pos"] = pos.numpy().reshape(-1)
    ent[f"ce{i}_prob"] = F.softmax(torch.tensor(x, dtype=torch.float64), dim=1)
ent["ce_count"] = np.array([len(CE_CASES)], np.int64)

# ---------------------------------------------------------------- sigmoid BCE with logits
x = f32(rng.normal(0, 3, (2, 12, 4, 5)))
x.flat[:4] = [60.0, -60.0, 25.0, -25.0]
t = f32((rng.uniform(size=x.shape) < 0.3).astype(np.float32))
t.flat[5:9] = [0.25, 0.5, 0.75, 1.0]  # soft targets are allowed by the formula
w = f32(rng.integers(0, 2, x.shape))
scale = 1.0 / 37.0  # loss_weight / avg_factor
xt = t64(x)
loss = scale * F.binary_cross_entropy_with_logits(xt, torch.tensor(t, dtype=torch.float64),
                                                  weight=torch.tensor(w, dtype=torch.float64),
                                                  reduction="sum")
loss.backward()
elem = w.astype(np.float64) * F.binary_cross_entropy_with_logits(
    torch.tensor(x, dtype=torch.float64), torch.tensor(t, dtype=torch.float64),
    reduction="none").numpy()
xt2 = t64(x)
loss_nw = scale * F.binary_cross_entropy_with_logits(xt2, torch.tensor(t, dtype=torch.float64),
                                                     reduction="sum")
loss_nw.backward()
ent.update(bce_x=x, bce_t=t, bce_w=w, bce_scale=np.array([scale]), bce_loss=np.array([loss.item()]),
           bce_loss_nw=np.array([loss_nw.item()]), bce_elem=elem, bce_dx=xt.grad,
           bce_dx_nw=xt2.grad)

# ---------------------------------------------------------------- smooth-L1
# kind 0 = MXNet smooth_l1(x, scalar=sigma) (NumPy from the spec), kind 1 = mmdet (torch)
SL1_CASES = [(0, 1.0, 0.0, 1.0 / 256), (0, 3.0, 0.0, 1.0 / 128), (1, 0.0, 1.0 / 9, 1.0 / 17),
             (1, 0.0, 1.0, 1.0), (1, 0.0, 0.0, 0.5)]


def mmdet_smooth_l1(pred, target, beta):
    # mmdet/models/losses/smooth_l1_loss.py (beta = 0: L1)
    diff = torch.abs(pred - target)
    if beta == 0:
        return diff
    return torch.where(diff < beta, 0.5 * diff * diff / beta, diff - 0.5 * beta)


for i, (kind, sigma, beta, scale) in enumerate(SL1_CASES):
    shape = (6, 8, 3, 1)
    pred = f32(rng.normal(0, 0.6, shape))
    target = f32(rng.normal(0, 0.6, shape))
    d = pred.astype(np.float64) - target.astype(np.float64)
    thr = 1.0 / sigma ** 2 if kind == 0 else beta
    # keep |x| away from the switch point (and from 0 for L1) so the FD checks are meaningful
    bad = (np.abs(np.abs(d) - thr) < 2e-3) | (np.abs(d) < 2e-3)
    pred[bad] += f32(0.01)
    w = f32(rng.integers(0, 3, shape))
    xd = (pred - target).astype(np.float64)  # the difference is an fp32 op in both frameworks
    if kind == 0:
        s2 = sigma * sigma
        f = np.where(np.abs(xd) < 1 / s2, 0.5 * s2 * xd * xd, np.abs(xd) - 0.5 / s2)
        df = np.where(np.abs(xd) < 1 / s2, s2 * xd, np.sign(xd))
        elem = w * f
        loss = scale * elem.sum()
        dx = scale * w * df
    else:
        pt = t64(pred)
        e = mmdet_smooth_l1(pt, torch.tensor(target, dtype=torch.float64), beta) * \
            torch.tensor(w, dtype=torch.float64)
        lt = scale * e.sum()
        lt.backward()
        elem, loss, dx = e.detach().numpy(), lt.item(), pt.grad.numpy()
    ent[f"sl1{i}_x"] = pred
    ent[f"sl1{i}_t"] = target
    ent[f"sl1{i}_w"] = w
    ent[f"sl1{i}_p"] = np.array([kind, sigma, beta, scale], np.float64)
    ent[f"sl1{i}_loss"] = np.array([loss], np.float64)
    ent[f"sl1{i}_elem"] = elem
    ent[f"sl1{i}_dx"] = dx
ent["sl1_count"] = np.array([len(SL1_CASES)], np.int64)

# ---------------------------------------------------------------- SGD
NP, STEPS = 1000, 5
lrs = np.array([0.01, 0.01, 0.005, 0.005, 0.001], np.float64)
w0 = f32(rng.normal(0, 1, NP))
grads = f32(rng.normal(0, 1, (STEPS, NP)))
# torch.optim.SGD, momentum 0.9, weight_decay 1e-4, lr changed between steps
p = torch.nn.Parameter(torch.tensor(w0.copy()))
opt = torch.optim.SGD([p], lr=lrs[0], momentum=0.9, weight_decay=1e-4)
traj = []
for s in range(STEPS):
    for gr in opt.param_groups:
        gr["lr"] = float(lrs[s])
    p.grad = torch.tensor(grads[s])
    opt.step()
    traj.append(p.detach().numpy().copy())
ent.update(sgd_w0=w0, sgd_grads=grads, sgd_lrs=lrs, sgdt_traj=np.stack(traj))
# MXNet sgd_mom_update (spec §8.1: momentum 0.9, wd 0.0005, rescale_grad) in float64
mom = np.zeros(NP)
wm = w0.astype(np.float64)
traj = []
for s in range(STEPS):
    mom = 0.9 * mom - lrs[s] * (0.5 * grads[s].astype(np.float64) + 5e-4 * wm)
    wm = wm + mom
    traj.append(wm.copy())
ent["sgdm_traj"] = np.stack(traj)
ent["sgd_gnorm_sq"] = np.array([(grads[0].astype(np.float64) ** 2).sum()])

# ---------------------------------------------------------------- frozen BN
C = 6
gamma = f32(rng.uniform(0.5, 1.5, C))
beta = f32(rng.normal(0, 0.5, C))
mean = f32(rng.normal(0, 0.5, C))
var = f32(rng.uniform(0.01, 2.0, C))
var[0] = 0.0  # var + eps = 1e-5 is still valid
x = f32(rng.normal(0, 1, (2, C, 3, 4)))
y = F.batch_norm(torch.tensor(x, dtype=torch.float64), torch.tensor(mean, dtype=torch.float64),
                 torch.tensor(var, dtype=torch.float64), torch.tensor(gamma, dtype=torch.float64),
                 torch.tensor(beta, dtype=torch.float64), training=False, eps=1e-5)
scale = gamma.astype(np.float64) / np.sqrt(var.astype(np.float64) + 1e-5)
shift = beta - mean.astype(np.float64) * scale
wconv = f32(rng.normal(0, 0.3, (C, 3, 3, 3)))
bconv = f32(rng.normal(0, 0.3, C))
ent.update(bn_gamma=gamma, bn_beta=beta, bn_mean=mean, bn_var=var, bn_x=x, bn_y=y,
           bn_scale=scale, bn_shift=shift, bn_wconv=wconv, bn_bconv=bconv,
           bn_wfold=wconv * scale[:, None, None, None],
           bn_bfold_nobias=(0.0 - mean.astype(np.float64)) * scale + beta,
           bn_bfold_bias=(bconv.astype(np.float64) - mean) * scale + beta)

out_dir = sys.argv[1] if len(sys.argv) > 1 else "build/fixtures"
write_fixture(os.path.join(out_dir, "elem.slfx"), ent)
print(f"elem.slfx: {len(POOL_CASES)} pool, {len(CE_CASES)} CE, {len(SL1_CASES)} smooth-L1 cases, "
      f"{len(ent)} entries")
