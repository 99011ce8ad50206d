"""Independent PyTorch/NumPy reference of ONE official SELSA training step (official-selsa.md §8).

Written from the spec (§2 frozen parameters, §3 anchors/proposals, §4 head, §8.3 targets, §8.4
losses, §8.1 SGD) on top of the forward reference _official_ref.py (whose inference behaviour is
not changed: its functions are dtype-generic and are reused here in float64 with autograd).

Pieces:
  is_frozen / trainable_names   §2 FIXED_PARAMS [conv1, res2, bn] (prefix match on the name)
  bbox_overlaps                 +1-area IoU (float64)
  bbox_transform                +1-convention (dx, dy, dw, dh) encoding
  anchor_targets                §8.4 RPN anchor targets (assign_anchor rules: inside anchors only,
                                negatives < 0.3 first, then best-anchor(s)-per-gt (ties) and
                                >= 0.7 positives, then seeded subsampling 128 fg / 256 total)
  proposal_targets              §8.3 (all 300 RoIs; label = class of max-IoU gt if IoU >= 0.5)
  rpn_losses / rcnn_losses      §8.4 (softmax CE 'valid', smooth-L1 sigma 1, grad_scale 1/256,
                                OHEM top 128 with np.argsort(-loss, kind='stable'), 1/128)
  proposals_f32                 proposals of every frame from a float32 no-grad forward
  train_forward                 3 frames -> the four losses (differentiable)
  sgd_update                    MXNet sgd_mom_update (wd only on *_weight / *_gamma)
"""
import math

import numpy as np
import torch
import torch.nn.functional as F

import _official_ref as R

FROZEN_PREFIXES = ("conv1", "res2", "bn")  # network.FIXED_PARAMS, prefix match (§2)
RPN_BATCH = 256
RPN_FG_FRACTION = 0.5
RPN_POS, RPN_NEG = 0.7, 0.3
RPN_BBOX_STDS = (0.1, 0.1, 0.4, 0.4)
FG_THRESH = 0.5
RCNN_BBOX_STDS = (0.1, 0.1, 0.2, 0.2)
OHEM_ROIS = 128


def is_frozen(name):
    return name.startswith(FROZEN_PREFIXES)


def trainable_names(P):
    """Plain param names that get gradients (never *_test, never BN/conv1/res2)."""
    return [n for n in P if not is_frozen(n) and not n.endswith("_test")]


