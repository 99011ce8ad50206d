#!/usr/bin/env bash
# Full-size official SELSA training-step benchmark (docs/BENCHMARKS.md, issue 6 item 6).
#
# One training step of the official ResNet-101 SELSA detector on 1 key + 2 reference frames of
# the real video ../shared/data/ILSVRC2015_val_00007010 (1280x720 -> 562x1000 by the §1
# 600/1000 rule), random full-size weights (bench/official_torch.py --write-params, cached as
# build/official_r101_seed<SEED>.params), two gt boxes (the video has no annotations):
#   1. ours (bench/bench_train.c): STEPS steps, forward + targets + losses + backward + SGD;
#   2. with TV=1 (default) the PyTorch reference step (bench/train_torch.py:
#      tests/ref/_official_ref.py + _official_train_ref.py, float32 autograd, same threads) with
#      torchvision.ops.roi_pool in place of the reference's mask-based ROIPooling (the faster
#      PyTorch baseline), TSTEPS steps; with ROUNDS > 1, 1. and 2. alternate ROUNDS times so
#      both see the same load on a shared machine;
#   3. with REF=1 (default) the reference step as written (its ROIPooling is a Python loop over
#      RoIs: ~4x slower), TSTEPS steps, once;
#   4. a side-by-side table of median seconds per step (pooled over rounds) and peak memory.
# Usage: bash bench/run_train.sh [BUILD_DIR]      (BUILD_DIR default: build)
# Env: THREADS (2), STEPS (4), TSTEPS (3), RSTEPS (TSTEPS: steps of the reference as written),
#      SEED (0), TV (1), REF (1), ROUNDS (1),
#      PYTHON (/usr/bin/python3), PRESET (r101; tiny = smoke test of the script on the CI model)
# Heavy (~15 min on 2 cores with the defaults): on a shared machine run it under
# `flock /tmp/heavy.lock`.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
threads=${THREADS:-2}
steps=${STEPS:-4}
tsteps=${TSTEPS:-3}
rsteps=${RSTEPS:-$tsteps}
seed=${SEED:-0}
tv=${TV:-1}
ref=${REF:-1}
rounds=${ROUNDS:-1}
py=${PYTHON:-/usr/bin/python3}
video=../shared/data/ILSVRC2015_val_00007010
if [ ! -d "$video" ]; then
    echo "SKIP: $video not found (the benchmark needs ../shared/data relative to the repo root)"
    exit 0
fi
bin="$build/bench/bench_train"
[ -x "$bin" ] || make -j2 BUILD="$build" "$bin" >/dev/null
mkdir -p build
out="$build/train_bench"
common=(--frames "$video" --key 50 --refs 40,60 --threads "$threads")
if [ "${PRESET:-r101}" = tiny ]; then  # smoke test of this script: the CI tiny model, seconds
    params="$build/fixtures/official_train_tiny.params"
    [ -s "$params" ] || "$py" tests/ref/gen_official_train.py "$build/fixtures" >/dev/null
    common+=(--preset tiny)
    out="$build/train_bench_tiny"
else
    params=build/official_r101_seed${seed}.params
    [ -s "$params" ] || "$py" bench/official_torch.py --write-params "$params" --seed "$seed"
fi
common+=(--params "$params")
mkdir -p "$out"

echo "## Official SELSA R101 training step ($(date -u '+%Y-%m-%d %H:%M UTC'))"
echo
echo "- CPU: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) online CPUs, $(free -g | awk '/^Mem:/{print $2}') GiB RAM;" \
     "AVX flags: $(grep -o 'avx[0-9a-z_]*' /proc/cpuinfo | sort -u | tr '\n' ' ')"
echo "- threads: $threads (selsa ctx + OpenBLAS/OpenMP; torch.set_num_threads($threads))"
echo "- torch: $("$py" -c 'import torch, torchvision; print(torch.__version__, "(oneDNN)" if torch.backends.mkldnn.is_available() else "", "torchvision", torchvision.__version__)')"
echo "- sample: frames 000050 (key), 000040, 000060 of $(basename "$video"), 1280x720 -> 562x1000;" \
     "gt boxes (orig px) 400,150,900,600 cls 7 and 100,300,380,560 cls 19; lr 0.00025, momentum 0.9, wd 5e-4"
echo "- steps: ours $steps per run, PyTorch + torchvision $tsteps per run, rounds $rounds; reference as written $rsteps"
echo "- load before: $(uptime | sed 's/.*load average: //')"

