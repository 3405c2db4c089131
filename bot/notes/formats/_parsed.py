"""`ParsedFile`: what one file contributes (shared by the parsers and the registry)."""

from __future__ import annotations

from dataclasses import dataclass, field

from ...models import Note


@dataclass
class ParsedFile:
    """What one file contributes: its notes (with the source entries its pages list), and
    warnings about parts of it that were skipped (a bad line of a .jsonl file, say)."""

    path: str
    notes: list[Note] = field(default_factory=list)
    format: str = ""  # the NoteFormat's name; "" = the one its path's suffix names
    warnings: list[str] = field(default_factory=list)
