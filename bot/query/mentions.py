"""Mentions of other notes inside a quote, as links the answer can show (pure).

    quote_links(snapshot, note, citation.start, citation.end)
        -> [QuoteLink(start=..., end=..., note_id=..., title=...)]   offsets into the quote

A note names other notes by their titles: inline citations in its prose ("...less reliable?
Does warmth training make language models less reliable?. [1]") and the titles its Sources,
related-concepts and inquiring-lines sections list. `notes.links.resolve_links` found them
(`note.link_spans`); a quote keeps those that lie wholly inside it, so `quote[start:end]` is
the mention, and the chat, the sources panel and the API can show it as a link while the
quote's text stays verbatim.
"""

from __future__ import annotations

from ..index.snapshot import Snapshot
from ..models import Note, QuoteLink


def quote_links(snapshot: Snapshot, note: Note, start: int, end: int) -> list[QuoteLink]:
    """The mentions of other notes inside `note.text[start:end]`, offsets relative to the quote."""
    links = []
    for span in note.link_spans:
        if span.start >= end:
            break
        if span.start >= start and span.end <= end:
            target = snapshot.note(span.note_id)
            if target is not None:
                links.append(QuoteLink(start=span.start - start, end=span.end - start, note_id=span.note_id,
                                       title=target.title))
    return links
