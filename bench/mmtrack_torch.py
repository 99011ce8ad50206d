"""PyTorch side of the MMTracking SELSA full-size parity test and benchmark
(tests/full/run_mmtrack_full.sh, bench/run_mmtrack.sh, docs/BENCHMARKS.md).

Two jobs, both with the independent reference tests/ref/_mmtrack_ref.py (module names = the exact
MMTracking state-dict keys):

1. --write-pth OUT: random full-size weights (r50 / r101 / x101) saved with torch.save as an
   MMTracking checkpoint {"meta": {"CLASSES": ...}, "state_dict": ...} (mmtracking-selsa.md §3;
   zip layout, --legacy for the legacy one). Initialisation: the reference's init_random (He
   normal x 0.5 for convs/linears, BN statistics around identity; --seed), its data-dependent
   calibrate_random on the first frame of --frames (neck / RPN / shared fcs / attention embeddings
   / box deltas scaled to fixed output standard deviations), then shape_cls_head(): fc_cls centred
   per class and scaled to a per-RoI logit std of --cls-std (8), background bias set so that
   --fg-frac (3 %) of the (RoI, class) scores of frame 0 exceed the 1e-4 threshold. Result
   (R50, seed 0): ~50-70 detections above 0.01 per frame over ~15 classes, scores up to ~0.99,
   the 100th detection ~1e-3 (the max_per_img cut lies far below 0.01). This is deliberate:
   with MMTracking's own N(0, 0.01) head init every softmax is ~1/31 and fp32 noise reorders
   near-tied scores (the issue-3 experience), and calibrate_random alone makes one class ~0.8 on
   every RoI (100 detections in a narrow band, the 100-cap cut inside it); both make a strict
   detection-set comparison a test of float rounding. The backbone runs once: the calibration
   only rescales layers after it.

2. --pth P --frames DIR: the reference over the same frames and the same schedule as
   bench/bench_mmtrack.c: test_with_adaptive_stride (§1.6) with the n_ref (14) reference frames
   spread over the WHOLE video (all files of DIR, or --length), detecting the first --detect N
   frames. As MMTracking runs it: at frame 0 the memo (backbone + neck of the reference frames, one
   batch) is extracted once; every frame extracts its own features and recomputes the whole
   reference path (RPN and proposals of all 15 maps, RoIAlign, shared fcs on 15 x 300 rows,
   both aggregators), then get_bboxes + multiclass_nms. Frames are read with cv2.imread when first
   needed, inside the timed loop. Reports seconds per detected frame (between consecutive
   detections; the first includes the memo) and peak memory; dumps the same text / raw formats as
   bench_mmtrack (--dump, --dump-raw).

Usage:
  mmtrack_torch.py --write-pth OUT.pth --preset r50 --frames DIR [--seed S] [--cls-std 8] [--fg-frac 0.03] [--legacy]
  mmtrack_torch.py --pth P --frames DIR [--detect N] [--n-ref 14] [--length L] [--threads T]
                   [--dump FILE] [--dump-raw FILE] [--tsv FILE]
"""
import argparse
import os
import resource
import sys
import time

import cv2
import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "ref"))
import _mmtrack_ref as R  # noqa: E402


def proc_kb(key):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return -1


def frame_paths(d):
    names = [x for x in os.listdir(d) if x.lower().endswith((".jpeg", ".jpg", ".png"))]

    def num(s):
        digits = ""
        for c in s:          # first run of digits, as bench_mmtrack.c (strtoll at the first digit)
            if c.isdigit():
                digits += c
            elif digits:
                break
        return int(digits) if digits else -1
    names.sort(key=lambda s: (num(s), s))
    return [os.path.join(d, x) for x in names]


def imread(p):
    im = cv2.imread(p, cv2.IMREAD_COLOR)
    if im is None:
        raise IOError("cannot read %s" % p)
    return im


