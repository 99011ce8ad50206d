"""Compare two detection dumps of the MMTracking SELSA detector (full-size parity, issue 4).

Dump format (bench/bench_mmtrack.c --dump and bench/mmtrack_torch.py --dump):
    # frame F window r0 .. r13 F n N im_info h w sx sy     (support frames, key last)
    F cls score x1 y1 x2 y2        (cls = VID class 1..30, original-image pixels)

For every frame present in both dumps (at least --min-frames of them):
  - the support sets (reference frames + key) must be identical;
  - every detection with score > --thresh (0.01) of either side must be matched on the other side
    by a detection of the same class with IoU > --iou (0.999); IoU in mmdet's convention (no +1
    pixel); greedy one-to-one matching by descending score among ALL detections of the other side
    (any score: a detection near the threshold is not lost to a rounding difference of its score);
  - reports matched / needed counts, the minimum IoU and the maximum score difference.

With --raw-ours/--raw-ref (per frame: proposals (P,5), cls_score logits (P,31), bbox_pred (P,120))
the comparison is also done layer by layer, separating the network from the post-processing:
  - proposals: rows paired by highest IoU; how many are identical (IoU > --iou) and in the same
    position, max |score diff|;
  - cls probabilities (softmax of the logits) and bbox_pred: max |diff| over identical proposals;
  - post-processing: the reference's own get_bboxes (tests/ref/_mmtrack_ref.py) run on OUR
    proposals / logits / deltas must give exactly our detection set;
  - sensitivity: the reference's get_bboxes on the REFERENCE outputs with the logits perturbed by
    uniform noise of the measured max |logit diff| shows how many detections a perturbation of
    that size changes by itself (near-tied scores in greedy NMS chains).

Exit status: 0 when the detection sets match, 1 otherwise.

Usage: compare_mmtrack_dets.py OURS.txt REF.txt [--thresh 0.01] [--iou 0.999] [--min-frames 1]
           [--raw-ours C.bin --raw-ref T.bin]
"""
import argparse
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from compare_official_dets import load  # noqa: E402  (same "# frame .. window .. n .." format)


def load_im_info(path):
    """{frame: (h, w, sx, sy)} from the dump headers."""
    out = {}
    for line in open(path):
        if line.startswith("#") and "im_info" in line:
            t = line.split()
            v = t[t.index("im_info") + 1:]
            out[int(t[2])] = (int(v[0]), int(v[1]), float(v[2]), float(v[3]))
    return out


def load_raw(path):
    """-> {frame: (proposals (P,5), cls_score (P,C1), bbox_pred (P,4(C1-1)))}"""
    out = {}
    buf = open(path, "rb").read()
    o = 0
    while o < len(buf):
        f, P, C1 = (int(x) for x in np.frombuffer(buf, np.int32, 3, o))
        o += 12
        parts = []
        for cols in (5, C1, 4 * (C1 - 1)):
            parts.append(np.frombuffer(buf, np.float32, P * cols, o).reshape(P, cols))
            o += 4 * P * cols
        out[f] = tuple(parts)
    return out


def iou(a, b):
    """a (4,), b (n, 4); mmdet convention (no +1), float64."""
    xx1 = np.maximum(a[0], b[:, 0])
    yy1 = np.maximum(a[1], b[:, 1])
    xx2 = np.minimum(a[2], b[:, 2])
    yy2 = np.minimum(a[3], b[:, 3])
    inter = np.maximum(0.0, xx2 - xx1) * np.maximum(0.0, yy2 - yy1)
    area = lambda x: (x[..., 2] - x[..., 0]) * (x[..., 3] - x[..., 1])  # noqa: E731
    union = area(a) + area(b) - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-300), 0.0)


