"""Small text helpers the format parsers share (pure)."""

from __future__ import annotations

import re
from pathlib import PurePath


def lines_with_offsets(text: str) -> list[tuple[int, str]]:
    lines, pos = [], 0
    for line in text.splitlines(keepends=True):
        lines.append((pos, line.rstrip("\r\n")))
        pos += len(line)
    return lines


def next_nonblank(lines: list[tuple[int, str]], start: int, stop: int | None = None) -> int | None:
    stop = len(lines) if stop is None else stop
    for index in range(start, stop):
        if lines[index][1].strip():
            return index
    return None


def indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def strip_blank_edges(text: str) -> str:
    """Drop leading blank lines and trailing whitespace, keeping the first line's indentation."""
    text = re.sub(r"\A(?:[ \t]*\r?\n)+", "", text)
    return text.rstrip()


def first_paragraph(text: str) -> str:
    for block in re.split(r"\n\s*\n", text):
        block = block.strip()
        if block and not block.startswith("#"):
            return " ".join(block.split())[:500]
    return ""


def title_from_path(path: str) -> str:
    stem = PurePath(path).stem
    return re.sub(r"[_-]+", " ", stem).strip() or stem


def as_text(value: object) -> str:
    if value is None:
        return ""
    return str(value).strip()


def as_list(value: object) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    if isinstance(value, (list, tuple)):
        return [str(item).strip() for item in value if str(item).strip()]
    return [str(value).strip()]
