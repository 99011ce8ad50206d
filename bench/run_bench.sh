#!/usr/bin/env bash
# Operator benchmark (docs/BENCHMARKS.md): selsa conv forward vs plain sgemm vs PyTorch conv2d
# over the conv shapes of the two SELSA backbones. Usage: bench/run_bench.sh [BUILD_DIR]
# Env: THREADS (default 2), REPS (default 5), PYTHON (default /usr/bin/python3).
set -euo pipefail
build=${1:-build}
threads=${THREADS:-2}
reps=${REPS:-5}
py=${PYTHON:-/usr/bin/python3}
bin="$build/bench/bench_conv"
[ -x "$bin" ] || { echo "missing $bin (run: make bench)"; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

echo "## Operator benchmark: convolution"
echo
echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "- CPU: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) online CPUs"
echo "- load before: $(uptime | sed 's/.*load average: //')"
echo "- threads: $threads (selsa ctx, OpenBLAS and torch.set_num_threads), $reps timed runs per shape (median) after 1 warm-up"
"$bin" --list >"$tmp/shapes.tsv"
"$bin" --threads "$threads" --reps "$reps" --tsv "$tmp/c.tsv" >"$tmp/c.md"
echo "- $(head -n 1 "$tmp/c.md")"
echo "- $("$py" bench/conv_torch.py --shapes "$tmp/shapes.tsv" --threads "$threads" --reps "$reps" --tsv "$tmp/t.tsv")"
echo "- load after: $(uptime | sed 's/.*load average: //')"
"$py" bench/conv_torch.py --combine "$tmp/c.tsv" "$tmp/t.tsv"
echo
echo "<details><summary>selsa detail (M, N, K per shape)</summary>"
echo
tail -n +2 "$tmp/c.md"
echo
echo "</details>"