def preset_of(sd):
    """r50 / r101 / x101 / tiny / tiny_x from the state dict's shapes."""
    nb = [len({k.split(".")[3] for k in sd if k.startswith("detector.backbone.layer%d." % L)})
          for L in range(1, 5)]
    base = sd["detector.backbone.conv1.weight"].shape[0]
    w2 = sd["detector.backbone.layer1.0.conv2.weight"].shape
    grouped = w2[1] != w2[0]
    for name, p in R.PRESETS.items():
        if tuple(p["blocks"]) == tuple(nb) and p["base"] == base and (p["groups"] > 1) == grouped:
            return name
    raise ValueError("no reference preset with blocks %s base %d grouped %s" % (nb, base, grouped))


class CachedBackbone(torch.nn.Module):
    def __init__(self, c5):
        super().__init__()
        self.c5 = c5

    def forward(self, x):
        return self.c5


def shape_cls_head(model, x, img_shape, cls_std, fg_frac):
    """Reshape fc_cls (after calibrate_random) so that detections are SPARSE and their scores
    WELL SEPARATED, measured on frame 0 with itself as the only reference:
      - the foreground logits of fc_cls are centred per class over the RoIs (bias -= mean) and
        scaled to a per-RoI standard deviation of cls_std: the score differences between RoIs and
        classes come from the RoI features, not from a common per-class offset (calibrate_random
        alone gives one class ~0.8 on every RoI: 100 near-tied detections and a 100-cap cut inside
        a dense score band, where fp32 noise decides);
      - the background bias is set (bisection) so that a fraction fg_frac of the (RoI, class)
        probabilities exceed the 1e-4 score threshold: far fewer than 100 detections per frame
        after NMS, so the max_per_img cut never binds."""
    bh = model.detector.roi_head.bbox_head
    feats = []
    h = bh.fc_cls.register_forward_hook(lambda m, i, o: feats.append(i[0].detach().double()))
    R.detect_frame(model, x, x, img_shape, [img_shape], np.ones(4, np.float32))
    h.remove()
    H = feats[0]                                            # (P, fc) input of fc_cls
    W = bh.fc_cls.weight.detach().double()
    b = bh.fc_cls.bias.detach().double()
    z = H @ W.T                                             # (P, C+1) without bias
    fg = z[:, :-1]
    mean = fg.mean(0)
    k = cls_std / float((fg - mean).std())
    b_fg = b[:-1] - k * mean                                # keeps the small random bias
    zfg = k * fg + b_fg                                     # (P, C) centred, std cls_std
    zbg = k * z[:, -1]

    def frac(beta):
        logits = torch.cat([zfg, (zbg + beta)[:, None]], 1)
        return float((torch.softmax(logits, 1)[:, :-1] > 1e-4).double().mean())
    lo, hi = -100.0, 200.0
    for _ in range(100):
        mid = 0.5 * (lo + hi)
        if frac(mid) > fg_frac:
            lo = mid
        else:
            hi = mid
    with torch.no_grad():
        bh.fc_cls.weight.mul_(k)
        bh.fc_cls.bias[:-1] = b_fg.float()
        bh.fc_cls.bias[-1] = float(hi)


