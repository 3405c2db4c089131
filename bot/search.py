"""Search: the notes that best match a query, each with its best passages (no answer composed).

    >>> results = search_notes(index, "warmth training and reliability", k=5)   # doctest: +SKIP
    >>> results[0].note.title, results[0].passages[0].text                      # doctest: +SKIP
    ('Does empathy training make AI systems less reliable?', 'Persona training for warmth ...')

The ranking is the answer layer's first stages (dense search in Chroma plus BM25, fused
per note); a note's passages are its sentences nearest the query, in the note's own words,
each with the link that opens the note with the passage highlighted.
"""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, Field

from .answer import check_question, note_url
from .index import Index, Snapshot
from .library import NoteSummary
from .retrieval import Filters, first_stage, rank_notes

PASSAGES_PER_NOTE = 2


class Passage(BaseModel):
    """A sentence of a note: `text == note.text[start:end]`."""

    text: str
    start: int
    end: int
    url: str
    score: float


class SearchHit(BaseModel):
    """One matching note, best passages first."""

    note: NoteSummary
    score: float
    passages: list[Passage] = Field(default_factory=list)


def search_notes(index: Index, query: str, k: int = 10, filters: dict | Filters | None = None) -> list[SearchHit]:
    """The `k` notes best matching `query`; raises QuestionError (empty, too long) or FilterError."""
    query = check_question(query, index.settings.max_question_chars)
    parsed = Filters.parse(filters)
    snapshot = index.snapshot  # one version throughout
    vector = index.embedder.encode_query(query)
    candidates = first_stage(index, snapshot, query, vector, parsed, max(index.settings.candidates, k))
    hits = rank_notes(snapshot, candidates, vector)[:k]
    return [
        SearchHit(note=_summary(snapshot, hit.row), score=round(float(hit.score), 4),
                  passages=best_passages(snapshot, hit.row, vector))
        for hit in hits
    ]


def best_passages(snapshot: Snapshot, row: int, vector: np.ndarray, n: int = PASSAGES_PER_NOTE) -> list[Passage]:
    """The note's `n` quotable sentences most similar to the query vector, in ranked order."""
    rows = snapshot.sentences_of(row)
    if not len(rows):
        return []
    similarity = snapshot.sentence_vectors[rows.start:rows.stop].astype(np.float32) @ np.asarray(vector, np.float32)
    quotable = snapshot.sentence_quotable[rows.start:rows.stop]
    similarity = np.where(quotable, similarity, -np.inf)
    note = snapshot.notes[row]
    passages = []
    for i in np.argsort(-similarity, kind="stable")[:n]:
        if not np.isfinite(similarity[i]):
            break
        start, end = int(snapshot.sentence_start[rows.start + i]), int(snapshot.sentence_end[rows.start + i])
        passages.append(Passage(text=note.text[start:end], start=start, end=end,
                                url=f"{note_url(note.id)}?hl={start}-{end}#hl", score=round(float(similarity[i]), 4)))
    return passages


def _summary(snapshot: Snapshot, row: int) -> NoteSummary:
    note = snapshot.notes[row]
    return NoteSummary(id=note.id, title=note.title, kind=note.kind, description=note.description,
                       tags=list(note.tags))
