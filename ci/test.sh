#!/usr/bin/env bash
# Every test of the project, as CI runs it (.ci/run calls exactly this):
#  1. the Rust workspace: unit, integration, property and snapshot tests, the worker tests,
#     and the conformance suite against our reference server;
#  2. the conformance suite against real TorchServe 0.12, installed from PyPI into a cached venv.
# Needs: Rust, Python 3 with its shared library, Java 17, and access to crates.io and PyPI.
set -euo pipefail
cd "$(dirname "$0")/.."
export TORCHSERVE_VENV=${TORCHSERVE_VENV:-$HOME/.cache/torchserve-0.12/venv}
mkdir -p target
start=$(date +%s)
stamp() { echo "== [$(( $(date +%s) - start )) s] $*"; }

# TorchServe downloads while cargo compiles: neither needs the other yet.
stamp "installing TorchServe 0.12 into $TORCHSERVE_VENV (background, log: target/install-torchserve.log)"
bash ci/install-torchserve.sh "$TORCHSERVE_VENV" > target/install-torchserve.log 2>&1 &
install_pid=$!

stamp "building the workspace and its tests"
cargo build --workspace --bins
cargo test --workspace --no-run

stamp "waiting for the TorchServe install"
if ! wait "$install_pid"; then
  cat target/install-torchserve.log >&2
  echo "installing TorchServe failed" >&2
  exit 1
fi

stamp "cargo test --workspace"
cargo test --workspace

stamp "conformance suite against real TorchServe 0.12"
bash ci/torchserve-conformance.sh

stamp "all tests passed"
