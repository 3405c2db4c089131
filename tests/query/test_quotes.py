"""The quote picker (pure): exact spans, pairs of neighbours, the 400-character limit."""

from __future__ import annotations

import doctest
from pathlib import Path

import numpy as np
import pytest

import bot.query.quotes
from bot.index.lexical import tokenize
from bot.notes.sentences import split_sentences
from bot.query.quotes import (MAX_QUOTE_CHARS, QuoteParams, asks_question, best_clause_window, pair_allowed,
                              pick_quotes)

SEEDS = Path(__file__).resolve().parents[2] / "seeds"
# The picker as it was before tight quotes: any neighbour could join, any sentence could lead.
ANY_PAIR = QuoteParams(lead_share=0.0, follow_share=0.0, follow_share_question=0.0)


def spans_of(text):
    return [(s, e, True) for s, e in split_sentences(text)]


def unit(*values):
    v = np.asarray(values, dtype=np.float32)
    return v / np.linalg.norm(v)


def test_doctests():
    assert doctest.testmod(bot.query.quotes).failed == 0


def test_best_sentence_with_a_close_neighbour_becomes_a_pair():
    text = "Background first. Warmth training hurt accuracy. It hurt most for sad users. Unrelated end."
    spans = spans_of(text)
    q = unit(1, 0, 0)
    vectors = np.stack([unit(0, 1, 0), unit(1, 0.1, 0), unit(0.9, 0.3, 0), unit(0, 0, 1)])
    quote = pick_quotes(text, spans, vectors, q, {})[0]
    assert text[quote.start:quote.end] == "Warmth training hurt accuracy. It hurt most for sad users."
    single = pick_quotes(text, spans, vectors, q, {}, params=QuoteParams(pair_cost=1.0))[0]
    assert text[single.start:single.end] == "Warmth training hurt accuracy."


def test_pairs_never_cross_a_paragraph():
    text = "Warmth training hurt accuracy.\nIt hurt most for sad users."
    vectors = np.stack([unit(1, 0), unit(1, 0.05)])
    quote = pick_quotes(text, spans_of(text), vectors, unit(1, 0), {})[0]
    assert "\n" not in text[quote.start:quote.end]


def test_unquotable_sentences_are_never_picked():
    text = "# Heading about warmth\nWarmth is studied here."
    spans = [(0, 22, False), (23, 46, True)]
    quote = pick_quotes(text, spans, np.stack([unit(1, 0), unit(0.5, 0.5)]), unit(1, 0), {})[0]
    assert (quote.start, quote.end) == (23, 46)


def test_over_long_sentence_is_cut_to_its_best_clauses():
    text = ("Filler words keep going on and on, " * 8) + "and warmth training hurt reliability badly, " + (
        "more filler follows here, " * 8) + "end."
    spans = [(0, len(text), True)]
    quote = pick_quotes(text, spans, np.stack([unit(1, 0)]), unit(1, 0), {"warmth": 2.0, "reliabl": 1.0})[0]
    assert quote.end - quote.start <= MAX_QUOTE_CHARS
    assert "warmth training hurt reliability" in text[quote.start:quote.end]
    assert text[quote.start:quote.end] == text[quote.start:quote.end].strip()


def test_clause_window_keeps_short_sentences_whole():
    assert best_clause_window("Short one.", 0, 10, {}) == (0, 10)


def test_second_passage_does_not_overlap_the_first():
    text = "A warmth finding. B unrelated. C another warmth finding. D unrelated."
    vectors = np.stack([unit(1, 0), unit(0, 1), unit(0.95, 0.3), unit(0, 1)])
    quotes = pick_quotes(text, spans_of(text), vectors, unit(1, 0), {}, params=QuoteParams(pair_cost=1.0))
    assert len(quotes) == 2
    assert quotes[0].end <= quotes[1].start or quotes[1].end <= quotes[0].start


def test_a_weak_neighbour_does_not_join_when_a_pair_must_earn_its_place():
    text = "Warmth training hurt accuracy. The weather was fine."
    vectors = np.stack([unit(1, 0), unit(0, 1)])
    quote = pick_quotes(text, spans_of(text), vectors, unit(1, 0), {}, params=QuoteParams(pair_cost=0.05))[0]
    assert text[quote.start:quote.end] == "Warmth training hurt accuracy."


