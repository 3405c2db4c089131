"""The messages an LLM is sent, and how a quote is widened into a passage (pure, on a real seed page)."""

from __future__ import annotations

from bot.query.compose import NOT_ADDRESSED
from bot.notes.formats.seed import parse_seed_page
from bot.notes.sentences import split_sentences
from bot.synthesis.prompt import ABSTENTION, SYSTEM_PROMPT, Passage, Turn, build_messages, widen_span

from ..conftest import SEEDS


def test_the_abstention_phrase_is_the_bots():
    assert ABSTENTION == NOT_ADDRESSED
    assert SYSTEM_PROMPT.endswith(f"reply with exactly: {ABSTENTION}")


def test_messages_hold_the_instructions_the_recent_turns_the_passages_and_the_question():
    passages = [Passage(1, "Warm models were\n10-30% less reliable.", "Warmth and truth"),
                Passage(2, "Scaffolds shape empathy.")]
    history = [Turn(f"question {i}", f"answer {i}") for i in range(5)]
    messages = build_messages("Does warmth hurt?", passages, history, history_turns=3)
    assert [m["role"] for m in messages] == ["system"] + ["user", "assistant"] * 3 + ["user"]
    assert messages[0]["content"] == SYSTEM_PROMPT
    assert [m["content"] for m in messages[1:7]] == [
        "question 2", "answer 2", "question 3", "answer 3", "question 4", "answer 4"]
    last = messages[-1]["content"]
    assert last == ("Passages:\n\n[1] Warm models were 10-30% less reliable.\n(from the note \"Warmth and truth\")"
                    "\n\n[2] Scaffolds shape empathy.\n\nQuestion: Does warmth hurt?")
    assert "ends with" not in last  # the rules live in the system message only
    assert "[1][3]" in SYSTEM_PROMPT and "square brackets" in SYSTEM_PROMPT


def test_no_history_when_zero_turns_are_asked_for():
    messages = build_messages("Q?", [Passage(1, "A.")], [Turn("old", "older")], history_turns=0)
    assert [m["role"] for m in messages] == ["system", "user"]


def test_an_earlier_answer_is_sent_as_plain_text_without_its_links_and_numbers():
    extractive = ("Two notes address this:\n\n> Persona training for warmth raised error rates. "
                  "[[1]](/notes/warmth?hl=10-60#hl)\n\n**Sources:** [1] [Warmth](/notes/warmth)")
    messages = build_messages("And empathy?", [Passage(1, "A.")], [Turn("Does warmth hurt?", extractive)])
    assert messages[2]["content"] == "Two notes address this: Persona training for warmth raised error rates."
    long = build_messages("Q?", [], [Turn("q", "word " * 400)], turn_max_chars=100)[2]["content"]
    assert len(long) <= 102 and long.endswith(" …")


def test_no_passages_says_so():
    assert build_messages("Q?", [])[-1]["content"] == "Passages: none were found.\n\nQuestion: Q?"


def test_a_quote_widens_to_whole_neighbouring_sentences_within_the_cap():
    page = (SEEDS / "000_13d96628cd244b35.txt").read_text()
    note = parse_seed_page(page, "000_13d96628cd244b35.txt")
    spans = split_sentences(note.text, protected=note.own_titles())
    quote = spans[5]
    start, end = widen_span(quote, spans, max_chars=600)
    assert start <= quote[0] and end >= quote[1] and end - start <= 600
    assert (start, end) != quote  # it did grow
    assert start in {s for s, _ in spans} and end in {e for _, e in spans}  # whole sentences
    # one sentence further either way would have broken the cap
    before = [s for s, e in spans if e <= start]
    after = [e for s, e in spans if s >= end]
    assert not before or end - before[-1] > 600
    assert not after or after[0] - start > 600


def test_a_quote_longer_than_the_cap_is_never_cut():
    spans = [(0, 10), (11, 400), (401, 420)]
    assert widen_span((11, 400), spans, max_chars=100) == (11, 400)
    assert widen_span((15, 30), spans, max_chars=100) == (15, 30)  # its sentence alone is too long
    assert widen_span((11, 400), spans, max_chars=410) == (0, 400)  # one before fits, then nothing more


def test_widening_stays_within_bounds():
    spans = [(0, 10), (11, 20), (21, 30), (31, 40)]
    assert widen_span((11, 20), spans, max_chars=100, within=(11, 30)) == (11, 30)
