#!/usr/bin/env python3
"""Where does a VID detector lose its AP? An error breakdown of a `selsa test` detections file.

Independent of the C evaluator (NumPy only). Prints:
  - the class-agnostic AP@0.5: its gap to the mAP that `selsa test` reports is what class
    confusions cost;
  - the detections with score >= 0.5, each put in one bin: correct, right box but wrong class,
    duplicate of an already matched object, mislocalised (0.1 <= IoU < 0.5), background;
  - recall (a detection of the right class with IoU >= 0.5 and score >= 0.05) by object size
    (sqrt of the box area: < 24, 24..48, >= 48 px), by the `occluded` flag, by truncation (box
    touching the image border) and by motion speed (motion IoU from the ground-truth tracks,
    vid-eval.md §5: fast [0, 0.7], medium (0.7, 0.9], slow (0.9, 1]), and by speed x size.
Matching follows the VID protocol (IoU >= 0.5 with inclusive "+1" pixel areas, greedy by score,
each ground-truth box matched once).

usage: /usr/bin/python3 bench/vid_errors.py DATASET_ROOT DETECTIONS.txt [--min-score S]
  DATASET_ROOT    an ILSVRC-layout root with ImageSets/VID_val_videos.txt (`selsa synth` writes one)
  DETECTIONS.txt  `selsa test --out DIR` writes DIR/detections.txt (frame class score x1 y1 x2 y2)
"""
import argparse
import collections
import os
import sys
import xml.etree.ElementTree as ET

import numpy as np

# the 30 ImageNet VID synsets in class-index order 1..30 (official-selsa.md, src/eval/classes.c)
SYNSETS = ("n02691156 n02419796 n02131653 n02834778 n01503061 n02924116 n02958343 n02402425 "
           "n02084071 n02121808 n02503517 n02118333 n02510455 n02342885 n02374451 n02129165 "
           "n01674464 n02484322 n03790512 n02324045 n02509815 n02411705 n01726692 n02355227 "
           "n02129604 n04468005 n01662784 n04530566 n02062744 n02391049").split()


def iou(b, G):
    """inclusive-pixel IoU of box b (4,) with boxes G (n, 4)"""
    iw = np.maximum(np.minimum(b[2], G[:, 2]) - np.maximum(b[0], G[:, 0]) + 1, 0)
    ih = np.maximum(np.minimum(b[3], G[:, 3]) - np.maximum(b[1], G[:, 1]) + 1, 0)
    inter = iw * ih
    area = lambda x: (x[..., 2] - x[..., 0] + 1) * (x[..., 3] - x[..., 1] + 1)  # noqa: E731
    return inter / (area(b) + area(G) - inter)


def average_precision(tp, score, npos):
    """VOC-style AP (all points), the rule vid_eval uses"""
    order = np.argsort(-score, kind="stable")
    hits = np.cumsum(tp[order])
    fp = np.arange(1, len(hits) + 1) - hits
    rec = hits / max(npos, 1)
    prec = hits / np.maximum(hits + fp, 1e-12)
    mrec = np.concatenate([[0.0], rec, [1.0]])
    mpre = np.concatenate([[0.0], prec, [0.0]])
    for i in range(len(mpre) - 2, -1, -1):
        mpre[i] = max(mpre[i], mpre[i + 1])
    i = np.where(mrec[1:] != mrec[:-1])[0]
    return float(np.sum((mrec[i + 1] - mrec[i]) * mpre[i + 1]))


def load_ground_truth(root):
    """frame index (1-based, list order) -> (boxes (n, 4), classes (n,), occluded (n,), track ids)"""
    path = os.path.join(root, "ImageSets", "VID_val_videos.txt")
    if not os.path.isfile(path):
        sys.exit(f"vid_errors: {path} not found (need an ILSVRC-layout root)")
    gt = {}
    for line in open(path):
        video, first, _, n = line.split()
        for i in range(int(n)):
            xml = os.path.join(root, "Annotations", "VID", video, f"{i:06d}.xml")
            boxes, cls, occ, tid = [], [], [], []
            for o in ET.parse(xml).getroot().findall("object"):
                name = o.find("name").text
                if name not in SYNSETS:
                    continue
                b = o.find("bndbox")
                boxes.append([float(b.find(k).text) for k in ("xmin", "ymin", "xmax", "ymax")])
                cls.append(SYNSETS.index(name) + 1)
                occ.append(int(o.findtext("occluded", "0")))
                tid.append((video, int(o.findtext("trackid", "0"))))
            size = ET.parse(xml).getroot().find("size")
            wh = (float(size.findtext("width")), float(size.findtext("height")))
            gt[int(first) + i] = (np.array(boxes, float).reshape(-1, 4), np.array(cls, int),
                                  np.array(occ, int), tid, wh, (video, i))
    return gt