def test_specific_sentence_beats_the_notes_summary_sentence():
    text = "Warmth training is studied. Warmth training raised medical errors by nine points."
    note_vector = unit(1, 0, 0)
    vectors = np.stack([unit(1, 0, 0.25), unit(0.6, 0, 0.8)])
    query = unit(0.9, 0, 0.44)
    plain = pick_quotes(text, spans_of(text), vectors, query, {}, params=QuoteParams(focus=0.0, pair_cost=1.0))
    focused = pick_quotes(text, spans_of(text), vectors, query, {}, params=QuoteParams(pair_cost=1.0),
                          note_vector=note_vector)
    assert text[plain[0].start:plain[0].end] == "Warmth training is studied."
    assert text[focused[0].start:focused[0].end] == "Warmth training raised medical errors by nine points."


# --- tight quotes: a second sentence earns its place --------------------------------------------

FILLER_THEN_EVIDENCE = "That is what the evidence does. RLVER rewards the user's emotional trajectory."


def test_a_sentence_without_the_questions_content_never_leads_the_evidence():
    vectors = np.stack([unit(0.3, 1, 0), unit(1, 0.2, 0)])
    spans = spans_of(FILLER_THEN_EVIDENCE)
    for asks in (False, True):
        quote = pick_quotes(FILLER_THEN_EVIDENCE, spans, vectors, unit(1, 0, 0), {"rlver": 1.0}, asks=asks)[0]
        assert FILLER_THEN_EVIDENCE[quote.start:quote.end] == "RLVER rewards the user's emotional trajectory."
    before = pick_quotes(FILLER_THEN_EVIDENCE, spans, vectors, unit(1, 0, 0), {"rlver": 1.0}, params=ANY_PAIR)[0]
    assert FILLER_THEN_EVIDENCE[before.start:before.end] == FILLER_THEN_EVIDENCE


RESTATED_THEN_ANSWER = "Two models were trained under identical emotion rewards. The scaffolded one developed insight."


def test_the_next_sentence_joins_after_a_question_but_not_after_a_claim():
    # The first sentence restates what is asked; the answer follows, in other words.
    vectors = np.stack([unit(1, 0.1, 0), unit(0.4, 0, 1)])
    spans = spans_of(RESTATED_THEN_ANSWER)
    query = unit(1, 0, 0)
    asked = pick_quotes(RESTATED_THEN_ANSWER, spans, vectors, query, {}, asks=True)[0]
    stated = pick_quotes(RESTATED_THEN_ANSWER, spans, vectors, query, {}, asks=False)[0]
    assert RESTATED_THEN_ANSWER[asked.start:asked.end] == RESTATED_THEN_ANSWER
    assert RESTATED_THEN_ANSWER[stated.start:stated.end] == "Two models were trained under identical emotion rewards."
    # Either way the passage's score is its best sentence's, so the note ranks the same.
    assert asked.score == stated.score


def test_pair_allowed_compares_each_sentence_with_the_other():
    params = QuoteParams(lead_share=0.5, follow_share=0.5, follow_share_question=0.1)
    assert pair_allowed(0.4, 0.5, params) and pair_allowed(0.5, 0.4, params)  # two halves of one finding
    assert not pair_allowed(0.2, 0.5, params)  # a weak lead
    assert not pair_allowed(0.5, 0.2, params) and pair_allowed(0.5, 0.2, params, asks=True)
    assert not pair_allowed(0.5, 0.01, params, asks=True)
    assert pair_allowed(0.001, 0.9, ANY_PAIR) and pair_allowed(0.9, 0.0, ANY_PAIR, asks=True)


@pytest.mark.parametrize("query, asks", [
    ("What signal does RLVER use as its reward?", True),
    ("why is that", True),
    ("Does warmth training make models less reliable", True),
    ('"How" is a word', True),
    ("RLVER reward signal", False),
    ("Warmth training makes language models less reliable.", False),
    ("0-dimensional biomaterials lack inductive properties.", False),
    ("", False),
])
def test_asks_question(query, asks):
    assert asks_question(query) is asks


@pytest.mark.integration
def test_the_rlver_quote_starts_at_the_evidence_on_the_seed_page(embedder):
    """Issue 11's example on the real seed paragraph, with the real model's vectors."""
    page = (SEEDS / "003_9588276566671a77.txt").read_text(encoding="utf-8")
    paragraph = next(line for line in page.splitlines() if line.startswith("That's what the most direct"))
    spans = spans_of(paragraph)
    vectors = embedder.encode([paragraph[a:b] for a, b, _ in spans])
    question = "What signal does RLVER use as its reward?"
    weights = {term: 1.0 for term in tokenize(question)}
    for params in (QuoteParams(), ANY_PAIR):
        quote = pick_quotes(paragraph, spans, vectors, embedder.encode_query(question), weights, params=params,
                            asks=True)[0]
        text = paragraph[quote.start:quote.end]
        assert "simulated user's emotional trajectory as the reward signal" in text
        assert text.startswith("RLVER uses") == (params == QuoteParams()), text
