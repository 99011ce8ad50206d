#!/usr/bin/env bash
# MMTracking SELSA R50-DC5 and R101-DC5 inference benchmark (docs/BENCHMARKS.md, issue 4 item 6).
#
# For each preset (PRESETS, default "r50 r101"), in one run, on the real 144-frame video
# ../shared/data/ILSVRC2015_val_00007010 (1280x720 -> 563x1000) with random full-size weights
# (bench/mmtrack_torch.py --write-pth, seed SEED, cached as $BUILD/mmtrack_<preset>_seed<SEED>.pth),
# the test_with_adaptive_stride schedule (14 reference frames spread over all 144 frames):
#   1. our C driver (bench/bench_mmtrack.c; cached reference slots) detecting C_DETECT frames
#      (0 = all 144), per-phase seconds per frame, peak RSS, detections dumped;
#   2. the independent PyTorch reference (tests/ref/_mmtrack_ref.py) as MMTracking runs it (memo of
#      the reference features at frame 0, the whole reference path recomputed every frame) on
#      the first DETECT frames;
#   3. a side-by-side table: seconds per frame, median over the same DETECT frames and over
#      frames 2..DETECT, ratio, first frame (includes the 14 reference frames), peak memory;
#   4. parity of the detections on the common frames (tests/full/compare_mmtrack_dets.py, with the
#      layered report; full output in $BUILD/mmtrack_bench_<preset>/parity.txt).
# Usage: bash bench/run_mmtrack.sh [BUILD_DIR]     (BUILD_DIR default: build)
# Env: THREADS (2), DETECT (16), C_DETECT (0 = all), PRESETS ("r50 r101"), SEED (0),
#      PYTHON (/usr/bin/python3)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
threads=${THREADS:-2}
detect=${DETECT:-16}
seed=${SEED:-0}
py=${PYTHON:-/usr/bin/python3}
video=../shared/data/ILSVRC2015_val_00007010
if [ ! -d "$video" ]; then
    echo "SKIP: $video not found (the benchmark needs ../shared/data relative to the repo root)"
    exit 0
fi
bin="$build/bench/bench_mmtrack"
[ -x "$bin" ] || make -j2 BUILD="$build" "$bin" >/dev/null

echo "## MMTracking SELSA inference run ($(date -u '+%Y-%m-%d %H:%M UTC'))"
echo
echo "- CPU: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) online CPUs;" \
     "AVX flags: $(grep -o 'avx[0-9a-z_]*' /proc/cpuinfo | sort -u | tr '\n' ' ')"
echo "- threads: $threads (selsa ctx + OpenBLAS/OpenMP; torch.set_num_threads); adaptive schedule, 14 reference frames over 144"
echo "- torch: $("$py" -c 'import torch; print(torch.__version__, torch.backends.mkldnn.is_available() and "oneDNN" or "")')"
echo "- load before: $(uptime | sed 's/.*load average: //')"
summary=()
for preset in ${PRESETS:-r50 r101}; do
    pth="$build/mmtrack_${preset}_seed${seed}.pth"
    [ -s "$pth" ] || "$py" bench/mmtrack_torch.py --write-pth "$pth" --preset "$preset" --seed "$seed" \
        --frames "$video" --threads "$threads"
    out="$build/mmtrack_bench_$preset"
    mkdir -p "$out"
    "$bin" --pth "$pth" --frames "$video" --preset "$preset" --detect "${C_DETECT:-0}" --threads "$threads" \
        --dump "$out/c_dets.txt" --dump-raw "$out/c_raw.bin" --tsv "$out/c.tsv" --progress 24 >"$out/c.log" 2>"$out/c.err"
    echo "- load after ours ($preset): $(uptime | sed 's/.*load average: //')"
    "$py" bench/mmtrack_torch.py --pth "$pth" --frames "$video" --detect "$detect" --threads "$threads" \
        --dump "$out/t_dets.txt" --dump-raw "$out/t_raw.bin" --tsv "$out/t.tsv" >"$out/t.log" 2>&1
    echo "- load after PyTorch ($preset): $(uptime | sed 's/.*load average: //')"
    echo
    echo "### $preset: ours (C)"
    echo
    sed -n '1,/^RESULT/p' "$out/c.log" | grep -v '^RESULT'
    echo
    echo "### $preset: PyTorch reference, first $detect frames"
    echo
    grep -v '^RESULT\|^frame ' "$out/t.log"
    echo
    echo "### $preset: parity on the common frames"
    echo
    "$py" tests/full/compare_mmtrack_dets.py "$out/c_dets.txt" "$out/t_dets.txt" --min-frames "$detect" \
        --raw-ours "$out/c_raw.bin" --raw-ref "$out/t_raw.bin" >"$out/parity.txt" 2>&1 || true
    grep '^PARITY\|unmatched\|^LAYERED' "$out/parity.txt" || true
    summary+=("$preset" "$out")
done
echo
echo "### side by side (seconds per frame; ours = C, cached reference slots; PyTorch = MMTracking's computation)"
echo
"$py" - "${summary[@]}" <<'PYEOF'
import sys, numpy as np
def tsv(p):
    rows = [l.rstrip("\n").split("\t") for l in open(p)]
    return [dict(zip(rows[0], r)) for r in rows[1:]]
def result(p):
    for l in open(p):
        if l.startswith("RESULT"):
            return dict(kv.split("=") for kv in l.split()[1:])
def parity(out):
    import subprocess
    r = subprocess.run([sys.executable, "tests/full/compare_mmtrack_dets.py", out + "/c_dets.txt",
                        out + "/t_dets.txt"], capture_output=True, text=True)
    for l in r.stdout.splitlines():
        if l.startswith("PARITY"):
            t = l.split()
            return "%s %s" % (t[1].rstrip(":"), t[4])
    return "?"
a = sys.argv[1:]
print("| model | frames | ours median 1..N | PyTorch median 1..N | ratio | ours median 2..N | PyTorch median 2..N "
      "| ratio | ours median, all %s | first frame ours / PyTorch | loop peak RSS ours / PyTorch | ru_maxrss ours / PyTorch | detections (matched/needed) |" % "frames")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
for preset, out in zip(a[0::2], a[1::2]):
    c, t = tsv(out + "/c.tsv"), tsv(out + "/t.tsv")
    rc, rt = result(out + "/c.log"), result(out + "/t.log")
    n = len(t)
    cw = [float(r["wall"]) for r in c]
    tw = [float(r["wall"]) for r in t]
    m1c, m1t = np.median(cw[:n]), np.median(tw)
    m2c, m2t = np.median(cw[1:n]), np.median(tw[1:])
    print("| %s-DC5 | %d | %.3f | %.3f | %.3f | %.3f | %.3f | %.3f | %.3f (%d) | %.1f / %.1f | %.0f / %.0f MiB | %.0f / %.0f MiB | %s |"
          % (preset.upper(), n, m1c, m1t, m1c / m1t, m2c, m2t, m2c / m2t, np.median(cw), len(cw), cw[0], tw[0],
             int(rc["loop_hwm_kb"]) / 1024, int(rt["loop_hwm_kb"]) / 1024,
             int(rc["maxrss_kb"]) / 1024, int(rt["maxrss_kb"]) / 1024, parity(out)))
PYEOF
