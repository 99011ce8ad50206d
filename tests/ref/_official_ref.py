"""Independent PyTorch/NumPy reference of the official SELSA network and its test schedule.

Written from /work/shared/spec/official-selsa.md §0-§7 and §9 only (not from the project's C
code, not from MXNet, which is not installed). Everything is float32 in eval mode; BN is applied
with F.batch_norm on the running statistics (never folded), so that parity with the C model (which
folds BN into the convolutions) also checks the folding.

Pieces (all configurable through `Config`, so the same code runs the tiny CI network and the full
ResNet-101 at 600x1000):
  preprocess            §1   cv2 INTER_LINEAR resize of uint8 BGR, RGB order, BGR means
  backbone_conv4/conv5  §2   Caffe-style ResNet-v1 (stride on the 1x1 branch2a/branch1,
                             res5 stride 1 with dilate 2 / pad 2 on every branch2b)
  rpn                   §3.1 2-class softmax over the (N, 2, A*H, W) reshape
  generate_anchors      §3.2 MXNet GenerateAnchors
  proposal              §3.3 MXNet (Multi)Proposal in NumPy float32
  roi_pool              §4.1 MXNet ROIPooling (masked-max formulation of the spec rule)
  head_frame/aggregate  §4.1, §4.2 fc_new_1, SELSA#1, ReLU, fc_new_2, SELSA#2, key slice, outputs
  postprocess           §5   official tester decode, clip, per-class py NMS, max_per_image
  schedule              §9   deque of maxlen 2K+1, key = deque[K]
  run_video             the UNCACHED official algorithm: every window recomputes res5, RPN,
                        proposals, ROIPool and the head for all of its 2K+1 entries (conv4 is
                        computed once per frame, as the official feature cache does).
  run_full              full-size ResNet-101 on real frames with random weights (timing).

Params are a dict of plain names ("conv1_weight", "bn_conv1_gamma", ...) -> float32 arrays;
to_checkpoint()/from_checkpoint() convert to/from the "arg:"/"aux:" keyed .params content (§6).
"""
import collections
import math
import os
import string
import time
from dataclasses import dataclass

import cv2
import numpy as np
import torch
import torch.nn.functional as F

f32 = np.float32


# --------------------------------------------------------------------------- configuration --
@dataclass
class Config:
    units: tuple = (3, 4, 23, 3)          # bottleneck units in res2..res5
    base_channels: int = 64               # conv1 outputs; stage s has mid = base*2^(s-2), out = 4*mid
    rpn_channels: int = 512
    conv_new_channels: int = 256
    fc_dim: int = 1024
    num_classes: int = 31
    key_interval: int = 10                # K; window 2K+1, key = deque[K]
    scales: tuple = (600, 1000)           # (short, long) of §1
    pixel_means_bgr: tuple = (103.06, 115.90, 123.15)
    anchor_scales: tuple = (8, 16, 32)
    anchor_ratios: tuple = (0.5, 1, 2)
    feat_stride: int = 16
    rpn_pre_nms: int = 6000
    rpn_post_nms: int = 300
    rpn_nms: float = 0.7
    rpn_min_size: float = 0.0
    rpn_stds: tuple = (0.1, 0.1, 0.4, 0.4)
    pooled: int = 7
    test_thresh: float = 1e-3
    test_nms: float = 0.3
    max_per_image: int = 300
    bbox_stds: tuple = (0.1, 0.1, 0.2, 0.2)

    @property
    def num_anchors(self):
        return len(self.anchor_scales) * len(self.anchor_ratios)

    @property
    def msra_naming(self):
        # ResNet-101: stages 3 and 4 are named a, b1, b2, ... (official checkpoint names)
        return tuple(self.units) == (3, 4, 23, 3)


def tiny_config():
    """The CI configuration of the contract (official_contract.md)."""
    return Config(units=(1, 1, 1, 1), base_channels=8, rpn_channels=32, conv_new_channels=16,
                  fc_dim=64, key_interval=2, scales=(128, 200))


def full_config(key_interval=10):
    return Config(key_interval=key_interval)


def unit_names(cfg, stage):
    n = cfg.units[stage - 2]
    if stage in (3, 4) and cfg.msra_naming:
        return ["a"] + ["b%d" % i for i in range(1, n)]
    return list(string.ascii_lowercase[:n])


def stage_channels(cfg, stage):
    mid = cfg.base_channels * 2 ** (stage - 2)
    return mid, 4 * mid


def _bn_name(conv):
    return "bn_conv1" if conv == "conv1" else "bn" + conv[3:]


