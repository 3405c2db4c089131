"""Answer synthesis through the app: `POST /api/ask` and the chat (`conversation.respond`, Gradio-free)
against the scripted OpenAI-compatible server over real HTTP, on a real index of the seed pages."""

from __future__ import annotations

import time

import pytest
from fastapi.testclient import TestClient

from bot.web.conversation import Conversation, SEARCHING, respond
from bot.web.render import WRITING

from ..synthesis.synth_helpers import (  # noqa: F401  (fixtures)
    DEADLINE_BOUND, FAITHFUL, KEY, OFF_TOPIC, QUESTION, llm, scripted_llm, synth_runtime, synth_settings,
)

pytestmark = pytest.mark.integration

INVENTED = "LLMs give solution-focused advice in 73% of emotional disclosures [1]."


@pytest.fixture(scope="module")
def api(synth_runtime, synth_settings):  # noqa: F811
    from bot.web.app import create_app

    with TestClient(create_app(synth_settings, runtime=synth_runtime)) as client:
        yield client


# --- POST /api/ask ----------------------------------------------------------------------------------

def test_api_ask_returns_the_synthesized_answer_with_its_sentences_and_what_was_dropped(api, llm):  # noqa: F811
    llm.script({"reply": f"{FAITHFUL[0]} {INVENTED} {FAITHFUL[2]}"})
    response = api.post("/api/ask", json={"question": QUESTION})
    assert response.status_code == 200
    answer = response.json()
    assert answer["mode"] == "synthesized" and answer["fallback_reason"] is None
    assert [s["citations"] for s in answer["sentences"]] == [[1], [2]]
    assert answer["dropped"] == [{"text": INVENTED.replace(" [1]", ""), "citations": [1], "check": "fact",
                                  "reason": "the number 73% is in none of the cited passages"}]
    assert "73%" not in answer["answer"] and answer["answer"].startswith("When people disclose emotions")
    evidence = answer["answer"].split("**The quotes it rests on:**")[1]
    assert answer["citations"] and all(f"[[{c['n']}]]({c['url']})" in evidence for c in answer["citations"])


@pytest.mark.parametrize("behaviour, reason", [
    ({"sleep": 30, "reply": "late"}, "the LLM did not answer within 2 s"),
    ({"forever": True}, "the LLM did not answer within 2 s"),
    ({"status": 500, "error": "overloaded"}, "the LLM server failed"),
    ({"malformed": True}, "the LLM's reply could not be read"),
    ({"status": 401, "error": "bad key"}, "the LLM refused the API key"),
    ({"status": 404, "error": "no such model"}, "the LLM server has no model 'notes-model'"),
], ids=["slow-server", "endless-stream", "server-error", "malformed", "401", "404"])
def test_api_ask_is_200_with_the_extractive_answer_when_the_llm_fails(api, llm, behaviour, reason):  # noqa: F811
    llm.script(behaviour)
    started = time.monotonic()
    response = api.post("/api/ask", json={"question": QUESTION})
    assert time.monotonic() - started < DEADLINE_BOUND
    assert response.status_code == 200
    answer = response.json()
    assert answer["mode"] == "extractive" and answer["fallback_reason"] == reason and answer["citations"]
    assert answer["answer"].startswith(f"_Not synthesized: {reason}._\n\n")
    assert KEY not in response.text


def test_api_ask_off_topic_abstains_without_asking_the_llm(api, llm):  # noqa: F811
    answer = api.post("/api/ask", json={"question": OFF_TOPIC}).json()
    assert answer["abstained"] and answer["mode"] == "extractive" and answer["fallback_reason"] is None
    assert llm.requests() == []


def test_api_ask_sends_the_conversation_turns_it_was_given(api, llm):  # noqa: F811
    llm.script({"reply": " ".join(FAITHFUL)})
    history = [{"role": "user", "content": "What is BOLT?"}, {"role": "assistant", "content": "A framework."}]
    assert api.post("/api/ask", json={"question": QUESTION, "history": history}).status_code == 200
    messages = llm.requests()[-1]["body"]["messages"]
    assert [m["content"] for m in messages[1:3]] == ["What is BOLT?", "A framework."]


