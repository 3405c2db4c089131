"""Server mode: a real `chroma run` on a free loopback port, ingest into it, query it."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time

import httpx
import pytest

from bot.query.answer import answer_question
from bot.service import Bot
from bot.index.ingest import ingest
from bot.settings import Settings
from bot.index.store import Store
from bot.errors import StoreUnavailable

from ..conftest import free_port

pytestmark = pytest.mark.integration


def start_chroma(path, port):
    chroma = shutil.which("chroma") or os.path.join(os.path.dirname(os.sys.executable), "chroma")
    process = subprocess.Popen([chroma, "run", "--path", str(path), "--host", "127.0.0.1", "--port", str(port)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               env={**os.environ, "ANONYMIZED_TELEMETRY": "False"})
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/v2/heartbeat", timeout=1).status_code == 200:
                return process
        except httpx.TransportError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError("chroma run did not start")


@pytest.fixture
def chroma_server(tmp_path):
    port = free_port()
    process = start_chroma(tmp_path / "chroma-server", port)
    yield port
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()


def test_ingest_and_query_through_a_chroma_server(tmp_path, seeds_copy, embedder, chroma_server):
    settings = Settings(data_dir=tmp_path / "data", notes_dir=str(seeds_copy),
                        chroma_host="127.0.0.1", chroma_port=chroma_server)
    with Store.open(settings, embedder.fingerprint) as store:
        report = ingest(None, settings, store, embedder, progress=False)
        assert report.notes == 25 and report.version == 1
        assert "Chroma server" in store.location
    # nothing is written to the embedded store's directory in server mode
    assert not (settings.data_dir / "chroma").exists()
    index = Bot.open(settings, build_if_missing=False, progress=False).index
    try:
        answer = answer_question(index, "Do LLM therapists respond to emotions like low-quality human therapists?")
        assert not answer.abstained
        cited = [c.note_id for c in answer.citations]
        assert "do-llm-therapists-respond-to-emotions-like-low-quality-human-therapists" in cited
    finally:
        index.close()


def test_a_dead_server_is_a_clear_error(tmp_path, embedder):
    settings = Settings(data_dir=tmp_path / "data", chroma_host="127.0.0.1", chroma_port=free_port())
    started = time.monotonic()
    with pytest.raises(StoreUnavailable, match="unavailable"):
        Store.open(settings, embedder.fingerprint).version()
    assert time.monotonic() - started < 30  # refused, not hung
