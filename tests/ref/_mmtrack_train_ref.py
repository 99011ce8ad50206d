"""Independent PyTorch reference of ONE MMTracking SELSA training step (mmdet 2.x semantics).

Written from /work/shared/spec/mmtracking-selsa.md §1.1-§1.3, §1.5, §2.1, §2.3-§2.6 and the mmdet
2.x / mmcv 1.x training code as documented below (not from the project's C code). The forward
modules are those of the inference reference _mmtrack_ref.py (dtype-generic torch modules), run
here in float64 with autograd.

Pieces (mmdet 2.25 names):
  frozen / trainable split   ResNet frozen_stages=1 (§1.1): backbone.conv1, backbone.bn1 and
                             backbone.layer1.* get requires_grad=False. norm_eval=True: every BN
                             uses its running statistics (eval mode) but BN weight/bias of
                             layer2-4 KEEP requires_grad=True (norm_cfg requires_grad=True) and
                             are trained (and weight-decayed).
  bbox_overlaps              mode 'iou', areas (x2-x1)(y2-y1) (no +1), union clamped to eps 1e-6
  max_iou_assign             MaxIoUAssigner.assign_wrt_overlaps: -1 everywhere; 0 where
                             0 <= max IoU < neg_thr; argmax+1 where max IoU >= pos_thr; then
                             (match_low_quality=True, gt_max_assign_all=True) for gt i = 0..G-1
                             in order: if gt_max[i] >= min_pos_iou, every box whose IoU with gt i
                             equals gt_max[i] gets i+1 (later gts override earlier ones).
  random_sample              RandomSampler: (add_gt_as_proposals: gts prepended, assigned to
                             themselves); num_pos = min(#pos, int(num*frac)) drawn by randperm,
                             num_neg = min(#neg, num - num_pos); pos/neg index sets .unique()
                             (sorted ascending). Sampled boxes = pos boxes then neg boxes.
  rpn_targets                AnchorHead._get_targets_single: assign/sample only anchors fully
                             inside img_shape (allowed_border 0: x1>=0, y1>=0, x2<w, y2<h);
                             labels 1 pos / 0 neg / -1 rest (incl. outside anchors);
                             targets DeltaXYWH (stds 1) to the ASSIGNED gt (which may differ from
                             the argmax gt after low-quality matching).
  rpn_loss                   loss_cls = sum BCE-with-logits(pos->1, neg->0) / N,
                             loss_bbox = sum_pos,4 SmoothL1(beta 1/9) / N with
                             N = max(#pos,1) + max(#neg,1) (AnchorHead.get_targets per image;
                             sampling=True -> num_total_samples = pos + neg).
  rcnn_targets / rcnn_loss   labels 0..29 for positives (gt label), 30 (= num_classes) background;
                             class-specific DeltaXYWH targets / stds 0.2 (means 0);
                             loss_cls = sum softmax-CE / max(#label_weights>0, 1) = / K,
                             loss_bbox = sum_pos,4 SmoothL1(beta 1) of the pred slice of the
                             gt class / bbox_targets.size(0) = / K (all K sampled RoIs).
  sgd_step                   mmcv OptimizerHook: clip_grad_norm_(trainable, 35, 2) (coef
                             35/(norm+1e-6) applied only if < 1), then torch.optim.SGD
                             (momentum 0.9, dampening 0, wd 1e-4 on every trainable tensor,
                             buf_0 = d_p): d_p = g + wd*w; buf = 0.9*buf + d_p; w -= lr*buf.
  warmup_lr                  mmcv linear warmup: lr(s) = base*(1 - (1 - s/500)*(1 - 1/3)).
"""
import numpy as np
import torch
import torch.nn.functional as F

import _mmtrack_ref as R

