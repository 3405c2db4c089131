"""The LLM client over real HTTP: against the scripted OpenAI-compatible server (tests/synthesis/llm_server.py)
for every case issue 12 lists, and against a real llama.cpp server with Gemma 3 270M."""

from __future__ import annotations

import logging
import time

import pytest
from click.testing import CliRunner

from bot.settings import Settings
from bot.synthesis.client import LLMClient, LLMError
from bot.synthesis.prompt import Passage, Turn, build_messages
from bot.synthesis.claims import split_answer
from bot.synthesis.verify import Verifier

from ..conftest import SEEDS, free_port
from .llm_real import llama_server  # noqa: F401  (a fixture)
from .llm_server import ScriptedLLM

KEY = "sk-test-4f9c2b7e1d0a8e6f"
MODEL = "notes-model"
TIMEOUT = 2.0
# The bound is the timeout plus a second; this margin is for a loaded 2-core machine.
DEADLINE_BOUND = TIMEOUT + 1.5

pytestmark = pytest.mark.integration  # real HTTP servers (and the real model for the verifier)


@pytest.fixture(scope="module")
def server():
    with ScriptedLLM(api_key=KEY, models=[MODEL]) as llm:
        yield llm


@pytest.fixture
def llm(server):
    server.reset()
    return server


@pytest.fixture
def client(llm):
    with LLMClient(llm.url, model=MODEL, api_key=KEY, timeout=TIMEOUT) as c:
        yield c


def seed_line(name: str, line: int) -> str:
    return (SEEDS / name).read_text().splitlines()[line - 1]


@pytest.fixture(scope="module")
def passages() -> list[Passage]:
    return [
        Passage(1, seed_line("004_aaf3fd2841cda9ab.txt", 14), "Can training empathy as a trait backfire?"),
        Passage(2, seed_line("002_a1f149fcb2b4d867.txt", 51), "Does warmth training make models less reliable?"),
    ]


QUESTION = "Can you make a chatbot more caring without making it less truthful?"
FAITHFUL = ("Training a model to be warm as a general character trait lowers its factual reliability by 10-30 "
            "percentage points [1]. Rewarding empathy as a contextual behaviour instead of a fixed trait keeps "
            "reliability intact [1]. Standard safety benchmarks did not detect the degradation [2].")


def messages_for(passages):
    return build_messages(QUESTION, passages, [Turn("Does warmth training hurt?", "It can [1].")])


# --- answers, verified -------------------------------------------------------------------------------

@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
@pytest.mark.parametrize("reply, kept, dropped", [
    (FAITHFUL, 3, []),
    ("Warm models lose 42% of their factual reliability [1].", 0,
     ["the number 42% is in none of the cited passages"]),
    ("Warmth training backfires as a global trait [4].", 0, ["cites [4], but there is no passage 4"]),
    ("Warmth training degrades factual reliability.", 0, ["no citation"]),
], ids=["faithful", "invented-number", "nonexistent-passage", "no-citation"])
def test_scripted_answers_are_verified(client, llm, embedder, passages, stream, reply, kept, dropped):
    llm.script({"reply": reply, "chunk": 7})
    verifier = Verifier(passages, embedder.encode)
    if stream:
        deltas = list(client.stream(messages_for(passages)))
        assert len(deltas) > 1  # it really streamed
        for delta in deltas:
            verifier.feed(delta)
    else:
        completion = client.complete(messages_for(passages))
        assert completion.finish_reason == "stop"
        verifier.feed(completion.text)
    verifier.finish()
    assert len(verifier.result.kept) == kept
    assert [d.reason for d in verifier.result.dropped] == dropped


def test_what_is_sent_is_the_question_recent_turns_and_passages_only(client, llm, passages):
    llm.script({"reply": "Fine [1]."}, {"reply": "Fine [1]."})
    messages = messages_for(passages)
    client.complete(messages)
    list(client.stream(messages))
    first, second = llm.requests()
    for request, stream in ((first, False), (second, True)):
        assert request["path"] == "/v1/chat/completions"
        assert request["headers"]["Authorization"] == f"Bearer {KEY}"
        assert request["body"] == {"model": MODEL, "messages": messages, "temperature": 0.2, "max_tokens": 400,
                                   "stream": stream}
    sent = " ".join(m["content"] for m in first["body"]["messages"])
    assert QUESTION in sent and "Does warmth training hurt?" in sent
    assert all(f"[{p.number}] " in sent for p in passages)


def test_the_stream_arrives_in_pieces_and_whole(client, llm):
    text = "One sentence here [1]. Another one there [2]."
    llm.script({"reply": text, "chunk": 4})
    deltas = list(client.stream([{"role": "user", "content": "hi"}]))
    assert "".join(deltas) == text and len(deltas) == len(range(0, len(text), 4))


