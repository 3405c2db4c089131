"""Ranking pieces (pure): title match, fusion modes, RRF, MMR, filters."""

from __future__ import annotations

import doctest

import numpy as np
import pytest

import bot.query.retrieval
from bot.index.lexical import tokenize
from bot.errors import FilterError
from bot.query.retrieval import Filters, NoteFeatures, NoteHit, RetrievalParams, mmr, score_notes, title_match


def features(**values):
    n = len(next(iter(values.values())))
    base = {name: np.zeros(n, np.float32) for name in
            ("dense", "dense_second", "lexical", "note_cos", "sentence_cos", "title")}
    base.update({k: np.asarray(v, dtype=np.float32) for k, v in values.items() if k in base})
    return NoteFeatures(
        rows=np.arange(n), chunks=[[i] for i in range(n)],
        dense_rank=np.asarray(values.get("dense_rank", [np.inf] * n), dtype=float),
        lexical_rank=np.asarray(values.get("lexical_rank", [np.inf] * n), dtype=float), **base,
    )


def test_doctests():
    assert doctest.testmod(bot.query.retrieval).failed == 0


def test_title_match_is_one_for_the_title_and_zero_for_a_loose_mention():
    title = "Do LLM therapists respond to emotions like low-quality human therapists?"
    assert title_match(set(tokenize(title)), title) == 1.0
    assert title_match(set(tokenize("therapists and emotions in general practice")), title) == 0.0
    assert title_match(set(), title) == 0.0


def test_single_retriever_baselines_use_only_their_own_scores():
    f = features(dense=[0.9, 0.5, 0.1], lexical=[0.0, 3.0, 9.0])
    assert np.argmax(score_notes(f, RetrievalParams(fusion="dense"))) == 0
    assert np.argmax(score_notes(f, RetrievalParams(fusion="lexical"))) == 2


def test_rrf_rewards_agreement():
    f = features(dense=[0, 0, 0], dense_rank=[0, 1, np.inf], lexical_rank=[5, 0, 1])
    scores = score_notes(f, RetrievalParams(fusion="rrf", rrf_k=60))
    assert list(np.argsort(-scores)) == [1, 0, 2]
    assert scores[1] == pytest.approx(1 / 62 + 1 / 61)


def test_weighted_fusion_and_title_bonus():
    f = features(dense=[0.8, 0.7], lexical=[5.0, 4.0], title=[0.0, 1.0])
    assert np.argmax(score_notes(f, RetrievalParams(title_weight=0.0))) == 0
    assert np.argmax(score_notes(f, RetrievalParams(title_weight=5.0))) == 1


def test_unknown_fusion_is_refused():
    with pytest.raises(ValueError, match="fusion must be one of"):
        RetrievalParams(fusion="max")


def test_mmr_skips_a_near_duplicate():
    vectors = np.asarray([[1, 0], [1, 0.01], [0, 1]], dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    hits = [NoteHit(row=i, note_id=str(i), score=s) for i, s in enumerate([1.0, 0.99, 0.8])]
    assert [h.note_id for h in mmr(hits, vectors, 2, diversity=0.5)] == ["0", "2"]
    assert [h.note_id for h in mmr(hits, vectors, 2, diversity=0.0)] == ["0", "1"]


def test_filters_parse_and_explain():
    assert not Filters.parse(None) and not Filters.parse({})
    f = Filters.parse({"kinds": ["note"], "tags": "ml", "note_ids": ["a", "b"]})
    assert f.tags == ("ml",)
    assert f.chroma_where() == {"$and": [{"kind": {"$in": ["note"]}}, {"tags": {"$contains": "ml"}},
                                         {"note_id": {"$in": ["a", "b"]}}]}
    with pytest.raises(FilterError, match="unknown filter 'kind'"):
        Filters.parse({"kind": ["note"]})
    with pytest.raises(FilterError, match="must be a list of strings"):
        Filters.parse({"tags": [1]})


@pytest.mark.integration
def test_tag_kind_and_id_filters_hold_in_dense_and_lexical_search(tmp_path, embedder):
    from bot.service import Bot
    from bot.query.retrieval import dense_search, lexical_search
    from bot.settings import Settings

    notes = tmp_path / "notes"
    notes.mkdir()
    for name, tags, body in [
        ("bees", "[ecology, insects]", "Neonicotinoids reduce the foraging success of bumblebee colonies."),
        ("glaciers", "[climate]", "Alpine glaciers lost a third of their volume since 1980."),
        ("wasps", "[insects]", "Wasps forage less when pesticides are sprayed nearby."),
    ]:
        (notes / f"{name}.md").write_text(f"---\ntitle: {name.title()}\ntags: {tags}\n---\n{body}\n")
    index = Bot.open(Settings(data_dir=tmp_path / "data", notes_dir=str(notes)), progress=False).index
    try:
        snapshot = index.snapshot
        vector = index.embedder.encode_query("pesticides and foraging")

        def notes_of(rows):
            return {snapshot.notes[snapshot.chunk_note[r]].id for r in rows}

        for filters, expected in [
            (Filters.parse({"tags": ["insects"]}), {"bees", "wasps"}),
            (Filters.parse({"tags": ["climate"]}), {"glaciers"}),
            (Filters.parse({"note_ids": ["wasps"]}), {"wasps"}),
            (Filters.parse({"kinds": ["note"], "tags": ["ecology", "climate"]}), {"bees", "glaciers"}),
        ]:
            dense_rows, _ = dense_search(index, snapshot, vector, filters, 10)
            assert notes_of(dense_rows) == expected, filters
            lexical_rows, _ = lexical_search(snapshot, "pesticides foraging glaciers bumblebee", filters, 10)
            assert notes_of(lexical_rows) <= expected and notes_of(lexical_rows), filters
        dense_rows, _ = dense_search(index, snapshot, vector, Filters.parse({"kinds": ["inquiry"]}), 10)
        assert len(dense_rows) == 0
    finally:
        index.close()