NUM_CLASSES = R.NUM_CLASSES
RPN_ASSIGN = dict(pos=0.7, neg=0.3, min_pos=0.3)
RPN_SAMPLE = dict(num=256, frac=0.5)
RCNN_ASSIGN = dict(pos=0.5, neg=0.5, min_pos=0.5)
RCNN_SAMPLE = dict(num=256, frac=0.25)
RPN_TRAIN_PROPOSAL = dict(nms_pre=6000, iou=0.7, max_per_img=600)
RPN_BETA = 1.0 / 9.0
RCNN_BETA = 1.0
LR, MOMENTUM, WD = 0.01, 0.9, 1e-4
MAX_NORM = 35.0
WARMUP_ITERS, WARMUP_RATIO = 500, 1.0 / 3.0
LOSS_NAMES = ("loss_rpn_cls", "loss_rpn_bbox", "loss_cls", "loss_bbox")
FROZEN_PREFIXES = ("detector.backbone.conv1.", "detector.backbone.bn1.",
                   "detector.backbone.layer1.")


def is_frozen(name):
    return name.startswith(FROZEN_PREFIXES)


def setup_trainable(model):
    """requires_grad per §1.1; returns the ordered list of trainable parameter names."""
    names = []
    for n, p in model.named_parameters():
        p.requires_grad_(not is_frozen(n))
        if not is_frozen(n):
            names.append(n)
    model.eval()   # norm_eval: BN uses running stats; nothing else depends on the mode
    return names


def warmup_lr(s, base=LR):
    k = (1.0 - s / WARMUP_ITERS) * (1.0 - WARMUP_RATIO)
    return base * (1.0 - k)


# ------------------------------------------------------------------------------- boxes --
def bbox_overlaps(a, b):
    """mmdet bbox_overlaps(a, b, 'iou') in float64 numpy: (n, m)."""
    a = np.asarray(a, np.float64).reshape(-1, 4)
    b = np.asarray(b, np.float64).reshape(-1, 4)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    wh = np.clip(rb - lt, 0, None)
    inter = wh[..., 0] * wh[..., 1]
    union = np.maximum(area_a[:, None] + area_b[None] - inter, 1e-6)
    return inter / union


def bbox2delta(p, g, stds):
    """DeltaXYWHBBoxCoder.encode (means 0): float64 (n, 4)."""
    p = np.asarray(p, np.float64).reshape(-1, 4)
    g = np.asarray(g, np.float64).reshape(-1, 4)
    px, py = (p[:, 0] + p[:, 2]) * 0.5, (p[:, 1] + p[:, 3]) * 0.5
    pw, ph = p[:, 2] - p[:, 0], p[:, 3] - p[:, 1]
    gx, gy = (g[:, 0] + g[:, 2]) * 0.5, (g[:, 1] + g[:, 3]) * 0.5
    gw, gh = g[:, 2] - g[:, 0], g[:, 3] - g[:, 1]
    d = np.stack([(gx - px) / pw, (gy - py) / ph, np.log(gw / pw), np.log(gh / ph)], 1)
    return d / np.asarray(stds, np.float64)


def max_iou_assign(boxes, gts, pos_thr, neg_thr, min_pos):
    """MaxIoUAssigner (match_low_quality, gt_max_assign_all) -> (gt_inds (n,) int64 with
    -1 ignore / 0 negative / i+1 positive for gt i, max IoU per box (n,), overlaps (G, n))."""
    n = len(boxes)
    gt_inds = np.full(n, -1, np.int64)
    if len(gts) == 0 or n == 0:
        gt_inds[:] = 0
        return gt_inds, np.zeros(n), np.zeros((len(gts), n))
    ov = bbox_overlaps(gts, boxes)                  # (G, n) as mmdet computes it
    maxov = ov.max(0)
    arg = ov.argmax(0)
    gt_inds[(maxov >= 0) & (maxov < neg_thr)] = 0
    pos = maxov >= pos_thr
    gt_inds[pos] = arg[pos] + 1
    gt_max = ov.max(1)
    for i in range(len(gts)):
        if gt_max[i] >= min_pos:
            gt_inds[ov[i] == gt_max[i]] = i + 1
    return gt_inds, maxov, ov


