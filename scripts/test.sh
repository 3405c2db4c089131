#!/usr/bin/env bash
# Set up (first time) and run the whole test suite, browser tests included.
# Installs Debian's chromium (browser tests) and nginx (the team-stack tests start their
# own nginx on a loopback port with their own config) when they are missing.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh test
# The real LLM server (test venv only); its GGUF path is passed on because the suite runs under a tmp HOME.
NOTES_BOT_TEST_GGUF="$(bash scripts/llm-test-server.sh | tail -n 1)"
export NOTES_BOT_TEST_GGUF NOTES_BOT_TEST_LLAMA=required
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing+=(nginx)
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q "${missing[@]}"
fi
export HF_HUB_OFFLINE=1 ANONYMIZED_TELEMETRY=False GRADIO_ANALYTICS_ENABLED=False
exec .venv/bin/python -m pytest "$@"