# ---------------------------------------------------------------------- parameter shapes §6.1 --
def param_specs(cfg, selsa=True):
    """List of (plain name, shape, kind) with kind in conv/bn_gamma/bn_beta/bn_mean/bn_var/fc/bias."""
    specs = []

    def conv(name, cout, cin, k):
        specs.append((name + "_weight", (cout, cin, k, k), "conv"))
        bn = _bn_name(name)
        for suf, kind in (("_gamma", "bn_gamma"), ("_beta", "bn_beta"),
                          ("_moving_mean", "bn_mean"), ("_moving_var", "bn_var")):
            specs.append((bn + suf, (cout,), kind))

    conv("conv1", cfg.base_channels, 3, 7)
    cin = cfg.base_channels
    for stage in (2, 3, 4, 5):
        mid, out = stage_channels(cfg, stage)
        for i, u in enumerate(unit_names(cfg, stage)):
            name = "res%d%s" % (stage, u)
            if i == 0:
                conv(name + "_branch1", out, cin, 1)
            conv(name + "_branch2a", mid, cin if i == 0 else out, 1)
            conv(name + "_branch2b", mid, mid, 3)
            conv(name + "_branch2c", out, mid, 1)
        cin = out
    c4 = stage_channels(cfg, 4)[1]
    c5 = stage_channels(cfg, 5)[1]
    A = cfg.num_anchors
    D = cfg.fc_dim

    def lin(name, shape):
        specs.append((name + "_weight", shape, "fc"))
        specs.append((name + "_bias", (shape[0],), "bias"))

    lin("rpn_conv_3x3", (cfg.rpn_channels, c4, 3, 3))
    lin("rpn_cls_score", (2 * A, cfg.rpn_channels, 1, 1))
    lin("rpn_bbox_pred", (4 * A, cfg.rpn_channels, 1, 1))
    lin("conv_new_1", (cfg.conv_new_channels, c5, 1, 1))
    lin("fc_new_1", (D, cfg.conv_new_channels * cfg.pooled * cfg.pooled))
    if selsa:
        lin("query_1", (D, D))
        lin("key_1", (D, D))
        lin("linear_out_1", (D, D, 1, 1))
    lin("fc_new_2", (D, D))
    if selsa:
        lin("query_2", (D, D))
        lin("key_2", (D, D))
        lin("linear_out_2", (D, D, 1, 1))
    lin("cls_score", (cfg.num_classes, D))
    lin("bbox_pred", (8, D))
    return specs


# Standard deviations of the random weights, chosen so activations stay O(1) through the tiny
# net (measured in gen_official.py) and the RPN/class scores are spread but not saturated.
DEFAULT_GAINS = {
    "conv1": 0.5 / 60.0,      # input is pixel - mean (std ~ 60): bring conv1 to O(1)
    "conv": 0.5,              # He-like sqrt(2/fan_in) * gain
    "branch2c": 0.5,          # extra factor / sqrt(units in stage) is applied (deep nets)
    "rpn_conv_3x3": 1.0,
    "rpn_cls_score": 1.0,     # multiplies sqrt(1/fan_in)
    "rpn_bbox_pred": 0.3,
    "conv_new_1": 1.0,
    "fc_new_1": 1.0,
    "query": 1.0, "key": 1.0, "linear_out": 0.5,
    "fc_new_2": 1.0,
    "cls_score": 2.0,
    "bbox_pred": 0.5,
    "bias": 0.1,
}


def random_params(cfg, seed, selsa=True, gains=None):
    """Random but sane weights (official_contract.md): conv/fc N(0, sigma), BN gamma U(.5,1.5),
    beta U(-.1,.1), moving_mean U(-.1,.1), moving_var U(.5,1.5), small biases."""
    g = dict(DEFAULT_GAINS)
    if gains:
        g.update(gains)
    rs = np.random.RandomState(seed)
    P = collections.OrderedDict()
    for name, shape, kind in param_specs(cfg, selsa=True):  # same draws with/without selsa
        if kind == "conv":
            fan_in = int(np.prod(shape[1:]))
            s = math.sqrt(2.0 / fan_in)
            if name.startswith("conv1"):
                s *= g["conv1"]
            elif name.endswith("branch2c_weight"):
                s *= g["branch2c"] / math.sqrt(cfg.units[int(name[3]) - 2])
            else:
                s *= g["conv"]
            v = rs.normal(0.0, s, shape)
        elif kind == "bn_gamma":
            v = rs.uniform(0.5, 1.5, shape)
        elif kind in ("bn_beta", "bn_mean"):
            v = rs.uniform(-0.1, 0.1, shape)
        elif kind == "bn_var":
            v = rs.uniform(0.5, 1.5, shape)
        elif kind == "fc":
            fan_in = int(np.prod(shape[1:]))
            key = name[:-len("_weight")]
            if key[:-2] in ("query", "key", "linear_out"):  # query_1 -> query, ...
                key = key[:-2]
            he = math.sqrt((2.0 if key in ("rpn_conv_3x3", "conv_new_1", "fc_new_1", "fc_new_2")
                            else 1.0) / fan_in)
            v = rs.normal(0.0, he * g[key], shape)
        elif kind == "bias":
            v = rs.uniform(-g["bias"], g["bias"], shape)
        else:
            raise AssertionError(kind)
        P[name] = v.astype(f32)
    if not selsa:
        for k in list(P):
            if k.split("_")[0] in ("query", "key") or k.startswith("linear_out"):
                del P[k]
    return P


def to_checkpoint(P, cfg, with_test=True):
    """Plain params -> list of ("arg:"/"aux:" name, array) (§6.1), adding the §6.3 _test copies."""
    out = []
    for name, v in P.items():
        aux = name.endswith("_moving_mean") or name.endswith("_moving_var")
        out.append((("aux:" if aux else "arg:") + name, v))
    if with_test:
        # do_checkpoint multiplies by mx.nd.array(stds), i.e. float32 stds; the float64 product
        # of two float32 values is exact, so casting it back gives the float32 product.
        stds = np.tile(np.asarray(cfg.bbox_stds, f32), 2).astype(np.float64)
        means = np.zeros(8)
        w = (P["bbox_pred_weight"].astype(np.float64) * stds[:, None]).astype(f32)
        b = (P["bbox_pred_bias"].astype(np.float64) * stds + means).astype(f32)
        out.append(("arg:bbox_pred_weight_test", w))
        out.append(("arg:bbox_pred_bias_test", b))
    return out


def from_checkpoint(entries):
    """("arg:"/"aux:" name, array) list -> plain params; *_test keys renamed onto the base name
    (load_param(process=True), §6.3)."""
    P = {}
    for name, v in entries:
        P[name.split(":", 1)[1]] = np.asarray(v, f32)
    for k in [k for k in P if k.endswith("_test")]:
        P[k[:-len("_test")]] = P.pop(k)
    return P