# ------------------------------------------------------------------------------ boxes --
def bbox_overlaps(a, b):
    """IoU (n, m) with +1 areas, float64 (py-faster-rcnn bbox_overlaps: 0 unless iw>0, ih>0)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    iw = np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0]) + 1
    ih = np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1]) + 1
    inter = np.where((iw > 0) & (ih > 0), iw * ih, 0.0)
    area_a = (a[:, 2] - a[:, 0] + 1) * (a[:, 3] - a[:, 1] + 1)
    area_b = (b[:, 2] - b[:, 0] + 1) * (b[:, 3] - b[:, 1] + 1)
    union = area_a[:, None] + area_b[None] - inter
    return np.where(inter > 0, inter / union, 0.0)


def bbox_transform(ex, gt):
    """+1-convention regression targets (dx, dy, dw, dh) of ex -> gt, float64 (n, 4)."""
    ex, gt = np.asarray(ex, np.float64), np.asarray(gt, np.float64)
    ew = ex[:, 2] - ex[:, 0] + 1.0
    eh = ex[:, 3] - ex[:, 1] + 1.0
    ecx = ex[:, 0] + 0.5 * (ew - 1.0)
    ecy = ex[:, 1] + 0.5 * (eh - 1.0)
    gw = gt[:, 2] - gt[:, 0] + 1.0
    gh = gt[:, 3] - gt[:, 1] + 1.0
    gcx = gt[:, 0] + 0.5 * (gw - 1.0)
    gcy = gt[:, 1] + 0.5 * (gh - 1.0)
    return np.stack([(gcx - ecx) / ew, (gcy - ecy) / eh, np.log(gw / ew), np.log(gh / eh)], 1)


def all_anchors(cfg, H, W):
    """(H*W*A, 4) float64 in the §3.3 enumeration idx = h*(W*A) + w*A + a."""
    base = R.generate_anchors(cfg).astype(np.float64)
    A = base.shape[0]
    sx = np.arange(W, dtype=np.float64) * cfg.feat_stride
    sy = np.arange(H, dtype=np.float64) * cfg.feat_stride
    sh = np.zeros((H, W, 1, 4))
    sh[..., 0] = sh[..., 2] = sx[None, :, None]
    sh[..., 1] = sh[..., 3] = sy[:, None, None]
    return (base[None, None] + sh).reshape(H * W * A, 4)


# ---------------------------------------------------------------- RPN anchor targets §8.4 --
def anchor_labels_presample(cfg, H, W, im_info, gt_boxes, allowed_border=0):
    """Labels before subsampling, in §3.3 order: -1 ignore / 0 negative / 1 positive, plus
    argmax gt per anchor and the inside mask.

    Order of assignment (RPN_CLOBBER_POSITIVES false): every inside anchor starts at -1;
    max IoU < 0.3 -> 0; then the max-IoU anchor(s) of each gt (np.where(overlaps == gt_max), ties
    included) -> 1; then max IoU >= 0.7 -> 1. Anchors not fully inside the image
    (x1 >= -b, y1 >= -b, x2 < im_w + b, y2 < im_h + b) stay -1."""
    anchors = all_anchors(cfg, H, W)
    n = anchors.shape[0]
    im_h, im_w = float(im_info[0]), float(im_info[1])
    b = allowed_border
    inside = ((anchors[:, 0] >= -b) & (anchors[:, 1] >= -b) &
              (anchors[:, 2] < im_w + b) & (anchors[:, 3] < im_h + b))
    ii = np.where(inside)[0]
    labels = np.full(n, -1, np.int64)
    argmax = np.zeros(n, np.int64)
    gt_boxes = np.asarray(gt_boxes, np.float64).reshape(-1, 4)
    if ii.size == 0:
        return labels, argmax, inside
    if gt_boxes.shape[0] == 0:
        labels[ii] = 0
        return labels, argmax, inside
    ov = bbox_overlaps(anchors[ii], gt_boxes)
    am = ov.argmax(axis=1)
    maxov = ov[np.arange(ii.size), am]
    gt_max = ov[ov.argmax(axis=0), np.arange(ov.shape[1])]
    gt_best = np.where(ov == gt_max)[0]           # rows equal to some gt's max (ties included)
    lab = np.full(ii.size, -1, np.int64)
    lab[maxov < RPN_NEG] = 0
    lab[gt_best] = 1
    lab[maxov >= RPN_POS] = 1
    labels[ii] = lab
    argmax[ii] = am
    return labels, argmax, inside


def subsample_labels(labels, rs):
    """At most 128 positives, then negatives down to 256 - #pos; numpy RandomState.choice without
    replacement picks the ones DISABLED (set to -1), positives first (assign_anchor order)."""
    labels = labels.copy()
    num_fg = int(RPN_FG_FRACTION * RPN_BATCH)
    fg = np.where(labels == 1)[0]
    if len(fg) > num_fg:
        labels[rs.choice(fg, size=len(fg) - num_fg, replace=False)] = -1
    num_bg = RPN_BATCH - int(np.sum(labels == 1))
    bg = np.where(labels == 0)[0]
    if len(bg) > num_bg:
        labels[rs.choice(bg, size=len(bg) - num_bg, replace=False)] = -1
    return labels


def anchor_targets(cfg, H, W, im_info, gt_boxes, rs):
    """-> labels int64 (H*W*A) after sampling, bbox targets (H*W*A, 4) float64 normalised by the
    ANCHOR_STDS (zero for outside anchors), bbox weights (H*W*A, 4) (1 for positives)."""
    pre, am, inside = anchor_labels_presample(cfg, H, W, im_info, gt_boxes)
    labels = subsample_labels(pre, rs)
    anchors = all_anchors(cfg, H, W)
    tgt = np.zeros((anchors.shape[0], 4))
    gt_boxes = np.asarray(gt_boxes, np.float64).reshape(-1, 4)
    if gt_boxes.shape[0] and inside.any():
        tgt[inside] = bbox_transform(anchors[inside], gt_boxes[am[inside]]) / np.asarray(RPN_BBOX_STDS)
    w = np.zeros_like(tgt)
    w[labels == 1] = 1.0
    return labels, tgt, w, pre


# ------------------------------------------------------------------ proposal targets §8.3 --
def proposal_targets(rois, gt_boxes, gt_classes, num_classes):
    """rois (R, 5) [b, x1..y2] -> labels (R,), targets (R, 8) (cols 4:8 = normalised +1 deltas to
    the max-IoU gt, fg only), weights (R, 8) (1 in cols 4:8 for fg), max IoU (R,).
    Kept in the proposal order (the official op puts fg first, then bg; the losses are invariant
    to that permutation and ohem_keep indexes the proposal order)."""
    rois = np.asarray(rois, np.float64)
    gt_boxes = np.asarray(gt_boxes, np.float64).reshape(-1, 4)
    Rn = rois.shape[0]
    labels = np.zeros(Rn, np.int64)
    tgt = np.zeros((Rn, 8))
    w = np.zeros((Rn, 8))
    if gt_boxes.shape[0] == 0:
        return labels, tgt, w, np.zeros(Rn)
    ov = bbox_overlaps(rois[:, 1:], gt_boxes)
    am = ov.argmax(axis=1)
    maxov = ov[np.arange(Rn), am]
    fg = maxov >= FG_THRESH
    labels[fg] = np.asarray(gt_classes, np.int64)[am[fg]]
    d = bbox_transform(rois[:, 1:], gt_boxes[am]) / np.asarray(RCNN_BBOX_STDS)
    tgt[fg, 4:8] = d[fg]
    w[fg, 4:8] = 1.0
    return labels, tgt, w, maxov


# ---------------------------------------------------------------------------- losses §8.4 --
def smooth_l1(x, sigma=1.0):
    """MXNet smooth_l1(x, scalar=sigma): 0.5 (sigma x)^2 if |x| < 1/sigma^2 else |x| - 0.5/sigma^2."""
    s2 = sigma * sigma
    ax = x.abs()
    return torch.where(ax < 1.0 / s2, 0.5 * s2 * x * x, ax - 0.5 / s2)


def rpn_losses(score, bbox, labels, tgt, w, A):
    """score (1, 2A, H, W) logits, bbox (1, 4A, H, W) raw; labels/tgt/w in §3.3 order.
    cls: SoftmaxOutput over the (1, 2, A*H, W) reshape, ignore -1, 'valid' (/ #labels != -1).
    bbox: sum(w * smooth_l1(pred - tgt, 1)) * grad_scale 1/256."""
    _, c, H, W = score.shape
    logp = F.log_softmax(score.reshape(1, 2, A * H, W), dim=1)[0].reshape(2, A, H, W)
    logp = logp.permute(0, 2, 3, 1).reshape(2, -1)            # (2, H*W*A) in §3.3 order
    lab = torch.from_numpy(np.asarray(labels, np.int64))
    valid = lab >= 0
    nvalid = max(int(valid.sum()), 1)
    idx = torch.nonzero(valid)[:, 0]
    cls = -logp[lab[idx], idx].sum() / nvalid
    pred = bbox[0].reshape(A, 4, H, W).permute(2, 3, 0, 1).reshape(-1, 4)  # channel 4a+k
    t = torch.from_numpy(np.asarray(tgt)).to(pred.dtype)
    ww = torch.from_numpy(np.asarray(w)).to(pred.dtype)
    box = (ww * smooth_l1(pred - t, 1.0)).sum() / RPN_BATCH
    return cls, box


def ohem_select(per_roi_loss, n=OHEM_ROIS):
    """Top-n per-RoI losses, ties by lower index (np.argsort(-loss, kind='stable'))."""
    return np.argsort(-np.asarray(per_roi_loss, np.float64), kind="stable")[:n]


def rcnn_losses(cls_score, bbox_pred, labels, tgt, w, keep=None):
    """cls_score (R, C) logits, bbox_pred (R, 8). Per-RoI loss = -log softmax[label] +
    sum(w * smooth_l1(pred - tgt, 1)); OHEM keeps `keep` (computed here when None) -> cls =
    sum CE(kept) / #kept ('valid'), bbox = sum(w*sl1)(kept) / 128 (grad_scale 1/128)."""
    lab = torch.from_numpy(np.asarray(labels, np.int64))
    ce = -F.log_softmax(cls_score, dim=1)[torch.arange(lab.numel()), lab]
    t = torch.from_numpy(np.asarray(tgt)).to(bbox_pred.dtype)
    ww = torch.from_numpy(np.asarray(w)).to(bbox_pred.dtype)
    sl = (ww * smooth_l1(bbox_pred - t, 1.0)).sum(1)
    per = (ce + sl).detach().cpu().numpy()
    if keep is None:
        keep = ohem_select(per)
    k = torch.from_numpy(np.asarray(keep, np.int64))
    cls = ce[k].sum() / max(k.numel(), 1)
    box = sl[k].sum() / OHEM_ROIS
    return cls, box, np.asarray(keep, np.int64), per


# ------------------------------------------------------------------------------ forward --
def rpn_logits(P, c4):
    r = F.relu(F.conv2d(c4, P["rpn_conv_3x3_weight"], P["rpn_conv_3x3_bias"], 1, 1))
    return (F.conv2d(r, P["rpn_cls_score_weight"], P["rpn_cls_score_bias"]),
            F.conv2d(r, P["rpn_bbox_pred_weight"], P["rpn_bbox_pred_bias"]))


def proposals_f32(P, cfg, xs, im_info, debug=None):
    """Proposals of every frame from a float32 no-grad forward (the precision the C model runs
    in; the proposal op carries no gradient). xs: list of (1,3,h,w) tensors. -> list of (R,5)."""
    P32 = {k: v.detach().to(torch.float32) for k, v in P.items()}
    out = []
    with torch.no_grad():
        for i, x in enumerate(xs):
            c4 = R.backbone_conv4(P32, cfg, x.to(torch.float32))
            prob, bbox = R.rpn(P32, cfg, c4)
            d = {} if debug is not None else None
            out.append(R.proposal(prob[0].numpy(), bbox[0].numpy(), im_info, cfg, d))
            if debug is not None:
                debug.append(d)
    return out


def train_forward(P, cfg, xs, rois_list):
    """Differentiable forward of the training graph. Returns (rpn score, rpn bbox) of the key
    frame and (cls_score, bbox_pred) logits of the key frame's RoIs (rows 0..R-1)."""
    feats = []
    key_rpn = None
    for f, x in enumerate(xs):
        c4 = R.backbone_conv4(P, cfg, x)
        if f == 0:
            key_rpn = rpn_logits(P, c4)
        c5 = R.backbone_conv5(P, cfg, c4)
        feats.append(R.head_frame(P, cfg, c5, rois_list[f]))
    X = torch.cat(feats, 0)
    x = R.selsa_module(P, 1, X, cfg.fc_dim)                      # all 900 rows
    x = F.linear(F.relu(x), P["fc_new_2_weight"], P["fc_new_2_bias"])
    x = R.selsa_module(P, 2, x, cfg.fc_dim)                      # all 900 rows
    nk = rois_list[0].shape[0]
    x = F.relu(x[:nk])
    cls = F.linear(x, P["cls_score_weight"], P["cls_score_bias"])
    bbox = F.linear(x, P["bbox_pred_weight"], P["bbox_pred_bias"])
    return key_rpn, cls, bbox


def step_losses(P, cfg, xs, rois_list, rpn_t, rcnn_t, keep=None):
    """rpn_t = (labels, tgt, w), rcnn_t = (labels, tgt, w). -> dict of the four losses (tensors),
    ohem keep, per-RoI losses."""
    (score, bbox), cls, bp = train_forward(P, cfg, xs, rois_list)
    A = cfg.num_anchors
    l_rc, l_rb = rpn_losses(score, bbox, *rpn_t, A)
    c_c, c_b, keep, per = rcnn_losses(cls, bp, *rcnn_t, keep=keep)
    return dict(rpn_cls=l_rc, rpn_bbox=l_rb, rcnn_cls=c_c, rcnn_bbox=c_b), keep, per


LOSS_NAMES = ("rpn_cls", "rpn_bbox", "rcnn_cls", "rcnn_bbox")


def to_dtype_params(P, dtype, requires_grad=True):
    """Plain-name dict -> torch tensors of dtype; trainable ones require grad (frozen never)."""
    out = {}
    for k, v in P.items():
        t = torch.as_tensor(np.asarray(v) if not isinstance(v, torch.Tensor) else v.detach())
        t = t.to(dtype).clone()
        if requires_grad and not is_frozen(k) and not k.endswith("_test"):
            t.requires_grad_(True)
        out[k] = t
    return out


# ------------------------------------------------------------------------------ SGD §8.1 --
def has_wd(name):
    return name.endswith("_weight") or name.endswith("_gamma")


def sgd_update(w, g, mom, name, lr, wd=5e-4, momentum=0.9):
    """MXNet sgd_mom_update: mom = momentum*mom - lr*(grad + wd*w) (wd only on *_weight/_gamma);
    w += mom. Returns (w, mom) (new tensors)."""
    d = wd if has_wd(name) else 0.0
    mom = momentum * mom - lr * (g + d * w)
    return w + mom, mom