def test_a_server_that_ignores_stream_and_sends_json_still_works(client, llm):
    # Some servers answer `stream: true` with one JSON body; the client reads it as such.
    llm.script({"reply": "Whole [1].", "ignore_stream": True})
    assert list(client.stream([{"role": "user", "content": "hi"}])) == ["Whole [1]."]


# --- failures ----------------------------------------------------------------------------------------

def fails(call) -> tuple[LLMError, float]:
    start = time.monotonic()
    with pytest.raises(LLMError) as caught:
        call()
    return caught.value, time.monotonic() - start


def ask(client, stream: bool):
    messages = [{"role": "user", "content": "hi"}]
    return (lambda: list(client.stream(messages))) if stream else (lambda: client.complete(messages))


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
@pytest.mark.parametrize("behaviour", [{"sleep": 30, "reply": "late"}, {"forever": True}],
                         ids=["slow-server", "never-ending"])
def test_a_slow_or_endless_server_times_out_within_the_deadline(client, llm, stream, behaviour):
    llm.script(behaviour)
    error, elapsed = fails(ask(client, stream))
    assert error.kind == "timeout"
    assert str(error) == (f"the LLM at {llm.url} did not finish its answer within 2 s (BOT_LLM_TIMEOUT_SECONDS)")
    assert elapsed < DEADLINE_BOUND


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_server_error(client, llm, stream):
    llm.script({"status": 500, "error": "CUDA out of memory"})
    error, _ = fails(ask(client, stream))
    assert (error.kind, error.status) == ("server_error", 500)
    assert str(error) == f"the LLM at {llm.url} failed with HTTP 500: CUDA out of memory"


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_malformed_response(client, llm, stream):
    llm.script({"malformed": True})
    error, _ = fails(ask(client, stream))
    assert error.kind == "malformed"
    assert str(error).startswith(f"the LLM at {llm.url} sent something that is not a chat completion: ")


def test_a_stream_that_stops_short_is_malformed(client, llm):
    llm.script({"reply": "Half an ans", "no_done": True})
    error, _ = fails(ask(client, True))
    assert error.kind == "malformed" and "[DONE]" in str(error)


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_wrong_key_is_unauthorized_and_never_echoed(llm, stream):
    wrong = "sk-wrong-0123456789abcdef"
    with LLMClient(llm.url, model=MODEL, api_key=wrong, timeout=TIMEOUT) as c:
        error, _ = fails(ask(c, stream))
    assert (error.kind, error.status) == ("unauthorized", 401)
    assert str(error) == f"the LLM at {llm.url} refused the API key (HTTP 401); check BOT_LLM_API_KEY"
    assert llm.requests()[-1]["headers"]["Authorization"] == f"Bearer {wrong}"  # it was sent, then refused


def test_missing_key_is_unauthorized(llm):
    with LLMClient(llm.url, model=MODEL, timeout=TIMEOUT) as c:
        error, _ = fails(ask(c, False))
    assert error.kind == "unauthorized" and str(error).endswith("wants an API key (HTTP 401); set BOT_LLM_API_KEY")
    assert "Authorization" not in llm.requests()[-1]["headers"]


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_unknown_model(llm, stream):
    with LLMClient(llm.url, model="no-such-model", api_key=KEY, timeout=TIMEOUT) as c:
        error, _ = fails(ask(c, stream))
    assert (error.kind, error.status) == ("model_not_found", 404)
    assert "has no model 'no-such-model' (HTTP 404" in str(error) and "check BOT_LLM_MODEL" in str(error)


def test_unreachable_server():
    url = f"http://127.0.0.1:{free_port()}/v1"
    with LLMClient(url, model=MODEL, api_key=KEY, timeout=TIMEOUT) as c:
        error, elapsed = fails(ask(c, True))
    assert error.kind == "unreachable"
    assert str(error) == (f"could not reach the LLM at {url} (connection refused); check BOT_LLM_URL and "
                          "that the server is running")
    assert elapsed < DEADLINE_BOUND


def test_the_key_is_in_no_error_and_no_log_record(llm, caplog):
    """Every failure, with every logger at DEBUG (httpx and httpcore included): the key appears in no
    message, no repr, no log record, and no error carries a chained exception or traceback text."""
    caplog.set_level(logging.DEBUG)
    cases = [
        ({"status": 500, "error": f"bad request from {KEY}"}, KEY, MODEL),
        ({"malformed": True}, KEY, MODEL),
        ({"sleep": 30, "reply": "late"}, KEY, MODEL),
        ({"forever": True}, KEY, MODEL),
        ({"reply": "unused"}, KEY + "-wrong", MODEL),  # the server's 401 body echoes the key it got
        ({"reply": "unused"}, KEY, "no-such-model"),
    ]
    errors = []
    for behaviour, key, model in cases:
        for stream in (False, True):
            llm.script(behaviour)
            with LLMClient(llm.url, model=model, api_key=key, timeout=TIMEOUT) as c:
                assert KEY not in repr(c)
                error, _ = fails(ask(c, stream))
            errors.append(error)
    assert {e.kind for e in errors} == {"server_error", "malformed", "timeout", "unauthorized", "model_not_found"}
    for error in errors:
        assert KEY not in str(error) and KEY not in repr(error)
        assert error.__cause__ is None and "Traceback" not in str(error)
    assert "[the API key]" in str(errors[0])  # the server echoed it; we blotted it out
    assert caplog.records, "the client and httpx log at DEBUG"
    for record in caplog.records:
        assert KEY not in record.getMessage(), record.name