def write_pth(a):
    torch.manual_seed(a.seed)
    model = R.SELSA(a.preset)
    R.init_random(model, a.seed)
    img0, shape0, _, _ = R.preprocess(imread(frame_paths(a.frames)[0]), model.cfg["img_scale"])
    t = time.perf_counter()
    with torch.no_grad():
        c5 = model.detector.backbone(img0)
    real = model.detector.backbone
    model.detector.backbone = CachedBackbone(c5)      # calibration rescales layers after it only
    R.calibrate_random(model, img0, shape0)
    with torch.no_grad():
        x = model.extract_feat(img0)
    shape_cls_head(model, x, shape0, a.cls_std, a.fg_frac)
    model.detector.backbone = real
    ck = R.checkpoint(model)
    if a.legacy:
        torch.save(ck, a.write_pth, _use_new_zipfile_serialization=False)
    else:
        torch.save(ck, a.write_pth)
    # a look at the shaped model on frame 0 (its own reference)
    with torch.no_grad():
        r = R.detect_frame(model, x, x, shape0, [shape0], np.ones(4, np.float32))
        d, lab = R.get_bboxes(r["proposals"][:, :4], r["cls_score"], r["bbox_pred"], shape0,
                              np.ones(4, np.float32), dict(R.RCNN_TEST, max_per_img=1000))
    sc = np.sort(d[:, 4].double().numpy())[::-1]
    gap = np.min(np.diff(sc[::-1]) / sc[::-1][1:]) if len(sc) > 1 else np.inf
    print("wrote %s (%s, %d tensors, seed %d, cls-std %.2f, fg-frac %.3g; calibration %.1f s); frame 0 alone: "
          "%d proposals, %d dets after NMS (cap 100), %d above 0.01, %d classes, top score %.3f, min relative gap "
          "between consecutive scores %.2g"
          % (a.write_pth, a.preset, len(ck["state_dict"]), a.seed, a.cls_std, a.fg_frac, time.perf_counter() - t,
             len(r["proposals"]), len(d), int((d[:, 4] > 0.01).sum()), len(set(lab.tolist())),
             float(sc[0]) if len(sc) else 0.0, gap))


