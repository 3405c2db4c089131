"""The collection: ids, content hashes and source notes over every parsed file (pure).

    build_notes(parsed_files) -> list[Note]     ids assigned, source notes created, content hashed
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections import defaultdict

from ..models import Note
from .formats import ParsedFile, format_for, format_named

SCHEMA_VERSION = 2  # bump when parsing or chunking changes what is stored (2: every section is text)


def build_notes(files: list[ParsedFile]) -> list[Note]:
    """Assign ids, create `source` notes from Sources lists, hash the content.

    Each format says how its notes get ids (`NoteFormat.own_ids`, `merge_same_title`): one
    title = one note for seed pages (the same source listed on several pages is one note; a
    page with that title wins over the list entry); `.jsonl` lines are identified by `_id`
    and never merged; each Markdown file is a note of its own. Titles that slug alike get a
    suffix from their source path, never from order.
    """
    files = sorted(files, key=lambda f: f.path)
    record_notes: list[Note] = []
    titled_notes: list[tuple[Note, bool]] = []  # (note, one title = one note)
    seen_record_ids: set[str] = set()
    for parsed in files:
        policy = format_named(parsed.format) if parsed.format else (format_for(parsed.path) or format_named("text"))
        for note in parsed.notes:
            if policy.own_ids and note.id:
                if note.id in seen_record_ids:
                    continue
                seen_record_ids.add(note.id)
                record_notes.append(note.model_copy())
            else:
                titled_notes.append((note.model_copy(), policy.merge_same_title))

    seed_titles: dict[str, Note] = {}
    notes_by_title: list[Note] = []
    for note, merge in titled_notes:
        if note.title in seed_titles and merge:
            continue  # the same seed title twice: one note (first path wins)
        seed_titles.setdefault(note.title, note)
        notes_by_title.append(note)

    for note, _ in titled_notes:
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

    _assign_ids(notes_by_title, taken={n.id for n in record_notes})
    notes = record_notes + notes_by_title
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