def random_sample(gt_inds, num, frac, gen):
    """RandomSampler index selection (gallery draws by torch.randperm with `gen`)."""
    def choice(gallery, k):
        if len(gallery) <= k:
            return gallery
        perm = torch.randperm(len(gallery), generator=gen)[:k].numpy()
        return gallery[perm]
    pos = np.nonzero(gt_inds > 0)[0]
    pos = np.unique(choice(pos, int(num * frac)))
    neg = np.nonzero(gt_inds == 0)[0]
    neg = np.unique(choice(neg, num - len(pos)))
    return pos, neg


# ---------------------------------------------------------------------------- RPN targets --
def inside_flags(anchors, img_shape, allowed_border=0):
    a = np.asarray(anchors, np.float64)
    h, w = img_shape
    b = allowed_border
    return (a[:, 0] >= -b) & (a[:, 1] >= -b) & (a[:, 2] < w + b) & (a[:, 3] < h + b)


def rpn_targets(anchors, img_shape, gts, gen):
    """-> dict(labels (A,) int64 1/0/-1 (sampled), gt_inds (A,) int64 assigned gt (-1 if not
    positive), targets (A,4) float64 (stds 1; zero unless positive), presample gt_inds of all
    anchors (-2 outside), inside mask, overlaps of the inside anchors)."""
    anchors = np.asarray(anchors, np.float64)
    A = len(anchors)
    inside = inside_flags(anchors, img_shape)
    ii = np.nonzero(inside)[0]
    g_in, maxov, ov = max_iou_assign(anchors[ii], gts, RPN_ASSIGN["pos"], RPN_ASSIGN["neg"],
                                     RPN_ASSIGN["min_pos"])
    pos, neg = random_sample(g_in, RPN_SAMPLE["num"], RPN_SAMPLE["frac"], gen)
    labels = np.full(A, -1, np.int64)
    labels[ii[neg]] = 0
    labels[ii[pos]] = 1
    gt_of = np.full(A, -1, np.int64)
    gt_of[ii[pos]] = g_in[pos] - 1
    tgt = np.zeros((A, 4))
    if len(pos):
        tgt[ii[pos]] = bbox2delta(anchors[ii[pos]], np.asarray(gts, np.float64)[g_in[pos] - 1],
                                  (1.0, 1.0, 1.0, 1.0))
    pre = np.full(A, -2, np.int64)
    pre[ii] = g_in
    return dict(labels=labels, gt_inds=gt_of, targets=tgt, presample=pre, inside=inside,
                maxov=maxov, ov=ov, n_pos=len(pos), n_neg=len(neg))


# --------------------------------------------------------------------------- RCNN targets --
def rcnn_sample(proposals, gts, gt_labels, gen):
    """StandardRoIHead assign + sample on (proposals (P,4) float32 key-frame train proposals).
    -> dict(rois (K,5) float32 [0, x1..y2] (pos first, then neg), labels (K,) 0..29 / 30,
    gt_inds (K,) (-1 for bg), targets (K,4) float64 (stds 0.2, to the assigned gt), is_gt (K,),
    maxov of the proposals (P,), ov (G,P))."""
    props = np.asarray(proposals, np.float32)[:, :4]
    gts32 = np.asarray(gts, np.float32)
    g_p, maxov, ov = max_iou_assign(props, gts32, RCNN_ASSIGN["pos"], RCNN_ASSIGN["neg"],
                                    RCNN_ASSIGN["min_pos"])
    G = len(gts32)
    boxes = np.concatenate([gts32, props], 0)                       # add_gt_as_proposals
    g_all = np.concatenate([np.arange(1, G + 1), g_p])
    pos, neg = random_sample(g_all, RCNN_SAMPLE["num"], RCNN_SAMPLE["frac"], gen)
    sel = np.concatenate([pos, neg])
    K = len(sel)
    rois = np.zeros((K, 5), np.float32)
    rois[:, 1:] = boxes[sel]
    gt_inds = np.full(K, -1, np.int64)
    gt_inds[:len(pos)] = g_all[pos] - 1
    labels = np.full(K, NUM_CLASSES, np.int64)
    labels[:len(pos)] = np.asarray(gt_labels, np.int64)[gt_inds[:len(pos)]]
    tgt = np.zeros((K, 4))
    if len(pos):
        tgt[:len(pos)] = bbox2delta(boxes[pos], gts32[gt_inds[:len(pos)]], R.RCNN_STDS)
    return dict(rois=rois, labels=labels, gt_inds=gt_inds, targets=tgt,
                is_gt=(sel < G).astype(np.int64), n_pos=len(pos), n_neg=len(neg), maxov=maxov,
                ov=ov, gt_inds_props=g_p)


