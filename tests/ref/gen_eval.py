"""Fixtures for tests/test_eval.c: the ImageNet VID evaluator against tests/ref/_vid_eval_ref.py.

Writes into <fixture dir>:
  eval_rand_tracks.slfx  random 200-frame case, motion IoU computed from the gt tracks
  eval_rand_reversed.slfx  the same with the detection lines in reverse order (tie rule)
  eval_rand_values.slfx  the same gt/detections with random motion values (incl. 0.7/0.9/1.0)
  eval_real.slfx         a few real val videos: frame ids from VID_val_videos.txt, motion values
                         from the official .mat (via scipy), synthetic boxes and detections
  eval_mat_cells.slfx    every cell of the official .mat as scipy.io.loadmat reads it
The last two need ../shared/data (and scipy); without them they are skipped with a message.
It also checks the reference itself on the hand-computed cases of test_eval.c.
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _fixture_io import write_fixture  # noqa: E402
import _vid_eval_ref as ref  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DATA = os.path.join(REPO, "..", "shared", "data")


def frame(fid, video, index, objs):
    """objs: list of (cls, track, box, motion)."""
    return {"id": fid, "video": video, "index": index,
            "labels": np.array([o[0] for o in objs], dtype=np.int64),
            "tracks": np.array([o[1] for o in objs], dtype=np.int64),
            "bboxes": np.array([o[2] for o in objs], dtype=np.float64).reshape(-1, 4),
            "motion": np.array([o[3] for o in objs], dtype=np.float64)}


def dets_of(rows):
    """rows: (frame id, cls, score, x1, y1, x2, y2)."""
    a = np.array(rows, dtype=np.float64).reshape(-1, 7)
    return {"ids": a[:, 0].astype(np.int64), "labels": a[:, 1].astype(np.int64),
            "confs": a[:, 2], "bboxes": a[:, 3:7]}


def check_close(what, got, want, tol=1e-12):
    got, want = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    if got.shape != want.shape or np.max(np.abs(got - want), initial=0) > tol:
        raise AssertionError(f"reference self-check {what}: got {got}, want {want}")


def check_hand_cases():
    """The hand-computed cases of test_eval.c (same numbers, derived by hand there)."""
    nan = float("nan")
    # A: duplicates and a score tie (stable order: input order)
    fa = [frame(1, 0, 0, [(1, -1, [0, 0, 99, 99], nan), (1, -1, [200, 0, 299, 99], nan)]),
          frame(2, 0, 1, [(2, -1, [0, 0, 99, 99], nan)])]
    rows = [(1, 1, .9, 0, 0, 99, 99), (1, 1, .9, 0, 0, 99, 99), (1, 1, .8, 200, 0, 299, 99),
            (2, 2, .5, 500, 500, 599, 599), (2, 2, .5, 0, 0, 99, 99)]
    ap, m, _ = ref.vid_eval(fa, dets_of(rows))
    check_close("A ap1", ap[0], 5 / 6)
    check_close("A ap2", ap[1], 0.5)
    check_close("A map", m, 2 / 3)
    rows2 = rows[:3] + [rows[4], rows[3]]
    ap, m, _ = ref.vid_eval(fa, dets_of(rows2))
    check_close("A' ap2", ap[1], 1.0)
    check_close("A' map", m, 11 / 12)
    # B: small-object thresholds and the 0.5 boundary
    fb = [frame(3, 0, 0, [(3, -1, [0, 0, 9, 9], nan)]),
          frame(4, 0, 1, [(4, -1, [0, 0, 19, 19], nan)]),
          frame(6, 0, 2, [(5, -1, [0, 0, 99, 99], nan)])]
    rows = [(3, 3, .7, 0, 0, 9, 32), (4, 4, .6, 0, 0, 19, 45), (4, 4, .4, 0, 0, 19, 41),
            (6, 5, .3, 0, 0, 99, 200), (6, 5, .2, 0, 0, 99, 199)]
    ap, m, _ = ref.vid_eval(fb, dets_of(rows))
    check_close("B ap", ap[2:5], [1.0, 0.5, 0.5])
    check_close("B map", m, 2 / 3)
    # C: motion ranges, ignored gt, fractional fp, empty frame, AP = -1
    fc = [frame(1, 0, 0, [(1, -1, [0, 0, 99, 99], .95), (1, -1, [200, 0, 299, 99], .5)]),
          frame(2, 0, 1, []),
          frame(3, 0, 2, [(2, -1, [0, 0, 99, 99], .8), (1, -1, [300, 300, 399, 399], .7)])]
    rows = [(1, 1, .9, 0, 0, 99, 99), (1, 1, .8, 200, 0, 299, 99), (1, 1, .7, 600, 600, 699, 699),
            (2, 1, .6, 0, 0, 99, 99), (3, 2, .5, 0, 0, 99, 99), (3, 1, .4, 300, 300, 399, 399),
            (3, 3, .3, 0, 0, 99, 99)]
    ap, m, _ = ref.vid_eval(fc, dets_of(rows))
    check_close("C ap", ap[:3], [13 / 15, 1.0, -1.0])
    check_close("C map", m, 14 / 15)
    aps, maps, ews, _ = ref.vid_eval_motion(fc, dets_of(rows))
    check_close("C ew", ews, [1.0, 0.6, 0.4, 0.2])
    check_close("C ap motion", aps[:, :3], [[13 / 15, 1, -1], [0.5 + 1 / 3.1, -1, -1],
                                            [1 / 1.4, 1, -1], [1, -1, -1]])
    check_close("C map motion", maps, [14 / 15, 0.5 + 1 / 3.1, (1 / 1.4 + 1) / 2, 1.0])
    # tracks: the motion IoU rule
    ft = [frame(1, 0, 0, [(1, 1, [0, 0, 9, 9], nan), (1, 2, [20, 20, 29, 29], nan),
                          (1, 3, [40, 40, 49, 49], nan)]),
          frame(2, 0, 1, [(1, 1, [5, 0, 14, 9], nan)]),
          frame(3, 0, 2, [(1, 1, [100, 100, 109, 109], nan)]),
          frame(4, 0, 10, [(1, 2, [25, 20, 34, 29], nan)]),
          frame(5, 0, 11, [(1, 3, [45, 40, 54, 49], nan)]),
          frame(6, 0, 15, [(1, 1, [0, 0, 9, 9], nan), (1, -1, [0, 0, 9, 9], nan)]),
          frame(7, 1, 1, [(1, 1, [0, 0, 9, 9], nan)])]
    mot = ref.motion_from_tracks(ft)
    check_close("tracks", np.concatenate(mot),
                [1 / 6, 1 / 3, 1.0, 1 / 6, 5e-11, 1 / 3, 1.0, 1.0, 1.0, 1.0], tol=1e-15)


def random_case(rng):
    """200 frames in 8 videos, tracks with slow..teleporting motion, tiny..large boxes, empty
    frames; noisy detections with duplicates, wrong classes, score ties, off-list frames."""
    lengths = [40, 35, 30, 25, 25, 20, 15, 10]
    classes = rng.choice(np.arange(1, 31), size=24, replace=False)  # 6 classes without gt
    frames = []
    fid = 1
    for v, n in enumerate(lengths):
        objs_per_frame = [[] for _ in range(n)]
        n_tracks = int(rng.integers(2, 7))
        for t in range(n_tracks):
            cls = int(rng.choice(classes))
            a = int(rng.integers(0, max(1, n // 3)))
            b = int(rng.integers(min(n - 1, 2 * n // 3), n))
            if rng.uniform() < 0.2:  # short track
                a = int(rng.integers(0, n))
                b = min(n - 1, a + int(rng.integers(0, 6)))
            size = float(rng.choice([6, 12, 25, 60, 150, 300]))
            w, h = size * rng.uniform(0.6, 1.6), size * rng.uniform(0.6, 1.6)
            x, y = rng.uniform(0, 1000), rng.uniform(0, 600)
            speed = float(rng.choice([0.3, 1, 3, 8, 25]))
            for k in range(a, b + 1):
                x += rng.normal(0, speed)
                y += rng.normal(0, speed)
                if rng.uniform() < 0.02:  # teleport: zero IoU with neighbours
                    x, y = rng.uniform(0, 1000), rng.uniform(0, 600)
                if rng.uniform() < 0.1:  # gap in the track
                    continue
                box = [round(x), round(y), round(x + w), round(y + h)]  # integer like the XML
                objs_per_frame[k].append((cls, 100 * v + t, box, float("nan")))
        for k in range(n):
            objs = objs_per_frame[k]
            rng.shuffle(objs)  # XML order is arbitrary
            frames.append(frame(fid, v, k, objs))
            fid += 1
    rows = []
    for fr in frames:
        for cls, box in zip(fr["labels"], fr["bboxes"]):
            w, h = box[2] - box[0] + 1, box[3] - box[1] + 1
            for _ in range(int(rng.choice([0, 1, 1, 1, 2, 3]))):
                s = rng.choice([0.02, 0.1, 0.3])
                b = box + rng.normal(0, 1, 4) * s * np.array([w, h, w, h])
                c = int(cls) if rng.uniform() < 0.9 else int(rng.integers(1, 31))
                # scores on a coarse grid: many exact ties between TPs and FPs of a class
                sc = round(float(rng.choice([0.3, 0.5, 0.9])) if rng.uniform() < 0.4
                           else float(rng.uniform()), 2)
                rows.append([fr["id"], c, sc] + list(np.round(b, 2)))
            if rng.uniform() < 0.1:  # exact duplicate box
                rows.append([fr["id"], int(cls), round(float(rng.uniform()), 2)] + list(box))
        for _ in range(int(rng.integers(0, 3))):  # background false positives
            x, y, s = rng.uniform(0, 1000), rng.uniform(0, 600), rng.uniform(5, 200)
            rows.append([fr["id"], int(rng.integers(1, 31)), float(rng.choice([0.3, 0.5, 0.9])),
                         round(x, 2), round(y, 2), round(x + s, 2), round(y + s, 2)])
    for _ in range(5):  # frames absent from the gt list: ignored
        rows.append([1000 + int(rng.integers(0, 50)), 1, 0.99, 0, 0, 50, 50])
    perm = rng.permutation(len(rows))  # detection files are not sorted
    rows = [rows[i] for i in perm]
    return frames, dets_of(rows)


def gt_entries(frames, motion):
    return {
        "gt_frame": np.array([[f["id"], f["video"], f["index"]] for f in frames], dtype=np.int64),
        "gt_count": np.array([len(f["labels"]) for f in frames], dtype=np.int64),
        "gt_box": np.concatenate([f["bboxes"] for f in frames]).reshape(-1, 4),
        "gt_cls": np.concatenate([f["labels"] for f in frames]).astype(np.int64),
        "gt_track": np.concatenate([f["tracks"] for f in frames]).astype(np.int64),
        "gt_motion": np.concatenate([np.asarray(m, dtype=np.float64) for m in motion]),
    }


def det_entries(dets):
    return {"det_frame": dets["ids"].astype(np.int64), "det_cls": dets["labels"].astype(np.int64),
            "det_score": dets["confs"], "det_box": dets["bboxes"]}


def expected(frames, dets):
    ap, m, npos = ref.vid_eval(frames, dets)
    aps, maps, ews, nposes = ref.vid_eval_motion(frames, dets)
    b = dets["bboxes"]
    if np.all((b[:, 2] - b[:, 0] + 1) * (b[:, 3] - b[:, 1] + 1) >= 0):
        # equivalent unless a detection box is inverted (negative area: fp = 0 by the area rule)
        check_close("all range == vid_eval", aps[0], ap)
    return {"exp_ap": ap, "exp_map": np.array([m]), "exp_npos": npos, "exp_ap_motion": aps,
            "exp_map_motion": maps, "exp_ew": ews, "exp_npos_motion": nposes}


def with_motion(frames, motion):
    return [dict(f, motion=m) for f, m in zip(frames, motion)]


def real_case(out_dir, rng):
    mat = os.path.join(DATA, "official", "imagenet_vid_groundtruth_motion_iou.mat")
    lst = os.path.join(DATA, "ImageSets", "VID_val_videos.txt")
    if not (os.path.isfile(mat) and os.path.isfile(lst)):
        print(f"gen_eval: SKIP real .mat fixtures: {DATA} absent")
        return
    try:
        import scipy.io as sio
    except ImportError:
        print("gen_eval: SKIP real .mat fixtures: scipy not installed")
        return
    cells = sio.loadmat(mat)["motion_iou"]
    vals = [np.asarray(cells[i][0], dtype=np.float64).reshape(-1) for i in range(len(cells))]
    offsets = np.zeros(len(vals) + 1, dtype=np.int64)
    offsets[1:] = np.cumsum([len(v) for v in vals])
    write_fixture(os.path.join(out_dir, "eval_mat_cells.slfx"),
                  {"offsets": offsets, "values": np.concatenate(vals)})
    videos = []
    with open(lst) as f:
        for line in f:
            name, start, _, n = line.split()
            videos.append((name, int(start), int(n)))
    # 00007010 (demo video), the first video with empty cells, two with mixed speeds
    pick = [v for v in videos if v[0].endswith("00007010")]
    for v in videos:
        if any(len(vals[v[1] - 1 + k]) == 0 for k in range(v[2])) and v[2] <= 200:
            pick.append(v)
            break
    pick += [videos[3], videos[250]]
    frames = []
    motion = []
    for vi, (name, start, n) in enumerate(pick):
        n_use = min(n, 120)
        track_boxes = {}
        for k in range(n_use):
            mv = vals[start - 1 + k]
            objs = []
            for j in range(len(mv)):
                if j not in track_boxes:
                    s = float(rng.choice([8, 30, 100, 250]))
                    track_boxes[j] = np.array([rng.uniform(0, 900), rng.uniform(0, 500), s, s])
                tb = track_boxes[j]
                tb[:2] += rng.normal(0, 5, 2)
                box = [round(tb[0]), round(tb[1]), round(tb[0] + tb[2]), round(tb[1] + tb[3])]
                objs.append((int(rng.integers(1, 31)), j, box, float(mv[j])))
            frames.append(frame(start + k, int(name[-8:]), k, objs))
            motion.append(mv)
    rows = []
    for fr in frames:
        for cls, box in zip(fr["labels"], fr["bboxes"]):
            w, h = box[2] - box[0] + 1, box[3] - box[1] + 1
            for _ in range(int(rng.choice([0, 1, 1, 2]))):
                b = box + rng.normal(0, 1, 4) * rng.choice([0.03, 0.15]) * np.array([w, h, w, h])
                c = int(cls) if rng.uniform() < 0.9 else int(rng.integers(1, 31))
                rows.append([fr["id"], c, round(float(rng.uniform()), 4)] + list(np.round(b, 2)))
        if rng.uniform() < 0.5:
            x, y = rng.uniform(0, 900), rng.uniform(0, 500)
            rows.append([fr["id"], int(rng.integers(1, 31)), round(float(rng.uniform()), 4),
                         round(x, 2), round(y, 2), round(x + 40, 2), round(y + 40, 2)])
    dets = dets_of(rows)
    frames = with_motion(frames, motion)
    e = gt_entries(frames, motion)
    e.update(det_entries(dets))
    e.update(expected(frames, dets))
    e["video_number"] = np.array([fr["video"] for fr in frames], dtype=np.int64)
    write_fixture(os.path.join(out_dir, "eval_real.slfx"), e)


def main():
    out_dir = sys.argv[1] if len(sys.argv) > 1 else "build/fixtures"
    os.makedirs(out_dir, exist_ok=True)
    check_hand_cases()
    rng = np.random.default_rng(20240505)
    frames, dets = random_case(rng)
    motion = ref.motion_from_tracks(frames)
    f1 = with_motion(frames, motion)
    e = gt_entries(f1, motion)
    e.update(det_entries(dets))
    e.update(expected(f1, dets))
    write_fixture(os.path.join(out_dir, "eval_rand_tracks.slfx"), e)

    # the same with the detection lines reversed: equal scores now meet in the other order
    rev = {k: v[::-1].copy() for k, v in dets.items()}
    e = gt_entries(f1, motion)
    e.update(det_entries(rev))
    e.update(expected(f1, rev))
    write_fixture(os.path.join(out_dir, "eval_rand_reversed.slfx"), e)

    choices = np.array([0.7, 0.9, 1.0, 1e-11, 0.5, 0.95])
    motion2 = [np.where(rng.uniform(size=len(m)) < 0.3, rng.choice(choices, size=len(m)),
                        rng.uniform(size=len(m))) for m in motion]
    f2 = with_motion(frames, motion2)
    e = gt_entries(f2, motion2)
    e.update(det_entries(dets))
    e.update(expected(f2, dets))
    write_fixture(os.path.join(out_dir, "eval_rand_values.slfx"), e)

    real_case(out_dir, np.random.default_rng(7010))


if __name__ == "__main__":
    main()
