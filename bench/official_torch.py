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
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    cfg = ref.full_config(a.key_interval)
    if a.write_params:
        P = ref.random_params(cfg, a.seed, selsa=True)
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
