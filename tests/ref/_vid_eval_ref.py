"""Reference implementation of the official ImageNet VID evaluation (NumPy only).

Written from ../shared/spec/vid-eval.md §3-§6 (and official-selsa.md §10), following the
structure of the FGFA/SELSA functions vid_eval / vid_eval_motion / vid_ap:
  - per-gt threshold min(0.5, w*h/((w+10)(h+10))), +1 box sizes;
  - detections sorted by frame id, then per frame by -score; per-frame greedy matching;
    concatenation in gt-list order; global sort by -score; cumsum; all-point AP;
  - vid_eval_motion: the overlaps are precomputed with 0 for non-overlapping pairs (so ovmax_ig /
    ovmax_nig become 0 as soon as such a gt exists), ignored gt, fractional fp, empty_weight,
    npos -= ignored, AP = -1 when npos <= 0 (excluded from the mean).

Tie rule: the official code uses np.argsort's default (unstable) quicksort; this reference uses
kind="stable" everywhere (documented in include/selsa/eval.h) so that it is deterministic and
matches the C evaluator exactly. Deviation shared with the C code: in vid_eval a class with
npos == 0 gets AP -1 and is excluded from the mean (official: 0 or NaN).

Data model:
  frames: list of dicts {"id": int (global 1-based), "video": int, "index": int (0-based),
           "labels": int array (k,), "bboxes": float array (k, 4), "tracks": int array (k,),
           "motion": float array (k,)}  -- in gt-list order
  dets:   dict {"ids": int (n,), "labels": int (n,), "confs": float (n,), "bboxes": float (n, 4)}
"""
import numpy as np

NUM_CLASSES = 30
MOTION_RANGES = [[0.0, 1.0], [0.0, 0.7], [0.7, 0.9], [0.9, 1.0]]  # all, fast, medium, slow
AREA_RANGES = [[0, 1e10]]


def gt_thr(b, default_iou_thr=0.5, pixel_tolerance=10):
    gt_w = b[2] - b[0] + 1
    gt_h = b[3] - b[1] + 1
    thr = (gt_w * gt_h) / ((gt_w + pixel_tolerance) * (gt_h + pixel_tolerance))
    return np.min([thr, default_iou_thr])


def boxoverlap(bb, bbgt):
    """Inclusive-pixel IoU; 0 when the boxes do not overlap (iw <= 0 or ih <= 0)."""
    ov = 0
    iw = np.min((bb[2], bbgt[2])) - np.max((bb[0], bbgt[0])) + 1
    ih = np.min((bb[3], bbgt[3])) - np.max((bb[1], bbgt[1])) + 1
    if iw > 0 and ih > 0:
        ua = (bb[2] - bb[0] + 1.) * (bb[3] - bb[1] + 1.) + \
             (bbgt[2] - bbgt[0] + 1.) * (bbgt[3] - bbgt[1] + 1.) - iw * ih
        ov = iw * ih / ua
    return ov


def vid_ap(rec, prec):
    mrec = np.concatenate(([0.], rec, [1.]))
    mpre = np.concatenate(([0.], prec, [0.]))
    for i in range(mpre.size - 1, 0, -1):
        mpre[i - 1] = np.maximum(mpre[i - 1], mpre[i])
    i = np.where(mrec[1:] != mrec[:-1])[0]
    return np.sum((mrec[i + 1] - mrec[i]) * mpre[i + 1])


def _cells(dets):
    """Per frame id: (labels, confs, bboxes) sorted by -conf (stable; input order on ties)."""
    ids = np.asarray(dets["ids"], dtype=np.int64)
    labels = np.asarray(dets["labels"], dtype=np.int64)
    confs = np.asarray(dets["confs"], dtype=np.float64)
    bboxes = np.asarray(dets["bboxes"], dtype=np.float64).reshape(-1, 4)
    cells = {}
    if len(ids) == 0:
        return cells
    order = np.argsort(ids, kind="stable")
    ids, labels, confs, bboxes = ids[order], labels[order], confs[order], bboxes[order]
    start = 0
    for i in range(len(ids)):
        if i == len(ids) - 1 or ids[i + 1] != ids[i]:
            conf = confs[start:i + 1]
            s = np.argsort(-conf, kind="stable")
            cells[int(ids[i])] = (labels[start:i + 1][s], conf[s], bboxes[start:i + 1][s])
            start = i + 1
    return cells


