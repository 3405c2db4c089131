"""Parse notes: seed pages, Markdown, plain text and JSON Lines (pure functions).

    files ──parse_file──▶ ParsedFile (its notes + the source entries it lists)
          ──build_notes──▶ list[Note] (ids assigned, source notes created, one title = one note)
          ──resolve_links──▶ list[Note] with `links`/`link_spans` (titles found in prose)

The seed page format is a plain-text export of a research-library web page:

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

The trailing sections are structure, kept as fields, never body text.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import PurePath

import yaml

from .models import LinkSpan, Note, RelatedConcept, Section, SourceEntry

SCHEMA_VERSION = 1  # bump when parsing or chunking changes what is stored

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
_WIKILINK = re.compile(r"\[\[([^\[\]|#]+)(?:#[^\[\]|]*)?(?:\|([^\[\]]+))?\]\]")
_FRONT_MATTER = re.compile(r"\A---[ \t]*\r?\n(.*?)\r?\n(?:---|\.\.\.)[ \t]*(?:\r?\n|\Z)", re.DOTALL)
_HEADING = re.compile(r"^(#{1,6})[ \t]+(.+?)[ \t#]*$", re.MULTILINE)


class NoteFormatError(ValueError):
    """A file that cannot be read as a note (the message says why)."""


@dataclass
class ParsedFile:
    """What one file contributes: its notes and the source entries its pages list."""

    path: str
    notes: list[Note] = field(default_factory=list)
    from_jsonl: bool = False
    warnings: list[str] = field(default_factory=list)


# --- the seed page format ------------------------------------------------------------------


def is_seed_page(text: str) -> bool:
    """True when the text carries the seed format's header or section markers."""
    lines = [line.strip() for line in text.splitlines()]
    if lines and next((line for line in lines if line), "") == INQUIRY_HEADER:
        return True
    return any(pattern.match(line) for line in lines for pattern in SECTION_MARKERS.values())


def parse_seed_page(text: str, path: str) -> Note:
    """Parse one seed page into a note (`inquiry` when it has a Sources section)."""
    lines = _lines_with_offsets(text)
    index = 0
    while index < len(lines) and not lines[index][1].strip():
        index += 1
    if index < len(lines) and lines[index][1].strip() == INQUIRY_HEADER:
        index += 1
    title_at = _next_nonblank(lines, index)
    if title_at is None:
        raise NoteFormatError("no title line")
    title = lines[title_at][1].strip()

    first_marker = next(
        (i for i in range(title_at + 1, len(lines)) if _section_of(lines[i][1]) is not None),
        len(lines),
    )
    body_start = _next_nonblank(lines, title_at + 1, stop=first_marker)
    body_end_offset = lines[first_marker][0] if first_marker < len(lines) else len(text)
    if body_start is None:
        note_text = ""
        description = ""
    else:
        start_offset = lines[body_start][0] + _indent(lines[body_start][1])
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


# --- Markdown, plain text, JSON Lines ----------------------------------------------------


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
    title = _as_text(meta.get("title"))
    if not title:
        first = _HEADING.search(body)
        leading = body[: first.start()].strip() if first else None
        if first and len(first.group(1)) == 1 and not leading:
            title = first.group(2).strip()
            body = body[first.end():]
    if not title:
        title = _title_from_path(path)
    note_text = _strip_blank_edges(body)
    sections = [
        Section(title=m.group(2).strip(), start=m.start()) for m in _HEADING.finditer(note_text)
    ]
    description = _as_text(meta.get("description") or meta.get("summary")) or _first_paragraph(
        note_text
    )
    return Note(
        id="",
        title=title,
        kind="note",
        description=description,
        text=note_text,
        aliases=_as_list(meta.get("aliases") or meta.get("alias")),
        tags=[tag.lstrip("#") for tag in _as_list(meta.get("tags") or meta.get("tag"))],
        sections=sections,
        wikilinks=[m.group(1).strip() for m in _WIKILINK.finditer(note_text)],
        source_path=path,
    )


def parse_plain_text(text: str, path: str) -> Note:
    """Plain text: the first line is the title, the rest the body (one paragraph: the file name titles it)."""
    stripped = _strip_blank_edges(text)
    first_line, _, rest = stripped.partition("\n")
    if rest.strip():
        title, note_text = first_line.strip(), _strip_blank_edges(rest)
    else:
        title, note_text = _title_from_path(path), stripped
    return Note(
        id="",
        title=title,
        kind="note",
        description=_first_paragraph(note_text),
        text=note_text,
        source_path=path,
    )


