"""Reference fixtures for tests/test_boxes.c (box coding, IoU, NMS, proposal layers,
detection post-processing).

Every reference is written from the specifications, not from the C code:
  * MXNet "+1" coding, the Proposal operator and the official test post-processing: plain NumPy
    from official-selsa.md §3.3 and §5 (the box math of `bbox_transform.py`/`tester.py` is
    float64 NumPy; the operator's NMS is float32, so the references use float32 for it).
  * mmdet coding, RPN post-processing and multiclass_nms: torch + torchvision from
    mmtracking-selsa.md §2.6 (torchvision.ops.nms / box_iou / batched_nms implement the same
    IoU formula, strict `>` suppression and coordinate-offset trick as mmcv, which is not
    installed).
Two deliberate choices shared with the C code (documented in include/selsa/boxes.h):
  * exp() and sigmoid() are evaluated in float64 and rounded once to float32 (torch's float32
    kernels may differ by 1 ulp; MXNet's CUDA expf has no fixed rounding either);
  * sorts are stable: ties in ascending index order, except the official Python NMS whose
    `argsort()[::-1]` gives ties in descending index order (np.argsort(kind="stable")[::-1]).

Usage: /usr/bin/python3 tests/ref/gen_boxes.py <fixture dir>
"""
import os
import sys

import numpy as np
import torch
import torchvision

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _fixture_io import write_fixture  # noqa: E402

torch.set_num_threads(1)
f32, f64 = np.float32, np.float64
rng = np.random.default_rng(20240611)


def rand_boxes(n, w, h, min_size=2.0, max_size=300.0):
    x1 = rng.uniform(0, w - min_size, n)
    y1 = rng.uniform(0, h - min_size, n)
    bw = rng.uniform(min_size, max_size, n)
    bh = rng.uniform(min_size, max_size, n)
    return np.stack([x1, y1, np.minimum(x1 + bw, w), np.minimum(y1 + bh, h)], 1).astype(f32)


# ------------------------------------------------------------------ MXNet "+1" coding ----
def mx_decode(boxes, deltas):
    """bbox_pred (official-selsa.md §3.3 step 2 / §5 step 3), float64, deltas (n, 4k)."""
    b = boxes.astype(f64)
    w = b[:, 2] - b[:, 0] + 1.0
    h = b[:, 3] - b[:, 1] + 1.0
    cx = b[:, 0] + 0.5 * (w - 1.0)
    cy = b[:, 1] + 0.5 * (h - 1.0)
    d = deltas.astype(f64)
    dx, dy, dw, dh = d[:, 0::4], d[:, 1::4], d[:, 2::4], d[:, 3::4]
    pcx = dx * w[:, None] + cx[:, None]
    pcy = dy * h[:, None] + cy[:, None]
    pw = np.exp(dw) * w[:, None]
    ph = np.exp(dh) * h[:, None]
    out = np.zeros(d.shape)
    out[:, 0::4] = pcx - 0.5 * (pw - 1.0)
    out[:, 1::4] = pcy - 0.5 * (ph - 1.0)
    out[:, 2::4] = pcx + 0.5 * (pw - 1.0)
    out[:, 3::4] = pcy + 0.5 * (ph - 1.0)
    return out


def mx_encode(ex, gt, means, stds):
    ex, gt = ex.astype(f64), gt.astype(f64)
    ew = ex[:, 2] - ex[:, 0] + 1.0
    eh = ex[:, 3] - ex[:, 1] + 1.0
    ecx = ex[:, 0] + 0.5 * (ew - 1.0)
    ecy = ex[:, 1] + 0.5 * (eh - 1.0)
    gw = gt[:, 2] - gt[:, 0] + 1.0
    gh = gt[:, 3] - gt[:, 1] + 1.0
    gcx = gt[:, 0] + 0.5 * (gw - 1.0)
    gcy = gt[:, 1] + 0.5 * (gh - 1.0)
    t = np.stack([(gcx - ecx) / (ew + 1e-14), (gcy - ecy) / (eh + 1e-14),
                  np.log(gw / ew), np.log(gh / eh)], 1)
    return (t - np.asarray(means, f64)) / np.asarray(stds, f64)


