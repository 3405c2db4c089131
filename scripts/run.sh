#!/usr/bin/env bash
# Set up (first time) and run the app on seeds/: http://127.0.0.1:7860
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export HF_HUB_OFFLINE=1 ANONYMIZED_TELEMETRY=False GRADIO_ANALYTICS_ENABLED=False
exec .venv/bin/python app.py "$@"
