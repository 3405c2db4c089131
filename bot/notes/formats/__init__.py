"""Note formats: one module per format, behind one registry from file suffix to parser.

    FORMATS                      the formats the bot reads, in the order `--help` lists them
    format_for("a/b.md")         the NoteFormat for a path (None: not a note file)
    parse_file(text, path)       ParsedFile: the notes one file's text holds

To add a format: write `formats/<name>.py` with a pure `parse(text, path) -> Note` (or, for a
file holding many notes, `parse_lines(lines, path, max_line_bytes) -> ParsedFile`), and add one
`NoteFormat(...)` line to `FORMATS` below. Reading files (`bot.notes.files`), ids
(`bot.notes.collection`) and ingest follow the registry; nothing else names a suffix.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import PurePath

from ...errors import NoteFormatError
from ...models import Note
from ._parsed import ParsedFile
from . import jsonl, markdown, seed
from . import text as plain


@dataclass(frozen=True)
class NoteFormat:
    """How one kind of file becomes notes, and how those notes get their ids."""

    name: str
    suffixes: tuple[str, ...]
    parse: Callable[[str, str], Note] | None = None  # one note per file: (text, path) -> Note
    # many notes per file, read line by line: (lines, path, max_line_bytes) -> ParsedFile
    parse_lines: Callable[[Iterable[str], str, int], ParsedFile] | None = None
    own_ids: bool = False  # notes carry their own ids (a record's `_id`): kept as they are, never merged
    merge_same_title: bool = True  # one title = one note across files; False: each file is its own note
    size_setting: str = "max_note_bytes"  # the Settings field that caps one file's size

    @property
    def streams(self) -> bool:
        """True when the file is read line by line rather than whole."""
        return self.parse_lines is not None


def _text_or_seed(text: str, path: str) -> Note:
    return seed.parse_seed_page(text, path) if seed.is_seed_page(text) else plain.parse_plain_text(text, path)


FORMATS: tuple[NoteFormat, ...] = (
    NoteFormat("markdown", (".md", ".markdown"), parse=markdown.parse_markdown, merge_same_title=False),
    NoteFormat("text", (".txt",), parse=_text_or_seed),  # a seed page when it carries the seed markers
    NoteFormat("jsonl", (".jsonl",), parse_lines=jsonl.parse_lines, own_ids=True, size_setting="max_jsonl_bytes"),
)
NOTE_SUFFIXES: tuple[str, ...] = tuple(suffix for f in FORMATS for suffix in f.suffixes)
_BY_SUFFIX = {suffix: f for f in FORMATS for suffix in f.suffixes}
_BY_NAME = {f.name: f for f in FORMATS}


def format_for(path: str | PurePath) -> NoteFormat | None:
    """The format of a file, by its suffix (case-insensitive); None for a file that isn't a note."""
    return _BY_SUFFIX.get(PurePath(path).suffix.lower())


def format_named(name: str) -> NoteFormat:
    return _BY_NAME[name]


def parse_file(text: str, path: str, *, max_line_bytes: int = 5_000_000) -> ParsedFile:
    """Parse one file's text by its format (a `.txt` file is a seed page when it has the markers).

        >>> parse_file("Warmth\\nTraining for warmth costs accuracy.", "a.txt").notes[0].title
        'Warmth'
    """
    note_format = format_for(path) or _BY_NAME["text"]
    if note_format.streams:
        return note_format.parse_lines(text.splitlines(), path, max_line_bytes)
    note = note_format.parse(text, path)
    if not note.text.strip():
        raise NoteFormatError("no text after the title")
    return ParsedFile(path=path, format=note_format.name, notes=[note])
