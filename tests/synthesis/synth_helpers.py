"""Shared by the synthesis tests through the service, the API and the chat: the scripted
OpenAI-compatible server, and a real app runtime over the seed pages configured to use it."""

from __future__ import annotations

import pytest

from ..conftest import SEEDS
from .llm_server import ScriptedLLM

KEY = "sk-test-4f9c2b7e1d0a8e6f"
MODEL = "notes-model"
TIMEOUT = 2.0
# The bound is the timeout plus a second; the extra half second is for a loaded 2-core machine.
DEADLINE_BOUND = TIMEOUT + 1.5

QUESTION = "Do LLM therapists respond to emotions like low-quality human therapists?"
THERAPY_NOTE = "do-llm-therapists-respond-to-emotions-like-low-quality-human-therapists"
# Paraphrases of the passages the bot cites for QUESTION: [1] the therapists note, [2] the
# alternative-reward-functions inquiry (checked against them in test_service.py).
FAITHFUL = [
    "When people disclose emotions, LLMs tend to give solution-focused advice, a hallmark of low-quality therapy [1].",
    "Yet they also reflect more on client needs and strengths than poor human therapy does [1].",
    "The notes trace this to RLHF, which rewards task completion and helpful-looking answers [2].",
]
OFF_TOPIC = "What is the boiling point of tungsten?"


@pytest.fixture(scope="session")
def scripted_llm():
    """The scripted server, wanting KEY and knowing only MODEL."""
    with ScriptedLLM(api_key=KEY, models=[MODEL]) as llm:
        yield llm


@pytest.fixture
def llm(scripted_llm):
    scripted_llm.reset()
    return scripted_llm


@pytest.fixture(scope="session")
def synth_settings(scripted_llm, tmp_path_factory):
    from bot.settings import Settings

    return Settings(notes_dir=str(SEEDS), data_dir=tmp_path_factory.mktemp("synth-data"), rescan_seconds=0,
                    rate_limit_user=0, rate_limit_address=0,
                    allowed_hosts="testserver,localhost,127.0.0.1",  # Starlette's TestClient sends `Host: testserver`
                    llm_url=scripted_llm.url, llm_model=MODEL, llm_api_key=KEY, llm_timeout_seconds=TIMEOUT)


@pytest.fixture(scope="session")
def synth_runtime(synth_settings):
    """A real runtime (embedded Chroma, the bundled model) over the seeds, with synthesis on."""
    from bot.web.runtime import AppRuntime

    runtime = AppRuntime(synth_settings, purpose="app (synthesis tests)", progress=False)
    runtime.start()
    assert runtime.wait_ready(300), runtime.error
    runtime.reindex(wait=True, timeout=300)
    yield runtime
    runtime.close()
