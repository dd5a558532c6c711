#!/usr/bin/env bash
# Counts the PASS / FAIL / SKIP lines of the test logs written by tests/run_test.sh and prints
# "N passed, N failed" (", N skipped" when any were skipped). Exit status 1 if anything failed.
passed=0; failed=0; skipped=0
for log in "$@"; do
  if [ ! -f "$log" ]; then echo "[$(basename "$log" .log)] FAIL: no result"; failed=$((failed + 1)); continue; fi
  p=$(grep -c '^PASS ' "$log"); f=$(grep -c '^FAIL' "$log"); s=$(grep -c '^SKIP ' "$log")
  passed=$((passed + p)); failed=$((failed + f)); skipped=$((skipped + s))
done
if [ "$skipped" -gt 0 ]; then
  echo "$passed passed, $failed failed, $skipped skipped"
else
  echo "$passed passed, $failed failed"
fi
[ "$failed" -eq 0 ]
