#!/usr/bin/env bash
# Set up (first time) and run the whole benchmark suite: bench/results/ and the README's
# Performance section. Pass benchmark names to run some of them (bench/run.py --help).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh test,bench
command -v chromium >/dev/null 2>&1 || {
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q chromium
}
export HF_HUB_OFFLINE=1 ANONYMIZED_TELEMETRY=False GRADIO_ANALYTICS_ENABLED=False
exec .venv/bin/python bench/run.py "$@"
