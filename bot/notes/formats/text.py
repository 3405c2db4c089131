"""Plain text notes: the first line is the title, the rest the body (pure)."""

from __future__ import annotations

from ...models import Note
from ._text import first_paragraph, strip_blank_edges, title_from_path


def parse_plain_text(text: str, path: str) -> Note:
    """Plain text: the first line is the title, the rest the body (one paragraph: the file name titles it)."""
    stripped = strip_blank_edges(text)
    first_line, _, rest = stripped.partition("\n")
    if rest.strip():
        title, note_text = first_line.strip(), strip_blank_edges(rest)
    else:
        title, note_text = title_from_path(path), stripped
    return Note(
        id="",
        title=title,
        kind="note",
        description=first_paragraph(note_text),
        text=note_text,
        source_path=path,
    )
