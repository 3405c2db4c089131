"""Links between notes: titles and aliases named inside prose, and [[wikilinks]] (pure).

    resolve_links(notes) -> notes with `links` (ids, first mention first) and `link_spans`
"""

from __future__ import annotations

import re
from collections import defaultdict

from ..models import LinkSpan, Note
from .collection import slugify
from .formats.markdown import WIKILINK

MIN_LINK_TITLE_CHARS = 20  # shorter titles ("Summary") would turn common words into links


def resolve_links(notes: list[Note]) -> list[Note]:
    """Find each note's inline citations (known titles and aliases in its text) and wikilinks.

    Returns new Note objects with `link_spans` (every mention of another note, in any section:
    the note page and quotes show them as links) and `links` (the notes it cites, in order of
    first mention: mentions in its body and its Sources list; a seed page's related concepts and
    "inquiring lines that use this note" name notes it does not cite). Links never change a
    note's content hash, so resolving them costs no re-embedding.
    """
    by_title: dict[str, str] = {}
    for note in notes:
        for name in [note.title, *note.aliases]:
            by_title.setdefault(name, note.id)
    by_lower = {title.lower(): note_id for title, note_id in by_title.items()}
    by_id = {note.id: note.id for note in notes}
    finder = _TitleFinder([t for t in by_title if len(t) >= MIN_LINK_TITLE_CHARS])
    resolved = []
    for note in notes:
        spans: list[LinkSpan] = []
        for start, end, title in finder.find(note.text):
            target = by_title[title]
            if target != note.id:
                spans.append(LinkSpan(start=start, end=end, note_id=target))
        for match in WIKILINK.finditer(note.text):
            name = match.group(1).strip()
            target = by_title.get(name) or by_lower.get(name.lower()) or by_id.get(slugify(name))
            if target and target != note.id:
                spans.append(LinkSpan(start=match.start(), end=match.end(), note_id=target))
        spans.sort(key=lambda s: s.start)
        links = list(dict.fromkeys(span.note_id for span in spans if _cites(note, span.start)))
        for entry in note.sources:  # an inquiry cites its sources even when prose doesn't name them
            target = by_title.get(entry.title)
            if target and target != note.id and target not in links:
                links.append(target)
        resolved.append(note.model_copy(update={"links": links, "link_spans": spans}))
    return resolved


_CITING_SECTIONS = ("", "sources")  # Markdown headings ("") are part of the body


def _cites(note: Note, position: int) -> bool:
    """A mention at `position` is a citation: in the body, a Markdown section or a Sources list."""
    section = note.section_at(position)
    return section is None or section.name in _CITING_SECTIONS


class _TitleFinder:
    """Find many literal titles in text in one pass, keyed by their first two words."""

    def __init__(self, titles: list[str]) -> None:
        self.by_prefix: dict[tuple[str, ...], list[str]] = defaultdict(list)
        for title in sorted(titles, key=len, reverse=True):
            self.by_prefix[tuple(title.split()[:2])].append(title)

    def find(self, text: str) -> list[tuple[int, int, str]]:
        found = []
        words = list(re.finditer(r"\S+", text))
        position = 0
        for index, word in enumerate(words):
            if word.start() < position:
                continue
            key = (word.group(),) if index + 1 >= len(words) else (word.group(), words[index + 1].group())
            for candidate_key in (key, key[:1]):
                for title in self.by_prefix.get(candidate_key, ()):
                    if text.startswith(title, word.start()) and _ends_at_boundary(text, word.start() + len(title)):
                        found.append((word.start(), word.start() + len(title), title))
                        position = word.start() + len(title)
                        break
                else:
                    continue
                break
        return found


def _ends_at_boundary(text: str, end: int) -> bool:
    return end >= len(text) or not text[end].isalnum() or not text[end - 1].isalnum()
