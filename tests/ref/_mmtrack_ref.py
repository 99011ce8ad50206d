"""Independent PyTorch reference of the MMTracking SELSA detector (inference) and its
test_with_adaptive_stride schedule, written from /work/shared/spec/mmtracking-selsa.md (§1.1, §1.4,
§1.6, §2.2-§2.6) and /tmp/mmtrack_contract.md -- not from the project's C code.

Configurable: the tiny CI configs ("tiny", "tiny_x") and the full-size "r50", "r101", "x101"
(DC5, input (1000, 600)). Module names reproduce the MMTracking state-dict keys exactly
(detector.backbone..., detector.neck.convs.0.conv..., detector.rpn_head..., detector.roi_head.
bbox_head...). Everything runs in eval mode, float32, on CPU.

Numerics that matter for parity (each with its spec section):
  * preprocessing = mmcv imrescale (cv2 INTER_LINEAR on uint8) + mmcv imnormalize_ with mmdet's
    float32 mean/std arrays (see normalize()) + zero pad to 16 (§1.4);
  * anchors centred at 0, index (y*W+x)*12 + a (§2.6);
  * RPN: sigmoid, sort desc + top nms_pre, DeltaXYWH decode (clamp ±|ln(16/1000)|, clip to
    img_shape), drop w<=0 | h<=0, NMS 0.7, keep max_per_img (§2.6);
  * RoIAlign = torchvision.ops.roi_align(aligned=True, sampling_ratio=2) (same math as mmcv);
  * SelsaBBoxHead / SelsaAggregator (§2.4, §2.5);
  * get_bboxes + multiclass_nms + mmcv batched_nms offset trick (§2.6).
"""
import math

import cv2
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision
from torchvision.models.resnet import Bottleneck

CLASSES = ("airplane", "antelope", "bear", "bicycle", "bird", "bus", "car", "cattle", "dog",
           "domestic_cat", "elephant", "fox", "giant_panda", "hamster", "horse", "lion", "lizard",
           "monkey", "motorcycle", "rabbit", "red_panda", "sheep", "snake", "squirrel", "tiger",
           "train", "turtle", "watercraft", "whale", "zebra")

MEAN = np.array([123.675, 116.28, 103.53], dtype=np.float32)  # mmdet Normalize keeps float32
STD = np.array([58.395, 57.12, 57.375], dtype=np.float32)

# blocks per stage, base planes (stem channels), groups, base_width, neck channels, fc dim,
# img_scale (long, short), num_ref_imgs
PRESETS = {
    "tiny":   dict(blocks=(1, 1, 1, 1), base=8, groups=1, base_width=64, neck=32, fc=64,
                   img_scale=(200, 128), n_ref=4),
    "tiny_x": dict(blocks=(1, 1, 1, 1), base=8, groups=4, base_width=32, neck=32, fc=64,
                   img_scale=(200, 128), n_ref=4),
    "r50":    dict(blocks=(3, 4, 6, 3), base=64, groups=1, base_width=64, neck=512, fc=1024,
                   img_scale=(1000, 600), n_ref=14),
    "r101":   dict(blocks=(3, 4, 23, 3), base=64, groups=1, base_width=64, neck=512, fc=1024,
                   img_scale=(1000, 600), n_ref=14),
    "x101":   dict(blocks=(3, 4, 23, 3), base=64, groups=64, base_width=4, neck=512, fc=1024,
                   img_scale=(1000, 600), n_ref=14),
}

NUM_CLASSES = 30
NUM_HEADS = 16
ANCHOR_SCALES = (4, 8, 16, 32)
ANCHOR_RATIOS = (0.5, 1.0, 2.0)
STRIDE = 16
RPN_TEST = dict(nms_pre=6000, iou=0.7, max_per_img=300)
RCNN_TEST = dict(score_thr=1e-4, iou=0.5, max_per_img=100)
RCNN_STDS = (0.2, 0.2, 0.2, 0.2)
WH_RATIO_CLIP = 16 / 1000


def conv2_width(planes, groups, base_width):
    """mmdet ResNeXt Bottleneck: width = floor(planes * base_width / 64) * groups; plain ResNet
    (groups 1) uses width = planes. torchvision's Bottleneck computes
    int(planes * (base_width / 64.)) * groups, identical for these arguments (base_width 64 when
    groups == 1)."""
    if groups == 1:
        return planes
    return int(math.floor(planes * (base_width / 64.0))) * groups


