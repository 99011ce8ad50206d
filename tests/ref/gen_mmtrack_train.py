"""Reference fixture of one MMTracking SELSA training step + a 10-step SGD trajectory (tiny config).

Implements /tmp/train_mm_contract.md with tests/ref/_mmtrack_train_ref.py (mmdet 2.x training
semantics, written from mmtracking-selsa.md §1.1-§1.3, §1.5, §2.1, §2.3-§2.6) on the forward
modules of tests/ref/_mmtrack_ref.py, in float64 with autograd.
Writes into <fixture dir>:
  mmtrack_train_tiny.pth    the starting weights (zip layout; identical to mmtrack_tiny_zip.pth
                            of gen_mmtrack.py: same seed 4007 + calibration; asserted when that
                            file is present in the same dir)
  mmtrack_train_tiny.slfx   inputs, injected decisions, step-0 losses and gradients, trajectory
                            (entries listed in tests/ref/README.md)

Self-checks (assertions): frozen params get no gradient; finite differences (float64) agree with
autograd on a few entries of several trainable tensors; avg-factor rules; every step has RPN
positives and negatives and fg RoIs.

Usage: /usr/bin/python3 tests/ref/gen_mmtrack_train.py <fixture dir>
"""
import copy
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _mmtrack_ref as R  # noqa: E402
import _mmtrack_train_ref as T  # noqa: E402
import gen_mmtrack as G  # noqa: E402  (frames and the weight seed)
from _fixture_io import write_fixture  # noqa: E402

torch.set_num_threads(1)

FRAME_IDS = (2, 0, 4)      # key first, then the 2 refs (bilateral: one left, one right, sorted)
WEIGHT_SEED = 4007         # gen_mmtrack.run_variant("tiny", ..., 4007): trial 0
GT_SEED = 7
SAMPLER_SEED = 11          # torch.Generator of the RandomSampler draws (shared by the 10 steps)
N_STEPS = 10
N_GT = 3


def log(*a):
    print("  [mmtrack-train]", *a, flush=True)


def build_weights(frames):
    """Same weights as gen_mmtrack.build('tiny', frames, 4007) (init + calibration on frame 0)."""
    model = R.SELSA("tiny")
    R.init_random(model, WEIGHT_SEED)
    img0, shape0, _, _ = R.preprocess(frames[0], model.cfg["img_scale"])
    R.calibrate_random(model, img0, shape0)
    return model


def margins(ov, thrs):
    return min(float(np.min(np.abs(ov - t))) for t in thrs) if ov.size else np.inf


def low_quality_margin(ov, thr):
    """Near-ties (not exact) with each gt's max, among boxes, and gt max vs min_pos_iou."""
    m = np.inf
    for i in range(ov.shape[0]):
        gm = ov[i].max()
        m = min(m, abs(gm - thr))
        d = gm - ov[i]
        d = d[d > 0]
        if d.size:
            m = min(m, float(d.min()))
    return m


def choose_gt(props, anchors, img_shape, rs):
    """gt boxes (integer-valued, resized-image coords) near key proposals: RPN positives and
    negatives, 4..60 fg proposals, assignment decisions away from the IoU thresholds."""
    h, w = img_shape
    b = props[:, :4].numpy().astype(np.float64)
    wh = b[:, 2:] - b[:, :2]
    cand = np.nonzero((wh[:, 0] >= 30) & (wh[:, 0] <= 150) & (wh[:, 1] >= 30) & (wh[:, 1] <= 110))[0]
    for _ in range(3000):
        pick = rs.choice(cand, N_GT, replace=False)
        gt = np.round(b[pick] + rs.uniform(-4, 4, (N_GT, 4)))
        gt[:, 0::2] = np.clip(gt[:, 0::2], 0, w)
        gt[:, 1::2] = np.clip(gt[:, 1::2], 0, h)
        if np.any(gt[:, 2] - gt[:, 0] < 24) or np.any(gt[:, 3] - gt[:, 1] < 24):
            continue
        if T.bbox_overlaps(gt, gt)[np.triu_indices(N_GT, 1)].max() > 0.3:
            continue
        ins = T.inside_flags(anchors, img_shape)
        gi, maxov, ov = T.max_iou_assign(anchors[ins], gt, 0.7, 0.3, 0.3)
        npos = int((gi > 0).sum())
        if npos < 3 or len(set(gi[gi > 0])) < 2 or (gi == 0).sum() < 1:
            continue
        if margins(maxov, (0.3, 0.7)) < 1e-3 or low_quality_margin(ov, 0.3) < 1e-6:
            continue
        gp, mp, ovp = T.max_iou_assign(b, gt, 0.5, 0.5, 0.5)
        nfg = int((gp > 0).sum())
        if not (6 <= nfg <= 60) or len(set(gp[gp > 0])) < N_GT:
            continue
        if margins(ovp, (0.5,)) < 1e-3:
            continue
        return gt.astype(np.float32)
    raise RuntimeError("no gt boxes found")