def to_torch(P):
    return {k: torch.from_numpy(np.ascontiguousarray(v, f32)) for k, v in P.items()}


# ------------------------------------------------------------------------ preprocessing §1 --
def image_scale(h, w, scales):
    short, long_ = scales
    scale = float(short) / float(min(h, w))
    if np.round(scale * max(h, w)) > long_:
        scale = float(long_) / float(max(h, w))
    return scale


def preprocess(im_bgr, cfg):
    """uint8 BGR (H, W, 3) -> (tensor (1,3,h,w) float32 RGB - means, im_info [h, w, scale] f64)."""
    assert im_bgr.dtype == np.uint8 and im_bgr.ndim == 3
    scale = image_scale(im_bgr.shape[0], im_bgr.shape[1], cfg.scales)
    im = cv2.resize(im_bgr, None, None, fx=scale, fy=scale, interpolation=cv2.INTER_LINEAR)
    h, w = im.shape[:2]
    means = np.asarray(cfg.pixel_means_bgr, np.float64)
    t = np.zeros((1, 3, h, w), f32)
    for i in range(3):  # tensor channel i = RGB, i.e. BGR channel 2-i
        t[0, i] = im[:, :, 2 - i].astype(np.float64) - means[2 - i]
    return torch.from_numpy(t), np.array([h, w, scale], np.float64)


# ----------------------------------------------------------------------------- backbone §2 --
def _conv_bn(P, x, conv, stride=1, pad=0, dil=1, relu=True):
    y = F.conv2d(x, P[conv + "_weight"], None, stride, pad, dil)
    bn = _bn_name(conv)
    y = F.batch_norm(y, P[bn + "_moving_mean"], P[bn + "_moving_var"], P[bn + "_gamma"],
                     P[bn + "_beta"], training=False, momentum=0.0, eps=1e-5)
    return F.relu(y) if relu else y


def _unit(P, x, name, first, stride, dil):
    b = _conv_bn(P, x, name + "_branch1", stride, relu=False) if first else x
    y = _conv_bn(P, x, name + "_branch2a", stride)             # stride on the 1x1 (Caffe style)
    y = _conv_bn(P, y, name + "_branch2b", 1, dil, dil)
    y = _conv_bn(P, y, name + "_branch2c", relu=False)
    return F.relu(b + y)


def _stage(P, cfg, x, stage, stride, dil):
    for i, u in enumerate(unit_names(cfg, stage)):
        x = _unit(P, x, "res%d%s" % (stage, u), i == 0, stride if i == 0 else 1, dil)
    return x


def mx_out(n, k, s, p, d=1):
    """MXNet conv / 'valid' pooling output size."""
    return (n + 2 * p - d * (k - 1) - 1) // s + 1


def backbone_conv4(P, cfg, x):
    y = _conv_bn(P, x, "conv1", 2, 3)
    h, w = y.shape[2:]
    y = F.max_pool2d(y, 3, 2, 1, ceil_mode=False)  # MXNet pooling_convention='valid'
    assert tuple(y.shape[2:]) == (mx_out(h, 3, 2, 1), mx_out(w, 3, 2, 1))
    y = _stage(P, cfg, y, 2, 1, 1)
    y = _stage(P, cfg, y, 3, 2, 1)
    y = _stage(P, cfg, y, 4, 2, 1)
    return y


def backbone_conv5(P, cfg, c4):
    return _stage(P, cfg, c4, 5, 1, 2)  # res5: stride 1, dilate 2 pad 2 on every branch2b


