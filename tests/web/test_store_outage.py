"""When the notes store goes away the chat says so plainly, and answers again when it is back:
a real `chroma run` server, killed and restarted under a running app runtime."""

from __future__ import annotations

import signal

import pytest

from bot.index.ingest import ingest
from bot.settings import Settings
from bot.index.store import Store
from bot.web.conversation import Conversation, STORE_UNAVAILABLE, respond
from bot.web.runtime import AppRuntime

from ..conftest import free_port
from ..index.test_server_mode import start_chroma

pytestmark = pytest.mark.integration

QUESTION = "What raises the tides?"


def ask(runtime, conversation):
    return list(respond(runtime, conversation, QUESTION, {}))[-1]


def test_the_chat_survives_a_chroma_outage(tmp_path, embedder):
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "tides.md").write_text("# Tides and the moon\n\nThe moon's pull raises the tides twice a day.\n")
    (notes / "sleep.md").write_text("# Sleep and memory\n\nSleep consolidates memories of the day.\n")
    port = free_port()
    chroma = start_chroma(tmp_path / "chroma", port)
    settings = Settings(notes_dir=str(notes), data_dir=tmp_path / "data", chroma_host="127.0.0.1",
                        chroma_port=port, rescan_seconds=0)
    with Store.open(settings, embedder.fingerprint) as store:  # `bot ingest`: workers of a server never ingest
        ingest(None, settings, store, embedder, progress=False)
    runtime = AppRuntime(settings, progress=False)
    try:
        runtime.start()
        assert runtime.wait_ready(120), runtime.error
        assert not runtime.owns_ingest  # with a Chroma server, `bot ingest` runs elsewhere
        conversation = Conversation()
        assert ask(runtime, conversation).messages[-1]["content"].startswith("One note addresses this")

        chroma.send_signal(signal.SIGKILL)
        chroma.wait(timeout=10)
        down = ask(runtime, conversation)
        assert down.messages[-1]["content"] == STORE_UNAVAILABLE
        assert down.keep_question == QUESTION
        assert "Traceback" not in down.messages[-1]["content"]
        assert len(conversation.history()) == 2  # the failed turn is not part of the conversation

        chroma = start_chroma(tmp_path / "chroma", port)
        back = ask(runtime, conversation)
        assert back.messages[-1]["content"].startswith("One note addresses this")
        assert "Tides and the moon" in back.messages[-1]["content"]
    finally:
        runtime.close()
        chroma.send_signal(signal.SIGTERM)
        try:
            chroma.wait(timeout=10)
        except Exception:
            chroma.kill()
