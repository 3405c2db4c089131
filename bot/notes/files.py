"""Reading note files from disk: the I/O edge of the notes stage.

    parsed, skipped, warnings = read_notes([Path("seeds")], settings)

Which files are notes, and how each is parsed, comes from the format registry
(`bot.notes.formats`). A file the bot won't read as notes (binary, not UTF-8, empty, too
large, broken front matter, an unknown suffix) is skipped with a reason, never raised. A
JSON Lines file is read line by line, so a file of gigabytes never sits in memory whole.
"""

from __future__ import annotations

import codecs
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ..errors import NoteFormatError, NoteReadError
from ..settings import Settings
from .formats import NOTE_SUFFIXES, NoteFormat, ParsedFile, format_for, format_named, parse_file


@dataclass
class Skipped:
    """A file that was not indexed, and why (a sentence).

    `failed` marks the unexpected (a parser error, an I/O error mid-read) apart from a file
    the bot won't read as notes (binary, empty, too large, an unknown suffix...).
    """

    path: str
    reason: str
    failed: bool = False


def find_note_files(paths: list[Path]) -> tuple[list[Path], list[Skipped]]:
    """Note files under the given folders (hidden folders skipped) and files named directly."""
    found: list[Path] = []
    skipped: list[Skipped] = []
    for path in paths:
        if path.is_dir():
            for root, dirs, files in os.walk(path, followlinks=False):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                for name in sorted(files):
                    if name.startswith(".") or format_for(name) is None:
                        continue
                    found.append(Path(root) / name)
        elif path.is_file() or format_for(path) is not None:
            if format_for(path) is None:
                skipped.append(Skipped(str(path), f"not a note file (expected one of {', '.join(NOTE_SUFFIXES)})"))
            else:
                found.append(path)
        else:
            skipped.append(Skipped(str(path), "no such file or folder"))
    return found, skipped


def read_note_file(path: Path, settings: Settings) -> ParsedFile:
    """Read and parse one file; raises NoteFormatError with the reason it can't be used."""
    note_format = format_for(path) or format_named("text")
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise NoteReadError(f"cannot be read ({exc.strerror or exc})") from None
    limit = getattr(settings, note_format.size_setting)
    if size > limit:
        variable = f"BOT_{note_format.size_setting.upper()}"
        raise NoteFormatError(f"too large: {_mb(size)}, over the {_mb(limit)} limit ({variable})")
    if size == 0:
        raise NoteFormatError("empty file")
    if note_format.streams:
        return _read_lines(path, note_format, settings)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise NoteReadError(f"cannot be read ({exc.strerror or exc})") from None
    if b"\x00" in raw[:8192]:
        raise NoteFormatError("binary file, not text")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise NoteFormatError(
            f"not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start}); save it as UTF-8"
        ) from None
    if not text.strip():
        raise NoteFormatError("empty file (only whitespace)")
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return parse_file(text, str(path), max_line_bytes=settings.max_note_bytes)


def _read_lines(path: Path, note_format: NoteFormat, settings: Settings) -> ParsedFile:
    """A line-per-note file, parsed as it is read: one line in memory at a time."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(8192)
            if b"\x00" in head:
                raise NoteFormatError("binary file, not text")
            handle.seek(0)
            parsed = note_format.parse_lines(_decoded_lines(handle), str(path), settings.max_note_bytes)
    except OSError as exc:
        raise NoteReadError(f"cannot be read ({exc.strerror or exc})") from None
    if not parsed.notes and not parsed.warnings:
        raise NoteFormatError("empty file (only whitespace)")
    return parsed


def _decoded_lines(handle) -> Iterator[str]:
    """UTF-8 lines of a binary file (a BOM dropped); a line that isn't UTF-8 stops the file with its offset."""
    decoder = codecs.getincrementaldecoder("utf-8-sig")()
    offset = 0
    for raw in handle:
        try:
            line = decoder.decode(raw)
        except UnicodeDecodeError as exc:
            raise NoteFormatError(
                f"not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {offset + exc.start}); save it as UTF-8"
            ) from None
        offset += len(raw)
        yield line.rstrip("\r\n")


def read_notes(paths: list[Path], settings: Settings) -> tuple[list[ParsedFile], list[Skipped], list[str]]:
    """Parse every note file under `paths`; bad files are skipped with a reason, never raised."""
    files, skipped = find_note_files(paths)
    parsed: list[ParsedFile] = []
    warnings: list[str] = []
    for path in files:
        resolved = path.resolve()
        try:
            result = read_note_file(resolved, settings)
        except NoteFormatError as exc:
            skipped.append(Skipped(str(path), str(exc), failed=isinstance(exc, NoteReadError)))
            continue
        except Exception as exc:  # a parser bug must not abort the whole ingest
            skipped.append(Skipped(str(path), f"could not be parsed ({exc.__class__.__name__}: {exc})", failed=True))
            continue
        parsed.append(result)
        warnings.extend(f"{path}: {warning}" for warning in result.warnings)
    return parsed, skipped, warnings


def _mb(size: int) -> str:
    return f"{size / 1_000_000:.1f} MB"