# ---------------------------------------------------------------------- mmdet coding ----
def mm_exp(t):
    return torch.exp(t.double()).float()


def mm_decode(rois, deltas, means, stds, max_shape=None, wh_ratio_clip=16 / 1000):
    """mmdet delta2bbox (mmtracking-selsa.md §2.6), float32 torch; deltas (n, 4k)."""
    rois, deltas = torch.as_tensor(rois), torch.as_tensor(deltas)
    n, k = deltas.shape[0], deltas.shape[1] // 4
    d = deltas.reshape(-1, 4) * torch.tensor(stds, dtype=torch.float32) + \
        torch.tensor(means, dtype=torch.float32)
    r = rois.repeat(1, k).reshape(-1, 4)
    pxy = (r[:, :2] + r[:, 2:]) * 0.5
    pwh = r[:, 2:] - r[:, :2]
    dxy_wh = pwh * d[:, :2]
    max_ratio = np.abs(np.log(wh_ratio_clip))
    dwh = d[:, 2:].clamp(min=-max_ratio, max=max_ratio)
    gxy = pxy + dxy_wh
    gwh = pwh * mm_exp(dwh)
    out = torch.cat([gxy - gwh * 0.5, gxy + gwh * 0.5], -1)
    if max_shape is not None:
        out[:, 0::2].clamp_(min=0, max=max_shape[1])
        out[:, 1::2].clamp_(min=0, max=max_shape[0])
    return out.reshape(n, -1)


def mm_encode(p, g, means, stds):
    p, g = torch.as_tensor(p), torch.as_tensor(g)
    px, py = (p[:, 0] + p[:, 2]) * 0.5, (p[:, 1] + p[:, 3]) * 0.5
    pw, ph = p[:, 2] - p[:, 0], p[:, 3] - p[:, 1]
    gx, gy = (g[:, 0] + g[:, 2]) * 0.5, (g[:, 1] + g[:, 3]) * 0.5
    gw, gh = g[:, 2] - g[:, 0], g[:, 3] - g[:, 1]
    d = torch.stack([(gx - px) / pw, (gy - py) / ph,
                     torch.log((gw / pw).double()).float(), torch.log((gh / ph).double()).float()], -1)
    return (d - torch.tensor(means)) / torch.tensor(stds)


def mm_anchors(stride, ratios, scales):
    ratios = torch.tensor(ratios, dtype=torch.float32)
    scales = torch.tensor(scales, dtype=torch.float32)
    h_ratios = torch.sqrt(ratios)
    w_ratios = 1 / h_ratios
    ws = (stride * w_ratios[:, None] * scales[None, :]).view(-1)
    hs = (stride * h_ratios[:, None] * scales[None, :]).view(-1)
    return torch.stack([0.0 - 0.5 * ws, 0.0 - 0.5 * hs, 0.0 + 0.5 * ws, 0.0 + 0.5 * hs], -1)


# -------------------------------------------------------------------------- NMS (+1) ----
def nms_f32(boxes, thr, off, max_keep=None):
    """Greedy NMS on boxes already in score order, float32 arithmetic, suppress IoU > thr."""
    b = boxes.astype(f32)
    x1, y1, x2, y2 = b[:, 0], b[:, 1], b[:, 2], b[:, 3]
    off = f32(off)
    area = (x2 - x1 + off) * (y2 - y1 + off)
    sup = np.zeros(len(b), bool)
    keep = []
    for i in range(len(b)):
        if sup[i]:
            continue
        keep.append(i)
        if max_keep is not None and len(keep) >= max_keep:
            break
        xx1 = np.maximum(x1[i], x1[i + 1:])
        yy1 = np.maximum(y1[i], y1[i + 1:])
        xx2 = np.minimum(x2[i], x2[i + 1:])
        yy2 = np.minimum(y2[i], y2[i + 1:])
        w = np.maximum(f32(0), xx2 - xx1 + off)
        h = np.maximum(f32(0), yy2 - yy1 + off)
        inter = w * h
        with np.errstate(invalid="ignore", divide="ignore"):
            ovr = inter / (area[i] + area[i + 1:] - inter)
        sup[i + 1:] |= ovr > f32(thr)
    return np.array(keep, np.int64)


