"""How well each retrieved note's own words answer the question, and the ranking that follows.

    hits, evidence = find_evidence(index, snapshot, query, vector, filters)
    evidence[0].quotes[0]      the best passage of the note to quote first
    evidence[0].score          its evidence score (abstention and margins compare these)

The best `notes_considered` notes are re-ordered by retrieval score plus how well their best
passage answers the question, so the note quoted first is the one whose own words fit best.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..index.lexical import tokenize
from ..index.served import Index
from ..index.snapshot import Snapshot
from .params import DEFAULT_ANSWER_PARAMS, AnswerParams
from .passages import QueryTerms, note_passages, passage_coverage
from .quotes import DEFAULT_QUOTE_PARAMS, Quote, QuoteParams
from .retrieval import Candidates, Filters, NoteHit, first_stage, hits_from, note_features, score_notes, zscore
from .timing import Clock


@dataclass
class Evidence:
    hit: NoteHit
    quotes: list[Quote]
    score: float  # how well the note's best passage answers the question (abstention, margins)
    passage: float = float("-inf")  # the best passage's own score (re-ranking)



def find_evidence(index: Index, snapshot: Snapshot, query: str, vector: np.ndarray,
                  filters: Filters, params: AnswerParams = DEFAULT_ANSWER_PARAMS, clock=None,
                  boost_notes: set[str] | frozenset[str] = frozenset(),
                  candidates: int | None = None) -> tuple[list[NoteHit], list[Evidence]]:
    """Ranked notes and, for the best few, their best passages with an evidence score.

    Searches (dense in Chroma, BM25 in memory), then `rank_and_quote`.
    """
    clock = clock or Clock(None)
    first = first_stage(index, snapshot, query, vector, filters, candidates or index.settings.candidates, clock)
    if clock.timings is not None:
        clock.timings["search"] = clock.timings.get("dense", 0.0) + clock.timings.get("lexical", 0.0)
    return rank_and_quote(snapshot, query, vector, first, params, clock, boost_notes)


def rank_and_quote(snapshot: Snapshot, query: str, vector: np.ndarray, first: Candidates,
                   params: AnswerParams = DEFAULT_ANSWER_PARAMS, clock=None,
                   boost_notes: set[str] | frozenset[str] = frozenset()) -> tuple[list[NoteHit], list[Evidence]]:
    """Per-note ranking of first-stage candidates, then the best passages of the top notes.

    The best `notes_considered` notes are re-ordered by retrieval score plus how well
    their best passage answers the question, so the note quoted first is the one
    whose own words fit best, and the ranking the benchmark scores is the one the
    answer shows.
    """
    clock = clock or Clock(None)
    features = note_features(snapshot, first, vector, query)
    hits = hits_from(snapshot, features, score_notes(features, params.retrieval))
    clock.lap("fusion")
    weights = snapshot.lexical.weights(list(dict.fromkeys(tokenize(query))))
    terms = QueryTerms.of(snapshot, weights, query)
    top = hits[: params.notes_considered]
    evidence = [note_evidence(snapshot, hit, vector, terms, params.quotes) for hit in top]
    for item in evidence:
        if item.hit.note_id in boost_notes:
            item.score += params.follow_up_boost
            item.passage += params.follow_up_boost
    if params.evidence_rerank and params.retrieval.fusion not in ("dense", "lexical") and evidence:
        order = rerank_order([h.score for h in top], [e.passage for e in evidence], params.evidence_weight)
        ranked_scores = sorted((h.score for h in top), reverse=True)
        top = [top[i] for i in order]
        evidence = [evidence[i] for i in order]
        for hit, score in zip(top, ranked_scores):  # scores keep following the order
            hit.score = score
        hits = top + hits[len(top):]
    evidence = [e for e in evidence if e.quotes]
    clock.lap("quotes")
    return hits, evidence


def rerank_order(retrieval: Sequence[float], evidence: Sequence[float], weight: float) -> list[int]:
    """Order of the top notes by z(retrieval score) + weight * z(evidence score) (pure).

        >>> rerank_order([3.0, 2.9, 1.0], [0.2, 0.6, 0.1], weight=1.0)
        [1, 0, 2]
    """
    r = zscore(np.asarray(retrieval, dtype=np.float64))
    e = np.asarray(evidence, dtype=np.float64)
    e = zscore(np.where(np.isfinite(e), e, np.nanmin(np.where(np.isfinite(e), e, np.nan)) if np.isfinite(e).any() else 0.0))
    combined = r + weight * e
    return [int(i) for i in np.argsort(-combined, kind="stable")]


def note_evidence(snapshot: Snapshot, hit: NoteHit, vector: np.ndarray, terms: QueryTerms,
                  params: QuoteParams = DEFAULT_QUOTE_PARAMS) -> Evidence:
    """The note's best passages for the question, and how strongly the best one answers it."""
    note = snapshot.notes[hit.row]
    best_chunk = hit.chunks[0] if hit.chunks else None
    quotes = note_passages(snapshot, hit.row, vector, terms, best_chunk, limit=2, params=params)
    if not quotes:
        return Evidence(hit=hit, quotes=quotes, score=float("-inf"))
    coverage = passage_coverage(snapshot, snapshot.sentences_of(hit.row), quotes[0], note.text, terms)
    return Evidence(hit=hit, quotes=quotes, score=evidence_score(quotes[0], hit, coverage), passage=quotes[0].score)


def evidence_score(best: Quote, hit: NoteHit, coverage: float = 0.0) -> float:
    """How strongly a note answers: its best passage's similarity, its best chunk's, and how much
    of the question's key terms (IDF-weighted) the passage holds, which rescues a question the
    model has no sense of ("What is RLVER?") when the note names its terms, and whether the
    question is the note's own title."""
    return 0.6 * best.similarity + 0.4 * hit.dense + COVERAGE_WEIGHT * coverage + TITLE_WEIGHT * hit.title


COVERAGE_WEIGHT = 0.2
TITLE_WEIGHT = 0.3  # a question that is the note's title is answered by that note
