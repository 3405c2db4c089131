"""Hybrid retrieval: dense search in Chroma plus BM25, gathered per note, fused, diversified.

    first = first_stage(index, snapshot, question, vector, Filters.parse(filters), n=100)
    hits = rank_notes(snapshot, first, vector, question=question)
    hits[0].note_id, hits[0].score, hits[0].chunks    # best note first, with its matching chunks

    chunks (dense top-n ∪ BM25 top-n) ──note_features──▶ per note: best chunk cosine,
        second chunk cosine, best chunk BM25, note vector cosine, best sentence cosine,
        title match ──score_notes──▶ z-score weighted sum (or RRF, or one alone) ──▶ NoteHit list

Filters apply inside both searches (a Chroma `where` and a BM25 row mask), so a
filtered question still gets a full candidate list. The scoring functions
(`note_features` aside) are pure and take plain arrays, so they can be tested
and tuned without a store (`bench/quality_tune.py`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import FilterError
from ..index.lexical import range_positions, row_sums, tokenize
from ..index.served import Index
from ..index.snapshot import Snapshot
from ..index.store import search_breadth
from ..models import KINDS, Note
from .quotes import sentence_terms


@dataclass(frozen=True)
class Filters:
    """Restrict retrieval to kinds, tags and/or note ids (each optional; all must hold)."""

    kinds: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    note_ids: tuple[str, ...] = ()

    @classmethod
    def parse(cls, value: dict | Filters | None) -> Filters:
        if value is None:
            return cls()
        if isinstance(value, Filters):
            return value
        if not isinstance(value, dict):
            raise FilterError("filters must be an object with optional 'kinds', 'tags' and 'note_ids' lists")
        unknown = set(value) - {"kinds", "tags", "note_ids"}
        if unknown:
            raise FilterError(f"unknown filter {sorted(unknown)[0]!r}; use 'kinds', 'tags' or 'note_ids'")
        parts = {}
        for name in ("kinds", "tags", "note_ids"):
            items = value.get(name) or []
            if isinstance(items, str):
                items = [items]
            if not isinstance(items, (list, tuple)) or not all(isinstance(i, str) for i in items):
                raise FilterError(f"filter {name!r} must be a list of strings")
            parts[name] = tuple(items)
        bad = [k for k in parts["kinds"] if k not in KINDS]
        if bad:
            raise FilterError(f"unknown kind {bad[0]!r}; kinds are {', '.join(KINDS)}")
        return cls(**parts)

    def __bool__(self) -> bool:
        return bool(self.kinds or self.tags or self.note_ids)

    def note_mask(self, snapshot: Snapshot) -> np.ndarray | None:
        """Which notes pass, or None when nothing is filtered."""
        if not self:
            return None
        return snapshot.catalog.mask(self.kinds, self.tags, self.note_ids)  # as `admits`, over columns

    def admits(self, note: Note) -> bool:
        """The note passes every filter."""
        return ((not self.kinds or note.kind in self.kinds)
                and (not self.tags or bool(set(self.tags) & set(note.tags)))
                and (not self.note_ids or note.id in self.note_ids))

    def chroma_where(self) -> dict | None:
        clauses = []
        if self.kinds:
            clauses.append({"kind": {"$in": list(self.kinds)}})
        if self.tags:
            tag_clauses = [{"tags": {"$contains": tag}} for tag in self.tags]
            clauses.append(tag_clauses[0] if len(tag_clauses) == 1 else {"$or": tag_clauses})
        if self.note_ids:
            clauses.append({"note_id": {"$in": list(self.note_ids)}})
        if not clauses:
            return None
        return clauses[0] if len(clauses) == 1 else {"$and": clauses}


@dataclass
class NoteHit:
    """One retrieved note: its row, fused score, and its matching chunk rows (best first)."""

    row: int
    note_id: str
    score: float
    chunks: list[int] = field(default_factory=list)
    dense: float = 0.0  # best chunk cosine similarity
    lexical: float = 0.0  # best chunk BM25 score
    title: float = 0.0  # how fully the question names the note's title (`title_match`)


FUSIONS = ("weighted", "rrf", "dense", "lexical")


@dataclass(frozen=True)
class RetrievalParams:
    """The knobs of fusion and aggregation (tuned on half of the SciFact training split).

    `fusion` is "weighted" (z-scores of per-note features, summed with these weights),
    "rrf" (reciprocal-rank fusion of the dense and lexical chunk rankings), or one
    retriever alone ("dense", "lexical") for baselines.
    """

    fusion: str = "weighted"
    dense_weight: float = 1.0  # best chunk's cosine
    lexical_weight: float = 1.0  # best chunk's BM25
    note_weight: float = 0.0  # the note's mean vector: a document-level view
    sentence_weight: float = 0.3  # the note's best sentence cosine
    title_weight: float = 1.5  # the question names the note's title (see `title_match`)
    support_weight: float = 0.0  # the note's second-best chunk
    rrf_k: int = 60

    def __post_init__(self) -> None:
        if self.fusion not in FUSIONS:
            raise ValueError(f"fusion must be one of {', '.join(FUSIONS)}, not {self.fusion!r}")


DEFAULT_PARAMS = RetrievalParams()


@dataclass
class Candidates:
    """Raw first-stage results, kept for scoring and for stage timings."""

    dense_rows: np.ndarray
    dense_scores: np.ndarray
    lexical_rows: np.ndarray
    lexical_scores: np.ndarray


def first_stage(index: Index, snapshot: Snapshot, query: str, vector: np.ndarray,
                filters: Filters, n: int, clock=None) -> Candidates:
    """Dense top-n chunks from Chroma and BM25 top-n chunks, both restricted to live chunks."""
    dense_rows, dense_scores = dense_search(index, snapshot, vector, filters, n)
    if clock is not None:
        clock.lap("dense")
    lexical_rows, lexical_scores = lexical_search(snapshot, query, filters, n)
    if clock is not None:
        clock.lap("lexical")
    return Candidates(dense_rows, dense_scores, lexical_rows, lexical_scores)


def dense_search(index: Index, snapshot: Snapshot, vector: np.ndarray, filters: Filters, n: int):
    if not snapshot.chunk_ids:
        return np.zeros(0, np.int64), np.zeros(0, np.float32)
    # Records of other versions share the collection; ask for enough to fill n with live ones.
    ratio = max(1.0, snapshot.store_chunks / max(1, len(snapshot.chunk_ids)))
    wanted = max(int(n * ratio) + 10, search_breadth(snapshot.store_chunks))
    wanted = min(max(snapshot.store_chunks, len(snapshot.chunk_ids)), wanted)
    ids, sims = index.store.query(vector, wanted, where=filters.chroma_where())
    rows = snapshot.chunk_rows.lookup(ids)
    live = np.flatnonzero(rows >= 0)[:n]  # in Chroma's order, best first
    return rows[live].astype(np.int64), np.asarray(sims, dtype=np.float32)[live]


def lexical_search(snapshot: Snapshot, query: str, filters: Filters, n: int):
    mask = filters.note_mask(snapshot)
    chunk_mask = None if mask is None else mask[snapshot.chunk_note]
    return snapshot.lexical.search(query, n, chunk_mask)


@dataclass
class NoteFeatures:
    """Per-note evidence for the candidate notes (one entry per note row in `rows`)."""

    rows: np.ndarray  # note rows
    chunks: list[list[int]]  # each note's candidate chunk rows, best fused first
    dense: np.ndarray  # best chunk cosine (the dense floor when no chunk was found densely)
    dense_second: np.ndarray  # second-best chunk cosine (the floor when there is none)
    lexical: np.ndarray  # best chunk BM25 (0 when none)
    note_cos: np.ndarray  # cosine to the note's mean vector
    sentence_cos: np.ndarray  # best sentence cosine
    title: np.ndarray  # title_match(question, title)
    dense_rank: np.ndarray  # best chunk's rank in the dense list (inf when absent)
    lexical_rank: np.ndarray


def note_features(snapshot: Snapshot, c: Candidates, vector: np.ndarray, question: str) -> NoteFeatures:
    """Gather the candidate chunks into notes and measure each note several ways (array code: it
    runs for every candidate note of every question)."""
    floor = float(c.dense_scores.min()) if len(c.dense_scores) else 0.0
    dense_rows = np.asarray(c.dense_rows, dtype=np.int64)
    lexical_rows = np.asarray(c.lexical_rows, dtype=np.int64)
    # every candidate chunk once: the dense list's order, then the lexical-only ones
    extra = ~np.isin(lexical_rows, dense_rows)
    rows = np.concatenate([dense_rows, lexical_rows[extra]])
    if len(rows) == 0:
        empty = np.zeros(0, np.float32)
        return NoteFeatures(np.zeros(0, np.int64), [], empty, empty, empty, empty, empty, empty,
                            np.zeros(0), np.zeros(0))
    n_dense = len(dense_rows)
    cos = np.full(len(rows), floor, np.float64)
    cos[:n_dense] = c.dense_scores
    has_cos = np.zeros(len(rows), bool)
    has_cos[:n_dense] = True
    dense_pos = np.full(len(rows), np.inf)
    dense_pos[:n_dense] = np.arange(n_dense)
    bm25 = np.zeros(len(rows), np.float64)
    lexical_pos = np.full(len(rows), np.inf)
    where = {int(r): i for i, r in enumerate(rows)}
    at = np.asarray([where[int(r)] for r in lexical_rows], dtype=np.int64)
    if len(at):
        bm25[at] = c.lexical_scores
        lexical_pos[at] = np.arange(len(at))
    note_of = np.asarray(snapshot.chunk_note, dtype=np.int64)[rows]
    note_rows, member_note = np.unique(note_of, return_inverse=True)
    n = len(note_rows)

    # members of each note, best chunk first: by cosine, then BM25, then first seen
    order = np.lexsort((np.arange(len(rows)), -bm25, -cos, member_note))
    starts = np.searchsorted(member_note[order], np.arange(n))
    ends = np.append(starts[1:], len(order))
    chunks = [rows[order[a:b]].tolist() for a, b in zip(starts, ends)]

    dense = np.full(n, floor, np.float32)
    second = np.full(n, floor, np.float32)
    ranked_cos = order[has_cos[order]]  # members with a cosine, in the same order
    first_cos = np.searchsorted(member_note[ranked_cos], np.arange(n))
    count_cos = np.bincount(member_note[ranked_cos], minlength=n)
    with_one = count_cos > 0
    dense[with_one] = cos[ranked_cos[first_cos[with_one]]]
    with_two = count_cos > 1
    second[with_two] = cos[ranked_cos[first_cos[with_two] + 1]]
    dense_rank = np.full(n, np.inf)
    np.minimum.at(dense_rank, member_note, dense_pos)
    lexical = np.zeros(n, np.float32)
    np.maximum.at(lexical, member_note, bm25.astype(np.float32))
    lexical_rank = np.full(n, np.inf)
    np.minimum.at(lexical_rank, member_note, lexical_pos)

    sentence = best_sentence_cosines(snapshot, note_rows, vector)
    title = title_matches(snapshot, note_rows, question)
    note_cos = (snapshot.note_vectors[note_rows] @ vector).astype(np.float32)
    return NoteFeatures(note_rows, chunks, dense, second, lexical, note_cos, sentence, title, dense_rank, lexical_rank)


def best_sentence_cosines(snapshot: Snapshot, note_rows: np.ndarray, vector: np.ndarray) -> np.ndarray:
    """Each note's best sentence cosine to the question (0 for a note without sentences)."""
    offsets = snapshot.note_sentence_offsets
    starts, ends = offsets[note_rows], offsets[note_rows + 1]
    lengths = ends - starts
    best = np.zeros(len(note_rows), np.float32)
    positions, bounds = range_positions(starts, lengths)
    if len(positions) == 0:
        return best
    cosines = snapshot.sentence_vectors[positions].astype(np.float32) @ vector
    some = lengths > 0
    best[some] = np.maximum.reduceat(cosines, bounds[:-1][some])
    return best