def _calculate_ap(tp_cell, fp_cell, frames, cells, npos):
    ids = [fr["id"] for fr in frames if fr["id"] in cells]
    if ids:
        tp_all = np.concatenate([tp_cell[i] for i in ids])
        fp_all = np.concatenate([fp_cell[i] for i in ids])
        labels = np.concatenate([cells[i][0] for i in ids])
        confs = np.concatenate([cells[i][1] for i in ids])
    else:
        tp_all = fp_all = confs = np.zeros(0)
        labels = np.zeros(0, dtype=np.int64)
    s = np.argsort(-confs, kind="stable")
    tp_all, fp_all, labels = tp_all[s], fp_all[s], labels[s]
    ap = np.zeros(NUM_CLASSES + 1)
    for c in range(1, NUM_CLASSES + 1):
        fp = np.cumsum(fp_all[labels == c])
        tp = np.cumsum(tp_all[labels == c])
        if npos[c] <= 0:
            ap[c] = -1
        else:
            rec = tp / float(npos[c])
            prec = tp / np.maximum(tp + fp, np.finfo(np.float64).eps)
            ap[c] = vid_ap(rec, prec)
    return ap[1:]


def _mean(ap):
    ok = ap[ap >= 0]
    return float(np.mean(ok)) if len(ok) else -1.0


def vid_eval(frames, dets):
    """Overall AP per class (30,) and mAP (vid-eval.md §4)."""
    cells = _cells(dets)
    npos = np.zeros(NUM_CLASSES + 1)
    tp_cell, fp_cell = {}, {}
    for fr in frames:
        for x in fr["labels"]:
            npos[x] += 1
        if fr["id"] not in cells:
            continue
        labels, _, bboxes = cells[fr["id"]]
        gt_labels, gt_boxes = fr["labels"], np.asarray(fr["bboxes"], dtype=np.float64)
        thr = [gt_thr(b) for b in gt_boxes]
        detected = np.zeros(len(gt_labels))
        tp = np.zeros(len(labels))
        fp = np.zeros(len(labels))
        for j in range(len(labels)):
            bb = bboxes[j]
            ovmax, kmax = -1, -1
            for k in range(len(gt_labels)):
                if labels[j] != gt_labels[k] or detected[k] > 0:
                    continue
                bbgt = gt_boxes[k]
                iw = np.min((bb[2], bbgt[2])) - np.max((bb[0], bbgt[0])) + 1
                ih = np.min((bb[3], bbgt[3])) - np.max((bb[1], bbgt[1])) + 1
                if iw > 0 and ih > 0:
                    ov = boxoverlap(bb, bbgt)
                    if ov >= thr[k] and ov > ovmax:
                        ovmax, kmax = ov, k
            if kmax >= 0:
                tp[j] = 1
                detected[kmax] = 1
            else:
                fp[j] = 1
        tp_cell[fr["id"]] = tp
        fp_cell[fr["id"]] = fp
    ap = _calculate_ap(tp_cell, fp_cell, frames, cells, npos)
    return ap, _mean(ap), npos[1:].astype(np.int64)


