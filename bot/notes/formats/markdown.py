"""Markdown notes: optional YAML front matter (title, tags, aliases), headings, [[wikilinks]] (pure)."""

from __future__ import annotations

import re

import yaml

from ...errors import NoteFormatError
from ...models import Note, Section
from ._text import as_list, as_text, first_paragraph, strip_blank_edges, title_from_path

WIKILINK = re.compile(r"\[\[([^\[\]|#]+)(?:#[^\[\]|]*)?(?:\|([^\[\]]+))?\]\]")
_FRONT_MATTER = re.compile(r"\A---[ \t]*\r?\n(.*?)\r?\n(?:---|\.\.\.)[ \t]*(?:\r?\n|\Z)", re.DOTALL)
_HEADING = re.compile(r"^(#{1,6})[ \t]+(.+?)[ \t#]*$", re.MULTILINE)


def parse_markdown(text: str, path: str) -> Note:
    """Markdown: optional YAML front matter (title, tags, aliases), headings, [[wikilinks]]."""
    meta: dict = {}
    body_offset = 0
    match = _FRONT_MATTER.match(text)
    if text.startswith("---") and match is None:
        raise NoteFormatError("front matter starts with '---' but never closes")
    if match:
        try:
            loaded = yaml.safe_load(match.group(1))
        except yaml.YAMLError as exc:
            reason = str(exc).splitlines()[0]
            raise NoteFormatError(f"malformed YAML front matter ({reason})") from None
        if loaded is not None and not isinstance(loaded, dict):
            raise NoteFormatError("front matter is not a mapping of keys to values")
        meta = loaded or {}
        body_offset = match.end()

    body = text[body_offset:]
    title = as_text(meta.get("title"))
    if not title:
        first = _HEADING.search(body)
        leading = body[: first.start()].strip() if first else None
        if first and len(first.group(1)) == 1 and not leading:
            title = first.group(2).strip()
            body = body[first.end():]
    if not title:
        title = title_from_path(path)
    note_text = strip_blank_edges(body)
    sections = [
        Section(title=m.group(2).strip(), start=m.start(), content=_skip_space(note_text, m.end()))
        for m in _HEADING.finditer(note_text)
    ]
    description = as_text(meta.get("description") or meta.get("summary")) or first_paragraph(
        note_text
    )
    return Note(
        id="",
        title=title,
        kind="note",
        description=description,
        text=note_text,
        aliases=as_list(meta.get("aliases") or meta.get("alias")),
        tags=[tag.lstrip("#") for tag in as_list(meta.get("tags") or meta.get("tag"))],
        sections=sections,
        wikilinks=[m.group(1).strip() for m in WIKILINK.finditer(note_text)],
        source_path=path,
    )


def _skip_space(text: str, position: int) -> int:
    while position < len(text) and text[position].isspace():
        position += 1
    return position