def title_matches(snapshot: Snapshot, note_rows: np.ndarray, question: str) -> np.ndarray:
    """`title_match` of the question against each note's names (its title, and its aliases such as a
    seed page's original title): the best of them, from the snapshot's title terms."""
    question_terms = set(tokenize(question))
    if not question_terms or len(note_rows) == 0:
        return np.zeros(len(note_rows), np.float32)
    note_rows = np.asarray(note_rows, dtype=np.int64)
    offsets = snapshot.note_title_offsets
    counts = offsets[note_rows + 1] - offsets[note_rows]
    name_rows, bounds = range_positions(offsets[note_rows], counts)
    best = np.zeros(len(note_rows), np.float32)
    if len(name_rows) == 0:
        return best
    known = np.asarray(sorted(snapshot.terms[t] for t in question_terms if t in snapshot.terms), dtype=np.int32)
    shared = row_sums(snapshot.title_term_ptr, snapshot.title_term_ids, name_rows, known, np.ones(len(known)))
    sizes = (snapshot.title_term_ptr[name_rows + 1] - snapshot.title_term_ptr[name_rows]).astype(np.float64)
    dice = np.where(sizes > 0, 2 * shared / (len(question_terms) + sizes), 0.0)
    per_name = np.maximum(0.0, (dice - 0.5) / 0.5).astype(np.float32)
    some = counts > 0
    best[some] = np.maximum.reduceat(per_name, bounds[:-1][some])
    return best


