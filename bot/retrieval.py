"""Hybrid retrieval: dense search in Chroma plus BM25, fused, aggregated per note, diversified.

    hits = retrieve(index, "does warmth training hurt reliability?", filters=None)
    hits[0].note_id, hits[0].score, hits[0].chunks    # best note first, with its matching chunks

The scoring functions (`fuse`, `aggregate_notes`, `mmr`) are pure and take
plain arrays, so they can be tested and tuned without a store.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .index import Index, Snapshot
from .models import KINDS


class FilterError(ValueError):
    """A filter names something that doesn't exist (the message lists what does)."""


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
        mask = np.ones(len(snapshot.notes), dtype=bool)
        for row, note in enumerate(snapshot.notes):
            if self.kinds and note.kind not in self.kinds:
                mask[row] = False
            elif self.tags and not set(self.tags) & set(note.tags):
                mask[row] = False
            elif self.note_ids and note.id not in self.note_ids:
                mask[row] = False
        return mask

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


@dataclass(frozen=True)
class RetrievalParams:
    """The knobs of fusion and aggregation (tuned on the SciFact training split)."""

    fusion: str = "weighted"  # "weighted" (z-scores) or "rrf"
    dense_weight: float = 1.0
    lexical_weight: float = 0.8
    note_weight: float = 0.3  # the note's mean vector, a document-level view
    rrf_k: int = 60
    support_weight: float = 0.1  # the note's second-best chunk adds a little


DEFAULT_PARAMS = RetrievalParams()


@dataclass
class Candidates:
    """Raw first-stage results, kept for scoring and for stage timings."""

    dense_rows: np.ndarray
    dense_scores: np.ndarray
    lexical_rows: np.ndarray
    lexical_scores: np.ndarray


def first_stage(index: Index, snapshot: Snapshot, query: str, vector: np.ndarray,
                filters: Filters, n: int) -> Candidates:
    """Dense top-n chunks from Chroma and BM25 top-n chunks, both restricted to live chunks."""
    dense_rows, dense_scores = dense_search(index, snapshot, vector, filters, n)
    lexical_rows, lexical_scores = lexical_search(snapshot, query, filters, n)
    return Candidates(dense_rows, dense_scores, lexical_rows, lexical_scores)


def dense_search(index: Index, snapshot: Snapshot, vector: np.ndarray, filters: Filters, n: int):
    if not snapshot.chunk_ids:
        return np.zeros(0, np.int64), np.zeros(0, np.float32)
    # Records of other versions share the collection; ask for enough to fill n with live ones.
    ratio = max(1.0, snapshot.store_chunks / max(1, len(snapshot.chunk_ids)))
    wanted = min(max(snapshot.store_chunks, len(snapshot.chunk_ids)), int(n * ratio) + 10)
    ids, sims = index.store.query(vector, wanted, where=filters.chroma_where())
    rows, scores = [], []
    for chunk_id, sim in zip(ids, sims):
        row = snapshot.chunk_rows.get(chunk_id)
        if row is not None:
            rows.append(row)
            scores.append(sim)
            if len(rows) == n:
                break
    return np.asarray(rows, dtype=np.int64), np.asarray(scores, dtype=np.float32)


def lexical_search(snapshot: Snapshot, query: str, filters: Filters, n: int):
    mask = filters.note_mask(snapshot)
    chunk_mask = None if mask is None else mask[snapshot.chunk_note]
    return snapshot.lexical.search(query, n, chunk_mask)


def rank_notes(snapshot: Snapshot, candidates: Candidates, vector: np.ndarray,
               params: RetrievalParams = DEFAULT_PARAMS) -> list[NoteHit]:
    """Fuse dense and lexical chunk scores and aggregate them per note, best first."""
    rows, fused, dense, lexical = fuse(candidates, params)
    note_rows = snapshot.chunk_note[rows] if len(rows) else np.zeros(0, np.int32)
    note_cos = snapshot.note_vectors[note_rows] @ vector if len(rows) else np.zeros(0, np.float32)
    return aggregate_notes(snapshot, rows, note_rows, fused, dense, lexical, note_cos, params)


def fuse(c: Candidates, params: RetrievalParams):
    """Union of dense and lexical chunk rows with a fused score each."""
    rows = np.union1d(c.dense_rows, c.lexical_rows).astype(np.int64)
    dense = _lookup(rows, c.dense_rows, c.dense_scores, fill=_floor(c.dense_scores))
    lexical = _lookup(rows, c.lexical_rows, c.lexical_scores, fill=0.0)
    if params.fusion == "rrf":
        fused = _rrf(rows, c.dense_rows, params.rrf_k) + _rrf(rows, c.lexical_rows, params.rrf_k)
    else:
        fused = params.dense_weight * _z(dense) + params.lexical_weight * _z(lexical)
    return rows, fused, dense, lexical


def aggregate_notes(snapshot: Snapshot, rows, note_rows, fused, dense, lexical, note_cos,
                    params: RetrievalParams) -> list[NoteHit]:
    if len(rows) == 0:
        return []
    note_z = _z(note_cos) if params.fusion != "rrf" else np.zeros_like(fused)
    chunk_score = fused + params.note_weight * note_z
    order = np.argsort(-chunk_score, kind="stable")
    hits: dict[int, NoteHit] = {}
    for i in order:
        note_row = int(note_rows[i])
        hit = hits.get(note_row)
        if hit is None:
            hits[note_row] = NoteHit(
                row=note_row, note_id=snapshot.notes[note_row].id, score=float(chunk_score[i]),
                chunks=[int(rows[i])], dense=float(dense[i]), lexical=float(lexical[i]),
            )
        else:
            if len(hit.chunks) == 1:
                hit.score += params.support_weight * max(0.0, float(chunk_score[i]))
            hit.chunks.append(int(rows[i]))
            hit.dense = max(hit.dense, float(dense[i]))
            hit.lexical = max(hit.lexical, float(lexical[i]))
    return sorted(hits.values(), key=lambda h: (-h.score, h.note_id))


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


def _lookup(rows: np.ndarray, keys: np.ndarray, values: np.ndarray, fill: float) -> np.ndarray:
    out = np.full(len(rows), fill, dtype=np.float32)
    if len(keys):
        position = {int(k): float(v) for k, v in zip(keys, values)}
        for i, row in enumerate(rows):
            if int(row) in position:
                out[i] = position[int(row)]
    return out


def _floor(scores: np.ndarray) -> float:
    return float(scores.min()) if len(scores) else 0.0


def _z(values: np.ndarray) -> np.ndarray:
    if len(values) == 0:
        return values
    std = float(values.std())
    return (values - float(values.mean())) / (std if std > 1e-6 else 1.0)


def _rrf(rows: np.ndarray, ranked: np.ndarray, k: int) -> np.ndarray:
    rank = {int(r): i for i, r in enumerate(ranked)}
    return np.asarray([1.0 / (k + rank[int(r)] + 1) if int(r) in rank else 0.0 for r in rows], dtype=np.float32)
