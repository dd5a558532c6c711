#!/bin/sh
# Runs the training-step benchmark: tinytrain (build/bench_train) and PyTorch
# (bench/bench_train_torch.py) alternately, ROUNDS rounds per thread count, each case SECONDS
# seconds per round, then prints per case and thread count the medians as
#   BENCH {"name": ..., "ours": steps/s, "ref": steps/s, "ratio": ours/ref, "unit": "steps/s"}
# Usage: bench/bench_train.sh path/to/bench_train   (env: ROUNDS=3 SECONDS_PER=1 THREADS="1 2"
#        FLUSH=1 also runs tinytrain with tt_desc.flush_denormals as cases <case>_ftz, which have
#        no PyTorch figure and print as SKIP lines with ours only)
BIN=${1:-build/bench_train}
ROUNDS=${ROUNDS:-3}
SECONDS_PER=${SECONDS_PER:-1}
THREADS=${THREADS:-"1 2"}
PY=${PYTHON:-python3}
# PyTorch's OpenMP workers busy-wait between parallel regions; on a machine with other load
# (or more threads than free cores) that collapses its 2-thread figures (1-7 steps/s measured on
# a busy 2-core box). Passive waiting is the fair setting there; override with the env var.
OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}
export OMP_WAIT_POLICY
TMP=$(mktemp)
trap 'rm -f "$TMP"' EXIT
have_torch=1
if ! command -v "$PY" >/dev/null 2>&1 || ! "$PY" -c 'import torch' >/dev/null 2>&1; then
    echo "SKIP bench-train reference: python3 with torch not available (tinytrain numbers only)"
    have_torch=0
fi
r=1
while [ "$r" -le "$ROUNDS" ]; do
    for t in $THREADS; do
        "$BIN" "$t" "$SECONDS_PER" | sed 's/^RESULT/OURS/' >>"$TMP" || exit 1
        if [ "${FLUSH:-0}" = 1 ]; then
            "$BIN" --flush-denormals "$t" "$SECONDS_PER" | sed 's/^RESULT/OURS/' >>"$TMP" || exit 1
        fi
        if [ "$have_torch" = 1 ]; then
            "$PY" bench/bench_train_torch.py "$t" "$SECONDS_PER" | sed 's/^RESULT/REF/' >>"$TMP" || exit 1
        fi
    done
    r=$((r + 1))
done
# median per (side, case, threads); then one BENCH line per (case, threads)
awk '
function median(key,   n, i, j, v, tmp) {
    n = cnt[key]; if (n == 0) return -1
    for (i = 1; i <= n; i++) v[i] = val[key, i]
    for (i = 2; i <= n; i++) { tmp = v[i]; for (j = i - 1; j >= 1 && v[j] > tmp; j--) v[j + 1] = v[j]; v[j + 1] = tmp }
    return n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
}
($1 == "OURS" || $1 == "REF") { key = $1 SUBSEP $2 SUBSEP $3; val[key, ++cnt[key]] = $4
    if (!(($2 SUBSEP $3) in seen)) { seen[$2 SUBSEP $3] = 1; order[++no] = $2 SUBSEP $3 } }
END {
    for (i = 1; i <= no; i++) {
        split(order[i], p, SUBSEP)
        o = median("OURS" SUBSEP order[i]); f = median("REF" SUBSEP order[i])
        if (f > 0) printf "BENCH {\"name\": \"%s_t%s\", \"ours\": %.1f, \"ref\": %.1f, \"ratio\": %.3f, \"unit\": \"steps/s\"}\n", p[1], p[2], o, f, o / f
        else printf "SKIP {\"name\": \"%s_t%s\", \"ours\": %.1f, \"ref\": null, \"unit\": \"steps/s\"}\n", p[1], p[2], o
    }
}' "$TMP"