def title_match(question_terms: set[str], title: str) -> float:
    """How fully the question names the note's title: 1.0 for the title itself, 0 below half.

    Dice overlap of the two term sets, rescaled so that only a question made mostly of
    the title's own words counts ("Do LLM therapists respond to emotions like ...?"
    asked verbatim finds that note first, not an essay that quotes it).

        >>> title_match(set(tokenize("Does warmth training hurt?")), "Does warmth training hurt?")
        1.0
    """
    title_terms = sentence_terms(title)
    if not question_terms or not title_terms:
        return 0.0
    dice = 2 * len(question_terms & title_terms) / (len(question_terms) + len(title_terms))
    return max(0.0, (dice - 0.5) / 0.5)


def score_notes(f: NoteFeatures, params: RetrievalParams = DEFAULT_PARAMS) -> np.ndarray:
    """One relevance score per candidate note (pure)."""
    if params.fusion == "dense":
        return f.dense.copy()
    if params.fusion == "lexical":
        return f.lexical.copy()
    if params.fusion == "rrf":
        return _rrf(f.dense_rank, params.rrf_k) + _rrf(f.lexical_rank, params.rrf_k)
    return (
        params.dense_weight * zscore(f.dense)
        + params.support_weight * zscore(f.dense_second)
        + params.lexical_weight * zscore(f.lexical)
        + params.note_weight * zscore(f.note_cos)
        + params.sentence_weight * zscore(f.sentence_cos)
        + params.title_weight * f.title
    )


