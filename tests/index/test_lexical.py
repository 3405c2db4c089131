"""BM25 over chunks and the tokenizer query weighting shares; the term tables snapshots keep."""

from __future__ import annotations

import numpy as np
import pytest

from bot.index.lexical import LexicalIndex, query_ids, range_positions, row_sums, term_table, tokenize

TEXTS = [
    "Warmth training makes language models less reliable on factual questions.",
    "Reasoning scaffolds reshape which empathy skills models develop.",
    "Reinforcement learning teaches models when to reason, not how.",
    "The cat sat on the mat.",
]


@pytest.fixture(scope="module")
def index() -> LexicalIndex:
    return LexicalIndex.build(TEXTS)


def test_tokens_are_lowercased_stemmed_and_without_stop_words():
    assert tokenize("The Models are TRAINED for warmth") == ["model", "train", "warmth"]
    assert tokenize("a I x") == []  # one-letter words and stop words are dropped
    assert tokenize("") == []
    assert tokenize("Empathy, empathic; empathise!") == ["empathi", "empath", "empathis"]


def test_search_ranks_the_text_sharing_the_rarest_terms_first(index):
    rows, scores = index.search("does warmth training hurt reliability?", k=3)
    assert int(rows[0]) == 0
    assert list(scores) == sorted(scores, reverse=True) and (scores > 0).all()


def test_search_returns_only_rows_with_a_positive_score(index):
    rows, scores = index.search("empathy", k=10)
    assert rows.tolist() == [1] and len(scores) == 1


def test_a_query_of_unknown_or_stop_words_finds_nothing(index):
    for query in ("quantum chromodynamics", "the of and", ""):
        rows, scores = index.search(query, k=5)
        assert rows.size == 0 and scores.size == 0
        assert not index.scores(query).any() and index.scores(query).shape == (len(TEXTS),)


def test_a_mask_keeps_only_the_allowed_rows(index):
    mask = np.array([False, True, True, True])
    rows, _ = index.search("models", k=4, mask=mask)
    assert 0 not in rows.tolist() and set(rows.tolist()) <= {1, 2}
    assert index.scores("warmth", mask)[0] == 0.0


def test_weights_are_idf_and_unknown_terms_weigh_like_the_rarest(index):
    weights = index.weights(["model", "warmth", "zebra"])
    assert weights["warmth"] > weights["model"]  # in one text against three
    assert weights["zebra"] == pytest.approx(float(index.idf.max()))


def test_an_index_of_empty_texts_still_builds_and_finds_nothing():
    empty = LexicalIndex.build(["", "the and of"])
    assert empty.size == 2 and empty.search("anything", k=3)[0].size == 0


def test_save_and_load_give_the_same_scores(index, tmp_path):
    index.save(tmp_path / "lexical")
    loaded = LexicalIndex.load(tmp_path / "lexical")
    assert loaded.size == index.size and loaded.vocab == index.vocab
    assert np.array_equal(loaded.idf, index.idf)
    for query in ("warmth training", "empathy skills models", "cat"):
        assert np.allclose(loaded.scores(query), index.scores(query))


def test_a_term_table_holds_each_texts_distinct_terms_as_ids():
    terms: dict[str, int] = {}
    ptr, ids = term_table(["Warmth training hurts.", "Training, training and the training", ""], terms)
    assert ptr.tolist() == [0, 3, 4, 4]  # the repeated term counted once; the empty text has none
    assert [sorted(k for k, v in terms.items() if v in ids[ptr[i]:ptr[i + 1]]) for i in range(3)] == [
        ["hurt", "train", "warmth"], ["train"], []]
    more_ptr, more_ids = term_table(["warmth again"], terms)  # ids are shared with the table it extends
    assert terms["warmth"] in more_ids.tolist() and len(terms) == 4


def test_row_sums_add_the_weights_of_the_query_terms_each_row_holds():
    terms: dict[str, int] = {}
    ptr, ids = term_table(["warmth training", "empathy", "warmth empathy training"], terms)
    qids, qweights = query_ids(terms, {"warmth": 2.0, "empathi": 0.5, "unknown": 9.0})
    assert qids.tolist() == sorted(qids.tolist()) and len(qids) == 2  # the unknown term can match nothing
    assert row_sums(ptr, ids, np.array([0, 1, 2]), qids, qweights).tolist() == [2.0, 0.5, 2.5]
    assert row_sums(ptr, ids, np.array([2, 0]), qids, qweights).tolist() == [2.5, 2.0]  # any order of rows
    nothing = query_ids(terms, {})
    assert row_sums(ptr, ids, np.array([0, 1]), *nothing).tolist() == [0.0, 0.0]


def test_range_positions_lay_ranges_end_to_end():
    positions, bounds = range_positions(np.array([5, 0, 9]), np.array([2, 3, 0]))
    assert positions.tolist() == [5, 6, 0, 1, 2] and bounds.tolist() == [0, 2, 5, 5]


def test_doctests():
    import doctest

    import bot.index.lexical

    result = doctest.testmod(bot.index.lexical)
    assert result.failed == 0 and result.attempted > 0
