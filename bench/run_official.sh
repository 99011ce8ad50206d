#!/usr/bin/env bash
# Official SELSA ResNet-101 inference benchmark (docs/BENCHMARKS.md, issue 3 items 6-7).
#
# In one run, on the real 144-frame video ../shared/data/ILSVRC2015_val_00007010 (1280x720 ->
# 562x1000) with random full-size ResNet-101 weights (written once by the reference's writer,
# cached as build/official_r101_seed<SEED>.params):
#   1. our C driver (bench/bench_official.c) over all 144 frames, official schedule K = 10,
#      temporal visiting order, per-phase seconds per key frame, peak RSS, detections dumped;
#   2. the independent PyTorch reference (tests/ref/_official_ref.py, uncached official
#      algorithm) over the same frames and windows (temporal order), stopped after KEYS key frames;
#   3. parity of the detections on the common key frames (tests/full/compare_official_dets.py);
#   4. a side-by-side table (seconds per key frame: median over the same KEYS key frames and
#      over key frames 2..KEYS, ratio, peak memory);
#   5. with LONG=1: our driver over a 1000-entry video (the 144 frames repeated cyclically) to
#      show the peak RSS does not grow with the video length (~35 min on 2 cores).
# Usage: bash bench/run_official.sh [BUILD_DIR]     (BUILD_DIR default: build)
# Env: THREADS (2), KEYS (6), K (10), SEED (0), LONG (0), LENGTH (1000), PYTHON (/usr/bin/python3),
#      C_KEYS (0 = all 144 key frames; a smaller value stops our run early, for a quick smoke run)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
threads=${THREADS:-2}
keys=${KEYS:-6}
K=${K:-10}
seed=${SEED:-0}
py=${PYTHON:-/usr/bin/python3}
video=../shared/data/ILSVRC2015_val_00007010
if [ ! -d "$video" ]; then
    echo "SKIP: $video not found (the benchmark needs ../shared/data relative to the repo root)"
    exit 0
fi
bin="$build/bench/bench_official"
[ -x "$bin" ] || make -j2 BUILD="$build" "$bin" >/dev/null
mkdir -p build
params=build/official_r101_seed${seed}.params
[ -s "$params" ] || "$py" bench/official_torch.py --write-params "$params" --seed "$seed"
out="$build/official_bench"
mkdir -p "$out"

echo "## Official SELSA R101 inference run ($(date -u '+%Y-%m-%d %H:%M UTC'))"
echo
echo "- CPU: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) online CPUs;" \
     "AVX flags: $(grep -o 'avx[0-9a-z_]*' /proc/cpuinfo | sort -u | tr '\n' ' ')"
echo "- threads: $threads (selsa ctx + OpenBLAS/OpenMP; torch.set_num_threads); K = $K (window $((2 * K + 1))), temporal order"
echo "- torch: $("$py" -c 'import torch; print(torch.__version__, torch.backends.mkldnn.is_available() and "oneDNN" or "")')"
echo "- load before: $(uptime | sed 's/.*load average: //')"

"$bin" --params "$params" --frames "$video" --key-interval "$K" --temporal-order --threads "$threads" \
    --key-frames "${C_KEYS:-0}" --dump "$out/c_dets.txt" --dump-raw "$out/c_raw.bin" --tsv "$out/c.tsv" --progress 24 >"$out/c.log" 2>"$out/c.err"
echo "- load after ours: $(uptime | sed 's/.*load average: //')"
"$py" bench/official_torch.py --params "$params" --frames "$video" --key-interval "$K" \
    --key-frames "$keys" --threads "$threads" --dump "$out/t_dets.txt" --dump-raw "$out/t_raw.bin" --tsv "$out/t.tsv" >"$out/t.log" 2>&1
echo "- load after PyTorch: $(uptime | sed 's/.*load average: //')"
echo
echo "### ours (C), all key frames"
echo
sed -n '1,/^RESULT/p' "$out/c.log" | grep -v '^RESULT'
echo
echo "### PyTorch reference, first $keys key frames"
echo
grep -v '^RESULT\|^key frame' "$out/t.log"
echo
echo "### side by side"
echo
"$py" - "$out/c.tsv" "$out/t.tsv" "$out/c.log" "$out/t.log" <<'EOF'
import sys, numpy as np
def tsv(p):
    rows = [l.rstrip("\n").split("\t") for l in open(p)]
    return [dict(zip(rows[0], r)) for r in rows[1:]]
def result(p):
    for l in open(p):
        if l.startswith("RESULT"):
            return dict(kv.split("=") for kv in l.split()[1:])
c, t = tsv(sys.argv[1]), tsv(sys.argv[2])
rc, rt = result(sys.argv[3]), result(sys.argv[4])
n = len(t)
cw = [float(r["wall"]) for r in c]
tw = [float(r["wall"]) for r in t]
print("| seconds per key frame | ours (C) | PyTorch ref | ours / PyTorch | PyTorch / ours |")
print("|---|---:|---:|---:|---:|")
for name, a, b in (("median, key frames 1..%d" % n, np.median(cw[:n]), np.median(tw)),
                   ("median, key frames 2..%d" % n, np.median(cw[1:n]), np.median(tw[1:])),
                   ("ours: median over all %d key frames" % len(cw), np.median(cw), float("nan"))):
    print("| %s | %.3f | %s | %s | %s |" % (name, a, "%.3f" % b if b == b else "-",
          "%.4f" % (a / b) if b == b else "-", "%.1f" % (b / a) if b == b else "-"))
print()
print("| peak memory | ours (C) | PyTorch ref |")
print("|---|---:|---:|")
print("| ru_maxrss (whole process, incl. loading) | %.1f MiB | %.1f MiB |" % (int(rc["maxrss_kb"]) / 1024, int(rt["maxrss_kb"]) / 1024))
print("| peak RSS of the video loop (VmHWM reset after loading) | %.1f MiB | %.1f MiB |" % (int(rc["loop_hwm_kb"]) / 1024, int(rt["loop_hwm_kb"]) / 1024))
print("| frames processed | %d (all key frames) | %d key frames |" % (int(rc["frames"]), n))
EOF
echo
echo "### parity (same windows, key frames detected by both)"
echo
"$py" tests/full/compare_official_dets.py "$out/c_dets.txt" "$out/t_dets.txt" --min-frames 5 \
    --raw-ours "$out/c_raw.bin" --raw-ref "$out/t_raw.bin" || true

if [ "${LONG:-0}" = 1 ]; then
    len=${LENGTH:-1000}
    echo
    echo "### memory vs video length: $len entries (the 144 frames repeated)"
    echo
    "$bin" --params "$params" --frames "$video" --key-interval "$K" --temporal-order --threads "$threads" \
        --length "$len" --tsv "$out/c$len.tsv" --progress 100 >"$out/c$len.log" 2>"$out/c$len.err"
    grep '^schedule\|^memory' "$out/c$len.log"
    echo
    echo "progress samples (VmHWM = peak RSS since the loop started):"
    cat "$out/c$len.err"
    echo "| video length | peak RSS of the loop | ru_maxrss |"
    echo "|---:|---:|---:|"
    for f in "$out/c.log" "$out/c$len.log"; do
        sed -n 's/^RESULT.* frames=\([0-9]*\) maxrss_kb=\([0-9]*\) loop_hwm_kb=\([0-9]*\).*/| \1 | \3 kB | \2 kB |/p' "$f"
    done
fi
