"""Follow a quoted passage's inline citations to the notes it cites: the primary evidence.

    linked = cited_evidence(snapshot, query, vector, hits, evidence)   # note id -> Evidence
    chosen = place_cited(chosen, linked, threshold, shown_quotes)       # (compose) beside the citer
    items = prefer_originals(snapshot, items)                           # (compose) a copy → its original

An inquiry paraphrases its sources and names each by title inline ("…degrades its factual
reliability by 10–30 percentage points … Does warmth training make language models less
reliable?."); `Note.link_spans` (resolved by `bot.notes.links`) says where a title is named
and which note it is. When a passage the answer quotes names a note whose own words also
answer the question (its best passage, picked and scored as for any note, reaches the
abstention threshold), that note is quoted too, numbered like any other citation and placed
right after the passage that cites it. And where a quoted passage is a copy of another
note's text (a page's "Sources N notes" list repeats each source's summary word for word),
the note it copies is quoted instead.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence

import numpy as np

from ..index.snapshot import Snapshot
from ..models import Note
from .evidence import Evidence, note_evidence, query_terms
from .params import DEFAULT_ANSWER_PARAMS, AnswerParams
from .quotes import Quote
from .retrieval import Filters, NoteHit, best_sentence_cosines, title_matches

# The evidence items whose passages may be quoted (compose shows at most `answer_notes`, after
# the margin and diversity cuts): their inline citations are the ones worth scoring.
_CITERS_CONSIDERED = 6


def named_in(note: Note, start: int, end: int) -> list[str]:
    """The notes `note` names inline inside `note.text[start:end]`, first mention first (pure)."""
    return list(dict.fromkeys(s.note_id for s in note.link_spans
                              if start <= s.start and s.end <= end and s.note_id != note.id))


def cited_evidence(snapshot: Snapshot, query: str, vector: np.ndarray, hits: list[NoteHit],
                   evidence: list[Evidence], params: AnswerParams = DEFAULT_ANSWER_PARAMS,
                   exclude: Mapping[str, Sequence[tuple[int, int]]] | None = None,
                   filters: Filters | None = None) -> dict[str, Evidence]:
    """Evidence for every note named inline by the candidate passages, scored like any note.

    Notes that already have evidence keep it; the others (when `filters` admit them) are scored
    here through the same passage path (`note_evidence`), with their retrieval features when
    they were retrieved. Empty when no candidate passage names a note (SciFact, plain notes):
    nothing is computed.
    """
    have = {e.hit.note_id: e for e in evidence}
    named: list[str] = []
    for item in evidence[:_CITERS_CONSIDERED]:
        note = snapshot.notes[item.hit.row]
        if not note.link_spans:
            continue
        for quote in item.quotes:
            named += named_in(note, quote.start, quote.end)
    named = list(dict.fromkeys(named))
    if not named:
        return {}
    linked = {note_id: have[note_id] for note_id in named if note_id in have}
    missing = [note_id for note_id in named if note_id not in have and note_id in snapshot.by_id
               and (filters is None or filters.admits(snapshot.notes[snapshot.by_id[note_id]]))]
    if missing:
        terms = query_terms(snapshot, query)
        retrieved = {h.note_id: h for h in hits}
        for note_id in missing:
            hit = retrieved.get(note_id) or _unretrieved_hit(snapshot, note_id, vector, query)
            item = note_evidence(snapshot, hit, vector, terms, params.quotes, (exclude or {}).get(note_id, ()))
            if item.quotes:
                linked[note_id] = item
    return linked


def _unretrieved_hit(snapshot: Snapshot, note_id: str, vector: np.ndarray, query: str) -> NoteHit:
    """A NoteHit for a note the search did not return: its best sentence stands in for its best chunk."""
    row = snapshot.by_id[note_id]
    rows = np.asarray([row])
    return NoteHit(row=row, note_id=note_id, score=float("-inf"),
                   dense=float(best_sentence_cosines(snapshot, rows, vector)[0]),
                   title=float(title_matches(snapshot, rows, query)[0]))


def place_cited(chosen: list[Evidence], linked: Mapping[str, Evidence], snapshot: Snapshot, threshold: float,
                shown: Callable[[Evidence, bool], list[Quote]], limit: int = 2,
                max_notes: int | None = None) -> list[Evidence]:
    """The chosen notes, with the notes their shown passages cite placed right after them (pure).

    For each chosen note in order, the notes named inside its shown passages (`shown(item,
    is_first)`) that answer the question themselves (evidence score ≥ `threshold`): unless one
    of them is already first or beside it, the best is placed right after it, moved up when
    it was chosen further down, added when it was not chosen (at most `limit` added). The
    answer keeps at most `max_notes` notes: a source placed beside its citer takes the place
    of the last chosen note.
    """
    if not linked:
        return chosen
    max_notes = max_notes or len(chosen) + limit
    placed: list[Evidence] = []
    taken: set[str] = set()
    added = 0
    for index, item in enumerate(chosen):
        if len(placed) >= max_notes:
            break
        if item.hit.note_id in taken:
            continue
        placed.append(item)
        taken.add(item.hit.note_id)
        note = snapshot.notes[item.hit.row]
        named = [t for q in shown(item, len(placed) == 1) for t in named_in(note, q.start, q.end)]
        supported = sorted((linked[t] for t in dict.fromkeys(named) if t in linked and linked[t].score >= threshold),
                           key=lambda e: -e.score)
        if not supported:
            continue
        upcoming = next((c.hit.note_id for c in chosen[index + 1:] if c.hit.note_id not in taken), None)
        neighbours = {placed[0].hit.note_id, upcoming} | ({placed[-2].hit.note_id} if len(placed) > 1 else set())
        if any(e.hit.note_id in neighbours for e in supported) or len(placed) >= max_notes:
            continue  # already first or beside it, or no room
        for source in supported:
            if source.hit.note_id in taken:
                continue
            later = next((c for c in chosen[index + 1:] if c.hit.note_id == source.hit.note_id), None)
            if later is None and added >= limit:
                break
            placed.append(later or source)
            taken.add(source.hit.note_id)
            added += later is None
            break
    return placed


def prefer_originals(snapshot: Snapshot, items: list[tuple[Note, list[Quote]]],
                     shown: Mapping[str, Sequence[tuple[int, int]]] | None = None) -> list[tuple[Note, list[Quote]]]:
    """Quote a note itself rather than another note's word-for-word copy of it (pure).

    A passage of note P that lies wholly inside the text of a note P names (a page's Sources
    list repeats each source's summary) is quoted from that note instead, at the same place in
    the answer; when that note is quoted already, or its passage was `shown` earlier in the
    conversation, the copy is dropped. Notes left with no passage are dropped."""
    shown = shown or {}
    by_note: dict[str, list[Quote]] = {}
    order: list[Note] = []
    for note, quotes in items:
        for quote in quotes:
            target, span = _original_of(snapshot, note, quote)
            if target is None:
                target, span = note, (quote.start, quote.end)
            start, end = span
            if target is not note and any(a < end and start < b for a, b in shown.get(target.id, ())):
                continue  # the same words were quoted from the original before
            kept = by_note.setdefault(target.id, [])
            if not kept:
                order.append(target)
            if not any(q.start < end and start < q.end for q in kept):
                kept.append(Quote(start=start, end=end, score=quote.score, similarity=quote.similarity))
    return [(note, by_note[note.id]) for note in order if by_note[note.id]]


def _original_of(snapshot: Snapshot, note: Note, quote: Quote) -> tuple[Note | None, tuple[int, int]]:
    """The note among those `note` links to whose text holds this passage word for word."""
    if not note.links:
        return None, (0, 0)
    words = note.text[quote.start:quote.end].split()
    if len(words) < 4:  # too short to call it a copy
        return None, (0, 0)
    pattern = re.compile(r"\s+".join(map(re.escape, words)))
    for target_id in note.links:
        target = snapshot.note(target_id)
        if target is None or target.id == note.id:
            continue
        match = pattern.search(target.text)
        if match:
            return target, (match.start(), match.end())
    return None, (0, 0)