def run(a):
    t = time.perf_counter()
    ck = torch.load(a.pth, map_location="cpu")
    sd = ck["state_dict"] if "state_dict" in ck else ck
    preset = a.preset or preset_of(sd)
    model = R.SELSA(preset)
    model.load_state_dict(sd)
    model.eval()
    del ck, sd
    t_load = time.perf_counter() - t
    paths = frame_paths(a.frames)
    L = a.length if a.length > 0 else len(paths)
    n_ref = a.n_ref or model.cfg["n_ref"]
    n_det = min(a.detect, L) if a.detect > 0 else L
    refs = R.adaptive_refs(L, n_ref)
    scale = model.cfg["img_scale"]
    rss_after_load = proc_kb("VmRSS")
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        reset = True
    except OSError:
        reset = False
    dump = open(a.dump, "w") if a.dump else None
    raw = open(a.dump_raw, "wb") if a.dump_raw else None
    recs = []
    pre = {}

    def prep(i):   # decoded + preprocessed once per frame (the memo frames are reused)
        if i not in pre:
            pre[i] = R.preprocess(imread(paths[i % len(paths)]), scale)
        return pre[i]

    with torch.no_grad():
        t0 = time.perf_counter()
        last = t0
        memo = torch.cat([prep(i)[0] for i in refs], dim=0)
        memo_x = model.extract_feat(memo)
        memo_shapes = [prep(i)[1] for i in refs]
        del memo
        t_memo = time.perf_counter() - t0
        for f in range(n_det):
            ta = time.perf_counter()
            img, img_shape, _, sf = prep(f)
            tb = time.perf_counter()
            x = model.extract_feat(img)
            tc = time.perf_counter()
            ref_x = torch.cat([memo_x, x], dim=0)
            r = R.detect_frame(model, x, ref_x, img_shape, memo_shapes + [img_shape], sf)
            td = time.perf_counter()
            if f not in refs:
                pre.pop(f, None)
            recs.append(dict(frame=f, wall=td - last, decode=tb - ta, feat=tc - tb, det=td - tc,
                             n=len(r["dets"])))
            dets, labels = r["dets"], r["labels"]
            if dump:
                dump.write("# frame %d window %s %d n %d im_info %d %d %.9g %.9g\n"
                           % (f, " ".join(str(i) for i in refs), f, len(dets), img_shape[0], img_shape[1],
                              sf[0], sf[1]))
                for d, c in zip(dets.tolist(), labels.tolist()):
                    dump.write("%d %d %.9g %.17g %.17g %.17g %.17g\n" % (f, c + 1, d[4], d[0], d[1], d[2], d[3]))
                dump.flush()
            if raw:
                P, C1 = r["cls_score"].shape
                raw.write(np.asarray([f, P, C1], np.int32).tobytes())
                for t_ in (r["proposals"], r["cls_score"], r["bbox_pred"]):
                    raw.write(np.ascontiguousarray(t_.numpy(), np.float32).tobytes())
                raw.flush()
            print("frame %d: %.2f s (decode %.2f, backbone+neck %.2f, rpn/ref path/head/post %.2f), %d dets"
                  % (f, td - last, tb - ta, tc - tb, td - tc, len(dets)), flush=True)
            last = time.perf_counter()
        total = time.perf_counter() - t0
    if dump:
        dump.close()
    if raw:
        raw.close()
    hwm = proc_kb("VmHWM")
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    def med(v):
        return float(np.median(v)) if len(v) else 0.0
    w = [r["wall"] for r in recs]
    print("torch %s, threads %d, preset %s, adaptive schedule: %d reference frames over %d frames %s, "
          "%d frames detected in %.1f s (memo %.1f s), checkpoint load %.1f s"
          % (torch.__version__, torch.get_num_threads(), preset, n_ref, L, refs, len(recs), total, t_memo, t_load))
    print("| phase | median s/frame (all) | mean | median (frames 2..) | mean (2..) |")
    print("|---|---:|---:|---:|---:|")
    for name, key in (("decode (imread + preprocess)", "decode"), ("backbone + neck of the frame", "feat"),
                      ("RPN x 15 maps, RoIAlign, head on 15 x 300 ref rows + key, post", "det")):
        v = [r[key] for r in recs]
        print("| %s | %.4f | %.4f | %.4f | %.4f |" % (name, med(v), np.mean(v), med(v[1:]),
                                                      np.mean(v[1:]) if len(v) > 1 else 0))
    print("| **wall per frame** | **%.4f** | %.4f | **%.4f** | %.4f |"
          % (med(w), np.mean(w), med(w[1:]), np.mean(w[1:]) if len(w) > 1 else 0))
    print("first frame (incl. the memo of %d reference frames): %.3f s" % (n_ref, w[0] if w else 0))
    print("memory: ru_maxrss %d kB (%.1f MiB; includes loading), RSS after load %d kB, peak RSS of the "
          "video loop (VmHWM after reset%s) %d kB (%.1f MiB)"
          % (maxrss, maxrss / 1024.0, rss_after_load, "" if reset else " FAILED", hwm, hwm / 1024.0))
    print("RESULT wall_median_all=%.4f wall_median_steady=%.4f first=%.4f detected=%d frames=%d maxrss_kb=%d "
          "loop_hwm_kb=%d" % (med(w), med(w[1:]), w[0] if w else 0, len(recs), L, maxrss, hwm))
    if a.tsv:
        with open(a.tsv, "w") as f:
            f.write("i\tframe\twall\tn_dets\tdecode\tfeat\tdet\n")
            for i, r in enumerate(recs):
                f.write("%d\t%d\t%.5f\t%d\t%.5f\t%.5f\t%.5f\n" % (i, r["frame"], r["wall"], r["n"], r["decode"],
                                                               r["feat"], r["det"]))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--write-pth")
    ap.add_argument("--preset", choices=sorted(R.PRESETS))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cls-std", type=float, default=8.0,
                    help="per-RoI std of the centred foreground class logits on frame 0")
    ap.add_argument("--fg-frac", type=float, default=0.03,
                    help="fraction of (RoI, class) scores above 1e-4 on frame 0 (sets the background bias)")
    ap.add_argument("--legacy", action="store_true", help="legacy torch.save layout")
    ap.add_argument("--pth")
    ap.add_argument("--frames", required=True)
    ap.add_argument("--detect", type=int, default=0, help="detect the first N frames (0: all)")
    ap.add_argument("--n-ref", type=int, default=0)
    ap.add_argument("--length", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--dump")
    ap.add_argument("--dump-raw")
    ap.add_argument("--tsv")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    if a.write_pth:
        if not a.preset:
            ap.error("--write-pth needs --preset")
        write_pth(a)
    elif a.pth:
        run(a)
    else:
        ap.error("give --write-pth or --pth")


if __name__ == "__main__":
    main()
