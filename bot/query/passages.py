"""The one passage path: a note's best passages for a question, as exact spans of its text.

    terms = QueryTerms.of(snapshot, snapshot.lexical.weights(tokenize(question)), question)
    quotes = note_passages(snapshot, row, vector, terms, best_chunk)    # best first
    snapshot.notes[row].text[quotes[0].start:quotes[0].end]           # the passage, verbatim

The chat's answer (`evidence.note_evidence`), `bot.ask`, `/api/search` and the note pages
all pick passages here, so the same question shows the same passage of a note everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..index.lexical import query_ids, row_sums
from ..index.snapshot import Snapshot
from .quotes import DEFAULT_QUOTE_PARAMS, Quote, QuoteParams, asks_question, pick_quotes, sentence_terms


@dataclass(frozen=True)
class QueryTerms:
    """The question's term weights as ids of the snapshot's term table, worked out once a question."""

    weights: dict[str, float]
    ids: np.ndarray  # sorted
    id_weights: np.ndarray
    by_id: dict[int, float]
    total: float
    asks: bool = False  # the query is a question (`quotes.asks_question`): its answer may follow a restatement

    @classmethod
    def of(cls, snapshot: Snapshot, weights: dict[str, float], query: str = "") -> QueryTerms:
        ids, id_weights = query_ids(snapshot.terms, weights)
        return cls(weights, ids, id_weights, dict(zip(ids.tolist(), id_weights.tolist())),
                   sum(weights.values()) or 1.0, asks_question(query))


def note_passages(snapshot: Snapshot, row: int, vector: np.ndarray, terms: QueryTerms,
                  best_chunk: int | None = None, *, limit: int = 2,
                  params: QuoteParams = DEFAULT_QUOTE_PARAMS) -> list[Quote]:
    """The best non-overlapping passages of note `row` for a question (its vector and terms),
    best first; `best_chunk` is the row of the note's best-matching chunk, when known."""
    note = snapshot.notes[row]
    rows = snapshot.sentences_of(row)
    spans = [
        (int(snapshot.sentence_start[r]), int(snapshot.sentence_end[r]), bool(snapshot.sentence_quotable[r]))
        for r in rows
    ]
    chunk_span = None
    if best_chunk is not None:
        chunk_span = (int(snapshot.chunk_start[best_chunk]), int(snapshot.chunk_end[best_chunk]))
    lexical = row_sums(snapshot.sentence_term_ptr, snapshot.sentence_term_ids, np.arange(rows.start, rows.stop),
                       terms.ids, terms.id_weights) / terms.total
    return pick_quotes(note.text, spans, snapshot.sentence_vectors[rows.start:rows.stop], vector,
                       terms.weights, chunk_span, limit=limit, params=params,
                       note_vector=snapshot.note_vectors[row], lexical=lexical, asks=terms.asks)


def passage_coverage(snapshot: Snapshot, rows: range, quote: Quote, text: str, terms: QueryTerms) -> float:
    """`term_coverage` of a quoted passage: from the term table when it is whole sentences."""
    inside = [r for r in rows if snapshot.sentence_start[r] >= quote.start and snapshot.sentence_end[r] <= quote.end]
    if not inside:  # part of one long sentence (a clause window): tokenize it
        return term_coverage(text[quote.start:quote.end], terms.weights)
    ptr = snapshot.sentence_term_ptr
    held = set(snapshot.sentence_term_ids[ptr[inside[0]]:ptr[inside[-1] + 1]].tolist())
    return sum(w for term, w in terms.by_id.items() if term in held) / terms.total


def term_coverage(passage: str, weights: dict[str, float]) -> float:
    """Share of the question's term weight found in the passage (pure).

        >>> term_coverage("RLVER uses emotion rewards.", {"rlver": 3.0, "what": 0.0, "emot": 1.0})
        1.0
    """
    total = sum(weights.values())
    if total <= 0:
        return 0.0
    present = sentence_terms(passage)
    return sum(w for t, w in weights.items() if t in present) / total