# ----------------------------------------------------------------------------- modules
class Backbone(nn.Module):
    """mmdet ResNet/ResNeXt, pytorch style, DC5: strides (1,2,2,1), dilations (1,1,1,2)."""

    def __init__(self, blocks, base, groups, base_width):
        super().__init__()
        self.conv1 = nn.Conv2d(3, base, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(base)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        inplanes = base
        strides, dils = (1, 2, 2, 1), (1, 1, 1, 2)
        for i, nb in enumerate(blocks):
            planes = base * 2 ** i
            layers = []
            for b in range(nb):
                s = strides[i] if b == 0 else 1
                ds = None
                if b == 0:
                    ds = nn.Sequential(nn.Conv2d(inplanes, planes * 4, 1, s, bias=False),
                                       nn.BatchNorm2d(planes * 4))
                # torchvision Bottleneck: stride and dilation on conv2 (padding = dilation).
                # Every block of layer4 gets dilation 2 (mmdet DC5), unlike torchvision's
                # replace_stride_with_dilation which leaves layer4.0 at dilation 1.
                blk = Bottleneck(inplanes, planes, s, ds, groups, base_width, dils[i])
                assert blk.conv2.out_channels == conv2_width(planes, groups, base_width)
                layers.append(blk)
                inplanes = planes * 4
            setattr(self, "layer%d" % (i + 1), nn.Sequential(*layers))
        for blk in self.layer4:
            assert blk.conv2.dilation == (2, 2) and blk.conv2.padding == (2, 2)
            assert blk.conv2.stride == (1, 1)
        self.out_channels = inplanes

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))


class ConvModule(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 3, 1, 1, bias=True)

    def forward(self, x):
        return F.relu(self.conv(x))


