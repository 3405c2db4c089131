"""Search: the notes that best match a query, each with its best passages (no answer composed).

    >>> results = search_notes(index, "warmth training and reliability", k=5)   # doctest: +SKIP
    >>> results[0].note.title, results[0].passages[0].text                      # doctest: +SKIP
    ('Does empathy training make AI systems less reliable?', 'Persona training for warmth ...')

The ranking is the answer layer's first stages (dense search in Chroma plus BM25, fused
per note); a note's passages are picked by the one passage path (`passages.note_passages`),
the same function that picks the chat's quotes, each with the link that opens the note with
the passage highlighted.
"""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, Field

from ..index.lexical import tokenize
from ..index.served import Index
from ..index.snapshot import Snapshot
from ..urls import passage_url
from .answer import check_question
from .library import NoteSummary, note_summary
from .passages import QueryTerms, note_passages
from .retrieval import Filters, NoteHit, first_stage, rank_notes

PASSAGES_PER_NOTE = 2


class Passage(BaseModel):
    """A passage of a note (one or two sentences): `text == note.text[start:end]`."""

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
    hits = rank_notes(snapshot, candidates, vector, question=query)[:k]
    terms = QueryTerms.of(snapshot, snapshot.lexical.weights(list(dict.fromkeys(tokenize(query)))), query)
    return [
        SearchHit(note=note_summary(snapshot.notes[hit.row]), score=round(float(hit.score), 4),
                  passages=best_passages(snapshot, hit, vector, terms))
        for hit in hits
    ]


def best_passages(snapshot: Snapshot, hit: NoteHit, vector: np.ndarray, terms: QueryTerms,
                  n: int = PASSAGES_PER_NOTE) -> list[Passage]:
    """The note's `n` best passages for the query, best first (the chat's own choice of quotes)."""
    note = snapshot.notes[hit.row]
    best_chunk = hit.chunks[0] if hit.chunks else None
    return [
        Passage(text=note.text[q.start:q.end], start=q.start, end=q.end, url=passage_url(note.id, q.start, q.end),
                score=round(q.score, 4))
        for q in note_passages(snapshot, hit.row, vector, terms, best_chunk, limit=n)
    ]