# --- settings ----------------------------------------------------------------------------------------

def test_client_from_settings(llm, monkeypatch):
    monkeypatch.setenv("BOT_LLM_URL", llm.url + "/chat/completions")  # a pasted endpoint is taken back
    monkeypatch.setenv("BOT_LLM_MODEL", MODEL)
    monkeypatch.setenv("BOT_LLM_API_KEY", KEY)
    monkeypatch.setenv("BOT_LLM_TIMEOUT_SECONDS", "2")
    monkeypatch.setenv("BOT_LLM_MAX_TOKENS", "64")
    settings = Settings()
    assert settings.synthesis_enabled and settings.llm_url == llm.url
    llm.script({"reply": "Yes [1]."})
    with LLMClient.from_settings(settings) as c:
        assert c.complete([{"role": "user", "content": "hi"}]).text == "Yes [1]."
    assert llm.requests()[-1]["body"]["max_tokens"] == 64
    assert llm.requests()[-1]["headers"]["Authorization"] == f"Bearer {KEY}"


def test_synthesis_is_off_without_a_url():
    settings = Settings()
    assert settings.llm_url is None and not settings.synthesis_enabled
    with pytest.raises(ValueError, match="BOT_LLM_URL is not set"):
        LLMClient.from_settings(settings)
    assert Settings(llm_url="  ").llm_url is None
    with pytest.raises(ValueError, match="must start with http"):
        Settings(llm_url="localhost:11434/v1")


def test_the_key_is_never_shown_by_bot_settings_or_repr(monkeypatch):
    from bot.cli import cli

    monkeypatch.setenv("BOT_LLM_API_KEY", KEY)
    settings = Settings()
    assert settings.llm_api_key.get_secret_value() == KEY
    assert KEY not in repr(settings) and KEY not in str(settings) and KEY not in settings.model_dump_json()
    output = CliRunner().invoke(cli, ["settings"]).output
    assert "BOT_LLM_API_KEY=**********" in output and KEY not in output
    assert KEY not in CliRunner().invoke(cli, ["settings", "--markdown"]).output


# --- a real LLM server -------------------------------------------------------------------------------

def test_real_llama_cpp_server_streams_and_every_sentence_is_kept_or_dropped(llama_server, embedder, passages):
    """Gemma 3 270M writes poor answers: what is checked is the protocol (a real stream, a whole
    completion) and that each sentence it wrote is kept or dropped, a kept one passing the check on
    its own again. The deadline is generous: a cold prompt of about 300 tokens on two shared cores
    runs at a few tokens a second under load (REAL_LLM_TIMEOUT)."""
    from .llm_real import REAL_LLM_TIMEOUT

    messages = messages_for(passages)
    with LLMClient(llama_server, model="gemma-3-270m", timeout=REAL_LLM_TIMEOUT, max_tokens=48,
                   temperature=0.0) as c:
        verifier = Verifier(passages, embedder.encode)
        deltas = []
        for delta in c.stream(messages):
            deltas.append(delta)
            verifier.feed(delta)
        verifier.finish()
        short = c.complete([{"role": "user", "content": "Say hello."}])
    assert short.text.strip() and short.finish_reason in ("stop", "length")
    text = "".join(deltas)
    assert deltas and text.strip(), "the model wrote nothing"
    result = verifier.result
    from bot.synthesis.claims import is_abstention

    written = [c.text for c in split_answer(text)]
    # every sentence it wrote is kept or dropped, in order, or is the abstention phrase
    assert [c.text for c in result.checked] == [t for t in written if not is_abstention(t)]
    assert result.abstained == any(is_abstention(t) for t in written)
    numbers = {p.number for p in passages}
    for sentence in result.kept:  # kept: cites passages that exist, and passes the check again on its own
        assert sentence.citations and set(sentence.citations) <= numbers
        again = Verifier(passages, embedder.encode).check(split_answer(
            sentence.text + "".join(f" [{n}]" for n in sentence.citations))[0])
        assert type(again).__name__ == "AnswerSentence", again
    for dropped in result.dropped:
        assert dropped.reason and dropped.check