class ChannelMapper(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.convs = nn.ModuleList([ConvModule(cin, cout)])

    def forward(self, x):
        return self.convs[0](x)


class RPNHead(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.rpn_conv = nn.Conv2d(c, c, 3, 1, 1)
        self.rpn_cls = nn.Conv2d(c, 12, 1)
        self.rpn_reg = nn.Conv2d(c, 48, 1)

    def forward(self, x):
        h = F.relu(self.rpn_conv(x))
        return self.rpn_cls(h), self.rpn_reg(h)


class SelsaAggregator(nn.Module):
    """§2.5; registration order fc_embed, ref_fc_embed, fc, ref_fc (as in the key list)."""

    def __init__(self, c, heads=NUM_HEADS):
        super().__init__()
        self.heads = heads
        self.fc_embed = nn.Linear(c, c)
        self.ref_fc_embed = nn.Linear(c, c)
        self.fc = nn.Linear(c, c)
        self.ref_fc = nn.Linear(c, c)

    def forward(self, x, r):
        n, c = x.shape
        m = r.shape[0]
        g, d = self.heads, c // self.heads
        q = self.fc_embed(x).view(n, g, d).permute(1, 0, 2)          # [G, N, d]
        k = self.ref_fc_embed(r).view(m, g, d).permute(1, 2, 0)      # [G, d, M]
        w = torch.bmm(q, k) / (d ** 0.5)                              # [G, N, M]
        w = w.softmax(dim=2)                                          # over the ref RoIs
        v = self.ref_fc(r).view(m, g, d).permute(1, 0, 2)            # [G, M, d]
        o = torch.bmm(w, v).permute(1, 0, 2).contiguous()            # [N, G, d]
        return self.fc(o.view(n, c))


class SelsaBBoxHead(nn.Module):
    """§2.4; fc_cls / fc_reg registered first (BBoxHead.__init__ order)."""

    def __init__(self, in_dim, fc, num_classes=NUM_CLASSES):
        super().__init__()
        self.fc_cls = nn.Linear(fc, num_classes + 1)
        self.fc_reg = nn.Linear(fc, 4 * num_classes)
        self.shared_fcs = nn.ModuleList([nn.Linear(in_dim, fc), nn.Linear(fc, fc)])
        self.aggregator = nn.ModuleList([SelsaAggregator(fc), SelsaAggregator(fc)])

    def forward(self, x, r, taps=None):
        x = x.flatten(1)
        r = r.flatten(1)
        for i in range(2):
            x = self.shared_fcs[i](x)
            r = self.shared_fcs[i](r)
            if taps is not None:
                taps["shared_fc%d" % i] = x.clone()
            x = x + self.aggregator[i](x, r)   # residual on pre-ReLU features
            r = F.relu(r)                      # the ref path is never aggregated
            x = F.relu(x)
        return self.fc_cls(x), self.fc_reg(x)


class RoIHead(nn.Module):
    def __init__(self, neck, fc):
        super().__init__()
        self.bbox_head = SelsaBBoxHead(neck * 49, fc)


class Detector(nn.Module):
    def __init__(self, p):
        super().__init__()
        self.backbone = Backbone(p["blocks"], p["base"], p["groups"], p["base_width"])
        self.neck = ChannelMapper(self.backbone.out_channels, p["neck"])
        self.rpn_head = RPNHead(p["neck"])
        self.roi_head = RoIHead(p["neck"], p["fc"])


class SELSA(nn.Module):
    def __init__(self, preset="r50", **over):
        super().__init__()
        p = dict(PRESETS[preset])
        p.update(over)
        self.cfg = p
        self.detector = Detector(p)
        self.eval()

    def extract_feat(self, img, taps=None):
        c5 = self.detector.backbone(img)
        x = self.detector.neck(c5)
        if taps is not None:
            taps["c5"] = c5
        return x


# ----------------------------------------------------------------------------- weights
def init_random(model, seed):
    """Random but sane weights (contract): He-like normal x0.5 for convs/linears, bias U(-.1,.1),
    BN weight U(.5,1.5), bias U(-.1,.1), running_mean U(-.1,.1), running_var U(.5,1.5); then use
    calibrate_random() to scale the output layers."""
    g = torch.Generator().manual_seed(seed)

    def u(t, lo, hi):
        t.copy_(torch.rand(t.shape, generator=g) * (hi - lo) + lo)

    def he(w, gain=0.5):
        fan_in = w[0].numel()
        w.copy_(torch.randn(w.shape, generator=g) * (gain * math.sqrt(2.0 / fan_in)))

    with torch.no_grad():
        for name, mod in model.named_modules():
            if isinstance(mod, (nn.Conv2d, nn.Linear)):
                he(mod.weight)
                if mod.bias is not None:
                    u(mod.bias, -0.1, 0.1)
            elif isinstance(mod, nn.BatchNorm2d):
                u(mod.weight, 0.5, 1.5)
                u(mod.bias, -0.1, 0.1)
                u(mod.running_mean, -0.1, 0.1)
                u(mod.running_var, 0.5, 1.5)
                mod.num_batches_tracked.fill_(0)


@torch.no_grad()
def calibrate_random(model, img, img_shape):
    """Data-dependent rescaling of randomly initialised output layers (deterministic): run one
    preprocessed image (its own ref) and scale each listed layer's weight (and bias) so its output
    has the target standard deviation: neck / rpn_conv pre-ReLU 1, RPN logits 1 (scores spread,
    no ties), RPN deltas 0.25, shared fcs 1, attention embeddings 1.5 (peaked softmax over refs),
    class logits 2.5 (non-uniform softmax), box deltas 1 (x 0.2 std)."""
    d = model.detector
    bh = d.roi_head.bbox_head
    steps = [(d.neck.convs[0].conv, 1.0, True), (d.rpn_head.rpn_conv, 1.0, True),
             (d.rpn_head.rpn_cls, 1.0, False), (d.rpn_head.rpn_reg, 0.25, True)]
    for i in range(2):
        steps += [(bh.shared_fcs[i], 1.0, True), (bh.aggregator[i].fc_embed, 1.5, True),
                  (bh.aggregator[i].ref_fc_embed, 1.5, True)]
    steps += [(bh.fc_cls, 2.5, False), (bh.fc_reg, 1.0, True)]
    for layer, target, with_bias in steps:
        outs = []
        h = layer.register_forward_hook(lambda m, i, o: outs.append(o.detach().flatten()))
        x = model.extract_feat(img)
        detect_frame(model, x, x, img_shape, [img_shape], np.ones(4, np.float32))
        h.remove()
        sd = float(torch.cat(outs).std())
        fac = target / max(sd, 1e-12)
        layer.weight.mul_(fac)
        if with_bias:
            layer.bias.mul_(fac)


def checkpoint(model):
    """{"meta": {"CLASSES": tuple of 30 names}, "state_dict": OrderedDict} (spec §3.1)."""
    return {"meta": {"CLASSES": CLASSES}, "state_dict": model.state_dict()}


# ----------------------------------------------------------------------------- preprocessing
def rescale_size(h, w, img_scale):
    """mmcv.rescale_size + _scale_size (§1.4)."""
    long_e, short_e = max(img_scale), min(img_scale)
    s = min(long_e / max(h, w), short_e / min(h, w))
    return int(w * float(s) + 0.5), int(h * float(s) + 0.5)


def normalize(img_u8):
    """mmcv.imnormalize(img, mean_f32, std_f32, to_rgb=True), run through cv2 exactly as mmcv does.
    mmdet's Normalize stores mean/std as float32 arrays; imnormalize_ passes float64(mean) and
    1/float64(std) to cv2. Equivalent closed form (checked in gen_mmtrack.py on all 256 values):
      out = (float)((double)((float)v - mean_f32) * (1.0 / (double)std_f32)),  RGB channel order.
    (Using float64 mean/std literals instead changes ~11% of the values by 1 ulp.)"""
    mean = np.float64(MEAN.reshape(1, -1))
    stdinv = 1 / np.float64(STD.reshape(1, -1))
    f = img_u8.copy().astype(np.float32)
    cv2.cvtColor(f, cv2.COLOR_BGR2RGB, f)
    cv2.subtract(f, mean, f)
    cv2.multiply(f, stdinv, f)
    return f


def preprocess(img_bgr, img_scale):
    """uint8 BGR (h, w, 3) -> (tensor (1,3,Hp,Wp), img_shape (h', w'), pad_shape, scale_factor f32[4])."""
    h, w = img_bgr.shape[:2]
    nw, nh = rescale_size(h, w, img_scale)
    r = cv2.resize(img_bgr, (nw, nh), interpolation=cv2.INTER_LINEAR)
    sf = np.array([nw / w, nh / h, nw / w, nh / h], dtype=np.float32)
    f = normalize(r)
    ph, pw = int(math.ceil(nh / 16) * 16), int(math.ceil(nw / 16) * 16)
    t = np.zeros((1, 3, ph, pw), np.float32)
    t[0, :, :nh, :nw] = f.transpose(2, 0, 1)
    return torch.from_numpy(t), (nh, nw), (ph, pw), sf


# ----------------------------------------------------------------------------- boxes
def base_anchors():
    """mmdet AnchorGenerator.gen_single_level_base_anchors, base 16, centre offset 0,
    scale_major: index a = ratio_idx*4 + scale_idx, float32."""
    ratios = torch.tensor(ANCHOR_RATIOS, dtype=torch.float32)
    scales = torch.tensor(ANCHOR_SCALES, dtype=torch.float32)
    hr = torch.sqrt(ratios)
    wr = 1 / hr
    ws = (16 * wr[:, None] * scales[None, :]).view(-1)
    hs = (16 * hr[:, None] * scales[None, :]).view(-1)
    return torch.stack([-0.5 * ws, -0.5 * hs, 0.5 * ws, 0.5 * hs], dim=-1)


def grid_anchors(H, W):
    """All anchors of an H x W map, flattened index (y*W + x)*12 + a."""
    sx = torch.arange(0, W, dtype=torch.float32) * STRIDE
    sy = torch.arange(0, H, dtype=torch.float32) * STRIDE
    xx = sx.repeat(H)
    yy = sy.view(-1, 1).repeat(1, W).view(-1)
    shifts = torch.stack([xx, yy, xx, yy], dim=-1)
    return (base_anchors()[None] + shifts[:, None]).view(-1, 4)


def delta2bbox(rois, deltas, stds, max_shape):
    """mmdet 2.25 delta2bbox (means 0, add_ctr_clamp False, clip_border True). rois (N,4),
    deltas (N, 4*C) -> (N, 4*C); max_shape (h, w)."""
    n, nc = deltas.shape[0], deltas.shape[1] // 4
    d = deltas.reshape(-1, 4) * deltas.new_tensor(stds)
    dxy, dwh = d[:, :2], d[:, 2:]
    r = rois.repeat(1, nc).reshape(-1, 4)
    pxy = (r[:, :2] + r[:, 2:]) * 0.5
    pwh = r[:, 2:] - r[:, :2]
    max_ratio = float(np.abs(np.log(WH_RATIO_CLIP)))
    dwh = dwh.clamp(min=-max_ratio, max=max_ratio)
    gxy = pxy + pwh * dxy
    gwh = pwh * dwh.exp()
    b = torch.cat([gxy - gwh * 0.5, gxy + gwh * 0.5], dim=-1)
    b[..., 0::2].clamp_(min=0, max=max_shape[1])
    b[..., 1::2].clamp_(min=0, max=max_shape[0])
    return b.reshape(n, -1)


def batched_nms(boxes, scores, labels, iou):
    """mmcv batched_nms, < 10000 boxes path: one NMS on boxes + label*(max+1) (float32).
    Returns keep indices in descending score order."""
    if boxes.numel() == 0:
        return torch.zeros(0, dtype=torch.long)
    assert boxes.shape[0] < 10000
    maxc = boxes.max()
    offsets = labels.to(boxes) * (maxc + torch.tensor(1).to(boxes))
    return torchvision.ops.nms(boxes + offsets[:, None], scores, iou)


def rpn_proposals(cls_map, reg_map, img_shape, cfg=RPN_TEST):
    """RPNHead._get_bboxes_single for one image: cls_map (12,H,W) logits, reg_map (48,H,W)."""
    H, W = cls_map.shape[-2:]
    anchors = grid_anchors(H, W)
    scores = cls_map.permute(1, 2, 0).reshape(-1).sigmoid()
    deltas = reg_map.permute(1, 2, 0).reshape(-1, 4)
    if 0 < cfg["nms_pre"] < scores.shape[0]:
        scores, order = scores.sort(descending=True)
        order = order[:cfg["nms_pre"]]
        scores = scores[:cfg["nms_pre"]]
        deltas = deltas[order]
        anchors = anchors[order]
    props = delta2bbox(anchors, deltas, (1.0, 1.0, 1.0, 1.0), img_shape)
    w = props[:, 2] - props[:, 0]
    h = props[:, 3] - props[:, 1]
    valid = (w > 0) & (h > 0)       # mmdet 2.25: min_bbox_size (0) >= 0 -> keep w > 0 and h > 0
    props, scores = props[valid], scores[valid]
    if props.numel() == 0:
        return props.new_zeros(0, 5)
    keep = batched_nms(props, scores, torch.zeros(len(scores), dtype=torch.long), cfg["iou"])
    dets = torch.cat([props[keep], scores[keep, None]], dim=1)
    return dets[:cfg["max_per_img"]]


def roi_align(feats, rois):
    """rois (K,5) [batch, x1, y1, x2, y2] on the padded neck maps (B,C,H,W) -> (K,C,7,7)."""
    return torchvision.ops.roi_align(feats, rois, (7, 7), spatial_scale=1.0 / STRIDE,
                                     sampling_ratio=2, aligned=True)


def get_bboxes(rois, cls_score, bbox_pred, img_shape, scale_factor, cfg=RCNN_TEST):
    """BBoxHead.get_bboxes(rescale=True) + multiclass_nms. Returns (dets (m,5), labels (m,)) in
    multiclass_nms order (descending score)."""
    scores = F.softmax(cls_score, dim=-1)
    bboxes = delta2bbox(rois, bbox_pred, RCNN_STDS, img_shape)
    if bboxes.shape[0] > 0:
        sf = bboxes.new_tensor(scale_factor)
        bboxes = (bboxes.view(bboxes.shape[0], -1, 4) / sf).view(bboxes.shape[0], -1)
    nc = scores.shape[1] - 1
    b = bboxes.view(scores.shape[0], -1, 4).reshape(-1, 4)      # RoI-major, class-minor
    s = scores[:, :-1].reshape(-1)                               # background (last) dropped
    lab = torch.arange(nc).view(1, -1).expand(scores.shape[0], nc).reshape(-1)
    inds = (s > cfg["score_thr"]).nonzero(as_tuple=False).squeeze(1)
    b, s, lab = b[inds], s[inds], lab[inds]
    if b.numel() == 0:
        return b.new_zeros(0, 5), lab
    keep = batched_nms(b, s, lab, cfg["iou"])[:cfg["max_per_img"]]
    return torch.cat([b[keep], s[keep, None]], dim=1), lab[keep]


def bbox2result_rows(dets, labels, num_classes=NUM_CLASSES):
    """(m, 6) float64 [label, score, x1, y1, x2, y2], class-major as bbox2result lists them
    (within a class: multiclass_nms order)."""
    rows = []
    for c in range(num_classes):
        sel = dets[labels == c]
        for d in sel.tolist():
            rows.append([c, d[4], d[0], d[1], d[2], d[3]])
    return np.array(rows, dtype=np.float64).reshape(-1, 6)


# ----------------------------------------------------------------------------- schedule
def adaptive_refs(L, n_ref):
    """test_with_adaptive_stride (§1.6): round(i*(L-1)/(n_ref-1)) with Python round, sorted."""
    stride = float(L - 1) / (n_ref - 1)
    return sorted(int(round(i * stride)) for i in range(n_ref))


@torch.no_grad()
def detect_frame(model, x, ref_x, img_shape, ref_shapes, scale_factor, taps=None):
    """SELSA.simple_test for one key frame. x (1,C,H,W) key neck map; ref_x (R+1,C,H,W) = memo maps
    then the key map (appended last). Returns dict with proposals, cls_score, bbox_pred, dets."""
    d = model.detector
    cls_k, reg_k = d.rpn_head(x)
    props = rpn_proposals(cls_k[0], reg_k[0], img_shape)
    cls_r, reg_r = d.rpn_head(ref_x)     # the RPN re-runs on every ref map, every frame
    ref_props = [rpn_proposals(cls_r[i], reg_r[i], ref_shapes[i]) for i in range(ref_x.shape[0])]
    rois = torch.cat([props.new_zeros(len(props), 1), props[:, :4]], dim=1)
    ref_rois = torch.cat([torch.cat([p.new_full((len(p), 1), float(i)), p[:, :4]], dim=1)
                          for i, p in enumerate(ref_props)], dim=0)
    feats = roi_align(x, rois)
    ref_feats = roi_align(ref_x, ref_rois)
    cls_score, bbox_pred = d.roi_head.bbox_head(feats, ref_feats, taps)
    dets, labels = get_bboxes(props[:, :4], cls_score, bbox_pred, img_shape, scale_factor)
    if taps is not None:
        taps.update(rpn_cls=cls_k, rpn_reg=reg_k, ref_rois=ref_rois, ref_props=ref_props)
    return dict(proposals=props, cls_score=cls_score, bbox_pred=bbox_pred, dets=dets,
                labels=labels)


@torch.no_grad()
def run_video(model, frames, n_ref=None, taps_frame0=None, frame_ids=None):
    """frames: list of uint8 BGR images of one video (all of them: refs are sampled from it).
    frame_ids: which frames to detect (default all, in order). MMTracking behaviour: at frame 0
    the memo (features of the n_ref adaptive refs) is extracted in one batch; each frame extracts
    its own features and the whole ref path (RPN, RoIAlign, shared fcs) is recomputed."""
    p = model.cfg
    n_ref = n_ref or p["n_ref"]
    L = len(frames)
    refs = adaptive_refs(L, n_ref)
    pre = [None] * L

    def prep(i):
        if pre[i] is None:
            pre[i] = preprocess(frames[i], p["img_scale"])
        return pre[i]

    memo = torch.cat([prep(i)[0] for i in refs], dim=0)
    memo_x = model.extract_feat(memo)
    memo_shapes = [prep(i)[1] for i in refs]
    out = []
    for f in (frame_ids if frame_ids is not None else range(L)):
        img, img_shape, pad_shape, sf = prep(f)
        taps = {} if (f == 0 and taps_frame0 is not None) else None
        x = model.extract_feat(img, taps)
        ref_x = torch.cat([memo_x, x], dim=0)
        res = detect_frame(model, x, ref_x, img_shape, memo_shapes + [img_shape], sf, taps)
        res.update(img=img, img_shape=img_shape, pad_shape=pad_shape, scale_factor=sf, neck=x)
        if taps is not None:
            taps_frame0.update(taps)
        out.append(res)
    return refs, out