def match_one_way(A, B, thresh, iou_min):
    """Greedy one-to-one matching of A's detections (rows cls, score, x1, y1, x2, y2) above thresh
    into B. Returns (n_needed, n_matched, min_iou, max_score_diff, unmatched rows)."""
    used = np.zeros(len(B), bool)
    order = np.argsort(-A[:, 1], kind="stable")
    need = matched = 0
    min_iou, max_ds = 1.0, 0.0
    missing = []
    for i in order:
        if A[i, 1] <= thresh:
            continue
        need += 1
        cand = np.where((B[:, 0] == A[i, 0]) & ~used)[0]
        if cand.size:
            ov = iou(A[i, 2:], B[cand, 2:])
            ok = ov > iou_min
            if ok.any():
                okc, okv = cand[ok], ov[ok]
                k = int(np.argmin(np.abs(B[okc, 1] - A[i, 1])))   # closest score among overlaps
                j = okc[k]
                used[j] = True
                matched += 1
                min_iou = min(min_iou, float(okv[k]))
                max_ds = max(max_ds, abs(float(B[j, 1] - A[i, 1])))
                continue
        missing.append(A[i])
    return need, matched, min_iou, max_ds, missing


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("ours")
    ap.add_argument("ref")
    ap.add_argument("--thresh", type=float, default=0.01)
    ap.add_argument("--iou", type=float, default=0.999)
    ap.add_argument("--min-frames", type=int, default=1)
    ap.add_argument("--raw-ours")
    ap.add_argument("--raw-ref")
    a = ap.parse_args()
    A, WA = load(a.ours)
    B, WB = load(a.ref)
    common = sorted(set(A) & set(B))
    ok = len(common) >= a.min_frames
    print("frames: ours %d, reference %d, compared %d (need >= %d)" % (len(A), len(B), len(common), a.min_frames))
    tot = dict(need=0, matched=0, min_iou=1.0, max_ds=0.0)
    print("| frame | dets ours / ref (all) | > %.2g ours / ref | matched ours->ref | ref->ours "
          "| min IoU | max abs score diff |" % a.thresh)
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for f in common:
        if WA[f] != WB[f]:
            print("frame %d: support sets differ: %s vs %s" % (f, WA[f], WB[f]))
            ok = False
        n1, m1, i1, d1, miss1 = match_one_way(A[f], B[f], a.thresh, a.iou)
        n2, m2, i2, d2, miss2 = match_one_way(B[f], A[f], a.thresh, a.iou)
        print("| %d | %d / %d | %d / %d | %d/%d | %d/%d | %.6f | %.3g |"
              % (f, len(A[f]), len(B[f]), n1, n2, m1, n1, m2, n2, min(i1, i2), max(d1, d2)))
        for r in miss1[:5]:
            print("   unmatched ours: cls %d score %.6f box %s" % (r[0], r[1], np.round(r[2:], 3).tolist()))
        for r in miss2[:5]:
            print("   unmatched ref:  cls %d score %.6f box %s" % (r[0], r[1], np.round(r[2:], 3).tolist()))
        ok = ok and m1 == n1 and m2 == n2
        tot["need"] += n1 + n2
        tot["matched"] += m1 + m2
        tot["min_iou"] = min(tot["min_iou"], i1, i2)
        tot["max_ds"] = max(tot["max_ds"], d1, d2)
    print("PARITY %s: %d frames, %d/%d detections above %.2g matched (both ways, same class, IoU > %g), "
          "min IoU %.6f, max score difference %.3g"
          % ("PASS" if ok else "FAIL", len(common), tot["matched"], tot["need"], a.thresh, a.iou,
             tot["min_iou"], tot["max_ds"]))
    if a.raw_ours and a.raw_ref:
        layered(a, A, B, common)
    return 0 if ok else 1