def stable_desc(scores):
    """Stable descending order (std::stable_sort with >): ties by ascending index."""
    return np.argsort(-scores.astype(f64), kind="stable")


# ------------------------------------------------------------ MXNet proposal (§3.3) ----
def mx_anchors(base, ratios, scales):
    """Anchor table of official-selsa.md §3.2 (GenerateAnchors), float64 math."""
    w = h = float(base)
    ctr = 0.5 * (w - 1.0)
    out = []
    for r in ratios:
        for s in scales:
            size_ratios = np.floor(w * h / r)
            nw = np.floor(np.sqrt(size_ratios) + 0.5) * s
            nh = np.floor(nw / s * r + 0.5) * s
            out.append([ctr - 0.5 * (nw - 1), ctr - 0.5 * (nh - 1), ctr + 0.5 * (nw - 1),
                        ctr + 0.5 * (nh - 1)])
    return np.array(out, f32)


def mx_proposal(cls_prob, bbox_pred, im_info, stride, ratios, scales, pre_n, post_n, thr,
                min_size, means, stds):
    N, A2, H, W = cls_prob.shape
    A = A2 // 2
    anchors = mx_anchors(stride, ratios, scales)
    rois, roi_scores = [], []
    for b in range(N):
        im_h, im_w, im_s = [f32(v) for v in im_info[b]]
        # step 1: enumeration idx = h*(W*A) + w*A + a
        hh, ww, aa = np.meshgrid(np.arange(H), np.arange(W), np.arange(A), indexing="ij")
        hh, ww, aa = hh.reshape(-1), ww.reshape(-1), aa.reshape(-1)
        shift = np.stack([ww * stride, hh * stride, ww * stride, hh * stride], 1).astype(f32)
        boxes = anchors[aa] + shift
        score = cls_prob[b, A + aa, hh, ww].astype(f32).copy()
        # rpn_inv_normalize then "+1" decode and clip
        d = np.stack([bbox_pred[b, 4 * aa + k, hh, ww] * f32(stds[k]) + f32(means[k])
                      for k in range(4)], 1).astype(f32)
        p = mx_decode(boxes, d).astype(f32)
        p[:, 0::2] = np.maximum(np.minimum(p[:, 0::2], im_w - f32(1)), f32(0))
        p[:, 1::2] = np.maximum(np.minimum(p[:, 1::2], im_h - f32(1)), f32(0))
        # step 3: padded region
        real_h, real_w = int(im_h / f32(stride)), int(im_w / f32(stride))
        score[(hh >= real_h) | (ww >= real_w)] = -1
        # step 4: FilterBox with min_size * im_info[2]
        ms = f32(min_size) * im_s
        iw = p[:, 2] - p[:, 0] + f32(1)
        ih = p[:, 3] - p[:, 1] + f32(1)
        small = (iw < ms) | (ih < ms)
        p[small, 0:2] -= ms / f32(2)
        p[small, 2:4] += ms / f32(2)
        score[small] = -1
        # step 5: stable sort, top pre_n
        order = stable_desc(score)[:min(pre_n, len(score))]
        p, s = p[order], score[order]
        # step 6: NMS (+1), stop at post_n
        keep = nms_f32(p, thr, 1.0, max_keep=min(post_n, len(order)))
        # step 7: repeat fill
        idx = keep[np.arange(post_n) % len(keep)]
        rois.append(np.concatenate([np.full((post_n, 1), b, f32), p[idx]], 1))
        roi_scores.append(s[idx])
    return np.concatenate(rois).astype(f32), np.concatenate(roi_scores).astype(f32)


