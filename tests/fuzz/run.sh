#!/usr/bin/env bash
# Fuzzes every reader of external bytes.
#   tests/fuzz/run.sh [SECONDS] [NAME...]
# builds each tests/fuzz/fuzz_<name>.c (or only the NAMEs given) with
#   clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
# and runs it for SECONDS (default: $TT_FUZZ_SECONDS, else 60) starting from its seed corpus
# tests/fuzz/corpus/<name>/ (read only: new inputs go to a temporary directory). Harnesses run
# TT_FUZZ_JOBS at a time (default: the number of CPUs). One line per harness:
#   PASS fuzz_<name>: <runs> runs in <s> s, corpus <n> inputs
#   FAIL fuzz_<name>: <why>     (a crashing input is kept as build/fuzz/crash-<name>-*)
#   SKIP fuzz: <why>            (no clang with libFuzzer)
# Exit status 1 if any harness failed. A longer local run: tests/fuzz/run.sh 3600 <name>.
cd "$(dirname "$0")/../.." || exit 1
secs=${1:-${TT_FUZZ_SECONDS:-60}}
[ $# -gt 0 ] && shift
jobs=${TT_FUZZ_JOBS:-$(nproc 2>/dev/null || echo 1)}
CLANG=${CLANG:-clang}
out=build/fuzz
mkdir -p "$out"

names=()
if [ $# -gt 0 ]; then names=("$@")
else for f in tests/fuzz/fuzz_*.c; do [ -e "$f" ] && { n=${f#tests/fuzz/fuzz_}; names+=("${n%.c}"); }; done; fi
if [ ${#names[@]} -eq 0 ]; then echo "SKIP fuzz: no harness in tests/fuzz/"; exit 0; fi
if ! command -v "$CLANG" >/dev/null 2>&1; then echo "SKIP fuzz: $CLANG not installed"; exit 0; fi
probe=$(mktemp -d)
trap 'rm -rf "$probe"' EXIT
printf '#include <stdint.h>\n#include <stddef.h>\nint LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { (void)d; (void)n; return 0; }\n' > "$probe/p.c"
if ! "$CLANG" -fsanitize=fuzzer,address,undefined -o "$probe/p" "$probe/p.c" >/dev/null 2>&1; then
  echo "SKIP fuzz: $CLANG cannot link -fsanitize=fuzzer (libFuzzer missing)"; exit 0
fi

one() { # name: build, fuzz, print one result line; exit status 0 = pass
  local name=$1 src=tests/fuzz/fuzz_$1.c bin=$out/fuzz_$1 log=$out/$1.log work runs seeds=()
  if [ ! -f "$src" ]; then echo "FAIL fuzz_$name: no $src"; return 1; fi
  if ! "$CLANG" -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
       -Wall -Wextra -Werror -DTT_STATIC= -I. -o "$bin" "$src" -lm -lpthread > "$log" 2>&1; then
    echo "FAIL fuzz_$name: does not build"; head -20 "$log" | sed 's/^/  /'; return 1
  fi
  work=$(mktemp -d)
  [ -d "tests/fuzz/corpus/$name" ] && seeds=("tests/fuzz/corpus/$name")
  rm -f "$out/crash-$name-"*
  "$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
         -artifact_prefix="$out/crash-$name-" "$work" "${seeds[@]}" > "$log" 2>&1
  local rc=$? n_corpus
  n_corpus=$(find "$work" "${seeds[@]}" -type f | wc -l)
  rm -rf "$work"
  if [ $rc -ne 0 ]; then
    echo "FAIL fuzz_$name: exit status $rc, input saved as $(ls "$out/crash-$name-"* 2>/dev/null | head -1) (log $log)"
    grep -m1 -E '^==[0-9]+==ERROR|runtime error|^SUMMARY' "$log" | sed 's/^/  /'
    return 1
  fi
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  echo "PASS fuzz_$name: ${runs:-?} runs in $secs s, corpus $n_corpus inputs"
}

fails=0; running=0
for n in "${names[@]}"; do
  if [ "$running" -ge "$jobs" ]; then wait -n || fails=$((fails + 1)); running=$((running - 1)); fi
  one "$n" & running=$((running + 1))
done
while [ "$running" -gt 0 ]; do wait -n || fails=$((fails + 1)); running=$((running - 1)); done
[ "$fails" -eq 0 ]
