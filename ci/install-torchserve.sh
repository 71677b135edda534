#!/usr/bin/env bash
# Installs real TorchServe 0.12.0 (and what its worker imports: torch, pyyaml) from PyPI into a
# cached virtual environment. Does nothing when the venv is already complete. Prints its path.
# Usage: ci/install-torchserve.sh [VENV]   (default $TORCHSERVE_VENV or ~/.cache/torchserve-0.12/venv)
set -euo pipefail
VENV=${1:-${TORCHSERVE_VENV:-$HOME/.cache/torchserve-0.12/venv}}
if [ -x "$VENV/bin/torchserve" ] && "$VENV/bin/python" -c 'import torch, yaml, ts, model_archiver' 2>/dev/null; then
  echo "$VENV"; exit 0
fi
mkdir -p "$(dirname "$VENV")"
python3 -m venv "$VENV"
"$VENV/bin/pip" install -q --upgrade pip >&2
"$VENV/bin/pip" install -q torchserve==0.12.0 torch-model-archiver==0.12.0 pyyaml torch >&2
"$VENV/bin/python" -c 'import torch, yaml, ts, model_archiver' >&2
echo "$VENV"
