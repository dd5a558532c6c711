#!/usr/bin/env bash
# Where the time of `make test` goes: clones this repository's HEAD into a temporary directory,
# runs `make test` there (-j2 unless JOBS is set) with every compile and every test program
# timed, and prints the CPU seconds (user + sys) of each, the largest first, then the totals
# and the wall time. The numbers are CPU time, so they hold on a busy machine too; the wall
# time depends on the load (printed with it).
#   bash tests/time_build.sh            # JOBS=1 gives the cost of each job without contention
set -u
src=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
git clone -q "$src" "$tmp/repo" || exit 1
cat > "$tmp/cc" <<'EOF'
#!/usr/bin/env bash
# timed compiler: CC="cc-wrapper realcc"; appends "output cpu-seconds" to $TT_TIME_LOG
real=$1; shift
out=?; prev=
for a in "$@"; do [ "$prev" = "-o" ] && out=$a; prev=$a; done
t=$(mktemp)
/usr/bin/time -f "%U %S" -o "$t" "$real" "$@"; rc=$?
echo "compile $(basename "$out") $(awk '{print $1 + $2}' "$t")" >> "$TT_TIME_LOG"
rm -f "$t"
exit $rc
EOF
cat > "$tmp/run" <<'EOF'
#!/usr/bin/env bash
t=$(mktemp)
/usr/bin/time -f "%U %S" -o "$t" "$@"; rc=$?
echo "run $(basename "$1") $(awk '{print $1 + $2}' "$t")" >> "$TT_TIME_LOG"
rm -f "$t"
exit $rc
EOF
chmod +x "$tmp/cc" "$tmp/run"
export TT_TIME_LOG=$tmp/times
: > "$TT_TIME_LOG"
cd "$tmp/repo" || exit 1
# run each test program through the timer (tests/run_test.sh runs "$t")
sed -i "s|\"\$t\" 2>&1)|$tmp/run \"\$t\" 2>\&1)|" tests/run_test.sh
load=$(cut -d' ' -f1-3 /proc/loadavg)
start=$(date +%s.%N)
/usr/bin/time -f "%U %S" -o "$tmp/total" make -j"${JOBS:-2}" test CC="$tmp/cc ${CC:-cc}" CXX="$tmp/cc ${CXX:-c++}" > "$tmp/out" 2>&1
rc=$?
end=$(date +%s.%N)
sort -k3 -g -r "$TT_TIME_LOG" | awk '{printf "%8.2f  %s %s\n", $3, $1, $2}'
awk '{s[$1] += $3} END {printf "compile %.1f s CPU, run %.1f s CPU\n", s["compile"], s["run"]}' "$TT_TIME_LOG"
echo "make -j${JOBS:-2} test: $(awk -v s="$start" -v e="$end" 'BEGIN {printf "%.1f", e - s}') s wall," \
     "$(awk '{printf "%.1f", $1 + $2}' "$tmp/total") s CPU; load average before: $load; after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) CPUs"
tail -1 "$tmp/out"
exit $rc
