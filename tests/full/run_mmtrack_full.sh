#!/usr/bin/env bash
# Full-size parity test of the MMTracking SELSA detector (issue 4 item 5; NOT part of `make test`:
# a few minutes of CPU on 2 cores). Random full-size weights (bench/mmtrack_torch.py --write-pth:
# the reference's init + calibration on frame 0 + a sparse, well-separated class head, see the script;
# cached as $BUILD/mmtrack_<preset>_seed<seed>[_legacy].pth), the real video
# ../shared/data/ILSVRC2015_val_00007010 (144 frames, 1280x720 -> 563x1000), the
# test_with_adaptive_stride schedule (14 reference frames spread over all 144 frames); our C
# driver (bench/bench_mmtrack.c) and the PyTorch reference (tests/ref/_mmtrack_ref.py, as
# MMTracking runs it) both detect the first DETECT (16) frames. Passes when every detection above
# 0.01 of either side is matched on the other side (same class, IoU > 0.999) on every frame, with
# identical support sets (tests/full/compare_mmtrack_dets.py; the layered report of proposals /
# class probabilities / deltas / post-processing is printed too).
# Usage: bash tests/full/run_mmtrack_full.sh [BUILD_DIR]
# Env: PRESET (r50 | r101 | x101), DETECT (16), THREADS (2), SEED (0), LEGACY (0: zip layout;
#      1: legacy torch.save layout), PYTHON (/usr/bin/python3)
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build}
preset=${PRESET:-r50}
detect=${DETECT:-16}
threads=${THREADS:-2}
seed=${SEED:-0}
py=${PYTHON:-/usr/bin/python3}
video=../shared/data/ILSVRC2015_val_00007010
if [ ! -d "$video" ]; then
    echo "SKIP: $video not found (needs ../shared/data relative to the repo root)"
    exit 0
fi
bin="$build/bench/bench_mmtrack"
[ -x "$bin" ] || make -j2 BUILD="$build" "$bin" >/dev/null
out="$build/mmtrack_full_$preset"
mkdir -p "$out"
if [ "${LEGACY:-0}" = 1 ]; then
    pth="$build/mmtrack_${preset}_seed${seed}_legacy.pth"
    [ -s "$pth" ] || "$py" bench/mmtrack_torch.py --write-pth "$pth" --preset "$preset" --seed "$seed" \
        --frames "$video" --threads "$threads" --legacy
else
    pth="$build/mmtrack_${preset}_seed${seed}.pth"
    [ -s "$pth" ] || "$py" bench/mmtrack_torch.py --write-pth "$pth" --preset "$preset" --seed "$seed" \
        --frames "$video" --threads "$threads"
fi
echo "weights: $pth ($(stat -c %s "$pth") bytes); first $detect frames of $video; threads $threads"
"$bin" --pth "$pth" --frames "$video" --preset "$preset" --detect "$detect" --threads "$threads" \
    --dump "$out/c_dets.txt" --dump-raw "$out/c_raw.bin" --tsv "$out/c.tsv" >"$out/c.log" 2>&1 \
    || { cat "$out/c.log"; exit 1; }
"$py" bench/mmtrack_torch.py --pth "$pth" --frames "$video" --detect "$detect" --threads "$threads" \
    --dump "$out/t_dets.txt" --dump-raw "$out/t_raw.bin" --tsv "$out/t.tsv" >"$out/t.log" 2>&1 \
    || { cat "$out/t.log"; exit 1; }
grep '^RESULT' "$out/c.log" | sed 's/^/ours:    /'
grep '^RESULT' "$out/t.log" | sed 's/^/PyTorch: /'
"$py" tests/full/compare_mmtrack_dets.py "$out/c_dets.txt" "$out/t_dets.txt" --min-frames "$detect" \
    --raw-ours "$out/c_raw.bin" --raw-ref "$out/t_raw.bin"
