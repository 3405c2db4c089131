"""Every URL the bot hands out, made in one place (relative to the app's root).

    >>> passage_url("warmth", 0, 12)
    '/notes/warmth?hl=0-12#hl'
"""

from __future__ import annotations

from urllib.parse import quote as url_quote


def note_url(note_id: str) -> str:
    return f"/notes/{url_quote(note_id, safe='')}"


def passage_url(note_id: str, start: int, end: int) -> str:
    """Where a quoted passage is shown highlighted (relative to the app's root)."""
    return f"{note_url(note_id)}?hl={start}-{end}#hl"
