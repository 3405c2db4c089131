#!/usr/bin/env bash
# Set up (first time) and run the whole test suite, browser tests included.
# Installs Debian's chromium for the browser tests when it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh test
if ! command -v chromium >/dev/null 2>&1; then
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q chromium
fi
export HF_HUB_OFFLINE=1 ANONYMIZED_TELEMETRY=False GRADIO_ANALYTICS_ENABLED=False
exec .venv/bin/python -m pytest "$@"
