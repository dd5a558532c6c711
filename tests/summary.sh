#!/usr/bin/env bash
# Runs every test program given as arguments, then prints "N passed, N failed, N skipped".
# A program that crashes or exits non-zero without printing FAIL counts as one failure.
passed=0; failed=0; skipped=0
for t in "$@"; do
  out=$("$t" 2>&1); rc=$?
  printf '%s\n' "$out" | sed "s|^|[$(basename "$t")] |"
  p=$(printf '%s\n' "$out" | grep -c '^PASS ')
  f=$(printf '%s\n' "$out" | grep -c '^FAIL ')
  s=$(printf '%s\n' "$out" | grep -c '^SKIP ')
  passed=$((passed + p)); failed=$((failed + f)); skipped=$((skipped + s))
  if [ $rc -ne 0 ] && [ "$f" -eq 0 ]; then
    echo "[$(basename "$t")] FAIL: exited with status $rc"
    failed=$((failed + 1))
  fi
done
if [ "$skipped" -gt 0 ]; then
  echo "$passed passed, $failed failed, $skipped skipped"
else
  echo "$passed passed, $failed failed"
fi
[ "$failed" -eq 0 ]
