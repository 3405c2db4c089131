"""A real LLM server for the synthesis tests: llama-cpp-python's OpenAI-compatible server with Gemma 3
270M (Q4_K_M), both installed into the test venv by scripts/llm-test-server.sh (scripts/test.sh runs it).

The fixture starts `python -m llama_cpp.server` on a free loopback port and stops it by PID. Where
the script has not run, the test is skipped with the command that sets it up, unless
NOTES_BOT_TEST_LLAMA=required (scripts/test.sh sets it), when a missing server is a failure.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from ..conftest import free_port

GGUF_NAME = "gemma-3-270m-q4_k_m.gguf"
# Starting the server (importing llama_cpp and its web stack, mapping the model) took 20-90 s here
# with other test suites running beside it.
START_TIMEOUT_SECONDS = 300
# One answer's deadline. Measured here (load average 6 on 2 cores, the test nice'd): the 306-token
# synthesis prompt evaluated at 25 tokens/s (12 s to the first token), then 1.3 tokens/s for the
# answer's 48 (35 s): 48 s in all. At twice that load generation halves again, and the earlier 120 s
# deadline (first token plus 48 tokens) was within reach: the likely cause of the failure seen once.
REAL_LLM_TIMEOUT = 600


# Read at import, before the suite's fixtures move HOME to a tmp dir (tests/conftest.py).
_DEVELOPER_CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")


def gguf_path() -> Path:
    """NOTES_BOT_TEST_GGUF (scripts/test.sh sets it), else where scripts/llm-test-server.sh
    assembles the model under the developer's own cache."""
    if os.environ.get("NOTES_BOT_TEST_GGUF"):
        return Path(os.environ["NOTES_BOT_TEST_GGUF"])
    return _DEVELOPER_CACHE / "notes-bot" / "models" / GGUF_NAME


def _missing() -> str | None:
    if importlib.util.find_spec("llama_cpp") is None or importlib.util.find_spec("uvicorn") is None:
        return "llama-cpp-python[server] is not installed in this venv"
    if not gguf_path().exists():
        return f"the Gemma 3 270M GGUF is not at {gguf_path()}"
    return None


@pytest.fixture(scope="session")
def llama_server(tmp_path_factory):
    """The base URL (…/v1) of a running llama.cpp server with Gemma 3 270M."""
    missing = _missing()
    if missing:
        message = f"{missing}: run `bash scripts/llm-test-server.sh` (scripts/test.sh does)"
        if os.environ.get("NOTES_BOT_TEST_LLAMA") == "required":
            pytest.fail(message)
        pytest.skip(message)
    port = free_port()
    log = tmp_path_factory.mktemp("llama") / "server.log"
    command = [
        sys.executable, "-m", "llama_cpp.server", "--model", str(gguf_path()), "--chat_format", "gemma",
        "--model_alias", "gemma-3-270m", "--host", "127.0.0.1", "--port", str(port),
        # About 420 MB resident: the server keeps every position's logits by default (a 262k-word
        # vocabulary: 1 MB a token, 0.9 GB after one answer here), which nothing here needs; a 2k
        # context is 36 MB of KV cache. Two threads: the machine's two cores.
        "--n_ctx", "2048", "--logits_all", "False", "--n_batch", "256",
        "--n_threads", "2", "--n_threads_batch", "2", "--verbose", "False",
    ]
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while True:
            if process.poll() is not None:
                pytest.fail(f"llama_cpp.server exited with {process.returncode}:\n{log.read_text()[-2000:]}")
            try:
                if httpx.get(f"{url}/models", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"llama_cpp.server did not start in {START_TIMEOUT_SECONDS} s:\n{log.read_text()[-2000:]}")
            time.sleep(0.25)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