def check_avg_factors(dec, avg, sample_rpn, sample_rcnn):
    n_rpn, n_cls, n_box = avg
    lab = dec["rpn_labels"]
    assert n_rpn == max(int((lab == 1).sum()), 1) + max(int((lab == 0).sum()), 1)
    assert n_rpn == T.rpn_avg_factor(sample_rpn["n_pos"], sample_rpn["n_neg"])
    K = len(dec["rcnn_labels"])
    assert n_cls == K and n_box == K == sample_rcnn["n_pos"] + sample_rcnn["n_neg"]
    assert K == min(256, sample_rcnn["n_pos"] + sample_rcnn["n_neg"])
    assert sample_rcnn["n_pos"] <= 64 and sample_rpn["n_pos"] <= 128
    assert int((lab >= 0).sum()) <= 256


def check_loss_formulas(model, imgs, dec, anchors, gt, ls):
    """Recompute the four losses with the literal mmdet expressions (label/weight arrays of
    AnchorHead/BBoxHead, weight_reduce_loss with avg_factor) and compare."""
    with torch.no_grad():
        cls_map, reg_map, cs, bp = T.train_forward(model, imgs, dec["rcnn_rois"], dec["ref_rois"])
        lab = dec["rpn_labels"]
        A = len(lab)
        # mmdet RPN: labels = num_classes (1) = background, 0 = foreground; label_weights
        mm_labels = np.where(lab == 1, 0, 1)
        lw = torch.from_numpy((lab >= 0).astype(np.float64))
        onehot = torch.from_numpy((mm_labels == 0).astype(np.float64))   # _expand_onehot_labels
        pred = cls_map[0].permute(1, 2, 0).reshape(-1, 1)[:, 0]
        loss = F.binary_cross_entropy_with_logits(pred, onehot, reduction="none")
        num_total = max((lab == 1).sum(), 1) + max((lab == 0).sum(), 1)
        a = float((loss * lw).sum() / num_total)
        tg = np.zeros((A, 4))
        wt = np.zeros((A, 4))
        p = lab == 1
        tg[p] = T.bbox2delta(anchors[p], gt[dec["rpn_gt_inds"][p]], (1, 1, 1, 1))
        wt[p] = 1
        d = reg_map[0].permute(1, 2, 0).reshape(-1, 4)
        b = float((T.smooth_l1(d - torch.from_numpy(tg), 1 / 9) * torch.from_numpy(wt)).sum()
                  / num_total)
        rl = dec["rcnn_labels"]
        K = len(rl)
        c = float(F.cross_entropy(cs, torch.from_numpy(rl), reduction="none").sum() / K)
        bt = np.zeros((K, 4))
        pos = rl < 30
        bt[pos] = T.bbox2delta(dec["rcnn_rois"][pos, 1:], gt[dec["rcnn_gt_inds"][pos]], (.2,) * 4)
        sel = bp.view(K, -1, 4)[torch.from_numpy(np.nonzero(pos)[0]), torch.from_numpy(rl[pos])]
        e = float(T.smooth_l1(sel - torch.from_numpy(bt[pos]), 1.0).sum() / bt.shape[0])
    got = [float(ls[k]) for k in T.LOSS_NAMES]
    assert np.allclose(got, [a, b, c, e], rtol=1e-12, atol=0), (got, [a, b, c, e])


def fd_check(model, imgs, dec, anchors, gt, grads, rs):
    names = ["detector.backbone.layer2.0.conv2.weight", "detector.backbone.layer2.0.bn1.weight",
             "detector.backbone.layer3.0.downsample.1.bias",
             "detector.backbone.layer4.0.conv2.weight", "detector.neck.convs.0.conv.weight",
             "detector.rpn_head.rpn_cls.bias", "detector.rpn_head.rpn_reg.weight",
             "detector.roi_head.bbox_head.shared_fcs.0.weight",
             "detector.roi_head.bbox_head.aggregator.0.ref_fc_embed.weight",
             "detector.roi_head.bbox_head.aggregator.1.ref_fc.weight",
             "detector.roi_head.bbox_head.aggregator.1.fc_embed.bias",
             "detector.roi_head.bbox_head.fc_cls.weight", "detector.roi_head.bbox_head.fc_reg.weight"]
    params = dict(model.named_parameters())
    worst = 0.0

    def total():
        ls, _ = T.step_losses(model, imgs, dec, anchors, gt)
        return float(sum(ls.values()))
    with torch.no_grad():
        for n in names:
            g = grads[n].reshape(-1)
            flat = params[n].view(-1)
            for i in (int(torch.argmax(g.abs())), int(rs.randint(g.numel()))):
                old = float(flat[i])
                an = float(g[i])
                errs = []
                for rel in (1e-6, 1e-7):
                    eps = rel * max(1.0, abs(old))
                    flat[i] = old + eps
                    fp = total()
                    flat[i] = old - eps
                    fm = total()
                    flat[i] = old
                    fd = (fp - fm) / (2 * eps)
                    errs.append((abs(fd - an), fd))
                err, fd = min(errs)
                worst = max(worst, err / max(abs(an), 1e-3))
                assert err <= 1e-5 * max(abs(an), 1e-3), (n, i, fd, an)
    log("finite differences (float64, 2 entries x %d tensors, eps 1e-6/1e-7 rel) vs autograd: "
        "worst err/max(|g|,1e-3) %.2g: ok" % (len(names), worst))


