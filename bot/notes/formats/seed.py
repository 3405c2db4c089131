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

`note.text` is the page from its body to the end of the file: the body, then every trailing
section verbatim, each marked by a `Section` (its heading line and the page's navigation hints
under it are not quoted; everything else is quotable text with offsets into `note.text`). The
sections are also parsed into fields (`sources`, `related_concepts`, ...) for the note page.
Exports sometimes glue a heading to the line after it ("Next inquiring linesDo extended ...?",
"Research prompt for your LLMexpand ↓Copy into ..."): the heading ends where the glued text
starts. A `.txt` file is read as a seed page when it carries the header or one of these
markers (`is_seed_page`), else as plain text.

    >>> note = parse_seed_page("Why X?\\nBody text.\\nOriginal note title\\nX matters", "p.txt")
    >>> [(s.name, note.text[s.content:]) for s in note.sections], note.aliases
    ([('original_title', 'X matters')], ['X matters'])
"""

from __future__ import annotations

import re
from typing import NamedTuple

from ...errors import NoteFormatError
from ...models import Note, RelatedConcept, Section, SourceEntry
from ._text import indent, lines_with_offsets, next_nonblank

INQUIRY_HEADER = "INQUIRING LINE"
SECTION_MARKERS: dict[str, re.Pattern[str]] = {
    "sources": re.compile(r"Sources (\d+) notes?"),
    "inquiring_lines": re.compile(r"Inquiring lines that use this note as a source (\d+)"),
    "related_concepts": re.compile(r"Related concepts in this collection (\d+)"),
    "related_papers": re.compile(r"Related papers in this collection (\d+)"),
    "original_title": re.compile(r"Original note title"),
    "next_inquiring_lines": re.compile(r"Next inquiring lines"),
    "research_prompt": re.compile(r"Research prompt for your LLM(?:\s*expand ↓)?"),
}
SECTION_TITLES: dict[str, str] = {
    "sources": "Sources",
    "inquiring_lines": "Inquiring lines that use this note as a source",
    "related_concepts": "Related concepts in this collection",
    "related_papers": "Related papers in this collection",
    "original_title": "Original note title",
    "next_inquiring_lines": "Next inquiring lines",
    "research_prompt": "Research prompt for your LLM",
}
# The exported page's navigation hints under a heading: part of the heading, never quoted.
_CHROME = re.compile(
    r"(?:This note is a source for these synthesized inquiries\b|This note in its neighbourhood\b"
    r"|Click a node to walk\b)"
)
# Words an inline citation (a note title, always a question) starts with.
_QUESTION_WORDS = (
    "Do|Does|Did|Can|Could|Is|Are|Was|Were|Why|How|What|When|Where|Which|Who|Whom|Whose|"
    "Should|Would|Will|Has|Have|Had|May|Might|Must|Shall"
)
_INLINE_TITLE = re.compile(
    rf"(?<=[\w)\]'’\"”*?] )(?:{_QUESTION_WORDS}) [^?!\n]{{8,240}}?\?(?=[.,;:]|\s+[—–-]\s|\s+(?:{_QUESTION_WORDS}) |\s*$)"
)


class _Marker(NamedTuple):
    name: str
    count: int | None
    glued: int | None  # where glued text starts in the stripped line, when the heading has some


def is_seed_page(text: str) -> bool:
    """True when the text carries the seed format's header or section markers."""
    lines = [line.strip() for line in text.splitlines()]
    if lines and next((line for line in lines if line), "") == INQUIRY_HEADER:
        return True
    return any(_marker(line) is not None for line in lines)


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

    markers = [(i, m) for i in range(title_at + 1, len(lines)) if (m := _marker(lines[i][1])) is not None]
    first_marker = markers[0][0] if markers else len(lines)
    body_start = next_nonblank(lines, title_at + 1, stop=first_marker)
    text_from = next_nonblank(lines, title_at + 1)
    if text_from is None:
        note_text, origin = "", 0
    else:
        origin = lines[text_from][0] + indent(lines[text_from][1])
        note_text = text[origin:].rstrip()
    description = lines[body_start][1].strip() if body_start is not None else ""

    sections: list[Section] = []
    contents: dict[str, list[str]] = {}
    bounds = [i for i, _ in markers] + [len(lines)]
    for (at, marker), stop in zip(markers, bounds[1:]):
        line_start, line = lines[at]
        heading_start = line_start + indent(line) - origin
        if marker.glued is not None:
            content = heading_start + marker.glued
            section_lines = [line.strip()[marker.glued:]]
            following = at + 1
        else:
            following = at + 1
            while following < stop and (not lines[following][1].strip() or _CHROME.match(lines[following][1].strip())):
                following += 1
            content = (lines[following][0] + indent(lines[following][1]) - origin if following < stop
                       else min(len(note_text), heading_start + len(line.strip())))
            section_lines = []
        section_lines += [lines[i][1].rstrip() for i in range(following, stop)]
        sections.append(Section(title=SECTION_TITLES[marker.name], start=heading_start,
                                content=min(content, len(note_text)), name=marker.name, count=marker.count))
        contents.setdefault(marker.name, []).extend(section_lines)

    body = note_text[: sections[0].start].rstrip() if sections else note_text
    note = Note(
        id="",
        title=title,
        kind="inquiry" if "sources" in contents else "note",
        description=description,
        text=note_text,
        sections=sections,
        source_path=path,
    )
    _fill_sections(note, contents, body)
    return note


def _fill_sections(note: Note, sections: dict[str, list[str]], body: str) -> None:
    if "sources" in sections:
        # pairs 000-style summaries with the inline citations of the body only: the sections
        # after it name titles too, and would throw the count off
        note.sources = _parse_sources(sections["sources"], body)
    note.inquiring_lines = _list_items(sections.get("inquiring_lines", []))
    note.related_concepts = _parse_related_concepts(sections.get("related_concepts", []))
    note.related_papers = _list_items(sections.get("related_papers", []))
    note.next_inquiring_lines = _list_items(sections.get("next_inquiring_lines", []), bare_lines=True)
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


def _list_items(lines: list[str], bare_lines: bool = False) -> list[str]:
    """Items of a `- item` list; explanatory lines before the first item are boilerplate. With
    `bare_lines`, a list without any `-` is one item a line (a glued "Next inquiring lines")."""
    if bare_lines and not any(line.strip().startswith("-") for line in lines):
        return [line.strip() for line in lines if line.strip()]
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


def _marker(line: str) -> _Marker | None:
    """The section a heading line starts, or None. A heading may have the next line glued on
    ("Next inquiring linesDo ...?"): then the glued text starts right after it, with no space,
    with a capital or a list mark, and belongs to the section."""
    stripped = line.strip()
    for name, pattern in SECTION_MARKERS.items():
        match = pattern.match(stripped)
        if match is None:
            continue
        count = int(match.group(1)) if match.groups() and match.group(1) else None
        if match.end() == len(stripped):
            return _Marker(name, count, None)
        rest = stripped[match.end():]
        if rest[0].isupper() or rest[0] in "-•\"“'‘(":
            return _Marker(name, count, match.end())
    return None