# --------------------------------------------------------------------------------- losses --
def smooth_l1(diff, beta):
    """mmdet smooth_l1_loss elementwise: 0.5 d^2 / beta if |d| < beta else |d| - 0.5 beta."""
    d = diff.abs()
    return torch.where(d < beta, 0.5 * d * d / beta, d - 0.5 * beta)


def rpn_avg_factor(n_pos, n_neg):
    """AnchorHead.get_targets: num_total_pos/neg sum max(numel, 1) per image; sampling=True."""
    return float(max(n_pos, 1) + max(n_neg, 1))


def rpn_loss(cls_map, reg_map, labels, gt_inds, anchors, gts):
    """cls_map (1,12,H,W) logits, reg_map (1,48,H,W); labels (A,) 1/0/-1; gt_inds (A,) the
    assigned gt of each positive. Targets are recomputed here from (labels, gt_inds) so an
    injected label array fully determines the loss."""
    lab = np.asarray(labels, np.int64)
    n_pos, n_neg = int((lab == 1).sum()), int((lab == 0).sum())
    N = rpn_avg_factor(n_pos, n_neg)
    logits = cls_map[0].permute(1, 2, 0).reshape(-1)              # (y*W+x)*12 + a
    deltas = reg_map[0].permute(1, 2, 0).reshape(-1, 4)           # channel 4a+k
    lt = torch.from_numpy(lab)
    w = (lt >= 0).to(logits.dtype)
    tgt = (lt == 1).to(logits.dtype)
    l_cls = (F.binary_cross_entropy_with_logits(logits, tgt, reduction="none") * w).sum() / N
    pi = np.nonzero(lab == 1)[0]
    t = bbox2delta(np.asarray(anchors, np.float64)[pi], np.asarray(gts, np.float64)[gt_inds[pi]],
                   (1.0, 1.0, 1.0, 1.0))
    t = torch.from_numpy(t).to(deltas.dtype)
    l_box = smooth_l1(deltas[torch.from_numpy(pi)] - t, RPN_BETA).sum() / N
    return l_cls, l_box, N


def rcnn_loss(cls_score, bbox_pred, rois, labels, gt_inds, gts):
    """BBoxHead.loss, class-specific: cls_score (K,31), bbox_pred (K,120)."""
    lab = np.asarray(labels, np.int64)
    K = len(lab)
    avg_cls = max(float(K), 1.0)      # sum(label_weights > 0): every sampled RoI has weight 1
    l_cls = F.cross_entropy(cls_score, torch.from_numpy(lab), reduction="sum") / avg_cls
    pi = np.nonzero(lab < NUM_CLASSES)[0]
    if len(pi) == 0:
        return l_cls, bbox_pred.sum() * 0, avg_cls, float(K)
    pred = bbox_pred.view(K, -1, 4)[torch.from_numpy(pi), torch.from_numpy(lab[pi])]
    t = bbox2delta(np.asarray(rois, np.float64)[pi, 1:], np.asarray(gts, np.float32)[gt_inds[pi]]
                   .astype(np.float64), R.RCNN_STDS)
    t = torch.from_numpy(t).to(pred.dtype)
    avg_box = float(K)                # bbox_targets.size(0)
    l_box = smooth_l1(pred - t, RCNN_BETA).sum() / avg_box
    return l_cls, l_box, avg_cls, avg_box


