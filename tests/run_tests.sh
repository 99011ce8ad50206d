#!/usr/bin/env bash
# Runs every test program in BUILD/tests and prints one summary line "N passed, N failed".
# Usage: tests/run_tests.sh BUILD_DIR
set -u
build=${1:-build}
fixtures="$build/fixtures"
total_pass=0 total_fail=0 total_skip=0 crashed=0
for t in "$build"/tests/test_*; do
  [ -x "$t" ] || continue
  name=$(basename "$t")
  log="$build/tests/$name.log"
  start=$(date +%s.%N)
  SELSA_FIXTURES="$fixtures" "$t" "$fixtures" >"$log" 2>&1
  rc=$?
  secs=$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN{printf "%.1f", e-s}')
  line=$(grep '^RESULT ' "$log" | tail -n 1)
  if [ -z "$line" ]; then
    echo "CRASH $name (exit $rc, no RESULT line); last output:"; tail -n 20 "$log" | sed 's/^/    /'
    crashed=$((crashed + 1)); continue
  fi
  p=$(sed -E 's/.*passed=([0-9]+).*/\1/' <<<"$line")
  f=$(sed -E 's/.*failed=([0-9]+).*/\1/' <<<"$line")
  s=$(sed -E 's/.*skipped=([0-9]+).*/\1/' <<<"$line")
  total_pass=$((total_pass + p)); total_fail=$((total_fail + f)); total_skip=$((total_skip + s))
  status=ok; { [ "$f" -ne 0 ] || [ $rc -ne 0 ]; } && status=FAILED
  printf '%-28s %6s passed %4s failed %3s skipped  %6ss  %s\n' "$name" "$p" "$f" "$s" "$secs" "$status"
  if [ "$status" = FAILED ]; then grep -E '^(FAIL|  )' "$log" | head -n 30 | sed 's/^/    /'; fi
  if [ $rc -ne 0 ] && [ "$f" -eq 0 ]; then total_fail=$((total_fail + 1)); fi
done
total_fail=$((total_fail + crashed))
echo "$total_pass passed, $total_fail failed, $total_skip skipped"
[ "$total_fail" -eq 0 ]
