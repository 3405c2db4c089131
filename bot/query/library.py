"""Read notes: the one read-only facade the UI and the API use over the index's current snapshot.

    >>> library = Library(lambda: index.snapshot)                     # doctest: +SKIP
    >>> library.note("does-empathy-training-make-ai-systems-less-reliable").kind  # doctest: +SKIP
    'source'
    >>> [n.title for n in library.find(kind="inquiry", query="empathy rewards")][:1]  # doctest: +SKIP
    ['Can pretrained priors set exploration ceilings for empathetic capability development?']
    >>> page = library.page("do-reasoning-scaffolds-reshape-which-empathy-skills-models-develop")  # doctest: +SKIP
    >>> [n.title for n in page.similar][:1]                            # doctest: +SKIP
    ['Do extended thinking blocks access latent empathetic capabilities in models?']

Everything comes from one snapshot per call (a consistent index version), is
looked up by note id in memory (ids are never file paths), and is returned as
pydantic models, so an HTTP API can serve them as they are. Nothing here
writes, and nothing reaches into the store.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from pydantic import BaseModel, Field

from ..index.snapshot import Snapshot
from ..models import KINDS, Note

SIMILAR_NOTES = 5
KIND_ORDER = {"inquiry": 0, "note": 1, "source": 2}


class NoteSummary(BaseModel):
    """A note as a list shows it."""

    id: str
    title: str
    kind: str
    description: str = ""
    tags: list[str] = Field(default_factory=list)
    score: float | None = None  # search relevance or similarity, where there is one


class TitleRef(BaseModel):
    """A title a note names in one of its sections, resolved to a note of this collection when one has it."""

    title: str
    note_id: str | None = None
    description: str = ""
    relation: str = ""


class NotePage(BaseModel):
    """A note and everything around it: what it cites, what cites it, what is like it."""

    note: Note
    version: int
    sources: list[TitleRef] = Field(default_factory=list)  # an inquiry's Sources list
    links: list[NoteSummary] = Field(default_factory=list)  # notes it cites inline
    cited_by: list[NoteSummary] = Field(default_factory=list)  # notes and inquiries citing it
    inquiring_lines: list[TitleRef] = Field(default_factory=list)  # "inquiring lines that use this note"
    related_concepts: list[TitleRef] = Field(default_factory=list)
    related_papers: list[TitleRef] = Field(default_factory=list)
    next_inquiring_lines: list[TitleRef] = Field(default_factory=list)
    similar: list[NoteSummary] = Field(default_factory=list)  # nearest by embedding


@dataclass
class _Derived:
    """Per-snapshot lookups, built once on first use from the snapshot's columns (catalog.py), so
    a request never walks every note in Python: a list or search of the notes is array work and
    scans of the mapped lower-cased titles and texts."""

    snapshot: Snapshot
    tags: Counter
    kinds: Counter
    kind_of: np.ndarray  # each note's kind, as its index in KINDS (by row)
    listed: np.ndarray  # rows in list order: by kind, then title
    examples: dict[int, list[str]]  # example_questions(n), once asked


class Library:
    """Read-only access to the notes of whatever snapshot `current()` returns at each call."""

    def __init__(self, current: Callable[[], Snapshot]) -> None:
        self._current = current
        self._derived: _Derived | None = None
        self._lock = threading.Lock()

    # --- single notes -----------------------------------------------------------------------

    @property
    def version(self) -> int:
        return self._current().version

    def note(self, note_id: str) -> Note | None:
        """The note with this id, or None."""
        return self._current().note(note_id)

    def summary(self, note_id: str) -> NoteSummary | None:
        note = self.note(note_id)
        return None if note is None else note_summary(note)

    def page(self, note_id: str, similar: int = SIMILAR_NOTES) -> NotePage | None:
        """The note with its sources, backlinks, related titles and similar notes; None if unknown."""
        snapshot = self._current()
        note = snapshot.note(note_id)
        if note is None:
            return None
        named = snapshot.catalog.named
        resolve = lambda title: named(title) if named(title) != note.id else None  # noqa: E731
        return NotePage(
            note=note,
            version=snapshot.version,
            sources=[TitleRef(title=s.title, note_id=resolve(s.title), description=s.summary) for s in note.sources],
            links=[note_summary(n) for n in (snapshot.note(i) for i in note.links) if n is not None],
            cited_by=self.cited_by(note_id, snapshot),
            inquiring_lines=[TitleRef(title=t, note_id=resolve(t)) for t in note.inquiring_lines],
            related_concepts=[
                TitleRef(title=c.title, note_id=resolve(c.title), description=c.description, relation=c.relation)
                for c in note.related_concepts
            ],
            related_papers=[TitleRef(title=t, note_id=resolve(t)) for t in note.related_papers],
            next_inquiring_lines=[TitleRef(title=t, note_id=resolve(t)) for t in note.next_inquiring_lines],
            similar=self.similar(note_id, similar, snapshot),
        )

    def cited_by(self, note_id: str, snapshot: Snapshot | None = None) -> list[NoteSummary]:
        """Notes whose text or Sources list cite this one: inquiries first, then by title."""
        snapshot = snapshot or self._current()
        citing = [snapshot.note(i) for i in snapshot.backlinks.get(note_id, [])]
        citing = [n for n in citing if n is not None]
        citing.sort(key=lambda n: (KIND_ORDER.get(n.kind, 9), n.title.lower()))
        return [note_summary(n) for n in citing]

    def similar(self, note_id: str, k: int = SIMILAR_NOTES, snapshot: Snapshot | None = None) -> list[NoteSummary]:
        """The `k` notes nearest to this one by embedding (cosine of the notes' mean vectors)."""
        snapshot = snapshot or self._current()
        row = snapshot.by_id.get(note_id)
        if row is None or k <= 0 or len(snapshot.notes) < 2:
            return []
        similarities = snapshot.note_vectors @ snapshot.note_vectors[row]
        similarities[row] = -np.inf
        k = min(k, len(snapshot.notes) - 1)
        top = np.argpartition(-similarities, k - 1)[:k]
        top = top[np.argsort(-similarities[top], kind="stable")]
        return [note_summary(snapshot.notes[i], score=round(float(similarities[i]), 4)) for i in top]

    # --- the collection ---------------------------------------------------------------------

    def find(
        self,
        *,
        kind: str | None = None,
        tag: str | None = None,
        query: str | None = None,
        limit: int | None = None,
    ) -> list[NoteSummary]:
        """Notes filtered by kind and tag; with a query, those matching it best first (BM25 over
        titles and text), else all of them by kind then title."""
        snapshot = self._current()
        derived = self._lookups(snapshot)
        keep = np.ones(len(snapshot.notes), dtype=bool)
        if kind:
            keep &= derived.kind_of == (KINDS.index(kind) if kind in KINDS else -1)
        if tag:
            tagged = np.zeros(len(snapshot.notes), dtype=bool)
            tagged[snapshot.catalog.tag_rows(tag)] = True
            keep &= tagged
        query = (query or "").strip()
        if not query:
            rows = derived.listed[keep[derived.listed]]
            found = [row_summary(snapshot, r) for r in (rows[:limit] if limit else rows)]
        else:
            found = [row_summary(snapshot, r, score=s) for r, s in _search(snapshot, derived, query, keep)]
        return found[:limit] if limit else found

    def kinds(self) -> dict[str, int]:
        """How many notes of each kind, in a fixed order (kinds with none left out)."""
        counts = self._lookups(self._current()).kinds
        return {k: counts[k] for k in KINDS if counts.get(k)}

    def tags(self) -> dict[str, int]:
        """Every tag and how many notes carry it, most used first."""
        return dict(self._lookups(self._current()).tags.most_common())

    def example_questions(self, n: int = 6) -> list[str]:
        """Questions worth asking this collection: the inquiring lines' titles (they are questions),
        then other question-shaped titles."""
        derived = self._lookups(self._current())
        if n not in derived.examples:
            catalog = derived.snapshot.catalog
            ranks = np.asarray([KIND_ORDER.get(k, 9) for k in KINDS])[derived.kind_of]
            ranked = np.argsort(ranks, kind="stable").tolist()  # rows are in id order: by kind, then id
            questions = []
            for row in ranked:
                title = catalog.titles[row]
                if title.rstrip().endswith("?"):
                    questions.append(title)
                    if len(questions) == n:
                        break
            derived.examples[n] = questions[:n] if questions else [catalog.titles[r] for r in ranked[:n]]
        return list(derived.examples[n])

    def stats(self) -> dict:
        """The served version and how many notes and chunks it holds."""
        snapshot = self._current()
        return {
            "version": snapshot.version,
            "notes": len(snapshot.notes),
            "chunks": len(snapshot.chunk_ids),
            "kinds": self.kinds(),
        }

    def resolve_title(self, title: str) -> str | None:
        """The id of the note with this title (or alias), if the collection has one."""
        return self._current().catalog.named(title)

    # --- helpers ----------------------------------------------------------------------------

    def _lookups(self, snapshot: Snapshot) -> _Derived:
        derived = self._derived
        if derived is not None and derived.snapshot is snapshot:
            return derived
        with self._lock:
            if self._derived is None or self._derived.snapshot is not snapshot:
                catalog = snapshot.catalog
                kind_of = np.asarray(catalog.kind, dtype=np.int64)
                kind_counts = np.bincount(kind_of, minlength=len(KINDS))
                ranks = np.asarray([KIND_ORDER.get(k, 9) for k in KINDS])[kind_of]
                by_title = np.asarray(catalog.title_order, dtype=np.int64)
                self._derived = _Derived(
                    snapshot=snapshot,
                    tags=Counter(catalog.tag_counts()),
                    kinds=Counter({k: int(c) for k, c in zip(KINDS, kind_counts.tolist()) if c}),
                    kind_of=kind_of,
                    listed=by_title[np.argsort(ranks[by_title], kind="stable")],
                    examples={},
                )
            return self._derived


def note_summary(note: Note, score: float | None = None) -> NoteSummary:
    return NoteSummary(id=note.id, title=note.title, kind=note.kind, description=note.description,
                       tags=list(note.tags), score=score)


def row_summary(snapshot: Snapshot, row: int, score: float | None = None) -> NoteSummary:
    """`note_summary` of note `row`, from the snapshot's columns (its text is never parsed)."""
    catalog = snapshot.catalog
    return NoteSummary(id=catalog.note_ids[row], title=catalog.titles[row], kind=KINDS[int(catalog.kind[row])],
                       description=catalog.descriptions[row], tags=catalog.tags_of(row), score=score)


def _search(snapshot: Snapshot, derived: _Derived, query: str, keep: np.ndarray) -> list[tuple[int, float]]:
    """Rows matching the query with a score: each note's best chunk by BM25 (titles are part of every
    chunk's text), plus a bonus when the query appears verbatim in the title or text; notes
    match by the literal text alone when the query has no searchable words ("what is")."""
    scores = np.zeros(len(snapshot.notes), dtype=np.float32)
    if len(snapshot.chunk_ids):
        chunk_scores = snapshot.lexical.scores(query, keep[snapshot.chunk_note])
        np.maximum.at(scores, snapshot.chunk_note, chunk_scores)
    needle = query.lower().replace("\0", "").encode("utf-8", "surrogatepass")
    if needle:
        in_title = np.zeros(len(scores), dtype=bool)
        in_title[snapshot.catalog.search_titles.rows_containing(needle)] = True
        in_text = np.zeros(len(scores), dtype=bool)
        in_text[snapshot.catalog.search_texts.rows_containing(needle)] = True
        scores[in_title & keep] += 10.0
        scores[in_text & ~in_title & keep] += 2.0
    rows = [r for r in np.argsort(-scores, kind="stable") if scores[r] > 0 and keep[r]]
    return [(int(r), round(float(scores[r]), 4)) for r in rows]
