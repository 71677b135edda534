#!/usr/bin/env bash
# Benchmark: torchserve-rs against real TorchServe 0.12 on this machine, one after the other.
# Reports start-up time, synchronous register time, resident memory (frontend + one worker), and
# throughput / p50 / p99 for a trivial JSON echo handler with 2 workers at concurrency 1, 8, 32,
# plus batch_size 8 / max_batch_delay 5 at concurrency 32. Not a test: numbers, not asserts.
# Usage: ci/bench.sh [SECONDS_PER_RUN]   (needs wrk: apt-get install wrk)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
DUR=${1:-10}
VENV=$(bash ci/install-torchserve.sh)
command -v wrk >/dev/null || { echo "wrk is required (apt-get install wrk)" >&2; exit 1; }
cargo build --release -q -p reference-server -p python-worker -p mar
WORK=$(mktemp -d /tmp/tsrs-bench.XXXXXX)
trap 'kill $(jobs -p) 2>/dev/null || true; "$VENV/bin/torchserve" --stop >/dev/null 2>&1 || true; rm -rf "$WORK"' EXIT
mkdir -p "$WORK/store"
./target/release/mar create --model-name echo --version 1.0 --handler "$ROOT/ci/bench/bench_echo.py" \
  --export-path "$WORK/store" -f >/dev/null

now() { date +%s.%N; }
wait_ping() { # URL
  for _ in $(seq 1 3000); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "$1/ping")" = 200 ] && return 0
    sleep 0.01
  done
  echo "no answer from $1" >&2; return 1
}
rss_kb() { awk '/VmRSS/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
load() { # URL CONNECTIONS -> "rps p50_ms p99_ms"
  local threads=$(( $2 < 2 ? 1 : 2 ))
  wrk -t"$threads" -c"$2" -d"${DUR}s" --latency -s ci/bench/post.lua "$1/predictions/echo" |
    awk '/Requests\/sec/ {rps=$2}
         /^ +50%/ {p50=$2} /^ +99%/ {p99=$2}
         function ms(v) { if (v ~ /us$/) return v/1000; if (v ~ /ms$/) return v+0; if (v ~ /s$/) return v*1000; return v }
         END {printf "%.0f %.2f %.2f\n", rps, ms(p50), ms(p99)}'
}

run_one() { # NAME START_CMD FRONTEND_PID_CMD
  local name=$1 inf=$2 mgmt=$3
  local t0 t1 t2
  t0=$(now)
  eval "$4"
  wait_ping "$inf"
  t1=$(now)
  curl -sf -X POST "$mgmt/models?url=echo.mar&initial_workers=1&synchronous=true" >/dev/null
  t2=$(now)
  local fe_pid; fe_pid=$(eval "$5")
  local wpid; wpid=$(curl -s "$mgmt/models/echo" | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["workers"][0]["pid"])')
  local mem=$(( $(rss_kb "$fe_pid") + $(rss_kb "$wpid") ))
  curl -sf -X PUT "$mgmt/models/echo?min_worker=2&synchronous=true" >/dev/null
  curl -sf -X POST "$inf/predictions/echo" -H 'Content-Type: application/json' -d '{"warm": 1}' >/dev/null
  local c1 c8 c32 b32
  c1=$(load "$inf" 1); c8=$(load "$inf" 8); c32=$(load "$inf" 32)
  curl -sf -X DELETE "$mgmt/models/echo" >/dev/null
  curl -sf -X POST "$mgmt/models?url=echo.mar&initial_workers=2&synchronous=true&batch_size=8&max_batch_delay=5" >/dev/null
  b32=$(load "$inf" 32)
  printf '%s|%.2f|%.2f|%d|%s|%s|%s|%s\n' "$name" "$(echo "$t1 - $t0" | bc)" "$(echo "$t2 - $t1" | bc)" \
    $(( mem / 1024 )) "$c1" "$c8" "$c32" "$b32" >> "$WORK/results"
}

# --- torchserve-rs
mkdir -p "$WORK/rs"
cat > "$WORK/rs/config.properties" <<CFG
inference_address=http://127.0.0.1:18480
management_address=http://127.0.0.1:18481
metrics_address=http://127.0.0.1:18482
initial_worker_port=19400
CFG
run_one torchserve-rs http://127.0.0.1:18480 http://127.0.0.1:18481 \
  "(cd $WORK/rs && exec $ROOT/target/release/torchserve-rs --foreground --ts-config config.properties --model-store $WORK/store --disable-token-auth --enable-model-api > $WORK/rs/log 2>&1) & RS_PID=\$!" \
  "echo \$RS_PID"
kill -TERM "$RS_PID"; wait "$RS_PID" 2>/dev/null || true

# --- TorchServe 0.12
mkdir -p "$WORK/ts"
cat > "$WORK/ts/config.properties" <<CFG
inference_address=http://127.0.0.1:18580
management_address=http://127.0.0.1:18581
metrics_address=http://127.0.0.1:18582
initial_worker_port=19500
model_store=$WORK/store
CFG
run_one "TorchServe 0.12" http://127.0.0.1:18580 http://127.0.0.1:18581 \
  "(cd $WORK/ts && $VENV/bin/torchserve --start --ncs --ts-config config.properties --model-store $WORK/store --disable-token-auth --enable-model-api > $WORK/ts/log 2>&1)" \
  "pgrep -f 'org.pytorch.serve.ModelServer' | head -1"
"$VENV/bin/torchserve" --stop >/dev/null 2>&1 || true

echo
echo "Machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo); wrk ${DUR}s per run; JSON echo handler, 2 workers"
echo
echo "| server | start to /ping (s) | register, 1 worker, sync (s) | RSS frontend + 1 worker (MiB) | c=1 req/s, p50, p99 (ms) | c=8 req/s, p50, p99 | c=32 req/s, p50, p99 | c=32, batch 8 / 5 ms |"
echo "|---|---|---|---|---|---|---|---|"
while IFS='|' read -r name start reg mem c1 c8 c32 b32; do
  fmt() { set -- $1; echo "$1, $2, $3"; }
  echo "| $name | $start | $reg | $mem | $(fmt "$c1") | $(fmt "$c8") | $(fmt "$c32") | $(fmt "$b32") |"
done < "$WORK/results"
