"""PyTorch side of the full-size official training-step benchmark (bench/run_train.sh, issue 6).

One official SELSA training step (official-selsa.md §8) built from the independent references
tests/ref/_official_ref.py (forward: backbone, RPN, proposal op, head, SELSA modules) and
tests/ref/_official_train_ref.py (anchor targets, proposal targets, OHEM, losses, MXNet SGD),
imported unchanged, in float32 with autograd, on the same .params file, frames and gt boxes as
bench/bench_train.c:

  per frame (key + 2 references):  preprocess (§1 resize, cv2) -> conv1..res4 -> RPN logits ->
      proposal op (numpy, on the detached probabilities) -> res5 -> conv_new_1 + ROIPooling +
      fc_new_1;
  both SELSA modules on the 900 rows, fc_new_2, cls_score / bbox_pred on the key frame's rows;
  RPN anchor targets (numpy RandomState sampler), proposal targets, RPN + OHEM RCNN losses;
  backward (autograd; conv1/res2/BN tensors do not require grad, so nothing below res3 is
  differentiated); MXNet sgd_mom_update of every trainable tensor (in place).

Differences from the reference's own test use: the reference's train_forward takes proposals
from a separate no-grad float32 pass (for parity tests); here the proposals come from the same
forward (as in official training and in the C trainer), so the backbone runs once per frame.

--roi-pool torchvision swaps the reference's mask-based ROIPooling (a Python loop over the RoIs
for large maps) for torchvision.ops.roi_pool (C++; same Caffe/MXNet bin rule: round() of the
scaled corners, floor/ceil bin edges, empty bin 0, gradient to the argmax), a faster baseline.

Usage: train_torch.py --params P --frames DIR [--key 50] [--refs 40,60] [--steps 3]
                      [--threads 2] [--gt "x1,y1,x2,y2,cls;..."] [--lr 0.00025] [--seed 0]
                      [--roi-pool reference|torchvision] [--preset r101|tiny] [--tsv FILE]
"""
import argparse
import os
import resource
import sys
import time

import cv2
import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "ref"))
import _official_ref as R  # noqa: E402
import _official_train_ref as T  # noqa: E402
from _mxnet_params import read_params  # noqa: E402


def proc_kb(key):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return -1


def torchvision_roi_pool(feat, rois, pooled, spatial_scale, chunk=None, per_roi=None):
    import torchvision
    r = torch.from_numpy(np.asarray(rois, np.float32)).to(feat.dtype)
    out = torchvision.ops.roi_pool(feat, r, (pooled, pooled), spatial_scale)
    neg = torch.from_numpy(np.asarray(rois)[:, 0] < 0)
    if bool(neg.any()):
        out = torch.where(neg[:, None, None, None], torch.zeros_like(out), out)
    return out


