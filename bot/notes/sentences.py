"""Sentence and paragraph spans over a note's text (pure functions).

Spans are `(start, end)` offsets into the text, trimmed of surrounding
whitespace, in order, never overlapping.

Note titles are questions, and notes cite each other by writing a title inside
their prose ("...problem-solving instead Do reasoning scaffolds reshape which
empathy skills models develop?. Same signal..."). A title passed in
`protected` is part of its sentence: no sentence ends inside it or at its "?".

    >>> t = "It parallels Does RL teach it? — and more. Next one."
    >>> [t[s:e] for s, e in split_sentences(t, protected=["Does RL teach it?"])]
    ['It parallels Does RL teach it? — and more.', 'Next one.']
"""

from __future__ import annotations

import re
from collections.abc import Iterable

Span = tuple[int, int]

# A sentence ends at . ! ? or … (plus closing quotes/brackets/emphasis), before
# whitespace and something that can start a sentence.
_BOUNDARY = re.compile(r"[.!?…]+[\"'’”)\]*_]*(?=\s+[\"'‘“(\[*_]*[A-Z0-9<])")
_ABBREVIATIONS = {
    "e.g", "i.e", "al", "fig", "figs", "dr", "mr", "mrs", "ms", "vs", "cf", "approx", "no",
    "vol", "pp", "st", "inc", "ltd", "jr", "sr", "eq", "ref", "refs", "resp", "ca", "c.f",
    "u.s", "u.k", "e.u", "ph.d", "sec", "ch", "mt", "viz", "nos",
}
_WORD_BEFORE = re.compile(r"([A-Za-z][A-Za-z.]*)\.$")
_LIST_OR_HEADING = re.compile(r"\s*(?:[-*+•]\s|\d+[.)]\s|\(\d+\)\s|#{1,6}\s|>)")


def paragraph_spans(text: str) -> list[Span]:
    """Paragraphs: blank-line separated blocks where the text has blank lines; otherwise lines.

    Exported web pages put one paragraph per line; hand-written Markdown wraps
    lines inside a paragraph and separates paragraphs with blank lines. Inside
    a blank-line block, a line that starts a list item or heading still starts
    a new paragraph.
    """
    blank_separated = re.search(r"\n[ \t]*\n", text) is not None
    spans: list[Span] = []
    start = None
    pos = 0
    for line in text.splitlines(keepends=True):
        stripped = line.strip()
        line_start = pos
        pos += len(line)
        if not stripped:
            if start is not None:
                spans.append((start, _rstrip_at(text, line_start)))
                start = None
            continue
        first = line_start + (len(line) - len(line.lstrip()))
        breaks_here = not blank_separated or _LIST_OR_HEADING.match(line) is not None
        if start is not None and breaks_here:
            spans.append((start, _rstrip_at(text, line_start)))
            start = None
        if start is None:
            start = first
    if start is not None:
        spans.append((start, _rstrip_at(text, len(text))))
    return [(s, e) for s, e in spans if e > s]


def split_sentences(text: str, protected: Iterable[str] = ()) -> list[Span]:
    """Sentence spans of `text`, paragraph by paragraph; a protected title never ends a sentence."""
    guarded = _protected_ranges(text, protected)
    spans: list[Span] = []
    for p_start, p_end in paragraph_spans(text):
        spans.extend(_split_paragraph(text, p_start, p_end, guarded))
    return spans


def _split_paragraph(text: str, start: int, end: int, guarded: list[Span]) -> list[Span]:
    spans: list[Span] = []
    sentence_start = start
    for match in _BOUNDARY.finditer(text, start, end):
        cut = match.end()
        if _is_abbreviation(text, match.start(), match.group()) or _inside(cut, guarded):
            continue
        spans.append((sentence_start, cut))
        sentence_start = _skip_space(text, cut, end)
    if sentence_start < end:
        spans.append((sentence_start, end))
    return spans


def _is_abbreviation(text: str, dot_at: int, punct: str) -> bool:
    if not punct.startswith(".") or len(punct.rstrip("\"'’”)]*_")) > 1:
        return False
    before = _WORD_BEFORE.search(text, max(0, dot_at - 12), dot_at + 1)
    if before is None:
        return False
    word = before.group(1)
    # Single capitals are initials ("J. Smith"); known abbreviations don't end sentences.
    return (len(word) == 1 and word.isupper()) or word.lower() in _ABBREVIATIONS


def _protected_ranges(text: str, titles: Iterable[str]) -> list[Span]:
    ranges = []
    for title in set(t for t in titles if t and len(t) >= 8):
        pos = text.find(title)
        while pos != -1:
            ranges.append((pos, pos + len(title)))
            pos = text.find(title, pos + 1)
    return sorted(ranges)


def _inside(cut: int, guarded: list[Span]) -> bool:
    """True when a boundary would fall inside a protected title or right at its closing "?"."""
    for g_start, g_end in guarded:
        if g_start >= cut:
            break
        if cut <= g_end:
            return True
    return False


def _skip_space(text: str, pos: int, end: int) -> int:
    while pos < end and text[pos].isspace():
        pos += 1
    return pos


def _rstrip_at(text: str, end: int) -> int:
    while end > 0 and text[end - 1].isspace():
        end -= 1
    return end
