"""PyTorch side of the official SELSA benchmark (bench/run_official.sh, docs/BENCHMARKS.md).

Runs the independent reference tests/ref/_official_ref.py (the UNCACHED official algorithm: every
window recomputes res5, RPN, proposals, ROIPooling and fc_new_1 for all 2K+1 entries; conv4 is
computed once per frame, as the official feature cache does) over the same frames and windows as
bench/bench_official.c, and reports the same per-key-frame numbers:

  wall per key frame = time between consecutive detections (first: since the start; frames are
                       read with cv2.imread and preprocessed when first used, inside the loop),
  conv4              = backbone conv1..res4 of the frames new in that interval,
  window             = res5/RPN/proposals/head of the 21 entries + both SELSA modules + classifier
                       + post-processing (the reference's `seconds`).

Usage:
  official_torch.py --write-params OUT.params [--seed S]          random R101 weights (§6, V2 .params)
                    [--parity-head | --head-seed H --head-gain NAME=G --redraw LAYER=SEED --rpn-box S
                     --cls-bg-bias B]                             head variants (make_params)
  official_torch.py --params P --frames DIR [--key-interval K] [--key-frames n] [--threads T]
                    [--dump FILE] [--tsv FILE]                    temporal order (perm = 0..N-1)
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
import _official_ref as ref  # noqa: E402
from _mxnet_params import read_params, write_params  # noqa: E402


HEAD_PREFIXES = ("rpn_", "conv_new_1", "fc_new_", "query_", "key_", "linear_out_", "cls_score", "bbox_pred")


# Full-size parity weights (tests/full/run_official_full.sh, --parity-head). With the plain random
# weights the RPN and class scores of this deep random net are nearly flat and, above all, nearly
# equal between neighbouring positions (conv4 is ~8x more common-mode than spatial variation; the
# pillarbox bars of the test video give near-identical features down whole columns), so float32
# summation-order noise (relative ~1e-6) decides RPN NMS chains, per-class NMS and the
# 300-per-image cap. These settings keep every layer random and active but make each decision
# well conditioned:
#   rpn_box 24      proposals decode to ~24 px squares: boxes 16 px apart overlap with IoU ~0.2, so
#                   neither NMS (0.7 RPN, 0.3 per class) links different positions; the RPN NMS still
#                   suppresses the other anchor types at the same position;
#   rpn_cls_score   redrawn from seed 569, the best of seeds 200..1299 for min over frames 0..15 of the
#                   test video of (relative gap between the 300th kept proposal and the next one, and
#                   between the best and second anchor type of a kept position) / (max fp32 vs fp64
#                   score error), with <= 25 % of the kept positions in the pillarbox columns: gap >=
#                   5.4e-6 vs error <= 7.4e-7 (x7.3);
#   cls_score       redrawn from seed 23 with gain 40 (20x the default) and +26.5 on the background
#                   logit: ~150 detections above 1e-3 per key frame (the cap of 300 never binds),
#                   ~70 above 0.01 in 4 classes, unchanged under a 1e-3 relative cls_prob perturbation.
PARITY_HEAD = dict(rpn_box=24.0, redraw={"rpn_cls_score": 569, "cls_score": 23},
                   head_gains={"cls_score": 40.0}, cls_bg_bias=26.5)


def make_params(cfg, seed, head_seed=None, head_gains=None, rpn_box=0.0, redraw=None, cls_bg_bias=0.0):
    """Random official SELSA weights (plain names, float32): ref.random_params(cfg, seed); with
    head_seed / head_gains the head tensors (RPN, conv_new_1, fc_new_*, SELSA, cls_score,
    bbox_pred; every name in HEAD_PREFIXES) are replaced by those of
    ref.random_params(cfg, head_seed, gains=head_gains), the backbone staying that of `seed`.
    rpn_box > 0 sets rpn_bbox_pred_bias so that a zero predicted delta decodes every anchor to an
    rpn_box x rpn_box square (dw = log(rpn_box / anchor_w) / rpn_std_w, same for dh).
    redraw {layer: seed} redraws one linear layer (e.g. "rpn_cls_score", "cls_score") with
    redraw_linear() from its own RandomState(seed), same distribution as ref.random_params
    (gain from head_gains, else ref.DEFAULT_GAINS). cls_bg_bias is added to the background
    (class 0) bias of cls_score."""
    P = ref.random_params(cfg, seed, selsa=True)
    if head_seed is not None or head_gains:
        Q = ref.random_params(cfg, seed if head_seed is None else head_seed, selsa=True, gains=head_gains)
        for k in P:
            if k.startswith(HEAD_PREFIXES):
                P[k] = Q[k]
        del Q
    gains = dict(ref.DEFAULT_GAINS)
    gains.update(head_gains or {})
    for layer, lseed in (redraw or {}).items():
        w, b = redraw_linear(lseed, P[layer + "_weight"].shape, gains[layer], gains["bias"])
        P[layer + "_weight"], P[layer + "_bias"] = w, b
    if cls_bg_bias:
        P["cls_score_bias"] = P["cls_score_bias"].copy()
        P["cls_score_bias"][0] += np.float32(cls_bg_bias)
    if rpn_box > 0:
        anc = ref.generate_anchors(cfg).astype(np.float64)
        aw = anc[:, 2] - anc[:, 0] + 1.0
        ah = anc[:, 3] - anc[:, 1] + 1.0
        b = P["rpn_bbox_pred_bias"].astype(np.float64)         # channel a*4 + (dx, dy, dw, dh)
        b[2::4] = np.log(rpn_box / aw) / cfg.rpn_stds[2]
        b[3::4] = np.log(rpn_box / ah) / cfg.rpn_stds[3]
        P["rpn_bbox_pred_bias"] = b.astype(np.float32)
    return P


def redraw_linear(seed, shape, gain, bias_range):
    """Weight N(0, gain * sqrt(1 / fan_in)) and bias U(-bias_range, bias_range) from
    RandomState(seed): the distribution ref.random_params uses for rpn_cls_score / cls_score."""
    rs = np.random.RandomState(seed)
    w = rs.normal(0.0, gain * np.sqrt(1.0 / int(np.prod(shape[1:]))), (shape[0], int(np.prod(shape[1:]))))
    b = rs.uniform(-bias_range, bias_range, shape[0])
    return w.reshape(shape).astype(np.float32), b.astype(np.float32)


def parse_gains(items):
    out = {}
    for it in items or []:
        k, v = it.split("=")
        if k not in ref.DEFAULT_GAINS:
            raise SystemExit("unknown gain %r (known: %s)" % (k, ", ".join(ref.DEFAULT_GAINS)))
        out[k] = float(v)
    return out


def proc_kb(key):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return -1


def frame_paths(d):
    names = [x for x in os.listdir(d) if x.lower().endswith((".jpeg", ".jpg", ".png"))]

    def num(s):
        digits = "".join(c for c in s if c.isdigit())
        return int(digits) if digits else -1
    names.sort(key=lambda s: (num(s), s))
    return [os.path.join(d, x) for x in names]


class LazyFrames:
    """frames[f] decodes the file when the reference first asks for it (once per frame)."""

    def __init__(self, paths):
        self.paths = paths

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, f):
        im = cv2.imread(self.paths[f], cv2.IMREAD_COLOR)
        if im is None:
            raise IOError("cannot read %s" % self.paths[f])
        return im


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--write-params")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--params")
    ap.add_argument("--frames")
    ap.add_argument("--key-interval", type=int, default=10)
    ap.add_argument("--key-frames", type=int, default=6)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--dump")
    ap.add_argument("--tsv")
    ap.add_argument("--dump-raw", help="per key frame: i32 frame, R, C; f32 rois, cls_prob, bbox_pred")
    ap.add_argument("--head-seed", type=int, help="draw the head tensors from this seed (backbone: --seed)")
    ap.add_argument("--head-gain", action="append", default=[], metavar="NAME=G",
                    help="gain of a head layer (names of _official_ref.DEFAULT_GAINS)")
    ap.add_argument("--redraw", action="append", default=[], metavar="LAYER=SEED",
                    help="redraw one linear layer (rpn_cls_score, cls_score, ...) from its own seed")
    ap.add_argument("--rpn-box", type=float, default=0.0, help="rpn_bbox_pred bias: anchors decode to SxS")
    ap.add_argument("--cls-bg-bias", type=float, default=0.0, help="added to cls_score_bias[0]")
    ap.add_argument("--parity-head", action="store_true",
                    help="the full-size parity weights (PARITY_HEAD; overrides the four options above)")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    cfg = ref.full_config(a.key_interval)
    if a.write_params:
        if a.parity_head:
            opts = dict(PARITY_HEAD)
        else:
            opts = dict(rpn_box=a.rpn_box, redraw={k: int(v) for k, v in (r.split("=") for r in a.redraw)},
                        head_gains=parse_gains(a.head_gain), cls_bg_bias=a.cls_bg_bias)
        P = make_params(cfg, a.seed, a.head_seed, **opts)
        write_params(a.write_params, ref.to_checkpoint(P, cfg))
        print("wrote %s (%d tensors)" % (a.write_params, len(P) + 2))
        return
    t = time.perf_counter()
    P = ref.to_torch(ref.from_checkpoint(read_params(a.params)))
    t_load = time.perf_counter() - t
    paths = frame_paths(a.frames)
    frames = LazyFrames(paths)
    perm = np.arange(len(paths))
    rss_after_load = proc_kb("VmRSS")
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        reset = True
    except OSError:
        reset = False
    recs = []
    dump = open(a.dump, "w") if a.dump else None
    raw = open(a.dump_raw, "wb") if a.dump_raw else None

    class Stop(Exception):
        pass

    state = {"t": time.perf_counter()}

    def on_window(key, r):
        t = time.perf_counter()
        recs.append(dict(frame=key, wall=t - state["t"], window_s=r["seconds"],
                         conv4=r["conv4_seconds"], new=r["conv4_new"], n=len(r["dets"])))
        if dump:
            d = r["dets"]
            dump.write("# frame %d window %s n %d\n" % (key, " ".join(str(int(x)) for x in r["window"]), len(d)))
            for row in d:
                dump.write("%d %d %.9g %.17g %.17g %.17g %.17g\n" % (key, int(row[0]), row[1], row[2], row[3],
                                                                    row[4], row[5]))
            dump.flush()
        if raw:
            c = np.asarray(r["cls_prob"], np.float32)
            raw.write(np.asarray([key, c.shape[0], c.shape[1]], np.int32).tobytes())
            for x in (r["rois"], c, r["bbox_pred"]):
                raw.write(np.ascontiguousarray(x, np.float32).tobytes())
            raw.flush()
        print("key frame %d: %.2f s (conv4 of %d new frames %.2f s, window %.2f s), %d dets"
              % (key, t - state["t"], r["conv4_new"], r["conv4_seconds"], r["seconds"], len(r["dets"])),
              flush=True)
        state["t"] = time.perf_counter()
        if len(recs) >= a.key_frames:
            raise Stop()

    t0 = time.perf_counter()
    try:
        ref.run_video(P, cfg, frames, perm, True, on_window)
    except Stop:
        pass
    total = time.perf_counter() - t0
    if dump:
        dump.close()
    hwm = proc_kb("VmHWM")
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    def med(v):
        return float(np.median(v)) if len(v) else 0.0
    w = [r["wall"] for r in recs]
    print("torch %s, threads %d, K %d, %d key frames in %.1f s, params load %.1f s"
          % (torch.__version__, torch.get_num_threads(), a.key_interval, len(recs), total, t_load))
    print("| phase | median s/key frame (all) | mean | median (key frames 2..) | mean (2..) |")
    print("|---|---:|---:|---:|---:|")
    for name, key in (("conv4 (new frames)", "conv4"), ("window (uncached 21 frames + post)", "window_s")):
        v = [r[key] for r in recs]
        print("| %s | %.4f | %.4f | %.4f | %.4f |" % (name, med(v), np.mean(v), med(v[1:]),
                                                      np.mean(v[1:]) if len(v) > 1 else 0))
    print("| **wall per key frame** | **%.4f** | %.4f | **%.4f** | %.4f |"
          % (med(w), np.mean(w), med(w[1:]), np.mean(w[1:]) if len(w) > 1 else 0))
    print("memory: ru_maxrss %d kB (%.1f MiB; includes loading), RSS after load %d kB, peak RSS of the "
          "video loop (VmHWM after reset%s) %d kB (%.1f MiB)"
          % (maxrss, maxrss / 1024.0, rss_after_load, "" if reset else " FAILED", hwm, hwm / 1024.0))
    print("RESULT wall_median_all=%.4f wall_median_steady=%.4f key_frames=%d maxrss_kb=%d loop_hwm_kb=%d"
          % (med(w), med(w[1:]), len(recs), maxrss, hwm))
    if a.tsv:
        with open(a.tsv, "w") as f:
            f.write("key\tframe\twall\tnew_frames\tn_dets\tconv4\twindow\n")
            for i, r in enumerate(recs):
                f.write("%d\t%d\t%.5f\t%d\t%d\t%.5f\t%.5f\n" % (i, r["frame"], r["wall"], r["new"], r["n"],
                                                             r["conv4"], r["window_s"]))


if __name__ == "__main__":
    main()