def layered(a, A, B, common):
    import torch
    sys.path.insert(0, os.path.join(HERE, "..", "ref"))
    import _mmtrack_ref as R
    RA, RB = load_raw(a.raw_ours), load_raw(a.raw_ref)
    info = load_im_info(a.ours)
    frames = [f for f in common if f in RA and f in RB]
    rng = np.random.RandomState(0)

    def post(props, logits, deltas, f):
        h, w, sx, sy = info[f]
        d, lab = R.get_bboxes(torch.from_numpy(np.array(props[:, :4])),
                              torch.from_numpy(np.array(logits)),
                              torch.from_numpy(np.array(deltas)), (h, w),
                              np.array([sx, sy, sx, sy], np.float32))
        d, lab = d.double().numpy(), lab.numpy()
        return np.column_stack([lab + 1, d[:, 4], d[:, :4]]) if len(d) else np.zeros((0, 6))

    def softmax(z):
        z = z.astype(np.float64)
        e = np.exp(z - z.max(1, keepdims=True))
        return e / e.sum(1, keepdims=True)

    print()
    print("| frame | proposals same position | identical (IoU > %g) | max score diff (identical) "
          "| cls prob max diff | logit max diff | bbox_pred max diff | ref get_bboxes(ours) vs ours "
          "| ref vs ref(logits + noise) |" % a.iou)
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    worst = dict(ident=1.0, prob=0.0, logit=0.0, bbox=0.0)
    post_ok = True
    sens = [0, 0]
    for f in frames:
        pa, ca, ba = RA[f]
        pb, cb, bb = RB[f]
        pair = np.empty(len(pa), np.int64)
        pair_iou = np.empty(len(pa))
        for i in range(len(pa)):
            ov = iou(pa[i, :4].astype(np.float64), pb[:, :4].astype(np.float64))
            pair[i] = int(np.argmax(ov))
            pair_iou[i] = ov[pair[i]]
        same = int(np.sum(pair == np.arange(len(pa))))
        ident = pair_iou > a.iou
        ni = int(ident.sum())
        ia, ib = np.where(ident)[0], pair[ident]
        dsc = float(np.max(np.abs(pa[ia, 4] - pb[ib, 4]))) if ni else float("inf")
        dprob = float(np.max(np.abs(softmax(ca[ia]) - softmax(cb[ib])))) if ni else float("inf")
        dlog = float(np.max(np.abs(ca[ia] - cb[ib]))) if ni else float("inf")
        dbb = float(np.max(np.abs(ba[ia] - bb[ib]))) if ni else float("inf")
        worst = dict(ident=min(worst["ident"], ni / max(len(pa), 1)), prob=max(worst["prob"], dprob),
                     logit=max(worst["logit"], dlog), bbox=max(worst["bbox"], dbb))
        P = post(pa, ca, ba, f)
        n1, m1, _, d1, _ = match_one_way(A[f], P, a.thresh, a.iou)
        n2, m2, _, d2, _ = match_one_way(P, A[f], a.thresh, a.iou)
        post_ok = post_ok and m1 == n1 and m2 == n2
        noisy = cb + rng.uniform(-dlog, dlog, cb.shape).astype(np.float32)
        Q = post(pb, noisy, bb, f)
        n3, m3, _, _, _ = match_one_way(B[f], Q, a.thresh, a.iou)
        sens[0] += m3
        sens[1] += n3
        print("| %d | %d/%d (ref %d) | %d/%d | %.3g | %.3g | %.3g | %.3g | %d/%d, %d/%d (max score diff %.2g) | %d/%d |"
              % (f, same, len(pa), len(pb), ni, len(pa), dsc, dprob, dlog, dbb, m1, n1, m2, n2, max(d1, d2), m3, n3))
    print("LAYERED: %d frames; proposals identical >= %.1f %% per frame; on identical proposals: class prob max "
          "diff %.3g, logit max diff %.3g, bbox_pred max diff %.3g; reference get_bboxes on our outputs %s; "
          "the reference's own detections under a logit perturbation of that size: %d/%d matched"
          % (len(frames), 100 * worst["ident"], worst["prob"], worst["logit"], worst["bbox"],
             "reproduces our detections exactly" if post_ok else "DIFFERS", sens[0], sens[1]))


if __name__ == "__main__":
    sys.exit(main())
