#!/usr/bin/env python3
"""Where does the SELSA attention of a trained official-family model look?

For key-frame proposals that cover an object (IoU >= 0.5 with a ground-truth box), sums the
attention weights of both SELSA stages over five groups of keys: the proposal itself, other
proposals on the same object in the key frame, other proposals in the key frame, proposals on the
same object (same track id) in the reference frames, and everything else in the reference frames;
prints the means next to what uniform attention would give. Uses the independent PyTorch
reference (tests/ref/_official_ref.py), not the C code. Window: the key frame + REFS frames drawn
at random from the same video (the official test schedule takes them from a shuffled video).

usage: /usr/bin/python3 bench/attention_stats.py MODEL.pth DATASET_ROOT [--videos N] [--refs R]
  MODEL.pth  the checkpoint converted with `selsa convert X.params X.pth`; a single-frame model
             can be tried with --qk-identity S --out-identity T (the init of `network.attention_*`)
  The network sizes are those of configs/tiny_synth.yaml (override with the options below).
"""
import argparse
import math
import os
import random
import sys
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "ref"))
import cv2  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
import _official_ref as R  # noqa: E402

GROUPS = ["itself", "key frame, same object", "key frame, other", "other frames, same object",
          "other frames, other"]


def box_iou(a, b):
    ix = np.clip(np.minimum(a[:, 2], b[2]) - np.maximum(a[:, 0], b[0]) + 1, 0, None)
    iy = np.clip(np.minimum(a[:, 3], b[3]) - np.maximum(a[:, 1], b[1]) + 1, 0, None)
    inter = ix * iy
    return inter / ((a[:, 2] - a[:, 0] + 1) * (a[:, 3] - a[:, 1] + 1) + (b[2] - b[0] + 1) * (b[3] - b[1] + 1) - inter)


def ground_truth(root, video, t):
    x = ET.parse(os.path.join(root, "Annotations/VID", video, "%06d.xml" % t)).getroot()
    out = {}
    for o in x.findall("object"):
        b = o.find("bndbox")
        out[o.find("trackid").text] = np.array([float(b.find(k).text) for k in ("xmin", "ymin", "xmax", "ymax")])
    return out


def attention(P, k, X, fc_dim):
    q = F.linear(X, P["query_%d_weight" % k], P["query_%d_bias" % k])
    kk = F.linear(X, P["key_%d_weight" % k], P["key_%d_bias" % k])
    return F.softmax(q @ kk.t() / math.sqrt(fc_dim), dim=1)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("model")
    ap.add_argument("root")
    ap.add_argument("--videos", type=int, default=8)
    ap.add_argument("--windows", type=int, default=2, help="key frames per video")
    ap.add_argument("--refs", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--qk-identity", type=float, default=0.0)
    ap.add_argument("--out-identity", type=float, default=0.0)
    ap.add_argument("--fc-dim", type=int, default=128)
    args = ap.parse_args()
    torch.set_num_threads(1)
    cfg = R.Config(units=(1, 1, 1, 1), base_channels=16, rpn_channels=64, conv_new_channels=32,
                   fc_dim=args.fc_dim, key_interval=5, scales=(192, 320), anchor_scales=(1, 3, 8),
                   rpn_pre_nms=3000, rpn_post_nms=300)
    P = {k: v.float() for k, v in torch.load(args.model).items()}
    D = cfg.fc_dim
    for k in (1, 2):
        if args.qk_identity > 0:
            for n in ("query", "key"):
                P["%s_%d_weight" % (n, k)] = torch.eye(D) * args.qk_identity
                P["%s_%d_bias" % (n, k)] = torch.zeros(D)
        if args.out_identity > 0:
            P["linear_out_%d_weight" % k] = (torch.eye(D) * args.out_identity).reshape(D, D, 1, 1)
            P["linear_out_%d_bias" % k] = torch.zeros(D)
    if "query_1_weight" not in P:
        sys.exit("%s has no SELSA weights: give --qk-identity and --out-identity" % args.model)
    rng = random.Random(args.seed)
    sums = {1: np.zeros(5), 2: np.zeros(5)}
    uniform = np.zeros(5)
    n_queries = 0
    videos = [line.split()[0] for line in open(os.path.join(args.root, "ImageSets/VID_val_videos.txt"))]
    for video in videos[:args.videos]:
        folder = os.path.join(args.root, "Data/VID", video)
        frames = sorted(os.listdir(folder))
        for _ in range(args.windows):
            key = rng.randrange(len(frames))
            others = [i for i in range(len(frames)) if i != key]
            window = [key] + rng.sample(others, min(args.refs, len(others)))
            feats, labels = [], []  # labels: (window index, track id or None) per proposal
            for wi, f in enumerate(window):
                x, info = R.preprocess(cv2.imread(os.path.join(folder, frames[f])), cfg)
                with torch.no_grad():
                    rois, fc1 = R.frame_head(P, cfg, R.backbone_conv4(P, cfg, x), info)
                boxes = np.asarray(rois)[:, 1:5] / info[2]
                gt = ground_truth(args.root, video, f)
                for b in boxes:
                    best, track = 0.5, None
                    for tid, g in gt.items():
                        o = box_iou(b[None], g)[0]
                        if o >= best:
                            best, track = o, tid
                    labels.append((wi, track))
                feats.append(fc1)
            X = torch.cat(feats)
            with torch.no_grad():
                A1 = attention(P, 1, X, D)
                x2 = F.linear(F.relu(R.selsa_module(P, 1, X, D)), P["fc_new_2_weight"], P["fc_new_2_bias"])
                A2 = attention(P, 2, x2, D)
            n_key = sum(1 for wi, _ in labels if wi == 0)
            for i in range(n_key):
                if labels[i][1] is None:
                    continue
                g = np.array([0 if j == i else (1 if wj == 0 and tj == labels[i][1] else 2 if wj == 0 else
                                                3 if tj == labels[i][1] else 4)
                              for j, (wj, tj) in enumerate(labels)])
                for k, A in ((1, A1), (2, A2)):
                    a = A[i].numpy()
                    for c in range(5):
                        sums[k][c] += a[g == c].sum()
                for c in range(5):
                    uniform[c] += (g == c).mean()
                n_queries += 1
    if n_queries == 0:
        sys.exit("no key-frame proposal covers an object")
    print("%d key-frame proposals on objects, %d videos x %d windows of 1 + %d frames" %
          (n_queries, min(args.videos, len(videos)), args.windows, args.refs))
    print("%-28s %8s %8s %8s" % ("attention mass on", "SELSA#1", "SELSA#2", "uniform"))
    for c in range(5):
        print("%-28s %8.3f %8.3f %8.3f" % (GROUPS[c], sums[1][c] / n_queries, sums[2][c] / n_queries,
                                          uniform[c] / n_queries))


if __name__ == "__main__":
    main()