# ------------------------------------------------------------- mmdet RPN (§2.6) ----
def mm_rpn(logits, deltas, img_h, img_w, stride, ratios, scales, nms_pre, max_per_img, thr,
           min_bbox_size=0.0):
    """RPNHead._get_bboxes_single for one image/level; logits (A,H,W), deltas (4A,H,W)."""
    A, H, W = logits.shape
    lg = torch.from_numpy(logits)
    scores = torch.sigmoid(lg.double()).float().permute(1, 2, 0).reshape(-1)
    reg = torch.from_numpy(deltas).permute(1, 2, 0).reshape(-1, 4)
    base = mm_anchors(stride, ratios, scales)
    sx = torch.arange(0, W).float() * stride
    sy = torch.arange(0, H).float() * stride
    yy, xx = torch.meshgrid(sy, sx, indexing="ij")
    shifts = torch.stack([xx.reshape(-1), yy.reshape(-1), xx.reshape(-1), yy.reshape(-1)], -1)
    anchors = (base[None] + shifts[:, None]).reshape(-1, 4)
    if 0 < nms_pre < scores.shape[0]:
        ranked, inds = scores.sort(descending=True, stable=True)
        inds = inds[:nms_pre]
        scores = ranked[:nms_pre]
        reg, anchors = reg[inds], anchors[inds]
    props = mm_decode(anchors, reg, [0, 0, 0, 0], [1, 1, 1, 1], max_shape=(img_h, img_w))
    if min_bbox_size >= 0:
        w = props[:, 2] - props[:, 0]
        h = props[:, 3] - props[:, 1]
        valid = (w > min_bbox_size) & (h > min_bbox_size)
        props, scores = props[valid], scores[valid]
    keep = torchvision.ops.nms(props, scores, thr)[:max_per_img]
    return props[keep].numpy(), scores[keep].numpy()


# ------------------------------------------------- official post-processing (§5) ----
def py_nms(dets, thresh):
    """lib/nms/nms.py::nms (float64); order = argsort()[::-1] (stable variant)."""
    x1, y1, x2, y2, scores = dets[:, 0], dets[:, 1], dets[:, 2], dets[:, 3], dets[:, 4]
    areas = (x2 - x1 + 1) * (y2 - y1 + 1)
    order = np.argsort(scores, kind="stable")[::-1]
    keep = []
    while order.size > 0:
        i = order[0]
        keep.append(i)
        xx1 = np.maximum(x1[i], x1[order[1:]])
        yy1 = np.maximum(y1[i], y1[order[1:]])
        xx2 = np.minimum(x2[i], x2[order[1:]])
        yy2 = np.minimum(y2[i], y2[order[1:]])
        w = np.maximum(0.0, xx2 - xx1 + 1)
        h = np.maximum(0.0, yy2 - yy1 + 1)
        inter = w * h
        ovr = inter / (areas[i] + areas[order[1:]] - inter)
        inds = np.where(ovr <= thresh)[0]
        order = order[inds + 1]
    return keep


def official_post(rois, scores, deltas, im_h, im_w, scale, thresh, nms_thr, max_per_image,
                  agnostic):
    """core/tester.py: rows (cls, score, x1, y1, x2, y2, roi) class-major."""
    pred = mx_decode(rois, deltas)  # float64
    pred[:, 0::4] = np.maximum(np.minimum(pred[:, 0::4], im_w - 1), 0)
    pred[:, 1::4] = np.maximum(np.minimum(pred[:, 1::4], im_h - 1), 0)
    pred[:, 2::4] = np.maximum(np.minimum(pred[:, 2::4], im_w - 1), 0)
    pred[:, 3::4] = np.maximum(np.minimum(pred[:, 3::4], im_h - 1), 0)
    pred = pred / f64(f32(scale))
    C = scores.shape[1]
    per_class = []
    for j in range(1, C):
        inds = np.where(scores[:, j] > thresh)[0]
        cls_scores = scores[inds, j, np.newaxis]
        cls_boxes = pred[inds, 4:8] if agnostic else pred[inds, j * 4:(j + 1) * 4]
        dets = np.hstack((cls_boxes, cls_scores))
        keep = py_nms(dets, nms_thr)
        per_class.append(np.hstack([np.full((len(keep), 1), j), dets[keep],
                                    inds[keep][:, None]]))
    if max_per_image > 0:
        image_scores = np.hstack([d[:, 5] for d in per_class])
        if len(image_scores) > max_per_image:
            image_thresh = np.sort(image_scores)[-max_per_image]
            per_class = [d[d[:, 5] >= image_thresh] for d in per_class]
    out = np.concatenate(per_class)
    # columns: cls, x1, y1, x2, y2, score, roi
    return out


