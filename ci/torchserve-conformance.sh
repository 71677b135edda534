#!/usr/bin/env bash
# The conformance suite (tsconform) against real TorchServe 0.12 from PyPI, in two runs:
#   1. main run: token auth off, model API on (--disable-token-auth --enable-model-api),
#      fixtures copied into the model store;
#   2. security run: TorchServe's defaults (token auth on, model API off), with its key file.
# TorchServe is stopped on every exit path (trap). Exits non-zero when a MUST check failed
# in either run. Reports: target/tsconform/torchserve-{main,security}.{xml,json}.
#
# Environment: TORCHSERVE_VENV (default ~/.cache/torchserve-0.12/venv, installed when missing),
# TSCONFORM_PORT_BASE (default 28080: main run uses +0..+4, security run +10..+14; each run's
# workers start at +900 / +950), TSCONFORM_PROPTEST_CASES (default 4), KEEP_TS_RUN=1 keeps the
# run folder (logs) after a successful run.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
VENV=${TORCHSERVE_VENV:-$HOME/.cache/torchserve-0.12/venv}
PORT_BASE=${TSCONFORM_PORT_BASE:-28080}
CASES=${TSCONFORM_PROPTEST_CASES:-4}
OUT="$ROOT/target/tsconform"
mkdir -p "$OUT"

bash ci/install-torchserve.sh "$VENV" >/dev/null
cargo build -q -p conformance --bin tsconform
TSCONFORM="$ROOT/target/debug/tsconform"

RUN=$(mktemp -d "${TMPDIR:-/tmp}/tsconform-ts.XXXXXX")
mkdir -p "$RUN/store"
STARTED=()
STATUS=0

# start MODE PORT: TorchServe in its own folder (cwd, config, logs, key file) and its own
# temp dir, which holds its pid file and worker sockets so parallel instances never meet.
start() {
  local mode=$1 port=$2 dir="$RUN/$1"
  mkdir -p "$dir/tmp"
  cat > "$dir/config.properties" <<CFG
inference_address=http://127.0.0.1:$port
management_address=http://127.0.0.1:$((port + 1))
metrics_address=http://127.0.0.1:$((port + 2))
grpc_inference_port=$((port + 3))
grpc_management_port=$((port + 4))
initial_worker_port=$((PORT_BASE + 900 + (port - PORT_BASE) * 5))
model_store=$RUN/store
CFG
  local flags=()
  [ "$mode" = main ] && flags=(--disable-token-auth --enable-model-api)
  STARTED+=("$mode")
  (cd "$dir" && TMPDIR="$dir/tmp" TEMP="$dir/tmp" setsid "$VENV/bin/torchserve" --start --ncs \
    --ts-config "$dir/config.properties" --model-store "$RUN/store" "${flags[@]}" >"$dir/start.log" 2>&1 </dev/null)
  # Wait for /ping (with the inference key once the key file exists).
  "$VENV/bin/python" - "$port" "$dir/key_file.json" <<'PY' || { echo "TorchServe ($mode) did not start; see $dir/logs" >&2; return 1; }
import json, sys, time, urllib.request, urllib.error, os
port, key_file = sys.argv[1], sys.argv[2]
deadline = time.time() + 180
while time.time() < deadline:
    headers = {}
    if os.path.exists(key_file):
        try:
            headers["Authorization"] = "Bearer " + json.load(open(key_file))["inference"]["key"]
        except (ValueError, KeyError):
            pass
    try:
        with urllib.request.urlopen(urllib.request.Request(f"http://127.0.0.1:{port}/ping", headers=headers), timeout=1) as r:
            if b"Healthy" in r.read():
                sys.exit(0)
    except (urllib.error.URLError, OSError):
        pass
    time.sleep(0.2)
sys.exit(1)
PY
}

# stop MODE: torchserve --stop, then make sure the frontend and its workers are gone.
stop() {
  local dir="$RUN/$1" pid="" pgid=""
  [ -f "$dir/tmp/.model_server.pid" ] && pid=$(cat "$dir/tmp/.model_server.pid")
  [ -n "$pid" ] && pgid=$(ps -o pgid= -p "$pid" 2>/dev/null | tr -d ' ')
  (cd "$dir" && TMPDIR="$dir/tmp" TEMP="$dir/tmp" "$VENV/bin/torchserve" --stop >/dev/null 2>&1) || true
  if [ -n "$pid" ]; then
    for _ in $(seq 1 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    # torchserve --start ran under setsid: that process group holds the frontend and workers.
    [ -n "$pgid" ] && kill -KILL -- "-$pgid" 2>/dev/null || true
  fi
}

cleanup() {
  local rc=$?
  for mode in "${STARTED[@]}"; do stop "$mode"; done
  if [ "$rc" -ne 0 ] || [ "$STATUS" -ne 0 ]; then
    for mode in "${STARTED[@]}"; do
      echo "--- last lines of TorchServe's log ($mode): $RUN/$mode/logs/ts_log.log" >&2
      tail -n 30 "$RUN/$mode/logs/ts_log.log" >&2 2>/dev/null || true
    done
    echo "run folder kept: $RUN" >&2
  elif [ "${KEEP_TS_RUN:-0}" != 1 ]; then
    rm -rf "$RUN"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "== TorchServe 0.12, main run (token auth off, model API on) on 127.0.0.1:$PORT_BASE"
start main "$PORT_BASE"
"$TSCONFORM" run --port-base "$PORT_BASE" --model-store "$RUN/store" --proptest-cases "$CASES" \
  --junit "$OUT/torchserve-main.xml" --json "$OUT/torchserve-main.json" || STATUS=1
stop main

SEC_PORT=$((PORT_BASE + 10))
echo "== TorchServe 0.12, security run (defaults: token auth on, model API off) on 127.0.0.1:$SEC_PORT"
start security "$SEC_PORT"
"$TSCONFORM" run --port-base "$SEC_PORT" --key-file "$RUN/security/key_file.json" --no-model-api \
  --model-store "$RUN/store" --only security \
  --junit "$OUT/torchserve-security.xml" --json "$OUT/torchserve-security.json" || STATUS=1
stop security

if [ "$STATUS" -ne 0 ]; then
  echo "tsconform: a MUST check failed against TorchServe 0.12 (reports in $OUT)" >&2
fi
exit "$STATUS"
