"""The one passage path: a note's best passages for a question, as exact spans of its text.

    terms = QueryTerms.of(snapshot, snapshot.lexical.weights(tokenize(question)), question)
    quotes = note_passages(snapshot, row, vector, terms, best_chunk)    # best first
    snapshot.notes[row].text[quotes[0].start:quotes[0].end]           # the passage, verbatim

The chat's answer (`evidence.note_evidence`), `bot.ask`, `/api/search` and the note pages
all pick passages here, so the same question shows the same passage of a note everywhere.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from ..index.lexical import query_ids, row_sums
from ..index.snapshot import Snapshot
from ..index.lexical import tokenize
from .asks import asked_for, asked_section, subject
from .quotes import DEFAULT_QUOTE_PARAMS, Quote, QuoteParams, asks_question, pick_quotes, sentence_terms


@dataclass(frozen=True)
class QueryTerms:
    """The question's term weights as ids of the snapshot's term table, worked out once a question."""

    weights: dict[str, float]
    ids: np.ndarray  # sorted
    id_weights: np.ndarray
    by_id: dict[int, float]
    total: float
    shape: re.Pattern[str] | None = None  # what the answer must hold (an arXiv id, a year): `asks.asked_for`
    subject: dict[str, float] | None = None  # a shaped question's other terms and weights (`asks.subject`)
    sections: tuple[str, ...] = ()  # the parts of a note the question names (`asks.asked_section`)

    asks: bool = False  # the query is a question (`quotes.asks_question`): its answer may follow a restatement

    @classmethod
    def of(cls, snapshot: Snapshot, weights: dict[str, float], question: str = "") -> QueryTerms:
        """The question's term weights; from the `question` itself, the shape of answer it asks for."""
        ids, id_weights = query_ids(snapshot.terms, weights)
        shape = asked_for(question)
        about = None
        if shape is not None:
            about = {term: weights[term] for term in tokenize(subject(question)) if term in weights}
        return cls(weights, ids, id_weights, dict(zip(ids.tolist(), id_weights.tolist())),
                   sum(weights.values()) or 1.0, shape, about, asked_section(question), asks_question(question))


def note_passages(snapshot: Snapshot, row: int, vector: np.ndarray, terms: QueryTerms,
                  best_chunk: int | None = None, *, limit: int = 2,
                  params: QuoteParams = DEFAULT_QUOTE_PARAMS,
                  exclude: Sequence[tuple[int, int]] = ()) -> list[Quote]:
    """The best non-overlapping passages of note `row` for a question (its vector and terms),
    best first; `best_chunk` is the row of the note's best-matching chunk, when known.

    `exclude` are spans of the note not to quote again (a follow-up's already shown passages):
    no sentence overlapping one of them is picked."""
    note = snapshot.notes[row]
    rows = snapshot.sentences_of(row)
    spans = [
        (int(snapshot.sentence_start[r]), int(snapshot.sentence_end[r]), bool(snapshot.sentence_quotable[r]))
        for r in rows
    ]
    if exclude:
        spans = [(a, b, quotable and not any(a < end and start < b for start, end in exclude))
                 for a, b, quotable in spans]
    if note.link_spans:  # a line that only names another note points at it; it says nothing itself
        spans = [(s, e, q and (not _points(note, s, e) or _section_name(note, s) in terms.sections))
                 for s, e, q in spans]
    if terms.sections:  # "... in the research prompt?": from that part of the note, when it has one
        named = [(s, e, q and _section_name(note, s) in terms.sections) for s, e, q in spans]
        if any(q for _, _, q in named):
            spans = named
    shaped = False
    if terms.shape is not None:  # "what is the arXiv id ...": among the sentences holding one, if any
        only = [(s, e, q and terms.shape.search(note.text, s, e) is not None) for s, e, q in spans]
        if any(q for _, _, q in only):
            spans, shaped = only, True
    chunk_span = None
    if best_chunk is not None:
        chunk_span = (int(snapshot.chunk_start[best_chunk]), int(snapshot.chunk_end[best_chunk]))
    weights = terms.subject if shaped and terms.subject else None
    if weights is None:
        lexical = row_sums(snapshot.sentence_term_ptr, snapshot.sentence_term_ids, np.arange(rows.start, rows.stop),
                           terms.ids, terms.id_weights) / terms.total
    else:  # a shaped question is matched on its subject: the line about "RLVER", not any arXiv id
        ids, id_weights = query_ids(snapshot.terms, weights)
        lexical = row_sums(snapshot.sentence_term_ptr, snapshot.sentence_term_ids, np.arange(rows.start, rows.stop),
                           ids, id_weights) / (sum(weights.values()) or 1.0)
    quotes = pick_quotes(note.text, spans, snapshot.sentence_vectors[rows.start:rows.stop], vector,
                         terms.weights, chunk_span, limit=limit, params=params,
                         note_vector=snapshot.note_vectors[row], lexical=lexical, asks=terms.asks)
    if weights is not None:
        # The model reads "arXiv:2507.03112" and "RLVER" poorly: a line of the asked-for shape
        # matches the question as well as it holds the question's subject ("RLVER").
        quotes = [replace(q, similarity=max(q.similarity, term_coverage(note.text[q.start:q.end], weights)))
                  for q in quotes]
    return quotes


_LIST_MARK = " \t-•*"


def _points(note, start: int, end: int) -> bool:
    """The sentence is nothing but another note's title (an entry of a Sources list, an inquiring
    line): quoted only when the question asks for that list, else it would answer a question
    that names the title with the title itself."""
    for span in note.link_spans:
        if span.start >= end:
            break
        if (span.start >= start and span.end <= end and not note.text[start:span.start].strip(_LIST_MARK)
                and not note.text[span.end:end].strip(" .")):
            return True
    return False


def _section_name(note, position: int) -> str:
    section = note.section_at(position)
    return section.name if section is not None else ""


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
