"""The quote picker (pure): exact spans, pairs of neighbours, the 400-character limit."""

from __future__ import annotations

import doctest

import numpy as np

import bot.query.quotes
from bot.query.quotes import MAX_QUOTE_CHARS, QuoteParams, best_clause_window, pick_quotes
from bot.notes.sentences import split_sentences


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
