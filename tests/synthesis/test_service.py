"""Answer synthesis through the service (`Bot.ask`, `Bot.ask_stream`, `bot.ask`) against the scripted
OpenAI-compatible server over real HTTP, on a real index of the seed pages: every case issue 12
names, and what is sent to the LLM."""

from __future__ import annotations

import logging
import re
import time

import pytest

from bot.models import Answer
from bot.query.answer import answer_question
from bot.query.compose import NOT_ADDRESSED, TOPIC_ONLY

from ..conftest import free_port
from .synth_helpers import (  # noqa: F401  (fixtures)
    DEADLINE_BOUND, FAITHFUL, KEY, MODEL, OFF_TOPIC, QUESTION, THERAPY_NOTE, llm, scripted_llm, synth_runtime,
    synth_settings,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def bot(synth_runtime):  # noqa: F811
    return synth_runtime.bot


def scripted(llm, bot, behaviour: dict, question: str = QUESTION, history=None) -> tuple[Answer, float]:  # noqa: F811
    llm.script(behaviour)
    started = time.monotonic()
    answer = bot.ask(question, history)
    return answer, time.monotonic() - started


def extractive_of(bot, question: str = QUESTION) -> Answer:
    return answer_question(bot.index, question)


# --- what is kept, what is dropped -----------------------------------------------------------------

def test_a_faithful_answer_leads_with_its_checked_sentences_and_the_quotes_follow(llm, bot):  # noqa: F811
    answer, _ = scripted(llm, bot, {"reply": " ".join(FAITHFUL), "chunk": 9})
    assert answer.mode == "synthesized" and not answer.dropped and answer.fallback_reason is None
    assert [s.citations for s in answer.sentences] == [[1], [1], [2]]
    extractive = extractive_of(bot)
    assert answer.citations == extractive.citations  # the same quotes, numbered as they were
    urls = {c.n: c.url for c in answer.citations}
    first, lead, *rest = answer.answer.split("\n\n")
    assert first.startswith("When people disclose emotions, LLMs tend to give solution-focused advice")
    assert f"[[1]]({urls[1]})." in first and f"[[2]]({urls[2]})." in first
    assert lead == "**The quotes it rests on:**"
    for citation in answer.citations:  # every quote, verbatim, with its numbered link
        assert f"[[{citation.n}]]({citation.url})" in "\n\n".join(rest)
    assert rest[-1] == "_Every sentence above was checked against the quotes it cites._"
    assert THERAPY_NOTE == answer.citations[0].note_id


@pytest.mark.parametrize("bad, reason", [
    ("LLMs give solution-focused advice in 73% of emotional disclosures [1].",
     "the number 73% is in none of the cited passages"),
    ("LLMs give solution-focused advice during emotional disclosure [7].", "cites [7], but there is no passage 7"),
    ("LLMs give solution-focused advice during emotional disclosure.", "no citation"),
], ids=["invented-number", "nonexistent-passage", "no-citation"])
def test_a_sentence_that_fails_the_check_is_dropped_with_its_reason_and_never_shown(llm, bot, bad, reason):  # noqa: F811
    answer, _ = scripted(llm, bot, {"reply": f"{FAITHFUL[0]} {bad} {FAITHFUL[2]}", "chunk": 11})
    assert answer.mode == "synthesized"
    assert len(answer.sentences) == 2 and [d.reason for d in answer.dropped] == [reason]
    dropped = answer.dropped[0].text
    assert dropped not in answer.answer and dropped.split()[-1].rstrip(".") not in answer.answer.split("**The quotes")[0]
    assert "one sentence that failed the check was left out" in answer.answer


def test_nothing_surviving_gives_the_quotes_with_the_reason(llm, bot):  # noqa: F811
    answer, _ = scripted(llm, bot, {"reply": "LLM therapists cure 90% of patients [1]. They never advise [9]."})
    extractive = extractive_of(bot)
    assert answer.mode == "extractive" and answer.sentences == [] and len(answer.dropped) == 2
    assert answer.fallback_reason == "none of the LLM's 2 sentences passed the check against the quotes"
    assert answer.answer == f"_Not synthesized: {answer.fallback_reason}._\n\n{extractive.answer}"
    assert "90%" not in answer.answer


def test_an_llm_that_abstains_while_the_notes_answer_gives_the_quotes(llm, bot):  # noqa: F811
    answer, _ = scripted(llm, bot, {"reply": NOT_ADDRESSED})
    assert answer.mode == "extractive" and not answer.abstained and answer.citations
    assert answer.fallback_reason == "the LLM found no answer in these quotes"
    assert answer.answer.startswith("_Not synthesized: the LLM found no answer in these quotes._\n\n")


def test_when_the_bot_abstains_the_llm_is_never_asked(llm, bot):  # noqa: F811
    answer, _ = scripted(llm, bot, {"reply": "Tungsten boils at 5,555 °C [1]."}, question=OFF_TOPIC)
    assert answer.abstained and answer.answer == NOT_ADDRESSED and answer.mode == "extractive"
    assert llm.requests() == []


def test_when_no_passage_answers_outright_the_llm_is_never_asked(llm, bot):  # noqa: F811
    # A pointer answer (close notes, no passage that answers) stays what it says it is.
    question = "Are bots any good at noticing when someone is torn about quitting a habit?"
    answer, _ = scripted(llm, bot, {"reply": "Bots cannot detect ambivalence [1]."}, question=question)
    assert answer.answer.startswith(TOPIC_ONLY) and answer.mode == "extractive" and answer.citations
    assert llm.requests() == []


def test_an_empty_reply_gives_the_quotes(llm, bot):  # noqa: F811
    answer, _ = scripted(llm, bot, {"reply": ""})
    assert answer.mode == "extractive" and answer.fallback_reason == "the LLM's reply held no sentences"


# --- failures: the extractive answer within the timeout plus a second, one log line -------------------

@pytest.mark.parametrize("behaviour, reason", [
    ({"sleep": 30, "reply": "late"}, "the LLM did not answer within 2 s"),
    ({"forever": True}, "the LLM did not answer within 2 s"),
    ({"status": 500, "error": "CUDA out of memory"}, "the LLM server failed"),
    ({"malformed": True}, "the LLM's reply could not be read"),
    ({"reply": "Half an ans", "no_done": True}, "the LLM's reply could not be read"),
], ids=["slow-server", "endless-stream", "server-error", "malformed", "cut-short"])
def test_a_failing_llm_gives_the_extractive_answer_in_time_and_one_log_line(llm, bot, caplog, behaviour, reason):  # noqa: F811
    caplog.set_level(logging.INFO, logger="bot")
    answer, seconds = scripted(llm, bot, behaviour)
    assert seconds < DEADLINE_BOUND
    assert answer.mode == "extractive" and answer.fallback_reason == reason
    assert answer.answer == f"_Not synthesized: {reason}._\n\n{extractive_of(bot).answer}"
    lines = [r for r in caplog.records if r.name.startswith("bot.synthesis") and r.levelno >= logging.WARNING]
    assert len(lines) == 1 and lines[0].getMessage().startswith("answer synthesis not used")


def configured(bot, **changes):
    """The same service with other BOT_LLM_* settings (the index is shared, the LLM client is new)."""
    from bot.service import Bot

    settings = bot.settings.model_copy(update=changes)
    return Bot(settings, bot.index)


@pytest.mark.parametrize("changes, reason, kind", [
    ({"llm_api_key": "sk-wrong-0123456789abcdef"}, "the LLM refused the API key", "unauthorized"),
    ({"llm_model": "no-such-model"}, "the LLM server has no model 'no-such-model'", "model_not_found"),
    ({"llm_url": "http://127.0.0.1:{port}/v1"}, "the LLM could not be reached", "unreachable"),
], ids=["wrong-key", "unknown-model", "unreachable"])
def test_a_misconfigured_llm_gives_the_extractive_answer_and_says_why(llm, bot, caplog, changes, reason, kind):  # noqa: F811
    from pydantic import SecretStr

    caplog.set_level(logging.DEBUG)
    changes = {k: (v.format(port=free_port()) if k == "llm_url" else SecretStr(v) if k == "llm_api_key" else v)
               for k, v in changes.items()}
    other = configured(bot, **changes)
    llm.script({"reply": " ".join(FAITHFUL)})
    started = time.monotonic()
    try:
        answer = other.ask(QUESTION)
    finally:
        other.synthesizer.close()
    assert time.monotonic() - started < DEADLINE_BOUND
    assert answer.mode == "extractive" and answer.fallback_reason == reason
    assert answer.answer.startswith(f"_Not synthesized: {reason}._\n\n")
    lines = [r for r in caplog.records if r.name.startswith("bot.synthesis") and r.levelno >= logging.WARNING]
    assert len(lines) == 1 and f"({kind})" in lines[0].getMessage()
    for record in caplog.records:  # neither key is in any log line
        assert KEY not in record.getMessage() and "sk-wrong-0123456789abcdef" not in record.getMessage()
    assert "sk-wrong" not in answer.model_dump_json()


# --- what is sent ------------------------------------------------------------------------------------

def test_the_llm_is_sent_only_the_question_recent_turns_and_the_cited_passages(llm, bot):  # noqa: F811
    history = []
    for number in range(5):  # five earlier turns; BOT_LLM_HISTORY_TURNS (3) of them are sent
        history += [{"role": "user", "content": f"earlier question {number}?"},
                    {"role": "assistant", "content": f"Earlier answer {number}. [[1]](/notes/x?hl=1-2#hl)"}]
    answer, _ = scripted(llm, bot, {"reply": " ".join(FAITHFUL)}, history=history)
    (request,) = llm.requests()
    assert request["path"] == "/v1/chat/completions"
    assert request["headers"]["Authorization"] == f"Bearer {KEY}"
    body = request["body"]
    assert set(body) == {"model", "messages", "temperature", "max_tokens", "stream"}
    assert body["model"] == MODEL and body["stream"] is True
    messages = body["messages"]
    assert [m["role"] for m in messages] == ["system"] + ["user", "assistant"] * 3 + ["user"]
    assert [m["content"] for m in messages[1:7:2]] == ["earlier question 2?", "earlier question 3?",
                                                      "earlier question 4?"]
    assert [m["content"] for m in messages[2:7:2]] == ["Earlier answer 2.", "Earlier answer 3.", "Earlier answer 4."]
    last = messages[-1]["content"]
    assert last.endswith(f"\n\nQuestion: {QUESTION}")
    # the passages: each labelled with its citation's number, each a stretch of its note holding the quote
    blocks = re.findall(r"^\[(\d+)\] (.*)\n\(from the note \"(.*)\"\)$", last, flags=re.MULTILINE)
    assert {int(n) for n, _, _ in blocks} == {c.n for c in answer.citations}
    for n, text, title in blocks:
        cited = [c for c in answer.citations if c.n == int(n)]
        note = bot.library.note(cited[0].note_id)
        assert title == note.title
        assert text in " ".join(note.text.split())
        assert any(" ".join(c.quote.split()) in text for c in cited)
    # and nothing else: the message is exactly the passages and the question
    rebuilt = "Passages:\n\n" + "\n\n".join(f'[{n}] {t}\n(from the note "{ti}")' for n, t, ti in blocks)
    assert last == f"{rebuilt}\n\nQuestion: {QUESTION}"


# --- streaming -------------------------------------------------------------------------------------

def test_ask_stream_gives_a_step_per_checked_sentence_then_the_answer(llm, bot):  # noqa: F811
    bad = "LLMs give solution-focused advice in 73% of emotional disclosures [1]."
    llm.script({"reply": f"{FAITHFUL[0]} {bad} {FAITHFUL[1]}", "chunk": 5})
    steps = list(bot.ask_stream(QUESTION))
    assert steps[0].writing and steps[0].checked is None and steps[0].answer.answer == ""
    assert steps[0].answer.citations  # the quotes are known before the LLM writes
    checked = [s.checked for s in steps if s.checked is not None]
    assert [type(c).__name__ for c in checked] == ["AnswerSentence", "DroppedSentence", "AnswerSentence"]
    kept_counts = [len(s.answer.sentences) for s in steps[1:-1]]
    assert kept_counts == [1, 1, 2]
    assert "73%" not in "".join(s.answer.answer for s in steps)  # a dropped sentence is never shown
    assert steps[-1].done and not any(s.done for s in steps[:-1])
    assert steps[-1].answer.mode == "synthesized" and len(steps[-1].answer.sentences) == 2


def test_without_an_llm_nothing_changes(synth_runtime, llm):  # noqa: F811
    from bot.service import Bot

    plain = Bot(synth_runtime.bot.settings.model_copy(update={"llm_url": None}), synth_runtime.bot.index)
    assert plain.synthesizer is None
    answer = plain.ask(QUESTION)
    assert answer == answer_question(plain.index, QUESTION)
    assert answer.mode == "extractive" and answer.sentences == [] and answer.dropped == []
    assert answer.fallback_reason is None
    steps = list(plain.ask_stream(QUESTION))
    assert len(steps) == 1 and steps[0].done and steps[0].answer == answer
    assert llm.requests() == []


def test_bot_ask_synthesizes_when_bot_llm_url_is_set(llm, tmp_path, monkeypatch):  # noqa: F811
    """The top-level `bot.ask`, configured by the environment alone."""
    import bot

    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "warmth.md").write_text("# Warmth and truth\n\nTraining models for warmth raised their error "
                                     "rates by 10 to 30 percentage points on factual questions.\n")
    monkeypatch.setenv("BOT_NOTES_DIR", str(notes))
    monkeypatch.setenv("BOT_LLM_URL", llm.url)
    monkeypatch.setenv("BOT_LLM_MODEL", MODEL)
    monkeypatch.setenv("BOT_LLM_API_KEY", KEY)
    llm.script({"reply": "Warmth training made models err more often on factual questions, by 10 to 30 points [1]."})
    answer = bot.ask("Does training for warmth make models less accurate?")
    assert answer.mode == "synthesized", answer.fallback_reason
    assert answer.sentences[0].citations == [1] and answer.citations[0].note_id == "warmth-and-truth"