# ---------------------------------------------------------------------------------- RPN §3 --
def rpn(P, cfg, c4):
    """-> cls_prob (N, 2A, H, W) (channel a = bg, A+a = fg), raw bbox_pred (N, 4A, H, W)."""
    r = F.relu(F.conv2d(c4, P["rpn_conv_3x3_weight"], P["rpn_conv_3x3_bias"], 1, 1))
    score = F.conv2d(r, P["rpn_cls_score_weight"], P["rpn_cls_score_bias"])
    bbox = F.conv2d(r, P["rpn_bbox_pred_weight"], P["rpn_bbox_pred_bias"])
    n, c, h, w = score.shape
    prob = F.softmax(score.reshape(n, 2, c // 2 * h, w), dim=1).reshape(n, c, h, w)
    return prob, bbox


def generate_anchors(cfg):
    """MXNet proposal-inl.h GenerateAnchors: ratios outer loop, scales inner (a = 3*i_r + j_s)."""
    base = np.array([0, 0, cfg.feat_stride - 1, cfg.feat_stride - 1], f32)
    w = base[2] - base[0] + f32(1)
    h = base[3] - base[1] + f32(1)
    xc = base[0] + f32(0.5) * (w - f32(1))
    yc = base[1] + f32(0.5) * (h - f32(1))
    out = []
    for r in cfg.anchor_ratios:
        for s in cfg.anchor_scales:
            size_ratios = np.floor(w * h / f32(r))
            nw = np.floor(np.sqrt(size_ratios) + f32(0.5)) * f32(s)
            nh = np.floor(nw / f32(s) * f32(r) + f32(0.5)) * f32(s)
            out.append([xc - f32(0.5) * (nw - 1), yc - f32(0.5) * (nh - 1),
                        xc + f32(0.5) * (nw - 1), yc + f32(0.5) * (nh - 1)])
    return np.asarray(out, f32)


ANCHOR_TABLE = np.array([[-84, -40, 99, 55], [-176, -88, 191, 103], [-360, -184, 375, 199],
                         [-56, -56, 71, 71], [-120, -120, 135, 135], [-248, -248, 263, 263],
                         [-36, -80, 51, 95], [-80, -168, 95, 183], [-168, -344, 183, 359]], f32)


def decode_plus1_f32(boxes, d):
    """+1-convention decode in float32 (§3.3 step 2); boxes (n,4), d (n,4) -> (n,4)."""
    one, half = f32(1), f32(0.5)
    w = boxes[:, 2] - boxes[:, 0] + one
    h = boxes[:, 3] - boxes[:, 1] + one
    cx = boxes[:, 0] + half * (w - one)
    cy = boxes[:, 1] + half * (h - one)
    pcx = d[:, 0] * w + cx
    pcy = d[:, 1] * h + cy
    pw = np.exp(d[:, 2]) * w
    ph = np.exp(d[:, 3]) * h
    return np.stack([pcx - half * (pw - one), pcy - half * (ph - one),
                     pcx + half * (pw - one), pcy + half * (ph - one)], 1).astype(f32)


def proposal(cls_prob, bbox_pred, im_info, cfg, debug=None):
    """MXNet (Multi)Proposal for one image (§3.3). cls_prob (2A,H,W), bbox_pred (4A,H,W) raw
    (rpn_inv_normalize is applied here). Returns rois (post_nms, 5) float32 [0, x1, y1, x2, y2]."""
    cls_prob = np.asarray(cls_prob, f32)
    bbox_pred = np.asarray(bbox_pred, f32)
    A = cfg.num_anchors
    _, H, W = cls_prob.shape
    im_h, im_w, im_scale = float(im_info[0]), float(im_info[1]), float(im_info[2])
    # rpn_inv_normalize: delta = pred * std + mean (mean 0), std by channel k = c % 4
    stds = np.tile(np.asarray(cfg.rpn_stds, f32), A)[:, None, None]
    deltas = bbox_pred * stds
    anchors = generate_anchors(cfg)
    # enumeration idx = h*(W*A) + w*A + a
    sx = (np.arange(W, dtype=f32) * cfg.feat_stride)[None, :, None]
    sy = (np.arange(H, dtype=f32) * cfg.feat_stride)[:, None, None]
    boxes = np.empty((H, W, A, 4), f32)
    boxes[..., 0] = anchors[None, None, :, 0] + sx
    boxes[..., 1] = anchors[None, None, :, 1] + sy
    boxes[..., 2] = anchors[None, None, :, 2] + sx
    boxes[..., 3] = anchors[None, None, :, 3] + sy
    scores = cls_prob[A:].transpose(1, 2, 0).copy()                       # (H, W, A) fg prob
    d = deltas.reshape(A, 4, H, W).transpose(2, 3, 0, 1).reshape(-1, 4)  # (H*W*A, 4)
    boxes = decode_plus1_f32(boxes.reshape(-1, 4), d)
    boxes[:, 0::2] = np.clip(boxes[:, 0::2], f32(0), f32(im_w - 1))
    boxes[:, 1::2] = np.clip(boxes[:, 1::2], f32(0), f32(im_h - 1))
    # padded-region rule: h >= int(im_h/16) or w >= int(im_w/16) -> score -1
    real_h, real_w = int(im_h / cfg.feat_stride), int(im_w / cfg.feat_stride)
    hh, ww = np.meshgrid(np.arange(H), np.arange(W), indexing="ij")
    scores[(hh >= real_h) | (ww >= real_w)] = f32(-1)
    scores = scores.reshape(-1)
    # FilterBox (min_size * scale; 0 in the official config -> no-op)
    min_size = f32(cfg.rpn_min_size * im_scale)
    iw = boxes[:, 2] - boxes[:, 0] + f32(1)
    ih = boxes[:, 3] - boxes[:, 1] + f32(1)
    small = (iw < min_size) | (ih < min_size)
    if small.any():
        boxes[small, 0] -= min_size / 2
        boxes[small, 1] -= min_size / 2
        boxes[small, 2] += min_size / 2
        boxes[small, 3] += min_size / 2
        scores[small] = f32(-1)
    # stable sort descending, pre-NMS top N
    order = np.argsort(-scores, kind="stable")[:min(cfg.rpn_pre_nms, scores.size)]
    b = boxes[order]
    s = scores[order]
    # greedy NMS, +1 areas, suppress IoU > thresh, stop at post_nms
    area = (b[:, 2] - b[:, 0] + f32(1)) * (b[:, 3] - b[:, 1] + f32(1))
    n = b.shape[0]
    suppressed = np.zeros(n, bool)
    keep = []
    min_margin = np.inf
    for i in range(n):
        if suppressed[i]:
            continue
        keep.append(i)
        if len(keep) == cfg.rpn_post_nms:
            break
        j = np.arange(i + 1, n)
        j = j[~suppressed[j]]
        xx1 = np.maximum(b[i, 0], b[j, 0])
        yy1 = np.maximum(b[i, 1], b[j, 1])
        xx2 = np.minimum(b[i, 2], b[j, 2])
        yy2 = np.minimum(b[i, 3], b[j, 3])
        iw_ = np.maximum(f32(0), xx2 - xx1 + f32(1))
        ih_ = np.maximum(f32(0), yy2 - yy1 + f32(1))
        inter = iw_ * ih_
        ovr = inter / (area[i] + area[j] - inter)
        if ovr.size:
            min_margin = min(min_margin, float(np.min(np.abs(ovr - f32(cfg.rpn_nms)))))
        suppressed[j[ovr > f32(cfg.rpn_nms)]] = True
    keep = np.asarray(keep)
    rows = keep[np.arange(cfg.rpn_post_nms) % keep.size]  # repeat-fill keep[i % out_size]
    rois = np.zeros((cfg.rpn_post_nms, 5), f32)
    rois[:, 1:] = b[rows]
    if debug is not None:
        debug.update(sorted_scores=s, sorted_boxes=b, keep=keep, order=order, kept_scores=s[keep],
                     nms_iou_margin=min_margin, n_valid=int(np.sum(scores > -1)))
    return rois


# ------------------------------------------------------------------------- ROIPooling §4.1 --
def roi_pool_bounds(rois, H, W, pooled, spatial_scale):
    """Per RoI and bin: [start, end) row and column bounds (MXNet 1.3.0 ROIPooling rule)."""
    rois = np.asarray(rois, f32)
    s = f32(spatial_scale)

    def c_round(v):  # C round(): half away from zero; exact in float64 for float32 input
        v = v.astype(np.float64)
        return (np.sign(v) * np.floor(np.abs(v) + 0.5)).astype(np.int64)

    xs, ys = c_round(rois[:, 1] * s), c_round(rois[:, 2] * s)
    xe, ye = c_round(rois[:, 3] * s), c_round(rois[:, 4] * s)
    rw = np.maximum(xe - xs + 1, 1)
    rh = np.maximum(ye - ys + 1, 1)
    bin_w = rw.astype(f32) / f32(pooled)  # float32 bin sizes
    bin_h = rh.astype(f32) / f32(pooled)
    p = np.arange(pooled, dtype=f32)
    hs = np.floor(p[None] * bin_h[:, None]).astype(np.int64) + ys[:, None]
    he = np.ceil((p[None] + f32(1)) * bin_h[:, None]).astype(np.int64) + ys[:, None]
    ws = np.floor(p[None] * bin_w[:, None]).astype(np.int64) + xs[:, None]
    we = np.ceil((p[None] + f32(1)) * bin_w[:, None]).astype(np.int64) + xs[:, None]
    return (np.clip(hs, 0, H), np.clip(he, 0, H), np.clip(ws, 0, W), np.clip(we, 0, W))


def roi_pool(feat, rois, pooled, spatial_scale, chunk=None, per_roi=None):
    """feat (1, C, H, W) torch float32, rois (R, 5) -> (R, C, pooled, pooled); empty bin -> 0,
    negative batch index -> 0. Max over each bin via masks (separable: rows then columns),
    batched over RoIs (small maps) or per RoI on the crop it covers (large maps)."""
    _, C, H, W = feat.shape
    rois = np.asarray(rois, f32)
    R = rois.shape[0]
    hs, he, ws, we = roi_pool_bounds(rois, H, W, pooled, spatial_scale)
    if per_roi is None:
        per_roi = H * W > 1024
    if per_roi:
        return _roi_pool_crops(feat, rois, pooled, hs, he, ws, we)
    hidx, widx = np.arange(H), np.arange(W)
    mh = torch.from_numpy((hidx[None, None] >= hs[..., None]) & (hidx[None, None] < he[..., None]))
    mw = torch.from_numpy((widx[None, None] >= ws[..., None]) & (widx[None, None] < we[..., None]))
    f = feat[0]  # (C, H, W)
    neg = torch.tensor(-math.inf, dtype=feat.dtype)
    out = torch.empty((R, C, pooled, pooled), dtype=feat.dtype)
    if chunk is None:
        chunk = max(1, int(2e7 // max(1, pooled * C * H * W)))
    for r0 in range(0, R, chunk):
        r1 = min(R, r0 + chunk)
        # rows: (r, ph, C, H, W) -> max over H -> (r, ph, C, W)
        t = torch.where(mh[r0:r1, :, None, :, None], f[None, None], neg).amax(dim=3)
        # columns: (r, ph, pw, C, W) -> max over W -> (r, ph, pw, C)
        t = torch.where(mw[r0:r1, None, :, None, :], t[:, :, None], neg).amax(dim=4)
        out[r0:r1] = t.permute(0, 3, 1, 2)
    out[torch.isinf(out)] = 0.0  # empty bin
    out[torch.from_numpy(rois[:, 0] < 0)] = 0.0
    return out


def _roi_pool_crops(feat, rois, pooled, hs, he, ws, we):
    f = feat[0]
    C = f.shape[0]
    neg = torch.tensor(-math.inf, dtype=feat.dtype, device=feat.device)
    out = torch.zeros((rois.shape[0], C, pooled, pooled), dtype=feat.dtype, device=feat.device)
    for r in range(rois.shape[0]):
        if rois[r, 0] < 0:
            continue
        h0, h1 = int(hs[r].min()), int(he[r].max())
        w0, w1 = int(ws[r].min()), int(we[r].max())
        if h1 <= h0 or w1 <= w0:
            continue  # every bin empty
        hi, wi = np.arange(h0, h1), np.arange(w0, w1)
        mh = torch.from_numpy((hi[None] >= hs[r][:, None]) & (hi[None] < he[r][:, None]))
        mw = torch.from_numpy((wi[None] >= ws[r][:, None]) & (wi[None] < we[r][:, None]))
        mh, mw = mh.to(feat.device), mw.to(feat.device)
        c = f[:, h0:h1, w0:w1]                                                  # (C, h, w)
        t = torch.where(mh[:, None, :, None], c[None], neg).amax(dim=2)        # (ph, C, w)
        t = torch.where(mw[None, :, None, :], t[:, None], neg).amax(dim=3)     # (ph, pw, C)
        t = t.permute(2, 0, 1)
        out[r] = torch.where(torch.isinf(t), torch.zeros_like(t), t)           # empty bin -> 0
    return out


# ---------------------------------------------------------------------- head and SELSA §4 --
def head_frame(P, cfg, c5, rois):
    """conv_new_1 + ReLU, ROIPooling, fc_new_1 (pre-ReLU). -> (R, fc_dim)."""
    x = F.relu(F.conv2d(c5, P["conv_new_1_weight"], P["conv_new_1_bias"]))
    pooled = roi_pool(x, rois, cfg.pooled, 1.0 / cfg.feat_stride)
    flat = pooled.reshape(pooled.shape[0], -1)  # C order: c*49 + ph*7 + pw
    return F.linear(flat, P["fc_new_1_weight"], P["fc_new_1_bias"])


def selsa_module(P, k, X, fc_dim):
    """§4.2 stage k on X (M, D): X + linear_out(softmax(Q K^T / sqrt(fc_dim)) X)."""
    q = F.linear(X, P["query_%d_weight" % k], P["query_%d_bias" % k])
    kk = F.linear(X, P["key_%d_weight" % k], P["key_%d_bias" % k])
    s = (q @ kk.t()) * (1.0 / math.sqrt(float(fc_dim)))
    a = F.softmax(s, dim=1)
    z = a @ X                                     # values = raw X (conv_g False)
    y = F.conv2d(z[:, :, None, None], P["linear_out_%d_weight" % k],
                 P["linear_out_%d_bias" % k])[:, :, 0, 0]  # 1x1 conv on (M, D, 1, 1)
    return X + y


def aggregate(P, cfg, fc_new_1, key_index, selsa=True, rows_per_frame=None):
    """fc_new_1 (T*R, D) frame-major -> key frame's cls_prob (R, C) and bbox_pred (R, 8).
    Both SELSA stages are computed for all rows (official, uncached)."""
    R = rows_per_frame or cfg.rpn_post_nms
    x = selsa_module(P, 1, fc_new_1, cfg.fc_dim) if selsa else fc_new_1
    x = F.linear(F.relu(x), P["fc_new_2_weight"], P["fc_new_2_bias"])
    x = selsa_module(P, 2, x, cfg.fc_dim) if selsa else x
    x = F.relu(x[key_index * R:(key_index + 1) * R])
    cls = F.linear(x, P["cls_score_weight"], P["cls_score_bias"])
    bbox = F.linear(x, P["bbox_pred_weight"], P["bbox_pred_bias"])
    return F.softmax(cls, dim=1), bbox


# ------------------------------------------------------------------ post-processing §5 --
def py_nms(dets, thresh, tie="stable"):
    """lib/nms/nms.py::nms (keep while IoU <= thresh, +1 areas, order = argsort()[::-1]).

    The official argsort() is NumPy's unstable quicksort, so the order of exactly tied scores
    is unspecified (tied scores are common: RoIs that pool identical features). tie="stable"
    (default, used for the fixtures) makes it deterministic: argsort(kind="stable")[::-1],
    i.e. descending score and, among equal scores, the HIGHER candidate index first (what
    NumPy's quicksort gives for <= 16 candidates, where it is an insertion sort).
    tie="numpy" runs the official call literally."""
    x1, y1, x2, y2, scores = dets[:, 0], dets[:, 1], dets[:, 2], dets[:, 3], dets[:, 4]
    areas = (x2 - x1 + 1) * (y2 - y1 + 1)
    order = (scores.argsort(kind="stable") if tie == "stable" else scores.argsort())[::-1]
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


def bbox_pred_decode(boxes, deltas):
    """lib/bbox/bbox_transform.py::bbox_pred (float64, +1, no clamping)."""
    boxes = boxes.astype(np.float64)
    deltas = deltas.astype(np.float64)
    widths = boxes[:, 2] - boxes[:, 0] + 1.0
    heights = boxes[:, 3] - boxes[:, 1] + 1.0
    ctr_x = boxes[:, 0] + 0.5 * (widths - 1.0)
    ctr_y = boxes[:, 1] + 0.5 * (heights - 1.0)
    dx, dy, dw, dh = deltas[:, 0::4], deltas[:, 1::4], deltas[:, 2::4], deltas[:, 3::4]
    pcx = dx * widths[:, None] + ctr_x[:, None]
    pcy = dy * heights[:, None] + ctr_y[:, None]
    pw = np.exp(dw) * widths[:, None]
    ph = np.exp(dh) * heights[:, None]
    out = np.zeros(deltas.shape)
    out[:, 0::4] = pcx - 0.5 * (pw - 1.0)
    out[:, 1::4] = pcy - 0.5 * (ph - 1.0)
    out[:, 2::4] = pcx + 0.5 * (pw - 1.0)
    out[:, 3::4] = pcy + 0.5 * (ph - 1.0)
    return out


def postprocess(rois, cls_prob, bbox_pred, im_info, cfg, debug=None, tie="stable"):
    """-> dets (k, 6) float64 [cls, score, x1, y1, x2, y2] in original-image coordinates, sorted by
    class then descending score (the official per-class NMS keep order)."""
    rois = np.asarray(rois)[:, 1:]
    scores = np.asarray(cls_prob, f32)
    boxes = bbox_pred_decode(rois, np.asarray(bbox_pred, f32))
    h, w, scale = float(im_info[0]), float(im_info[1]), float(im_info[2])
    boxes[:, 0::4] = np.maximum(np.minimum(boxes[:, 0::4], w - 1), 0)
    boxes[:, 1::4] = np.maximum(np.minimum(boxes[:, 1::4], h - 1), 0)
    boxes[:, 2::4] = np.maximum(np.minimum(boxes[:, 2::4], w - 1), 0)   # clip_boxes clips all
    boxes[:, 3::4] = np.maximum(np.minimum(boxes[:, 3::4], h - 1), 0)   # four columns (§5.3)
    boxes = boxes / scale
    per_class = {}
    for j in range(1, cfg.num_classes):
        idx = np.where(scores[:, j] > cfg.test_thresh)[0]
        cls_dets = np.hstack((boxes[idx, 4:8], scores[idx, j, None])).astype(np.float64)
        keep = py_nms(cls_dets, cfg.test_nms, tie)
        per_class[j] = cls_dets[keep, :]
    all_scores = np.hstack([per_class[j][:, -1] for j in per_class])
    if cfg.max_per_image > 0 and len(all_scores) > cfg.max_per_image:
        th = np.sort(all_scores)[-cfg.max_per_image]
        for j in per_class:
            per_class[j] = per_class[j][per_class[j][:, -1] >= th]
    rows = [np.column_stack([np.full(len(d), j, np.float64), d[:, 4], d[:, :4]])
            for j, d in per_class.items()]
    dets = np.concatenate(rows, 0) if rows else np.zeros((0, 6))
    if debug is not None:
        debug.update(n_before_cap=len(all_scores), all_scores=all_scores, boxes=boxes,
                     scores=scores)
    return dets


# ---------------------------------------------------------------------------- schedule §9 --
def schedule(perm, K):
    """Official test loader/pred_eval frame schedule. perm: the visiting order f0..f_{N-1}.
    Returns the windows (lists of 2K+1 frame ids, deque order) in detection order; the key frame
    of a window is window[K]."""
    perm = list(perm)
    n = len(perm)
    T = 2 * K + 1
    dq = collections.deque(maxlen=T)
    windows = []
    for t, f in enumerate(perm):
        if t == 0:
            for _ in range(K + 1):
                dq.append(f)
            if n > 1:
                continue
        if 0 < t < n - 1:
            if len(dq) < T - 1:
                dq.append(f)
            else:
                dq.append(f)
                windows.append(list(dq))
            continue
        # last frame: push until the length is 2K (while-loop: no push if already >= 2K),
        # then min(N, K+1) times: push and detect
        while len(dq) < T - 1:
            dq.append(f)
        for _ in range(min(n, K + 1)):
            dq.append(f)
            windows.append(list(dq))
    return windows


# ------------------------------------------------------------------------- video driver --
class FrameCache:
    """conv4 per frame (the official feature cache) computed on first use."""

    def __init__(self, P, cfg, frames):
        self.P, self.cfg, self.frames = P, cfg, frames
        self.c4 = {}
        self.seconds = {}  # conv4 seconds per frame
        self.im_info = None

    def conv4(self, f):
        if f not in self.c4:
            x, im_info = preprocess(self.frames[f], self.cfg)
            self.im_info = im_info
            t0 = time.perf_counter()
            with torch.no_grad():
                self.c4[f] = backbone_conv4(self.P, self.cfg, x)
            self.seconds[f] = time.perf_counter() - t0
        return self.c4[f]


def frame_head(P, cfg, c4, im_info, debug=None):
    """Per-frame part of the aggregation graph: res5, RPN, proposals, head -> (rois, fc_new_1)."""
    with torch.no_grad():
        c5 = backbone_conv5(P, cfg, c4)
        prob, bbox = rpn(P, cfg, c4)
        pdbg = {} if debug is not None else None
        rois = proposal(prob[0].numpy(), bbox[0].numpy(), im_info, cfg, pdbg)
        fc1 = head_frame(P, cfg, c5, rois)
    if debug is not None:
        debug.update(conv5=c5, rpn_cls_prob=prob, rpn_bbox_pred=bbox, proposal=pdbg)
    return rois, fc1


def detect_window(P, cfg, cache, window, selsa=True):
    """Uncached official aggregation for one window -> key frame (rois, cls_prob, bbox_pred)."""
    K = len(window) // 2
    if not selsa:  # baseline: the head has no aggregation, only the key frame matters
        rois, fc1 = frame_head(P, cfg, cache.conv4(window[K]), cache.im_info)
        cls, bbox = aggregate(P, cfg, fc1, 0, selsa=False)
        return rois, cls.numpy(), bbox.numpy()
    feats, key_rois = [], None
    for i, f in enumerate(window):  # every entry recomputed, duplicates included
        rois, fc1 = frame_head(P, cfg, cache.conv4(f), cache.im_info)
        feats.append(fc1)
        if i == K:
            key_rois = rois
    with torch.no_grad():
        cls, bbox = aggregate(P, cfg, torch.cat(feats, 0), K, selsa=True)
    return key_rois, cls.numpy(), bbox.numpy()


def run_video(P, cfg, frames, perm, selsa=True, on_window=None):
    """frames: list of uint8 BGR images; perm: visiting order. Returns {frame: dict(window, rois,
    cls_prob, bbox_pred, dets)} for every frame."""
    cache = FrameCache(P, cfg, frames)
    out = {}
    for window in schedule(perm, cfg.key_interval):
        new = [f for f in window if f not in cache.c4]
        for f in window:
            cache.conv4(f)
        key = window[cfg.key_interval]
        t0 = time.perf_counter()
        rois, cls, bbox = detect_window(P, cfg, cache, window, selsa)
        dets = postprocess(rois, cls, bbox, cache.im_info, cfg)
        assert key not in out, "frame detected twice"
        out[key] = dict(window=np.asarray(window, np.int64), rois=rois, cls_prob=cls,
                        bbox_pred=bbox, dets=dets, seconds=time.perf_counter() - t0,
                        conv4_seconds=sum(cache.seconds[f] for f in set(new)),
                        conv4_new=len(set(new)))
        if on_window:
            on_window(key, out[key])
    return out


# ------------------------------------------------------------------------- full size run --
def run_full(video_dir, params_path=None, key_interval=1, n_frames=None, max_key_frames=1,
             seed=0, threads=None, device="cpu", log=print):
    """Full-size ResNet-101 (600x1000) SELSA on real frames with random weights.

    Writes the weights to params_path (MXNet .params V2, ~272 MB) when given, so a C run can load
    the same network. Runs the official uncached schedule with window 2K+1 on the first n_frames
    frames (default 2K+1) and stops after max_key_frames detections. Returns a dict with the
    per-key-frame seconds and the outputs."""
    from _mxnet_params import write_params  # noqa: local helper module
    if threads:
        torch.set_num_threads(threads)
    cfg = full_config(key_interval)
    P = random_params(cfg, seed, selsa=True)
    if params_path:
        write_params(params_path, to_checkpoint(P, cfg))
        log("wrote %s" % params_path)
    names = sorted(x for x in os.listdir(video_dir) if x.lower().endswith((".jpeg", ".jpg")))
    n = n_frames or 2 * key_interval + 1
    frames = [cv2.imread(os.path.join(video_dir, x), cv2.IMREAD_COLOR) for x in names[:n]]
    Pt = {k: v.to(device) for k, v in to_torch(P).items()}
    perm = np.random.RandomState(seed).permutation(n)
    res = {}

    class _Stop(Exception):
        pass

    def on_window(key, r):
        res[key] = r
        log("key frame %d: aggregation %.2f s (res5/RPN/proposals/head/SELSA on %d frames), "
            "conv4 of %d new frames %.2f s, window %s, %d dets"
            % (key, r["seconds"], len(r["window"]), r["conv4_new"], r["conv4_seconds"],
               list(r["window"]), len(r["dets"])))
        if len(res) >= max_key_frames:
            raise _Stop()

    t0 = time.perf_counter()
    try:
        if device == "cpu":
            run_video(Pt, cfg, frames, perm, True, on_window)
        else:
            run_video_device(Pt, cfg, frames, perm, device, on_window)
    except _Stop:
        pass
    return dict(results=res, total_seconds=time.perf_counter() - t0,
                im_info=preprocess(frames[0], cfg)[1], perm=perm)


def run_video_device(P, cfg, frames, perm, device, on_window=None):
    """Same as run_video, tensors on `device` (e.g. "cuda") except the NumPy proposal/postprocess."""
    out = {}
    c4s = {}
    im_info = None
    for window in schedule(perm, cfg.key_interval):
        for f in window:
            if f not in c4s:
                x, im_info = preprocess(frames[f], cfg)
                with torch.no_grad():
                    c4s[f] = backbone_conv4(P, cfg, x.to(device))
        K = cfg.key_interval
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        feats = []
        with torch.no_grad():
            for i, f in enumerate(window):
                c5 = backbone_conv5(P, cfg, c4s[f])
                prob, bbox = rpn(P, cfg, c4s[f])
                rois = proposal(prob[0].cpu().numpy(), bbox[0].cpu().numpy(), im_info, cfg)
                x = F.relu(F.conv2d(c5, P["conv_new_1_weight"], P["conv_new_1_bias"]))
                pooled = roi_pool(x.cpu(), rois, cfg.pooled, 1.0 / cfg.feat_stride).to(device)
                feats.append(F.linear(pooled.reshape(pooled.shape[0], -1),
                                      P["fc_new_1_weight"], P["fc_new_1_bias"]))
                if i == K:
                    key_rois = rois
            cls, bbox = aggregate(P, cfg, torch.cat(feats, 0), K, selsa=True)
            cls, bbox = cls.cpu().numpy(), bbox.cpu().numpy()
        dets = postprocess(key_rois, cls, bbox, im_info, cfg)
        key = window[K]
        out[key] = dict(window=np.asarray(window, np.int64), rois=key_rois, cls_prob=cls,
                        bbox_pred=bbox, dets=dets, seconds=time.perf_counter() - t0)
        if on_window:
            on_window(key, out[key])
    return out


def _main():
    import argparse
    ap = argparse.ArgumentParser(description="full-size official SELSA reference run (random "
                                 "weights) for timing / parity: python3 _official_ref.py VIDEO_DIR")
    ap.add_argument("video_dir")
    ap.add_argument("--key-interval", type=int, default=1, help="K (window 2K+1); official 10")
    ap.add_argument("--frames", type=int, default=None, help="frames used (default 2K+1)")
    ap.add_argument("--key-frames", type=int, default=1, help="stop after this many detections")
    ap.add_argument("--params", default=None, help="write the random weights here (.params)")
    ap.add_argument("--out", default=None, help="write per-key-frame outputs here (.npz)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="cpu")
    a = ap.parse_args()
    r = run_full(a.video_dir, a.params, a.key_interval, a.frames, a.key_frames, a.seed,
                 a.threads, a.device)
    secs = [v["seconds"] for v in r["results"].values()]
    print("im_info %s; per key frame: %s s; total %.1f s" % (
        r["im_info"].tolist(), ["%.2f" % s for s in secs], r["total_seconds"]))
    if a.out:
        e = {"perm": r["perm"], "im_info": r["im_info"]}
        for k, v in r["results"].items():
            for n in ("window", "rois", "cls_prob", "bbox_pred", "dets"):
                e["%s_%d" % (n, k)] = v[n]
        np.savez(a.out, **e)


if __name__ == "__main__":
    import sys
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    _main()