# ----------------------------------------------------- mmdet multiclass_nms (§2.6) ----
def mm_multiclass_nms(bboxes, scores, score_thr, iou_thr, max_num, mode):
    """mode 'trick': torchvision's _batched_nms_coordinate_trick (the same float32 formula as
    mmcv batched_nms below split_thr); 'exact': _batched_nms_vanilla (per class).
    Returns rows (label, x1, y1, x2, y2, score, roi)."""
    bboxes, scores = torch.as_tensor(bboxes), torch.as_tensor(scores)
    R, C = scores.shape
    nc = C - 1
    if bboxes.shape[1] > 4:
        b = bboxes.view(R, -1, 4)
    else:
        b = bboxes[:, None].expand(R, nc, 4)
    s = scores[:, :-1]
    labels = torch.arange(nc).view(1, -1).expand_as(s)
    rois = torch.arange(R).view(-1, 1).expand_as(s)
    b, s, labels, rois = b.reshape(-1, 4), s.reshape(-1), labels.reshape(-1), rois.reshape(-1)
    inds = (s > score_thr).nonzero().squeeze(1)
    b, s, labels, rois = b[inds], s[inds], labels[inds], rois[inds]
    if mode == "trick":
        keep = torchvision.ops.boxes._batched_nms_coordinate_trick(b, s, labels, iou_thr)
    else:
        keep = torchvision.ops.boxes._batched_nms_vanilla(b, s, labels, iou_thr)
    if max_num > 0:
        keep = keep[:max_num]
    return torch.cat([labels[keep, None].float(), b[keep], s[keep, None],
                      rois[keep, None].float()], 1).numpy().astype(f64)