def parse_jsonl(text: str, path: str, max_line_bytes: int) -> ParsedFile:
    """One note per line: `_id`, `title`, `text` (optional `tags`, `description`). Bad lines are skipped."""
    parsed = ParsedFile(path=path, from_jsonl=True)
    seen: set[str] = set()
    for number, line in enumerate(text.splitlines(), start=1):
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
        title = _as_text(record.get("title"))
        body = record.get("text")
        if not isinstance(body, str) or not body.strip():
            parsed.warnings.append(f"{where}: no 'text'")
            continue
        note_id = _as_text(record.get("_id")) or ""
        if note_id and note_id in seen:
            parsed.warnings.append(f"{where}: duplicate _id {note_id!r}")
            continue
        seen.add(note_id)
        parsed.notes.append(
            Note(
                id=note_id,
                title=title or (note_id or _first_paragraph(body)[:80]),
                kind="note",
                description=_as_text(record.get("description")),
                text=body,
                tags=_as_list(record.get("tags")),
                source_path=path,
            )
        )
    return parsed


def parse_file(text: str, path: str, *, max_line_bytes: int = 5_000_000) -> ParsedFile:
    """Parse one file's text by its extension (and, for .txt, the seed page markers)."""
    suffix = PurePath(path).suffix.lower()
    if suffix == ".jsonl":
        return parse_jsonl(text, path, max_line_bytes)
    if suffix in (".md", ".markdown"):
        note = parse_markdown(text, path)
    elif is_seed_page(text):
        note = parse_seed_page(text, path)
    else:
        note = parse_plain_text(text, path)
    if not note.text.strip():
        raise NoteFormatError("no text after the title")
    return ParsedFile(path=path, notes=[note])


# --- the collection: ids, source notes, content hashes, links ------------------------------


def build_notes(files: list[ParsedFile]) -> list[Note]:
    """Assign ids, create `source` notes from Sources lists, hash the content.

    One title = one note within the seed format (the same source listed on
    several pages is one note; a page with that title wins over the list
    entry). `.jsonl` lines are identified by `_id` and never merged. Titles
    that slug alike get a suffix from their source path, never from order.
    """
    files = sorted(files, key=lambda f: f.path)
    jsonl_notes: list[Note] = []
    titled_notes: list[Note] = []
    seen_jsonl_ids: set[str] = set()
    for parsed in files:
        for note in parsed.notes:
            if parsed.from_jsonl and note.id:
                if note.id in seen_jsonl_ids:
                    continue
                seen_jsonl_ids.add(note.id)
                jsonl_notes.append(note.model_copy())
            else:
                titled_notes.append(note.model_copy())

    seed_titles: dict[str, Note] = {}
    notes_by_title: list[Note] = []
    for note in titled_notes:
        if note.title in seed_titles and not note.source_path.lower().endswith((".md", ".markdown")):
            continue  # the same seed title twice: one note (first path wins)
        seed_titles.setdefault(note.title, note)
        notes_by_title.append(note)

    for note in titled_notes:
        for entry in note.sources:
            if entry.title in seed_titles:
                continue
            source = Note(
                id="",
                title=entry.title,
                kind="source",
                description=entry.summary,
                text=entry.summary,
                source_path=note.source_path,
            )
            seed_titles[entry.title] = source
            notes_by_title.append(source)

    _assign_ids(notes_by_title, taken={n.id for n in jsonl_notes})
    notes = jsonl_notes + notes_by_title
    for note in notes:
        note.content_hash = content_hash(note)
    return notes


def _assign_ids(notes: list[Note], taken: set[str]) -> None:
    by_slug: dict[str, list[Note]] = defaultdict(list)
    for note in notes:
        if note.id:
            continue
        by_slug[slugify(note.title)].append(note)
    for slug, group in by_slug.items():
        clash = len(group) > 1 or slug in taken
        for note in group:
            note.id = f"{slug}-{_path_suffix(note.source_path)}" if clash else slug


def _path_suffix(path: str) -> str:
    return hashlib.sha1(path.encode("utf-8")).hexdigest()[:6]


def slugify(title: str, max_length: int = 80) -> str:
    """A URL-safe id from a title: lowercase ASCII words joined by '-'."""
    ascii_title = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode("ascii")
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_title.lower()).strip("-")
    if len(slug) > max_length:
        slug = slug[:max_length].rsplit("-", 1)[0]
    return slug or "note"