def motion_iou(gt):
    """vid-eval.md §5: mean IoU with the same track's boxes in frames 0 < |s - t| <= 10"""
    tracks = collections.defaultdict(dict)
    for f, (boxes, _, _, tid, _, (video, i)) in gt.items():
        for k, t in enumerate(tid):
            tracks[t][i] = boxes[k]
    out = {}
    for f, (boxes, _, _, tid, _, (video, i)) in gt.items():
        vals = []
        for k, t in enumerate(tid):
            tr = tracks[t]
            near = [s for s in sorted(tr) if 0 < abs(s - i) <= 10]
            if not near:
                vals.append(1.0)
                continue
            u = [iou(boxes[k], tr[s][None])[0] for s in near]
            vals.append(float(np.mean(u)) if max(u) > 0 else 1e-10 / len(near))
        out[f] = np.array(vals)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("root")
    ap.add_argument("detections")
    ap.add_argument("--min-score", type=float, default=0.05, help="score threshold of the recall table")
    a = ap.parse_args()
    gt = load_ground_truth(a.root)
    D = np.loadtxt(a.detections, ndmin=2)
    if D.size == 0:
        sys.exit("vid_errors: no detections")
    npos = sum(len(g[0]) for g in gt.values())
    by_frame = collections.defaultdict(list)
    for j in range(len(D)):
        by_frame[int(D[j, 0])].append(j)

    # class-agnostic matching, greedy by score; each detection gets one bin
    BINS = ("correct", "wrong class", "duplicate", "mislocalised", "background")
    kind = np.full(len(D), 4)
    tp = np.zeros(len(D))
    used = {f: np.zeros(len(g[0]), bool) for f, g in gt.items()}
    for j in np.argsort(-D[:, 2], kind="stable"):
        f = int(D[j, 0])
        if f not in gt or len(gt[f][0]) == 0:
            continue
        u = iou(D[j, 3:7], gt[f][0])
        k = int(np.argmax(u))
        if u[k] >= 0.5:
            if not used[f][k]:
                used[f][k] = True
                tp[j] = 1
                kind[j] = 0 if int(D[j, 1]) == gt[f][1][k] else 1
            else:
                kind[j] = 2
        elif u[k] >= 0.1:
            kind[j] = 3
    print(f"{len(gt)} frames, {npos} ground-truth boxes, {len(D)} detections")
    print(f"class-agnostic AP@0.5: {100 * average_precision(tp, D[:, 2], npos):.1f}")
    hi = D[:, 2] >= 0.5
    print(f"detections with score >= 0.5: {int(hi.sum())}")
    for b, name in enumerate(BINS):
        print(f"  {name:13s} {int(np.sum(kind[hi] == b)):7d}")

    # recall by group
    mot = motion_iou(gt)
    stat = collections.defaultdict(lambda: [0, 0])
    for f, (boxes, cls, occ, _, (w, h), _) in gt.items():
        js = [j for j in by_frame.get(f, []) if D[j, 2] >= a.min_score]
        for k in range(len(boxes)):
            g = boxes[k]
            found = any(int(D[j, 1]) == cls[k] and iou(D[j, 3:7], g[None])[0] >= 0.5 for j in js)
            size = np.sqrt((g[2] - g[0] + 1) * (g[3] - g[1] + 1))
            m = mot[f][k]
            sz = "size < 24" if size < 24 else "size 24-48" if size < 48 else "size >= 48"
            speed = "fast" if m <= 0.7 else "medium" if m <= 0.9 else "slow"
            groups = ("all", sz, speed, f"{speed}, {sz}",
                      "occluded" if occ[k] else "not occluded",
                      "truncated" if g[0] <= 0 or g[1] <= 0 or g[2] >= w - 1 or g[3] >= h - 1 else "inside")
            for key in groups:
                stat[key][0] += found
                stat[key][1] += 1
    print(f"recall (right class, IoU >= 0.5, score >= {a.min_score:g}):")
    sizes = ("size < 24", "size 24-48", "size >= 48")
    order = ("all",) + sizes + ("occluded", "not occluded", "truncated", "inside")
    for speed in ("fast", "medium", "slow"):
        order += (speed,) + tuple(f"{speed}, {sz}" for sz in sizes)
    for key in order:
        if key in stat:
            hit, n = stat[key]
            print(f"  {key:19s} {100 * hit / n:5.1f} %  of {n:6d}")


if __name__ == "__main__":
    main()