def main():
    t0 = time.perf_counter()
    out = sys.argv[1] if len(sys.argv) > 1 else "fixtures"
    os.makedirs(out, exist_ok=True)
    video = G.make_frames(1234)
    model32 = build_weights(video)
    ck = R.checkpoint(model32)
    torch.save(ck, os.path.join(out, "mmtrack_train_tiny.pth"))
    other = os.path.join(out, "mmtrack_tiny_zip.pth")
    if os.path.exists(other):
        sd = torch.load(other)["state_dict"]
        assert all(torch.equal(sd[k], v) for k, v in model32.state_dict().items())
        log("weights identical to mmtrack_tiny_zip.pth")
    model = copy.deepcopy(model32).double()
    names = T.setup_trainable(model)
    T.setup_trainable(model32)
    params = dict(model.named_parameters())
    frozen = [n for n, _ in model.named_parameters() if T.is_frozen(n)]
    log("params: %d tensors, %d trainable (%d scalars), %d frozen (%s)" % (
        len(params), len(names), sum(params[n].numel() for n in names), len(frozen),
        ", ".join(sorted({n.split(".")[2] for n in frozen}))))

    frames = [video[i] for i in FRAME_IDS]
    pre = [R.preprocess(f, model.cfg["img_scale"]) for f in frames]
    imgs = torch.cat([p[0] for p in pre], 0)                  # (3,3,128,208) float32
    img_shape, pad_shape, sf = pre[0][1], pre[0][2], pre[0][3]
    H, W = pad_shape[0] // 16, pad_shape[1] // 16
    anchors = R.grid_anchors(H, W).numpy().astype(np.float64)
    ins = T.inside_flags(anchors, img_shape)
    per_a = np.bincount(np.nonzero(ins)[0] % 12, minlength=12)
    log("img_shape %s pad %s map %dx%d: %d anchors, %d fully inside (per anchor type a0..a11 %s)"
        % (img_shape, pad_shape, H, W, len(anchors), ins.sum(), per_a.tolist()))

    key0, _, _ = T.proposals_f32(model32, imgs, img_shape)
    gt = choose_gt(key0, anchors, img_shape, np.random.RandomState(GT_SEED))
    gt_labels = np.random.RandomState(GT_SEED + 1).choice(30, N_GT, replace=False).astype(np.int64)
    gt64 = gt.astype(np.float64)
    log("gt boxes %s labels %s" % (gt.tolist(), gt_labels.tolist()))

    gen = torch.Generator().manual_seed(SAMPLER_SEED)
    bufs = {}
    fx = {}
    traj = np.zeros((N_STEPS, 4))
    gnorms = np.zeros(N_STEPS)
    lrs = np.zeros(N_STEPS)
    for s in range(N_STEPS):
        model32.load_state_dict({k: v.float() for k, v in model.state_dict().items()})
        key, refs, _ = T.proposals_f32(model32, imgs, img_shape)
        ref_rois = T.ref_rois_of(refs).numpy().astype(np.float32)
        st = T.rpn_targets(anchors, img_shape, gt64, gen)
        sr = T.rcnn_sample(key.numpy(), gt, gt_labels, gen)
        dec = dict(rpn_labels=st["labels"], rpn_gt_inds=st["gt_inds"], rcnn_rois=sr["rois"],
                   rcnn_labels=sr["labels"], rcnn_gt_inds=sr["gt_inds"], ref_rois=ref_rois)
        for n in names:
            params[n].grad = None
        ls, avg = T.step_losses(model, imgs, dec, anchors, gt64)
        total = sum(ls.values())
        total.backward()
        grads = {n: params[n].grad.detach().clone() for n in names}
        check_avg_factors(dec, avg, st, sr)
        traj[s] = [float(ls[k]) for k in T.LOSS_NAMES]
        rpn_m = margins(st["maxov"], (0.3, 0.7))
        rc_m = margins(sr["ov"], (0.5,))
        log("step %d: props key %d refs %s | rpn pos %d neg %d (avg %g) | rois %d (pos %d, gt %d) "
            "| losses %s | IoU margins rpn %.2g rcnn %.2g" % (
                s, len(key), [len(r) for r in refs], st["n_pos"], st["n_neg"], avg[0],
                len(sr["labels"]), sr["n_pos"], int(sr["is_gt"].sum()),
                np.array2string(traj[s], precision=6), rpn_m, rc_m))
        assert st["n_pos"] >= 1 and st["n_neg"] >= 1 and sr["n_pos"] > N_GT and sr["n_neg"] >= 1
        for k, v in dec.items():
            fx["%s_%d" % (k, s)] = v
        if s == 0:
            for n, p in model.named_parameters():
                if T.is_frozen(n):
                    assert not p.requires_grad and p.grad is None, n
            log("frozen tensors (stem + layer1, %d) have no gradient: ok" % len(frozen))
            zero = [n for n in names if float(grads[n].abs().max()) == 0.0]
            assert not zero, zero
            check_loss_formulas(model, imgs, dec, anchors, gt64, ls)
            log("avg factors: rpn %g (= max(pos,1)+max(neg,1)), rcnn cls %g bbox %g (= K): ok; "
                "losses equal the literal mmdet label/weight-array expressions: ok" % avg)
            # float32 run with the same decisions
            for p in model32.parameters():
                p.grad = None
            ls32, _ = T.step_losses(model32, imgs, dec, anchors, gt64)
            sum(ls32.values()).backward()
            p32 = dict(model32.named_parameters())
            noise = {n: float((p32[n].grad.double() - grads[n]).abs().max() /
                              grads[n].abs().max()) for n in names
                     if float(grads[n].abs().max()) > 1e-12}   # ref_fc_embed.bias: exactly 0
            worst = sorted(noise.items(), key=lambda kv: -kv[1])[:3]
            l32 = np.array([float(ls32[k]) for k in T.LOSS_NAMES])
            log("float32 losses %s (rel diff %.2g); fp32-vs-fp64 grads max|d|/max|g|: median %.2g,"
                " worst %s" % (l32, np.max(np.abs(l32 / traj[0] - 1)),
                               np.median(list(noise.values())),
                               ", ".join("%s %.2g" % kv for kv in worst)))
            fx["loss_f32"] = l32
            for k in T.LOSS_NAMES:
                fx[k] = np.float64(float(ls[k]))
            fx.update(dec)
            fx["rpn_labels_presample"] = st["presample"]
            fx["rpn_bbox_targets"] = st["targets"].astype(np.float32)
            fx["rcnn_bbox_targets"] = sr["targets"].astype(np.float32)
            fx["rcnn_is_gt"] = sr["is_gt"]
            fx["proposals_key"] = key.numpy().astype(np.float32)
            fx["avg_factors"] = np.array(avg, np.float64)
            for n in names:
                fx["grad/" + n] = grads[n].numpy().astype(np.float32)
            fd_check(model, imgs, dec, anchors, gt64, grads, np.random.RandomState(0))
        lrs[s] = T.warmup_lr(s)
        gnorms[s] = T.clip_and_sgd(params, grads, bufs, lrs[s])
    assert np.all(np.isfinite(traj))
    fx["grad_norm_0"] = np.float64(gnorms[0])
    fx["grad_norm"] = gnorms
    fx["lr"] = lrs
    fx["loss_traj"] = traj
    for n in names:
        fx["params/" + n] = params[n].detach().numpy().astype(np.float32)

    p = model.cfg
    e = {"config": np.array(list(p["blocks"]) + [p["base"], p["groups"], p["base_width"],
                                                  p["neck"], p["fc"], R.NUM_CLASSES, 2, 3,
                                                  G.ORIG_H, G.ORIG_W, max(p["img_scale"]),
                                                  min(p["img_scale"])], np.int64),
         "frames": np.stack(frames).astype(np.int32),
         "frame_ids": np.array(FRAME_IDS, np.int64),
         "gt_bboxes": gt, "gt_labels": gt_labels,
         "img_shape": np.array(img_shape, np.float64), "pad_shape": np.array(pad_shape, np.float64),
         "scale_factor": sf.astype(np.float64),
         "sgd": np.array([T.LR, T.MOMENTUM, T.WD, T.MAX_NORM, T.WARMUP_ITERS, T.WARMUP_RATIO])}
    e.update(fx)
    write_fixture(os.path.join(out, "mmtrack_train_tiny.slfx"), e)
    log("grad norms (pre-clip) %s" % np.array2string(gnorms, precision=4))
    log("loss_traj [rpn_cls, rpn_bbox, cls, bbox]:\n%s" % np.array2string(traj, precision=6))
    log("wrote mmtrack_train_tiny.{pth,slfx} (%d entries) in %.1f s" % (
        len(e), time.perf_counter() - t0))


if __name__ == "__main__":
    main()
