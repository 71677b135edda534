#!/usr/bin/env bash
# Benchmark (not a test): `mar inspect`, `mar check` and `unzip -t` side by side on a .mar that
# holds one serialized file of random (incompressible) bytes, 1 GiB by default.
#
#   mar/benches/bench.sh [SIZE_MB] [RUNS]          env: FORMAT=default|zip-store, BENCH_DIR=/tmp
#
# Every tool reads the archive from a warm page cache (it is read once before timing), so the
# numbers compare the tools, not the disk. Times come from hyperfine when installed (median of
# RUNS after one warm-up), else from a loop of RUNS; peak RSS from /usr/bin/time -v.
set -euo pipefail
SIZE_MB=${1:-1024}
RUNS=${2:-5}
FORMAT=${FORMAT:-default}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)

cargo build --release -p mar --manifest-path "$ROOT/Cargo.toml" >&2
MAR="${CARGO_TARGET_DIR:-$ROOT/target}/release/mar"

WORK=$(mktemp -d "${BENCH_DIR:-${TMPDIR:-/tmp}}/mar-bench.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"

echo "making ${SIZE_MB} MiB of random bytes and a ${FORMAT} archive in $WORK" >&2
head -c "${SIZE_MB}M" /dev/urandom > model.pt
printf 'def handle(data, context):\n    return data\n' > handler.py
mkdir out
CREATE_S=$( { /usr/bin/time -f '%e' "$MAR" create --model-name big -v 1.0 --serialized-file model.pt \
    --handler handler.py --archive-format "$FORMAT" --export-path out >/dev/null; } 2>&1 | tail -1)
ARCHIVE=out/big.mar
rm model.pt
cat "$ARCHIVE" > /dev/null # warm the page cache

# Sanity: each command must succeed on this archive, or its timing means nothing.
"$MAR" inspect "$ARCHIVE" >/dev/null
"$MAR" check "$ARCHIVE" >/dev/null
unzip -tq "$ARCHIVE" >/dev/null

peak_mb() { # peak RSS of one run, in MB
    /usr/bin/time -v "$@" 2>&1 >/dev/null | awk -F': ' '/Maximum resident set size/ {printf "%.1f", $2/1024}'
}

declare -A MED MIN MAX
NAMES=("mar inspect" "mar check" "unzip -t")
CMDS=("$MAR inspect $ARCHIVE" "$MAR check $ARCHIVE" "unzip -tq $ARCHIVE")
if command -v hyperfine >/dev/null; then
    hyperfine -N --warmup 1 --runs "$RUNS" --export-json times.json \
        -n "${NAMES[0]}" "${CMDS[0]}" -n "${NAMES[1]}" "${CMDS[1]}" -n "${NAMES[2]}" "${CMDS[2]}" >&2
    while IFS=$'\t' read -r name med min max; do
        MED[$name]=$med; MIN[$name]=$min; MAX[$name]=$max
    done < <(python3 -c '
import json
for r in json.load(open("times.json"))["results"]:
    print("\t".join([r["command"], "%.3f" % r["median"], "%.3f" % r["min"], "%.3f" % r["max"]]))')
else
    for i in "${!NAMES[@]}"; do
        times=()
        for _ in $(seq "$RUNS"); do
            t0=$(date +%s.%N); ${CMDS[$i]} >/dev/null; t1=$(date +%s.%N)
            times+=("$(echo "$t1 - $t0" | bc)")
        done
        sorted=$(printf '%s\n' "${times[@]}" | sort -n)
        MED[${NAMES[$i]}]=$(echo "$sorted" | awk '{a[NR]=$1} END {printf "%.3f", a[int((NR+1)/2)]}')
        MIN[${NAMES[$i]}]=$(echo "$sorted" | head -1)
        MAX[${NAMES[$i]}]=$(echo "$sorted" | tail -1)
    done
fi

echo
echo "archive: $(stat -c %s "$ARCHIVE") bytes ($FORMAT, ${SIZE_MB} MiB random payload), created in ${CREATE_S} s"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
printf '\n| %-12s | %9s | %9s | %9s | %12s |\n' command "median s" "min s" "max s" "peak RSS MB"
printf '|%s|%s|%s|%s|%s|\n' "--------------" "-----------" "-----------" "-----------" "--------------"
for i in "${!NAMES[@]}"; do
    n=${NAMES[$i]}
    printf '| %-12s | %9s | %9s | %9s | %12s |\n' "$n" "${MED[$n]}" "${MIN[$n]}" "${MAX[$n]}" "$(peak_mb ${CMDS[$i]})"
done
