"""The seed page format: a plain-text export of a research-library web page (pure).

    [INQUIRING LINE]
    <title, a question>
    <one-paragraph description>
    <body...>
    Sources N notes                                   (an inquiry has this)
    Inquiring lines that use this note as a source N
    Related concepts in this collection N
    Related papers in this collection N
    Original note title
    Next inquiring lines
    Research prompt for your LLMexpand ↓

The trailing sections are structure, kept as fields, never body text. A `.txt` file is
read as a seed page when it carries the header or one of these markers (`is_seed_page`),
else as plain text.
"""

from __future__ import annotations

import re

from ...errors import NoteFormatError
from ...models import Note, RelatedConcept, SourceEntry
from ._text import indent, lines_with_offsets, next_nonblank

INQUIRY_HEADER = "INQUIRING LINE"
SECTION_MARKERS: dict[str, re.Pattern[str]] = {
    "sources": re.compile(r"^Sources \d+ notes?$"),
    "inquiring_lines": re.compile(r"^Inquiring lines that use this note as a source \d+$"),
    "related_concepts": re.compile(r"^Related concepts in this collection \d+$"),
    "related_papers": re.compile(r"^Related papers in this collection \d+$"),
    "original_title": re.compile(r"^Original note title$"),
    "next_inquiring_lines": re.compile(r"^Next inquiring lines$"),
    "research_prompt": re.compile(r"^Research prompt for your LLM(?:\s*expand ↓)?$"),
}
# Words an inline citation (a note title, always a question) starts with.
_QUESTION_WORDS = (
    "Do|Does|Did|Can|Could|Is|Are|Was|Were|Why|How|What|When|Where|Which|Who|Whom|Whose|"
    "Should|Would|Will|Has|Have|Had|May|Might|Must|Shall"
)
_INLINE_TITLE = re.compile(
    rf"(?<=[\w)\]'’\"”*?] )(?:{_QUESTION_WORDS}) [^?!\n]{{8,240}}?\?(?=[.,;:]|\s+[—–-]\s|\s+(?:{_QUESTION_WORDS}) |\s*$)"
)


def is_seed_page(text: str) -> bool:
    """True when the text carries the seed format's header or section markers."""
    lines = [line.strip() for line in text.splitlines()]
    if lines and next((line for line in lines if line), "") == INQUIRY_HEADER:
        return True
    return any(pattern.match(line) for line in lines for pattern in SECTION_MARKERS.values())


def parse_seed_page(text: str, path: str) -> Note:
    """Parse one seed page into a note (`inquiry` when it has a Sources section)."""
    lines = lines_with_offsets(text)
    index = 0
    while index < len(lines) and not lines[index][1].strip():
        index += 1
    if index < len(lines) and lines[index][1].strip() == INQUIRY_HEADER:
        index += 1
    title_at = next_nonblank(lines, index)
    if title_at is None:
        raise NoteFormatError("no title line")
    title = lines[title_at][1].strip()

    first_marker = next(
        (i for i in range(title_at + 1, len(lines)) if _section_of(lines[i][1]) is not None),
        len(lines),
    )
    body_start = next_nonblank(lines, title_at + 1, stop=first_marker)
    body_end_offset = lines[first_marker][0] if first_marker < len(lines) else len(text)
    if body_start is None:
        note_text = ""
        description = ""
    else:
        start_offset = lines[body_start][0] + indent(lines[body_start][1])
        note_text = text[start_offset:body_end_offset].rstrip()
        description = lines[body_start][1].strip()

    sections = _split_sections(lines, first_marker)
    note = Note(
        id="",
        title=title,
        kind="inquiry" if "sources" in sections else "note",
        description=description,
        text=note_text,
        source_path=path,
    )
    _fill_sections(note, sections)
    return note


def _split_sections(lines: list[tuple[int, str]], start: int) -> dict[str, list[str]]:
    sections: dict[str, list[str]] = {}
    current = None
    for _, line in lines[start:]:
        name = _section_of(line)
        if name is not None:
            current = name
            sections.setdefault(name, [])
        elif current is not None:
            sections[current].append(line.rstrip())
    return sections


def _fill_sections(note: Note, sections: dict[str, list[str]]) -> None:
    if "sources" in sections:
        note.sources = _parse_sources(sections["sources"], note.text)
    note.inquiring_lines = _list_items(sections.get("inquiring_lines", []))
    note.related_concepts = _parse_related_concepts(sections.get("related_concepts", []))
    note.related_papers = _list_items(sections.get("related_papers", []))
    note.next_inquiring_lines = _list_items(sections.get("next_inquiring_lines", []))
    note.aliases = [line.strip() for line in sections.get("original_title", []) if line.strip()]
    note.research_prompt = "\n".join(sections.get("research_prompt", [])).strip()


def _parse_sources(lines: list[str], body: str) -> list[SourceEntry]:
    """`Sources N notes`: title/summary pairs, or (000-style) summaries paired with inline citations."""
    items = [line.strip() for line in lines if line.strip()]
    if not items:
        return []
    titled = len(items) % 2 == 0 and all(_looks_like_title(items[i]) for i in range(0, len(items), 2))
    if titled:
        return [SourceEntry(title=items[i], summary=items[i + 1]) for i in range(0, len(items), 2)]
    cited = inline_title_candidates(body)
    if len(cited) != len(items):
        return []  # can't pair them safely; the summaries stay unattributed
    return [SourceEntry(title=title, summary=summary) for title, summary in zip(cited, items)]


def inline_title_candidates(text: str) -> list[str]:
    """Question-shaped titles cited inside prose, in order ("...analysis Does X help?. So...")."""
    return [match.group() for match in _INLINE_TITLE.finditer(text)]


def _looks_like_title(line: str) -> bool:
    return len(line) <= 200 and not line.endswith(".")


def _list_items(lines: list[str]) -> list[str]:
    """Items of a `- item` list; explanatory lines before the first item are boilerplate."""
    items = []
    started = False
    for line in lines:
        stripped = line.strip()
        if stripped.startswith("-"):
            started = True
            item = stripped.lstrip("-").strip()
            if item:
                items.append(item)
        elif started and stripped and items:
            items.append(stripped)  # a wrapped item keeps its own line
    return items


def _parse_related_concepts(lines: list[str]) -> list[RelatedConcept]:
    groups: list[list[str]] = []
    for line in lines:
        stripped = line.strip()
        if stripped == "-" or stripped.startswith("- "):
            groups.append([stripped[2:].strip()] if len(stripped) > 2 else [])
        elif groups and stripped:
            groups[-1].append(stripped)
    concepts = []
    for group in groups:
        if group:
            concepts.append(
                RelatedConcept(
                    title=group[0],
                    description=group[1] if len(group) > 1 else "",
                    relation=" ".join(group[2:]),
                )
            )
    return concepts


def _section_of(line: str) -> str | None:
    stripped = line.strip()
    for name, pattern in SECTION_MARKERS.items():
        if pattern.match(stripped):
            return name
    return None
