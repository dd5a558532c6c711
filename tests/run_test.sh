#!/usr/bin/env bash
# Runs one test program and prints its lines prefixed with [name] as soon as it has finished
# (so with make -j the results stream in while other tests still build). The output and a last
# line "EXIT <status>" are saved in LOG for tests/summary.sh. A program that crashes, exits
# non-zero without printing FAIL, or runs longer than TT_TEST_TIMEOUT seconds (default 600)
# counts as one failure.
t=$1; log=$2; name=$(basename "$t")
if command -v timeout >/dev/null 2>&1; then
  out=$(timeout "${TT_TEST_TIMEOUT:-600}" "$t" 2>&1); rc=$?
else
  out=$("$t" 2>&1); rc=$?
fi
if [ $rc -ne 0 ] && ! printf '%s\n' "$out" | grep -q '^FAIL'; then
  if [ $rc -eq 124 ]; then why="timed out after ${TT_TEST_TIMEOUT:-600} s"; else why="exited with status $rc"; fi
  out=$(printf '%s\nFAIL %s: %s' "$out" "$name" "$why")
fi
printf '%s\nEXIT %d\n' "$out" "$rc" > "$log"
printf '%s\n' "$out" | sed "/^\$/d; s|^|[$name] |"