# -------------------------------------------------------------------------------- forward --
def train_forward(model, imgs, rois, ref_rois):
    """SELSA.forward_train's differentiable part. imgs (3,3,Hp,Wp) key first; rois (K,5) with
    batch 0 (key map); ref_rois (M,5) with batch 0/1 into ref_x. -> (rpn cls, rpn reg of the key
    map, cls_score (K,31), bbox_pred (K,120))."""
    d = model.detector
    dt = next(model.parameters()).dtype
    all_x = model.extract_feat(imgs.to(dt))         # one batch (§2.1)
    x, ref_x = all_x[:1], all_x[1:]
    cls_map, reg_map = d.rpn_head(x)
    feats = R.roi_align(x, torch.as_tensor(rois).to(dt))
    ref_feats = R.roi_align(ref_x, torch.as_tensor(ref_rois).to(dt))
    cls_score, bbox_pred = d.roi_head.bbox_head(feats, ref_feats)
    return cls_map, reg_map, cls_score, bbox_pred


def step_losses(model, imgs, dec, anchors, gts):
    """dec: injected decisions dict(rpn_labels, rpn_gt_inds, rcnn_rois, rcnn_labels,
    rcnn_gt_inds, ref_rois). -> dict of 4 loss tensors + avg factors."""
    cls_map, reg_map, cls_score, bbox_pred = train_forward(model, imgs, dec["rcnn_rois"],
                                                           dec["ref_rois"])
    a, b, n_rpn = rpn_loss(cls_map, reg_map, dec["rpn_labels"], dec["rpn_gt_inds"], anchors, gts)
    c, e, n_cls, n_box = rcnn_loss(cls_score, bbox_pred, dec["rcnn_rois"], dec["rcnn_labels"],
                                   dec["rcnn_gt_inds"], gts)
    return dict(loss_rpn_cls=a, loss_rpn_bbox=b, loss_cls=c, loss_bbox=e), (n_rpn, n_cls, n_box)


@torch.no_grad()
def proposals_f32(model32, imgs, img_shape):
    """Key train proposals (≤600) and the 2 ref frames' test proposals (≤300 each) from a float32
    no-grad forward (proposals carry no gradient; get_bboxes detaches). -> (key (P,5),
    [ref (Q,5)] x2, key rpn maps)."""
    all_x = model32.extract_feat(imgs.float())
    cls, reg = model32.detector.rpn_head(all_x)
    key = R.rpn_proposals(cls[0], reg[0], img_shape, RPN_TRAIN_PROPOSAL)
    refs = [R.rpn_proposals(cls[i], reg[i], img_shape, R.RPN_TEST) for i in (1, 2)]
    return key, refs, (cls, reg)


def ref_rois_of(ref_props):
    return torch.cat([torch.cat([p.new_full((len(p), 1), float(i)), p[:, :4]], 1)
                      for i, p in enumerate(ref_props)], 0)


# ------------------------------------------------------------------------------ optimiser --
def clip_and_sgd(params, grads, bufs, lr):
    """In place on params (dict name -> leaf tensor); returns the pre-clip total norm."""
    names = list(grads)
    total = torch.norm(torch.stack([torch.norm(grads[n].detach(), 2) for n in names]), 2)
    coef = MAX_NORM / (float(total) + 1e-6)
    scale = min(coef, 1.0)
    with torch.no_grad():
        for n in names:
            g = grads[n] * scale
            d_p = g + WD * params[n]
            if bufs.get(n) is None:
                bufs[n] = d_p.clone()
            else:
                bufs[n].mul_(MOMENTUM).add_(d_p)
            params[n].sub_(lr * bufs[n])
    return float(total)