def vid_eval_motion(frames, dets, motion_ranges=MOTION_RANGES, area_range=AREA_RANGES[0]):
    """AP (R, 30), mAP (R,), empty_weight (R,), npos (R, 30) (vid-eval.md §6)."""
    cells = _cells(dets)
    npos_bak = np.zeros(NUM_CLASSES + 1)
    ov_all = {}
    for fr in frames:
        for x in fr["labels"]:
            npos_bak[x] += 1
        if fr["id"] not in cells:
            continue
        _, _, bboxes = cells[fr["id"]]
        gt_boxes = np.asarray(fr["bboxes"], dtype=np.float64)
        ov_all[fr["id"]] = [np.array([boxoverlap(bb, g) for g in gt_boxes], dtype=np.float64)
                            for bb in bboxes]
    # loaded values: one per object, a dummy 0 for a frame without objects
    motion = [list(fr["motion"]) if len(fr["labels"]) else [0.0] for fr in frames]
    all_motion = np.concatenate([np.asarray(m, dtype=np.float64) for m in motion]) \
        if motion else np.zeros(0)
    R = len(motion_ranges)
    aps = np.zeros((R, NUM_CLASSES))
    maps = np.zeros(R)
    ews = np.zeros(R)
    nposes = np.zeros((R, NUM_CLASSES), dtype=np.int64)
    for r, (lo, hi) in enumerate(motion_ranges):
        npos = npos_bak.copy()
        inside = sum([(v >= lo) & (v <= hi) for v in all_motion])
        empty_weight = inside / float(len(all_motion)) if len(all_motion) else 0.0
        ews[r] = empty_weight
        tp_cell, fp_cell = {}, {}
        for index, fr in enumerate(frames):
            gt_labels = fr["labels"]
            gt_boxes = np.asarray(fr["bboxes"], dtype=np.float64)
            num_gt = len(gt_labels)
            thr = [gt_thr(b) for b in gt_boxes]
            gm = motion[index]
            ig_m = [(gm[i] < lo) | (gm[i] > hi) for i in range(len(gm))]
            gt_area = [(x[3] - x[1] + 1) * (x[2] - x[0] + 1) for x in gt_boxes]
            ig_a = [(a < area_range[0]) | (a > area_range[1]) for a in gt_area]
            for k in range(num_gt):
                if ig_m[k] or ig_a[k]:
                    npos[gt_labels[k]] -= 1
            if fr["id"] not in cells:
                continue
            labels, _, bboxes = cells[fr["id"]]
            detected = np.zeros(num_gt)
            tp = np.zeros(len(labels))
            fp = np.zeros(len(labels))
            for j in range(len(labels)):
                bb = bboxes[j]
                ovmax = kmax = ovmax_ig = ovmax_nig = -1
                for k in range(num_gt):
                    ov = ov_all[fr["id"]][j][k]
                    if (ov >= thr[k]) and (ov > ovmax) and (not detected[k]) and \
                            (labels[j] == gt_labels[k]):
                        ovmax, kmax = ov, k
                    if ig_m[k] and ov > ovmax_ig:
                        ovmax_ig = ov
                    if (not ig_m[k]) and ov > ovmax_nig:
                        ovmax_nig = ov
                if kmax >= 0:
                    detected[kmax] = 1
                    if (not ig_m[kmax]) and (not ig_a[kmax]):
                        tp[j] = 1.0
                else:
                    bb_area = (bb[3] - bb[1] + 1) * (bb[2] - bb[0] + 1)
                    if bb_area < area_range[0] or bb_area > area_range[1]:
                        fp[j] = 0
                    elif ovmax_nig > ovmax_ig:
                        fp[j] = 1
                    elif ovmax_ig > ovmax_nig:
                        fp[j] = 0
                    elif num_gt == 0:
                        fp[j] = empty_weight
                    else:
                        fp[j] = sum([1 if ig else 0 for ig in ig_m]) / float(num_gt)
            tp_cell[fr["id"]] = tp
            fp_cell[fr["id"]] = fp
        aps[r] = _calculate_ap(tp_cell, fp_cell, frames, cells, npos)
        maps[r] = _mean(aps[r])
        nposes[r] = npos[1:].astype(np.int64)
    return aps, maps, ews, nposes


def motion_from_tracks(frames, window=10):
    """Motion IoU of every gt object from the tracks (the rule of issue 5): mean IoU with the same
    track in frames of the same video at 0 < |s - t| <= window, in increasing s; 1e-10/|N| if all
    IoUs are 0; 1.0 if N is empty or the object has no track (track id < 0)."""
    by_key = {(fr["video"], fr["index"]): fr for fr in frames}
    out = []
    for fr in frames:
        vals = []
        for box, tid in zip(np.asarray(fr["bboxes"], dtype=np.float64), fr["tracks"]):
            if tid < 0:
                vals.append(1.0)
                continue
            ious = []
            for s in range(fr["index"] - window, fr["index"] + window + 1):
                if s == fr["index"] or (fr["video"], s) not in by_key:
                    continue
                other = by_key[(fr["video"], s)]
                hits = [i for i, t in enumerate(other["tracks"]) if t == tid]
                if hits:
                    ious.append(float(boxoverlap(box, np.asarray(other["bboxes"][hits[0]],
                                                                  dtype=np.float64))))
            if not ious:
                vals.append(1.0)
            elif all(v == 0 for v in ious):
                vals.append(1e-10 / len(ious))
            else:
                acc = 0.0
                for v in ious:
                    acc += v
                vals.append(acc / len(ious))
        out.append(np.asarray(vals, dtype=np.float64))
    return out