def main():
    out_dir = sys.argv[1] if len(sys.argv) > 1 else "build/fixtures"
    os.makedirs(out_dir, exist_ok=True)
    fx = {}

    # ---- coding --------------------------------------------------------------------------
    n = 200
    boxes = rand_boxes(n, 1000, 600)
    gt = rand_boxes(n, 1000, 600)
    dl = rng.normal(0, 0.5, (n, 8)).astype(f32)
    dl[:5, 2] = 30.0   # x std 0.2 = 6: beyond the mmdet clamp ±4.135 (MXNet: no clamp)
    dl[5:10, 3] = -30.0
    fx["code_boxes"], fx["code_gt"], fx["code_deltas"] = boxes, gt, dl
    fx["mx_decode"] = mx_decode(boxes, dl).astype(f32)
    mx_means, mx_stds = [0.0, 0.0, 0.0, 0.0], [0.1, 0.1, 0.2, 0.2]
    fx["mx_encode"] = mx_encode(boxes, gt, mx_means, mx_stds).astype(f32)
    mm_means, mm_stds = [0.0, 0.1, 0.0, -0.1], [0.2, 0.2, 0.2, 0.2]
    fx["mm_decode"] = mm_decode(torch.from_numpy(boxes), torch.from_numpy(dl), mm_means, mm_stds,
                                max_shape=(600, 1000)).numpy()
    fx["mm_decode_noclip"] = mm_decode(torch.from_numpy(boxes), torch.from_numpy(dl), mm_means,
                                       mm_stds).numpy()
    fx["mm_encode"] = mm_encode(torch.from_numpy(boxes), torch.from_numpy(gt), mm_means,
                                mm_stds).numpy()

    # ---- IoU -----------------------------------------------------------------------------
    ia, ib = rand_boxes(37, 500, 400), rand_boxes(53, 500, 400)
    ib[:5] = ia[:5]  # identical pairs
    fx["iou_a"], fx["iou_b"] = ia, ib
    fx["iou_tv"] = torchvision.ops.box_iou(torch.from_numpy(ia), torch.from_numpy(ib)).numpy()
    a64, b64 = ia.astype(f64), ib.astype(f64)
    lt = np.maximum(a64[:, None, :2], b64[None, :, :2])
    rb = np.minimum(a64[:, None, 2:], b64[None, :, 2:])
    wh = np.clip(rb - lt + 1, 0, None)
    inter = wh[..., 0] * wh[..., 1]
    area = lambda x: (x[:, 2] - x[:, 0] + 1) * (x[:, 3] - x[:, 1] + 1)  # noqa: E731
    fx["iou_p1"] = (inter / (area(a64)[:, None] + area(b64)[None] - inter)).astype(f32)

    # ---- NMS -----------------------------------------------------------------------------
    nb = 600
    nbx = rand_boxes(nb, 400, 300, 5, 120)
    nsc = rng.permutation(nb).astype(f32) / nb + f32(0.001)   # distinct scores
    order = stable_desc(nsc)
    nbx = nbx[order]
    nsc = nsc[order]
    fx["nms_boxes"] = nbx
    fx["nms_tv_keep"] = torchvision.ops.nms(torch.from_numpy(nbx), torch.from_numpy(nsc), 0.5).numpy()
    fx["nms_p1_keep"] = nms_f32(nbx, 0.7, 1.0)
    fx["nms_p1_keep_max"] = nms_f32(nbx, 0.7, 1.0, max_keep=37)

    # ---- MXNet proposal: 562x1000 (36x63) image + a smaller one, N=2 ---------------------
    A, H, W = 9, 36, 63
    logit = rng.normal(0, 2, (2, 2, A, H, W))
    prob = np.exp(logit) / np.exp(logit).sum(1, keepdims=True)
    prob = prob.reshape(2, 2 * A, H, W).astype(f32)
    prob[1] = np.round(prob[1] * 32) / 32  # image 1: heavy score ties (stable order matters)
    bp = rng.normal(0, 1.0, (2, 4 * A, H, W)).astype(f32)
    im_info = np.array([[562, 1000, 1.5], [500, 850, 1.2]], f32)
    stds, means = [0.1, 0.1, 0.4, 0.4], [0, 0, 0, 0]
    fx["prop_cls"], fx["prop_bbox"], fx["prop_im_info"] = prob, bp, im_info
    r, s = mx_proposal(prob, bp, im_info, 16, [0.5, 1, 2], [8, 16, 32], 6000, 300, 0.7, 0.0,
                       means, stds)
    fx["prop_rois"], fx["prop_scores"] = r, s
    # tiny map: few survivors -> repeat fill; padded rule on row 2 / column 3
    At, Ht, Wt = 9, 3, 4
    lt_ = rng.normal(0, 1, (1, 2, At, Ht, Wt))
    pt = (np.exp(lt_) / np.exp(lt_).sum(1, keepdims=True)).reshape(1, 2 * At, Ht, Wt).astype(f32)
    bt = rng.normal(0, 1.0, (1, 4 * At, Ht, Wt)).astype(f32)
    it = np.array([[40, 50, 1.0]], f32)
    fx["tiny_cls"], fx["tiny_bbox"], fx["tiny_im_info"] = pt, bt, it
    r, s = mx_proposal(pt, bt, it, 16, [0.5, 1, 2], [8, 16, 32], 6000, 300, 0.7, 0.0, means,
                       [1, 1, 1, 1])
    fx["tiny_rois"], fx["tiny_scores"] = r, s
    # FilterBox active: min_size 16 at scale 1.25, pre_n 50 (< count), post 20
    it2 = np.array([[40, 50, 1.25]], f32)
    fx["tiny_im_info2"] = it2
    r, s = mx_proposal(pt, bt, it2, 16, [0.5, 1, 2], [8, 16, 32], 50, 20, 0.7, 16.0, means,
                       [1, 1, 1, 1])
    fx["tiny_min_rois"], fx["tiny_min_scores"] = r, s

    # ---- mmdet RPN -----------------------------------------------------------------------
    A, H, W = 12, 36, 63
    lg = rng.normal(0, 2, (A, H, W)).astype(f32)
    dl = rng.normal(0, 0.5, (4 * A, H, W)).astype(f32)
    dl[2::4][:, :2, :] = -6.0  # clamped dw, tiny boxes
    dl[3::4][:, 5:7, :] = -30.0  # clamped dh
    fx["rpn_logits"], fx["rpn_deltas"] = lg, dl
    b, s = mm_rpn(lg, dl, 562, 1000, 16, [0.5, 1, 2], [4, 8, 16, 32], 6000, 300, 0.7)
    fx["rpn_boxes"], fx["rpn_scores"] = b, s
    # small map, nms_pre > count, boxes hugging the border (dropped when zero width)
    A, H, W = 12, 4, 5
    lg = rng.normal(0, 1, (A, H, W)).astype(f32)
    dl = rng.normal(0, 1.0, (4 * A, H, W)).astype(f32)
    dl[0::4, :, 4] = 40.0  # centres far right: x1 = x2 = img_w after clipping -> dropped
    fx["rpn2_logits"], fx["rpn2_deltas"] = lg, dl
    b, s = mm_rpn(lg, dl, 60, 70, 16, [0.5, 1, 2], [4, 8, 16, 32], 6000, 600, 0.7)
    fx["rpn2_boxes"], fx["rpn2_scores"] = b, s

    # ---- official post-processing --------------------------------------------------------
    R, C = 300, 31
    rois = rand_boxes(R, 1000, 562, 10, 400)
    lgt = rng.normal(0, 1, (R, C)) * 1.5
    lgt[:, 0] += 1.0
    sc = (np.exp(lgt) / np.exp(lgt).sum(1, keepdims=True)).astype(f32)
    sc[sc > 0.05] = np.round(sc[sc > 0.05] * 200) / 200  # ties, also at the max_per_image cut
    dd = rng.normal(0, 0.3, (R, 8)).astype(f32)
    fx["off_rois"] = np.concatenate([np.zeros((R, 1), f32), rois], 1)
    fx["off_scores"], fx["off_deltas"] = sc, dd
    fx["off_dets"] = official_post(rois, sc, dd, 562, 1000, 1.5, f32(1e-3), 0.3, 300, True)
    # class-specific, 60 RoIs, no limit hit
    R2 = 60
    rois2 = rand_boxes(R2, 800, 600, 10, 300)
    lg2 = rng.normal(0, 1, (R2, C))
    sc2 = (np.exp(lg2) / np.exp(lg2).sum(1, keepdims=True)).astype(f32)
    dd2 = rng.normal(0, 0.3, (R2, 4 * C)).astype(f32)
    fx["off2_rois"] = np.concatenate([np.zeros((R2, 1), f32), rois2], 1)
    fx["off2_scores"], fx["off2_deltas"] = sc2, dd2
    fx["off2_dets"] = official_post(rois2, sc2, dd2, 600, 800, 2.0, f32(0.02), 0.3, 300, False)

    # ---- mmdet multiclass_nms ------------------------------------------------------------
    R, C = 300, 31
    bx = np.concatenate([rand_boxes(R * (C - 1), 1280, 720, 8, 300)]).reshape(R, 4 * (C - 1))
    lg = rng.normal(0, 1.5, (R, C))
    sc = (np.exp(lg) / np.exp(lg).sum(1, keepdims=True)).astype(f32)
    fx["mc_boxes"], fx["mc_scores"] = bx, sc
    fx["mc_trick"] = mm_multiclass_nms(bx, sc, 1e-4, 0.5, 100, "trick")
    fx["mc_exact"] = mm_multiclass_nms(bx, sc, 1e-4, 0.5, 100, "exact")
    fx["mc_trick_all"] = mm_multiclass_nms(bx, sc, 0.02, 0.5, -1, "trick")
    # shared (class-agnostic) boxes
    bs = rand_boxes(R, 1280, 720, 8, 300)
    fx["mcs_boxes"] = bs
    fx["mcs_trick"] = mm_multiclass_nms(bs, sc, 1e-3, 0.5, 100, "trick")
    # a pair where the float32 offset trick and exact per-class NMS disagree
    found = None
    srng = np.random.default_rng(7)

    def iou32(P, Q):  # float32, the NMS formula (offset 0)
        w = np.maximum(f32(0), np.minimum(P[:, 2], Q[:, 2]) - np.maximum(P[:, 0], Q[:, 0]))
        h = np.maximum(f32(0), np.minimum(P[:, 3], Q[:, 3]) - np.maximum(P[:, 1], Q[:, 1]))
        inter = w * h
        ap = (P[:, 2] - P[:, 0]) * (P[:, 3] - P[:, 1])
        aq = (Q[:, 2] - Q[:, 0]) * (Q[:, 3] - Q[:, 1])
        return inter / (ap + aq - inter)

    off = f32(29) * (f32(1279) + f32(1))
    for _ in range(50):  # vectorised search, then confirmed with torchvision below
        m = 20000
        xy = srng.uniform(0, 600, (m, 2))
        wh = srng.uniform(20, 200, (m, 2))
        P = np.concatenate([xy, xy + wh], 1).astype(f32)
        Q = (P + srng.normal(0, 1, (m, 4)) * (0.2 * wh.mean(1, keepdims=True))).astype(f32)
        ok = (Q[:, 2] > Q[:, 0]) & (Q[:, 3] > Q[:, 1])
        diff = ok & ((iou32(P, Q) > f32(0.5)) != (iou32(P + off, Q + off) > f32(0.5)))
        if diff.any():
            i = int(np.nonzero(diff)[0][0])
            A_, B_ = P[i], Q[i]
            bb = torch.from_numpy(np.stack([A_, B_, np.array([0, 0, 1279, 719], f32)]))
            ss = torch.tensor([0.9, 0.8, 0.7])
            ll = torch.tensor([29, 29, 0])
            k1 = torchvision.ops.boxes._batched_nms_coordinate_trick(bb, ss, ll, 0.5).tolist()
            k2 = torchvision.ops.boxes._batched_nms_vanilla(bb, ss, ll, 0.5).tolist()
            if k1 != k2:
                found = (A_, B_, k1, k2)
                break
    assert found is not None, "no trick/exact disagreement found"
    A_, B_, k1, k2 = found
    # RoI 0 -> A (class 29), RoI 1 -> B (class 29), RoI 2 -> the big box (class 0)
    tb = np.zeros((3, 4 * 30), f32)
    tb[0, 29 * 4:30 * 4], tb[1, 29 * 4:30 * 4], tb[2, 0:4] = A_, B_, [0, 0, 1279, 719]
    ts = np.zeros((3, 31), f32)
    ts[0, 29], ts[1, 29], ts[2, 0] = 0.9, 0.8, 0.7
    fx["tr_boxes"], fx["tr_scores"] = tb, ts
    fx["tr_trick"] = mm_multiclass_nms(tb, ts, 1e-4, 0.5, -1, "trick")
    fx["tr_exact"] = mm_multiclass_nms(tb, ts, 1e-4, 0.5, -1, "exact")
    print(f"gen_boxes: trick/exact disagreement pair found: trick keeps {k1}, exact keeps {k2}")
    assert len(fx["tr_trick"]) != len(fx["tr_exact"])

    write_fixture(os.path.join(out_dir, "boxes.slfx"), fx)
    print(f"gen_boxes: wrote {len(fx)} entries to {out_dir}/boxes.slfx; "
          f"official dets {len(fx['off_dets'])}, mc {len(fx['mc_trick'])}, "
          f"rpn {len(fx['rpn_boxes'])}/{len(fx['rpn2_boxes'])}")


if __name__ == "__main__":
    main()
