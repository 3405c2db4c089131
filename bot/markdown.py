"""Markdown that shows a note's text as written: escaped, so nothing in a note becomes markup (pure).

    >>> print(md_escape("a *b* <i>"))
    a \\*b\\* &lt;i&gt;

A quote keeps two things of the note's own: its emphasis (`*worse*`, `**bold**`, `_this_`,
when the markers pair up on one line) and its mentions of other notes, given as links:

    >>> md_quote("it gets *worse* when Does X hurt? is read <b>", [(21, 33, "/notes/x")])
    'it gets *worse* when [Does X hurt?](/notes/x) is read &lt;b&gt;'
    >>> md_quote("2 * 3 * 4 and *unclosed")
    '2 \\\\* 3 \\\\* 4 and \\\\*unclosed'
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import NamedTuple

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+!|~])")
# Emphasis a note writes: markers that pair up on one line around text that neither starts nor ends
# with a space, as CommonMark reads them (an underscore only between non-word characters).
_EMPHASIS = re.compile(
    r"(?<![*\\\w])(\*\*|\*)(?=[^\s*])([^*\n]*?[^\s*\\])\1(?![*\w])"
    r"|(?<![_\w])(__|_)(?=[^\s_])([^_\n]*?[^\s_\\])\3(?![_\w])"
)


def md_escape(text: str) -> str:
    """Text that renders literally in Markdown: no emphasis, links or HTML from a note."""
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    text = _MD_SPECIAL.sub(r"\\\1", text)
    return re.sub(r"(?m)^(\s*)([-+*]|\d+[.)])(\s)", lambda m: f"{m.group(1)}\\{m.group(2)}{m.group(3)}", text)


class Emphasis(NamedTuple):
    """A balanced emphasis of `text`: markers at [start, start + width) and [end - width, end)."""

    start: int
    end: int
    width: int  # 1: *em* or _em_; 2: **strong** or __strong__

    @property
    def inner(self) -> tuple[int, int]:
        return self.start + self.width, self.end - self.width


def emphasis_spans(text: str, keep_whole: Sequence[tuple[int, int]] = ()) -> list[Emphasis]:
    """The note's own emphasis: marker pairs on one line, never crossing a span of `keep_whole`
    (a link), in order.

        >>> emphasis_spans("a *b* and **c** but not 2 * 3 or snake_case_name")
        [Emphasis(start=2, end=5, width=1), Emphasis(start=10, end=15, width=2)]
    """
    found = []
    for match in _EMPHASIS.finditer(text):
        width = len(match.group(1) or match.group(3))
        start, end = match.start(), match.end()
        if any(s < end and start < e and not (start <= s and e <= end) and not (s <= start and end <= e)
               for s, e in keep_whole):
            continue  # half in a link, half out: shown as written
        if any(s <= start and end <= e for s, e in keep_whole):
            continue  # inside a link's text: the link shows the title as written
        found.append(Emphasis(start, end, width))
    return found


def md_quote(text: str, links: Sequence[tuple[int, int, str]] = ()) -> str:
    """A quote as Markdown: escaped like `md_escape`, except the note's balanced emphasis, and with
    `links` (`(start, end, url)` spans of `text`: mentions of other notes) as Markdown links."""
    links = _non_overlapping(links, len(text))
    emphasis = emphasis_spans(text, [(s, e) for s, e, _ in links])
    marks: dict[int, list[tuple[int, str]]] = {}  # position -> (characters to skip, Markdown to emit)
    for span in emphasis:
        marker = "*" * span.width
        marks.setdefault(span.start, []).append((span.width, marker))
        marks.setdefault(span.end - span.width, []).append((span.width, marker))
    for start, end, url in links:
        marks.setdefault(start, []).append((0, "["))
        marks.setdefault(end, []).insert(0, (0, f"]({url})"))
    out: list[str] = []
    run_start = position = 0
    while position <= len(text):
        if position in marks:
            out.append(md_escape(text[run_start:position]))
            skip = 0
            for width, markup in marks.pop(position):
                out.append(markup)
                skip = max(skip, width)
            position += skip
            run_start = position
            if skip:
                continue
        position += 1
    out.append(md_escape(text[run_start:]))
    return "".join(out)


def blockquote(text: str, links: Sequence[tuple[int, int, str]] = ()) -> str:
    """A quote as a Markdown blockquote (`md_quote`, one `> ` line per line of text)."""
    lines = [line.strip() for line in md_quote(text, links).splitlines() if line.strip()]
    return "\n".join(f"> {line}" for line in lines)


def _non_overlapping(links: Sequence[tuple[int, int, str]], length: int) -> list[tuple[int, int, str]]:
    kept: list[tuple[int, int, str]] = []
    for start, end, url in sorted(links):
        if 0 <= start < end <= length and (not kept or start >= kept[-1][1]):
            kept.append((start, end, url))
    return kept
