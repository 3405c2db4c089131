"""Every URL the bot hands out, made in one place (relative to the app's root, or absolute under
BOT_PUBLIC_URL).

    >>> passage_url("warmth", 0, 12)
    '/notes/warmth?hl=0-12#hl'
    >>> absolute("/notes/warmth?hl=0-12#hl", "https://notes.example.org/bot")
    'https://notes.example.org/bot/notes/warmth?hl=0-12#hl'
"""

from __future__ import annotations

import re
from urllib.parse import quote as url_quote


def note_url(note_id: str) -> str:
    return f"/notes/{url_quote(note_id, safe='')}"


def passage_url(note_id: str, start: int, end: int) -> str:
    """Where a quoted passage is shown highlighted (relative to the app's root)."""
    return f"{note_url(note_id)}?hl={start}-{end}#hl"


def absolute(url: str, public_url: str) -> str:
    """A site-relative URL made absolute under `public_url` (unchanged when that is empty or the URL
    is already absolute)."""
    if not public_url or not url.startswith("/") or url.startswith("//"):
        return url
    return public_url.rstrip("/") + url


# `](/...)` not escaped: an even number of backslashes (escaped backslashes) before the bracket
_MARKDOWN_LINK = re.compile(r"(?<!\\)((?:\\\\)*)\]\((/(?!/)[^)\s]*)\)")


def absolute_links(markdown: str, public_url: str) -> str:
    """Every site-relative Markdown link target `](/...)` made absolute under `public_url`. A note's
    own text never holds one: it is escaped (`\\]`, `\\(`) before it is put into an answer.

        >>> absolute_links("> quote [[1]](/notes/a?hl=0-5#hl) and \\](/x)", "https://h")
        '> quote [[1]](https://h/notes/a?hl=0-5#hl) and \\\\](/x)'
    """
    if not public_url:
        return markdown
    return _MARKDOWN_LINK.sub(lambda m: f"{m.group(1)}]({absolute(m.group(2), public_url)})", markdown)
