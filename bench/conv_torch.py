"""Operator benchmark, PyTorch side: the conv shapes of bench/bench_conv.c through
torch.nn.functional.conv2d (bias + ReLU, like the C run), medians over --reps runs.

Usage:
  /usr/bin/python3 bench/conv_torch.py --shapes SHAPES.tsv --threads 2 --reps 5 --tsv OUT.tsv
  /usr/bin/python3 bench/conv_torch.py --combine C.tsv TORCH.tsv   (prints the markdown table)
SHAPES.tsv is `bench_conv --list`; C.tsv is `bench_conv --tsv`.
"""
import argparse
import csv
import statistics
import time


def run(args):
    import torch
    import torch.nn.functional as F
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    rows = list(csv.DictReader(open(args.shapes), delimiter="\t"))
    with open(args.tsv, "w") as out:
        out.write("net\tname\ttorch_ms\n")
        for r in rows:
            cin, cout, k = int(r["cin"]), int(r["cout"]), int(r["k"])
            s, p, d, g = int(r["stride"]), int(r["pad"]), int(r["dil"]), int(r["groups"])
            h, w = int(r["h"]), int(r["w"])
            x = torch.rand(1, cin, h, w) * 2 - 1
            wt = torch.rand(cout, cin // g, k, k) * 2 - 1
            b = torch.rand(cout) * 2 - 1
            times = []
            with torch.no_grad():
                for i in range(args.reps + 1):  # the first run is a warm-up
                    t0 = time.perf_counter()
                    y = F.conv2d(x, wt, b, stride=s, padding=p, dilation=d, groups=g)
                    torch.relu_(y)
                    t1 = time.perf_counter()
                    if i > 0:
                        times.append((t1 - t0) * 1e3)
            out.write(f"{r['net']}\t{r['name']}\t{statistics.median(times):.4f}\n")
            out.flush()
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, "
          f"mkldnn {torch.backends.mkldnn.is_available()}")


def combine(c_path, t_path):
    c_rows = list(csv.DictReader(open(c_path), delimiter="\t"))
    t_ms = {(r["net"], r["name"]): float(r["torch_ms"])
            for r in csv.DictReader(open(t_path), delimiter="\t")}
    titles = {"r101": "Official SELSA ResNet-101 (Caffe style, dilated res5) at 562×1000",
              "r50dc5": "MMTracking SELSA ResNet-50-DC5 (PyTorch style) at 576×1008"}
    for net in ["r101", "r50dc5"]:
        rows = [r for r in c_rows if r["net"] == net]
        if not rows:
            continue
        print(f"\n**{titles[net]}**\n")
        print("| layer | count | GFLOP | selsa conv ms | GFLOP/s | sgemm ms | GFLOP/s | conv/sgemm "
              "| torch ms | GFLOP/s | conv/torch |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        tc = tg = tt = tf = 0.0
        for r in rows:
            n = int(r["count"])
            gf, c, g = float(r["gflop"]), float(r["conv_ms"]), float(r["sgemm_ms"])
            t = t_ms.get((net, r["name"]), float("nan"))
            tc, tg, tt, tf = tc + n * c, tg + n * g, tt + n * t, tf + n * gf
            print(f"| {r['name']} | {n} | {gf:.2f} | {c:.2f} | {gf / c * 1e3:.0f} | {g:.2f} | "
                  f"{gf / g * 1e3:.0f} | {c / g:.2f} | {t:.2f} | {gf / t * 1e3:.0f} | {c / t:.2f} |")
        print(f"| **total (× count)** | | {tf:.1f} | **{tc:.1f}** | {tf / tc * 1e3:.0f} | **{tg:.1f}** | "
              f"{tf / tg * 1e3:.0f} | **{tc / tg:.3f}** | **{tt:.1f}** | {tf / tt * 1e3:.0f} | "
              f"**{tc / tt:.3f}** |")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--shapes")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--tsv")
    ap.add_argument("--combine", nargs=2, metavar=("C_TSV", "TORCH_TSV"))
    args = ap.parse_args()
    if args.combine:
        combine(*args.combine)
    else:
        run(args)


if __name__ == "__main__":
    main()
