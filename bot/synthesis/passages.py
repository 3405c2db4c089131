"""The passages an LLM reads for one answer: each cited quote widened to whole neighbouring
sentences of its note, numbered exactly as the answer's citations (pure, on a snapshot).

    passages = cited_passages(answer, snapshot)
    [(p.number, p.text[:40]) for p in passages]      # [(1, 'RLVER uses a simulated user's emotion…'), ...]

A passage carries its sentences and their vectors as the index already has them (computed at
ingest), so verifying the LLM's sentences embeds only those sentences. Two quotes of one note
share its number; when their widened spans meet, they become one passage.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from ..index.snapshot import Snapshot
from ..models import Answer, Citation
from .prompt import PASSAGE_MAX_CHARS, Passage, Span, widen_span

_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n")


def cited_passages(answer: Answer, snapshot: Snapshot, *, max_chars: int = PASSAGE_MAX_CHARS) -> list[Passage]:
    """One passage per cited quote (merged where a note's widened quotes meet), in citation order."""
    spans: dict[tuple[int, str], list[Span]] = {}
    for citation in answer.citations:
        span = widened(citation, snapshot, max_chars)
        if span is not None:
            spans.setdefault((citation.n, citation.note_id), []).append(span)
    passages: list[Passage] = []
    for (number, note_id), found in spans.items():
        for span in _merged(found):
            passages.append(passage_at(snapshot, note_id, span, number))
    return passages


def widened(citation: Citation, snapshot: Snapshot, max_chars: int = PASSAGE_MAX_CHARS) -> Span | None:
    """The citation's quote grown to whole sentences of its paragraph (None: the note is gone, or
    changed since the quote was taken)."""
    row = snapshot.by_id.get(citation.note_id)
    if row is None:
        return None
    text = snapshot.notes[row].text
    if text[citation.start:citation.end] != citation.quote:  # quoted from another index version
        return None
    rows = snapshot.sentences_of(row)
    sentence_spans = list(zip(snapshot.sentence_start[rows.start:rows.stop].tolist(),
                              snapshot.sentence_end[rows.start:rows.stop].tolist()))
    return widen_span((citation.start, citation.end), sentence_spans, max_chars,
                      within=paragraph_of(text, citation.start, citation.end))


def passage_at(snapshot: Snapshot, note_id: str, span: Span, number: int) -> Passage:
    """The passage `note.text[span]`, with the index's own vectors for the sentences inside it
    (headings, which the index does not embed, are left out of the comparison)."""
    row = snapshot.by_id[note_id]
    note = snapshot.notes[row]
    start, end = span
    rows = snapshot.sentences_of(row)
    inside = [r for r in rows if snapshot.sentence_quotable[r]
              and snapshot.sentence_start[r] >= start and snapshot.sentence_end[r] <= end]
    sentences = tuple(note.text[snapshot.sentence_start[r]:snapshot.sentence_end[r]].strip() for r in inside)
    if not inside:  # a clause of one long sentence: the verifier splits and embeds it itself
        return Passage(number, note.text[start:end], note.title, note_id=note.id)
    vectors = np.asarray(snapshot.sentence_vectors[inside], dtype=np.float32)
    return Passage(number, note.text[start:end], note.title, sentences=sentences, vectors=vectors,
                   note_id=note.id)


def paragraph_of(text: str, start: int, end: int) -> Span:
    """The paragraph (between blank lines) holding `text[start:end]`; a quote crossing a blank
    line keeps both paragraphs."""
    before = [m.end() for m in _PARAGRAPH_BREAK.finditer(text, 0, start)]
    after = _PARAGRAPH_BREAK.search(text, end)
    return (before[-1] if before else 0, after.start() if after else len(text))


def _merged(spans: Sequence[Span]) -> list[Span]:
    merged: list[Span] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged
