"""JSON Lines: one note per line, `_id`, `title`, `text` (optional `tags`, `description`) (pure).

Read line by line (`parse_lines` takes any iterable of lines), so a file of gigabytes never
sits in memory whole. A bad line is skipped with a warning naming its line number.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from ...models import Note
from ._parsed import ParsedFile
from ._text import as_list, as_text, first_paragraph


def parse_lines(lines: Iterable[str], path: str, max_line_bytes: int) -> ParsedFile:
    """One note per line: `_id`, `title`, `text` (optional `tags`, `description`). Bad lines are skipped.

        >>> parse_lines(['{"_id": "d1", "title": "T", "text": "Body."}', "{oops"], "c.jsonl", 1000).warnings
        ['line 2: not valid JSON (Expecting property name enclosed in double quotes)']
    """
    parsed = ParsedFile(path=path, format="jsonl")
    seen: set[str] = set()
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"line {number}"
        if len(line.encode("utf-8", "surrogatepass")) > max_line_bytes:
            parsed.warnings.append(f"{where}: over the {max_line_bytes:,}-byte limit for one note")
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            parsed.warnings.append(f"{where}: not valid JSON ({exc.msg})")
            continue
        if not isinstance(record, dict):
            parsed.warnings.append(f"{where}: not a JSON object")
            continue
        title = as_text(record.get("title"))
        body = record.get("text")
        if not isinstance(body, str) or not body.strip():
            parsed.warnings.append(f"{where}: no 'text'")
            continue
        note_id = as_text(record.get("_id")) or ""
        if note_id and note_id in seen:
            parsed.warnings.append(f"{where}: duplicate _id {note_id!r}")
            continue
        seen.add(note_id)
        parsed.notes.append(
            Note(
                id=note_id,
                title=title or (note_id or first_paragraph(body)[:80]),
                kind="note",
                description=as_text(record.get("description")),
                text=body,
                tags=as_list(record.get("tags")),
                source_path=path,
            )
        )
    return parsed