def rank_notes(snapshot: Snapshot, candidates: Candidates, vector: np.ndarray,
               params: RetrievalParams = DEFAULT_PARAMS, question: str = "") -> list[NoteHit]:
    """Per-note results, best first: candidates gathered into notes, scored, sorted."""
    features = note_features(snapshot, candidates, vector, question)
    return hits_from(snapshot, features, score_notes(features, params))


def hits_from(snapshot: Snapshot, f: NoteFeatures, scores: np.ndarray) -> list[NoteHit]:
    hits = [
        NoteHit(row=int(row), note_id=snapshot.note_ids[int(row)], score=float(scores[i]),
                chunks=f.chunks[i], dense=float(f.dense[i]), lexical=float(f.lexical[i]), title=float(f.title[i]))
        for i, row in enumerate(f.rows)
    ]
    return sorted(hits, key=lambda h: (-h.score, h.note_id))


def mmr(hits: list[NoteHit], note_vectors: np.ndarray, k: int, diversity: float = 0.3) -> list[NoteHit]:
    """Maximal marginal relevance over notes: good and not near-duplicates of those above."""
    if len(hits) <= 1 or diversity <= 0:
        return hits[:k]
    scores = np.asarray([h.score for h in hits], dtype=np.float32)
    span = float(scores.max() - scores.min()) or 1.0
    relevance = (scores - scores.min()) / span
    vectors = note_vectors[[h.row for h in hits]]
    chosen: list[int] = []
    remaining = list(range(len(hits)))
    while remaining and len(chosen) < k:
        if chosen:
            similarity = (vectors[remaining] @ vectors[chosen].T).max(axis=1)
        else:
            similarity = np.zeros(len(remaining))
        value = (1 - diversity) * relevance[remaining] - diversity * similarity
        best = remaining[int(np.argmax(value))]
        chosen.append(best)
        remaining.remove(best)
    return [hits[i] for i in chosen]


def zscore(values: np.ndarray) -> np.ndarray:
    """(values - mean) / std; zeros when they are all alike (pure).

        >>> zscore(np.array([1.0, 3.0])).tolist()
        [-1.0, 1.0]
    """
    if len(values) == 0:
        return values
    std = float(values.std())
    return (values - float(values.mean())) / (std if std > 1e-6 else 1.0)


def _rrf(ranks: np.ndarray, k: int) -> np.ndarray:
    """1 / (k + rank), ranks counted from 1; absent (inf) contributes 0."""
    return np.where(np.isfinite(ranks), 1.0 / (k + np.where(np.isfinite(ranks), ranks, 0) + 1), 0.0)