def train_step(P, cfg, ims, gt_orig, gt_cls, rs, names, mom, lr, wd, momentum):
    """One step; returns (losses dict of floats, seconds of forward+targets+losses+backward,
    seconds of the SGD update, n_fg RoIs, n rpn pos/neg, seconds of the forward part (until the
    losses exist, before backward))."""
    t0 = time.perf_counter()
    for n in names:
        P[n].grad = None
    A = cfg.num_anchors
    feats, key = [], None
    for f, im in enumerate(ims):
        x, im_info = R.preprocess(im, cfg)
        c4 = R.backbone_conv4(P, cfg, x)
        score, bbox = T.rpn_logits(P, c4)
        with torch.no_grad():
            n_, c, h, w = score.shape
            prob = F.softmax(score.reshape(n_, 2, c // 2 * h, w), dim=1).reshape(n_, c, h, w)
            rois = R.proposal(prob[0].numpy(), bbox[0].numpy(), im_info, cfg)
        if f == 0:
            key = (score, bbox, rois, im_info)
        c5 = R.backbone_conv5(P, cfg, c4)
        feats.append(R.head_frame(P, cfg, c5, rois))
    X = torch.cat(feats, 0)
    x = R.selsa_module(P, 1, X, cfg.fc_dim)
    x = F.linear(F.relu(x), P["fc_new_2_weight"], P["fc_new_2_bias"])
    x = R.selsa_module(P, 2, x, cfg.fc_dim)
    score, bbox, rois0, im_info = key
    x = F.relu(x[:rois0.shape[0]])
    cls = F.linear(x, P["cls_score_weight"], P["cls_score_bias"])
    bp = F.linear(x, P["bbox_pred_weight"], P["bbox_pred_bias"])
    gt = np.asarray(gt_orig, np.float64) * im_info[2]
    H, W = score.shape[2:]
    rpn_lab, rpn_tgt, rpn_w, _ = T.anchor_targets(cfg, H, W, im_info, gt, rs)
    c_lab, c_tgt, c_w, _ = T.proposal_targets(rois0, gt, gt_cls, cfg.num_classes)
    l_rc, l_rb = T.rpn_losses(score, bbox, rpn_lab, rpn_tgt, rpn_w, A)
    c_c, c_b, keep, _ = T.rcnn_losses(cls, bp, c_lab, c_tgt, c_w)
    total = l_rc + l_rb + c_c + c_b
    t_fwd = time.perf_counter() - t0
    total.backward()
    t1 = time.perf_counter()
    with torch.no_grad():
        for n in names:
            w_new, mom[n] = T.sgd_update(P[n], P[n].grad, mom[n], n, lr, wd, momentum)
            P[n].copy_(w_new)
    t2 = time.perf_counter()
    ls = dict(rpn_cls=float(l_rc), rpn_bbox=float(l_rb), rcnn_cls=float(c_c), rcnn_bbox=float(c_b))
    return (ls, t1 - t0, t2 - t1, int(np.sum(c_lab > 0)), int(np.sum(rpn_lab == 1)), int(np.sum(rpn_lab == 0)),
            t_fwd)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--params", required=True)
    ap.add_argument("--frames", required=True)
    ap.add_argument("--key", type=int, default=50)
    ap.add_argument("--refs", default="40,60")
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--gt", default="400,150,900,600,7;100,300,380,560,19",
                    help="boxes in original-image pixels x1,y1,x2,y2,cls;...")
    ap.add_argument("--lr", type=float, default=0.00025)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--roi-pool", choices=("reference", "torchvision"), default="reference")
    ap.add_argument("--preset", choices=("r101", "tiny"), default="r101",
                    help="tiny: the CI config (smoke test with official_train_tiny.params)")
    ap.add_argument("--tsv")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    if a.roi_pool == "torchvision":
        R.roi_pool = torchvision_roi_pool
    cfg = R.full_config() if a.preset == "r101" else R.tiny_config()
    ids = [a.key] + [int(v) for v in a.refs.split(",")]
    ims = []
    for i in ids:
        p = os.path.join(a.frames, "%06d.JPEG" % i)
        im = cv2.imread(p, cv2.IMREAD_COLOR)
        if im is None:
            raise IOError("cannot read %s" % p)
        ims.append(im)
    g = np.array([[float(v) for v in b.split(",")] for b in a.gt.split(";") if b])
    gt_orig, gt_cls = g[:, :4], g[:, 4].astype(np.int64)

    t = time.perf_counter()
    Pf = {n.split(":", 1)[1]: np.asarray(v, np.float32) for n, v in read_params(a.params)
          if not n.endswith("_test")}  # training trains the plain bbox_pred_* (as the C trainer)
    P = T.to_dtype_params(Pf, torch.float32)
    del Pf
    names = T.trainable_names(P)
    mom = {n: torch.zeros_like(P[n]) for n in names}
    t_load = time.perf_counter() - t
    rss_after = proc_kb("VmRSS")
    maxrss_setup = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        reset = True
    except OSError:
        reset = False
    rs = np.random.RandomState(a.seed)
    h, w = ims[0].shape[:2]
    s = R.image_scale(h, w, cfg.scales)
    print("train_torch: torch %s, threads %d, roi_pool %s, frames %s/{%06d (key), %s} %dx%d (scale %.6g), "
          "%d gt boxes, lr %g; load %.1f s, %d trainable tensors"
          % (torch.__version__, torch.get_num_threads(), a.roi_pool, a.frames, ids[0],
             ", ".join("%06d" % i for i in ids[1:]), w, h, s, len(gt_cls), a.lr, t_load, len(names)),
          flush=True)
    recs = []
    for i in range(a.steps):
        ls, fb, sgd, nfg, npos, nneg, fwd = train_step(P, cfg, ims, gt_orig, gt_cls, rs, names, mom, a.lr,
                                                  5e-4, 0.9)
        recs.append((fb + sgd, fb, sgd, ls, fwd))
        print("step %d: %.2f s (forward+backward %.2f s [forward %.2f s], sgd %.3f s) | losses rpn_cls %.5f rpn_bbox %.5f "
              "rcnn_cls %.5f rcnn_bbox %.5f | rpn +%d/-%d, fg RoIs %d | VmHWM (loop) %d kB"
              % (i + 1, fb + sgd, fb, fwd, sgd, ls["rpn_cls"], ls["rpn_bbox"], ls["rcnn_cls"], ls["rcnn_bbox"],
                 npos, nneg, nfg, proc_kb("VmHWM")), flush=True)
    hwm = proc_kb("VmHWM")
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    def med(v):
        return float(np.median(v)) if len(v) else 0.0
    tot, fb, sgd = [r[0] for r in recs], [r[1] for r in recs], [r[2] for r in recs]
    print()
    print("| seconds per training step | median (all %d) | median (steps 2..) |" % len(recs))
    print("|---|---:|---:|")
    print("| forward + targets + losses + backward | %.3f | %.3f |" % (med(fb), med(fb[1:])))
    print("| SGD update | %.3f | %.3f |" % (med(sgd), med(sgd[1:])))
    fwd = [r[4] for r in recs]
    print("| forward + targets + losses (part of the step, before backward) | %.3f | %.3f |"
          % (med(fwd), med(fwd[1:])))
    print("| **step** | **%.3f** | **%.3f** |" % (med(tot), med(tot[1:])))
    print()
    print("memory: ru_maxrss %d kB (%.1f MiB; includes loading), RSS after setup %d kB (peak during setup "
          "%d kB), peak RSS of the step loop (VmHWM after reset%s) %d kB (%.1f MiB)"
          % (maxrss, maxrss / 1024.0, rss_after, maxrss_setup, "" if reset else " FAILED", hwm, hwm / 1024.0))
    print("RESULT step_median_all=%.4f step_median_steady=%.4f fb_median_all=%.4f sgd_median_all=%.4f "
          "fwd_median=%.4f steps=%d maxrss_kb=%d loop_hwm_kb=%d"
          % (med(tot), med(tot[1:]), med(fb), med(sgd), med(fwd), len(recs), maxrss, hwm))
    if a.tsv:
        with open(a.tsv, "w") as f:
            f.write("step\tstep_s\tfb_s\tsgd_s\trpn_cls\trpn_bbox\trcnn_cls\trcnn_bbox\n")
            for i, r in enumerate(recs):
                ls = r[3]
                f.write("%d\t%.5f\t%.5f\t%.5f\t%.6f\t%.6f\t%.6f\t%.6f\n" % (
                    i + 1, r[0], r[1], r[2], ls["rpn_cls"], ls["rpn_bbox"], ls["rcnn_cls"], ls["rcnn_bbox"]))


if __name__ == "__main__":
    main()