for r in $(seq 1 "$rounds"); do
    "$bin" "${common[@]}" --steps "$steps" --tsv "$out/c$r.tsv" >"$out/c$r.log" 2>"$out/c$r.err"
    echo "- round $r: load after ours: $(uptime | sed 's/.*load average: //')"
    if [ "$tv" = 1 ]; then
        "$py" bench/train_torch.py "${common[@]}" --steps "$tsteps" --roi-pool torchvision \
            --tsv "$out/tv$r.tsv" >"$out/tv$r.log" 2>&1
        echo "- round $r: load after PyTorch + torchvision roi_pool: $(uptime | sed 's/.*load average: //')"
    fi
done
if [ "$ref" = 1 ]; then
    "$py" bench/train_torch.py "${common[@]}" --steps "$rsteps" --tsv "$out/t.tsv" >"$out/t.log" 2>&1
    echo "- load after PyTorch reference (as written): $(uptime | sed 's/.*load average: //')"
fi
for r in $(seq 1 "$rounds"); do
    echo
    echo "### ours (C), round $r"
    echo
    grep -v '^RESULT' "$out/c$r.log"
    if [ "$tv" = 1 ]; then
        echo
        echo "### PyTorch reference step with torchvision.ops.roi_pool, round $r"
        echo
        grep -v '^RESULT' "$out/tv$r.log"
    fi
done
if [ "$ref" = 1 ]; then
    echo
    echo "### PyTorch reference step as written (mask-based ROIPooling)"
    echo
    grep -v '^RESULT' "$out/t.log"
fi
echo
echo "### side by side"
echo
"$py" - "$out" "$rounds" "$tv" "$ref" <<'PYEOF'
import os
import sys

import numpy as np

out, rounds, tv, ref = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1", sys.argv[4] == "1"


def tsv(p):
    rows = [line.rstrip("\n").split("\t") for line in open(p)]
    return [dict(zip(rows[0], r)) for r in rows[1:]]


def result(p):
    for line in open(p):
        if line.startswith("RESULT"):
            return {k: float(v) for k, v in (kv.split("=") for kv in line.split()[1:])}
    raise SystemExit("no RESULT line in %s" % p)


def pooled(prefix, tags):
    runs = [tsv(os.path.join(out, "%s%s.tsv" % (prefix, t))) for t in tags]
    res = [result(os.path.join(out, "%s%s.log" % (prefix, t))) for t in tags]

    def col(k, skip):
        return [float(x[k]) for run in runs for x in run[skip:]]
    st = col("step_s", 1)
    return dict(all=np.median(col("step_s", 0)), steady=np.median(st) if st else float("nan"),
                fb=np.median(col("fb_s", 0)), sgd=np.median(col("sgd_s", 0)),
                fwd=float(np.median([r.get("fwd_median", 0.0) for r in res])),
                steps=len(col("step_s", 0)), hwm=max(r["loop_hwm_kb"] for r in res),
                maxrss=max(r["maxrss_kb"] for r in res))


R = range(1, rounds + 1)
cols = [("ours (C)", pooled("c", R))]
if tv:
    cols.append(("PyTorch ref + torchvision roi_pool", pooled("tv", R)))
if ref:
    cols.append(("PyTorch ref (as written)", pooled("t", [""])))
print("| | " + " | ".join(n for n, _ in cols) + " |")
print("|---|" + "---:|" * len(cols))
for key, name in (("all", "seconds per step, median over all steps"),
                  ("steady", "seconds per step, median without each run's first step"),
                  ("fb", "forward + targets + losses + backward (median)"),
                  ("fwd", "of which forward + targets + losses (ours: forward-only pass; PyTorch: time to the losses)"),
                  ("sgd", "SGD update (median)")):
    print("| %s | %s |" % (name, " | ".join("%.2f" % r[key] for _, r in cols)))
print("| steps measured | %s |" % " | ".join("%d" % r["steps"] for _, r in cols))
print("| peak RSS of the step loop (VmHWM after reset) | %s |"
      % " | ".join("%.0f MiB" % (r["hwm"] / 1024) for _, r in cols))
print("| ru_maxrss (whole process, incl. loading) | %s |"
      % " | ".join("%.0f MiB" % (r["maxrss"] / 1024) for _, r in cols))
print()
c = cols[0][1]
for n, r in cols[1:]:
    print("- %s / ours, median step time: %.2fx (without first steps: %.2fx); peak RSS ratio %.2fx"
          % (n, r["all"] / c["all"], r["steady"] / c["steady"], r["hwm"] / c["hwm"]))
if rounds > 1 and tv:
    print()
    print("| round | ours: median step (s) | torchvision variant: median step (s) |")
    print("|---:|---:|---:|")
    for r in R:
        a = np.median([float(x["step_s"]) for x in tsv(os.path.join(out, "c%d.tsv" % r))])
        b = np.median([float(x["step_s"]) for x in tsv(os.path.join(out, "tv%d.tsv" % r))])
        print("| %d | %.2f | %.2f |" % (r, a, b))
PYEOF