def content_hash(note: Note) -> str:
    """Hash of everything stored about a note except what is derived across the collection."""
    payload = note.model_dump(exclude={"content_hash", "links", "link_spans"})
    payload["schema"] = SCHEMA_VERSION
    blob = json.dumps(payload, sort_keys=True, ensure_ascii=False).encode("utf-8")
    return hashlib.sha256(blob).hexdigest()


MIN_LINK_TITLE_CHARS = 20  # shorter titles ("Summary") would turn common words into links


def resolve_links(notes: list[Note]) -> list[Note]:
    """Find each note's inline citations (known titles and aliases in its text) and wikilinks.

    Returns new Note objects with `links` (ids, in order of first mention) and
    `link_spans`. Links never change a note's content hash, so resolving them
    costs no re-embedding.
    """
    by_title: dict[str, str] = {}
    for note in notes:
        for name in [note.title, *note.aliases]:
            by_title.setdefault(name, note.id)
    by_lower = {title.lower(): note_id for title, note_id in by_title.items()}
    by_id = {note.id: note.id for note in notes}
    finder = _TitleFinder([t for t in by_title if len(t) >= MIN_LINK_TITLE_CHARS])
    resolved = []
    for note in notes:
        spans: list[LinkSpan] = []
        for start, end, title in finder.find(note.text):
            target = by_title[title]
            if target != note.id:
                spans.append(LinkSpan(start=start, end=end, note_id=target))
        for match in _WIKILINK.finditer(note.text):
            name = match.group(1).strip()
            target = by_title.get(name) or by_lower.get(name.lower()) or by_id.get(slugify(name))
            if target and target != note.id:
                spans.append(LinkSpan(start=match.start(), end=match.end(), note_id=target))
        spans.sort(key=lambda s: s.start)
        links = list(dict.fromkeys(span.note_id for span in spans))
        for entry in note.sources:  # an inquiry cites its sources even when prose doesn't name them
            target = by_title.get(entry.title)
            if target and target != note.id and target not in links:
                links.append(target)
        resolved.append(note.model_copy(update={"links": links, "link_spans": spans}))
    return resolved


class _TitleFinder:
    """Find many literal titles in text in one pass, keyed by their first two words."""

    def __init__(self, titles: list[str]) -> None:
        self.by_prefix: dict[tuple[str, ...], list[str]] = defaultdict(list)
        for title in sorted(titles, key=len, reverse=True):
            self.by_prefix[tuple(title.split()[:2])].append(title)

    def find(self, text: str) -> list[tuple[int, int, str]]:
        found = []
        words = list(re.finditer(r"\S+", text))
        position = 0
        for index, word in enumerate(words):
            if word.start() < position:
                continue
            key = (word.group(),) if index + 1 >= len(words) else (word.group(), words[index + 1].group())
            for candidate_key in (key, key[:1]):
                for title in self.by_prefix.get(candidate_key, ()):
                    if text.startswith(title, word.start()) and _ends_at_boundary(text, word.start() + len(title)):
                        found.append((word.start(), word.start() + len(title), title))
                        position = word.start() + len(title)
                        break
                else:
                    continue
                break
        return found


def _ends_at_boundary(text: str, end: int) -> bool:
    return end >= len(text) or not text[end].isalnum() or not text[end - 1].isalnum()


# --- small helpers -------------------------------------------------------------------------


def _lines_with_offsets(text: str) -> list[tuple[int, str]]:
    lines, pos = [], 0
    for line in text.splitlines(keepends=True):
        lines.append((pos, line.rstrip("\r\n")))
        pos += len(line)
    return lines


def _next_nonblank(lines: list[tuple[int, str]], start: int, stop: int | None = None) -> int | None:
    stop = len(lines) if stop is None else stop
    for index in range(start, stop):
        if lines[index][1].strip():
            return index
    return None


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _strip_blank_edges(text: str) -> str:
    """Drop leading blank lines and trailing whitespace, keeping the first line's indentation."""
    text = re.sub(r"\A(?:[ \t]*\r?\n)+", "", text)
    return text.rstrip()


def _first_paragraph(text: str) -> str:
    for block in re.split(r"\n\s*\n", text):
        block = block.strip()
        if block and not block.startswith("#"):
            return " ".join(block.split())[:500]
    return ""


def _title_from_path(path: str) -> str:
    stem = PurePath(path).stem
    return re.sub(r"[_-]+", " ", stem).strip() or stem


def _as_text(value: object) -> str:
    if value is None:
        return ""
    return str(value).strip()


def _as_list(value: object) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    if isinstance(value, (list, tuple)):
        return [str(item).strip() for item in value if str(item).strip()]
    return [str(value).strip()]