# --- the chat ----------------------------------------------------------------------------------------

def chat(runtime, conversation, question):
    return list(respond(runtime, conversation, question, {}, "/bot"))


def test_the_chat_shows_each_sentence_once_checked_then_the_answer_with_its_quotes(synth_runtime, llm):  # noqa: F811
    llm.script({"reply": f"{FAITHFUL[0]} {INVENTED} {FAITHFUL[1]} {FAITHFUL[2]}", "chunk": 6})
    conversation = Conversation()
    steps = chat(synth_runtime, conversation, QUESTION)
    replies = [s.messages[-1]["content"] for s in steps]
    assert replies[0] == SEARCHING
    writing = [s for s in steps if s.writing]
    assert writing[0].messages[-1]["content"] == WRITING and writing[0].sources is not None  # the quotes, at once
    assert "[1]" in writing[0].sources
    # one step a kept sentence, each showing the sentences so far; the dropped one never appears
    shown = [s.messages[-1]["content"] for s in writing[1:]]
    assert len(shown) == 3
    assert [r.count("[[") for r in shown] == [1, 2, 3]
    assert all(r.endswith(WRITING) for r in shown)
    assert all("73%" not in r for r in replies[:-1])
    assert "/bot/notes/" in shown[0]  # links under the app's root path
    final = replies[-1]
    answer = conversation.turns[-1].answer
    assert answer.mode == "synthesized" and len(answer.sentences) == 3
    assert final.startswith("When people disclose emotions") and "**The quotes it rests on:**" in final
    for citation in answer.citations:
        assert f"[[{citation.n}]](/bot{citation.url})" in final
    body, note = final.split('<details class="nb-checked">')
    assert "73%" not in body and note.endswith("</details>")  # the dropped sentence: only in the note
    assert "1 sentence left out" in note
    assert "LLMs give solution-focused advice in 73% of emotional disclosures." in note  # what, and why
    assert "the number 73% is in none of the cited passages" in note
    # the history carries the answer as shown to the reader (no dropped sentence) for the next turn
    assert conversation.history()[1]["content"] == answer.answer and "73%" not in answer.answer


def test_the_chat_says_why_when_the_llm_fails_and_never_hangs(synth_runtime, llm):  # noqa: F811
    llm.script({"forever": True})
    conversation = Conversation()
    started = time.monotonic()
    steps = chat(synth_runtime, conversation, QUESTION)
    assert time.monotonic() - started < DEADLINE_BOUND
    final = steps[-1].messages[-1]["content"]
    assert final.startswith("_Not synthesized: the LLM did not answer within 2 s._")
    assert "> " in final  # the quotes
    assert conversation.turns[-1].answer.mode == "extractive"


def test_an_llm_sentence_cannot_inject_markup_into_the_chat(synth_runtime, llm):  # noqa: F811
    # Verified (it paraphrases passage [1]) yet full of markup: it must show as text.
    sneaky = ("When people disclose emotions, LLMs tend to give <img src=x onerror=alert(1)> solution-focused "
              "advice, a hallmark of [low-quality](javascript:alert(1)) therapy [1].")
    llm.script({"reply": f"{sneaky} {FAITHFUL[1]}"})
    conversation = Conversation()
    final = chat(synth_runtime, conversation, QUESTION)[-1].messages[-1]["content"]
    assert "<img" not in final and "](javascript:" not in final
    assert "img src=x onerror=alert" in final  # shown, as text


def test_a_dropped_sentences_markup_is_escaped_in_the_checked_note(synth_runtime, llm):  # noqa: F811
    llm.script({"reply": f"{FAITHFUL[0]} <script>alert(1)</script> costs 99% [1]."})
    conversation = Conversation()
    final = chat(synth_runtime, conversation, QUESTION)[-1].messages[-1]["content"]
    assert "<script>" not in final and "&#60;script&#62;alert&#40;1&#41;&#60;/script&#62;" in final
