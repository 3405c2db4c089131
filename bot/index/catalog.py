"""A snapshot's notes and chunk ids as columns (`columns.py`), with what questions and the note
pages look up over the whole collection: note ids, kinds, tags, names, backlinks, and the
lower-cased titles and texts the note search scans.

    catalog = Catalog.build(notes, chunk_ids)           # in memory, from parsed notes
    catalog.save(directory); Catalog.load(directory, shared=True)   # the files every worker maps
    catalog.by_id["tides"], catalog.named("Tides and the moon"), catalog.mask(kinds=("note",))

Nothing here holds a Python object per note: a note is parsed from its JSON when a row is asked
for, and every walk over the collection (filters, lists, counts, search) is array work or one
scan of a blob.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..models import KINDS, Note
from .columns import Backlinks, KeyIndex, NoteTable, Strings, csr

# (column, file name) of the string columns
_STRINGS = ("notes", "note_ids", "chunk_ids", "titles", "descriptions", "names", "search_titles", "search_texts")
_ARRAYS = ("kind", "tag_ptr", "tag_ids", "name_rows", "title_order", "backlink_ptr", "backlink_rows")


@dataclass
class Catalog:
    """Per-note and per-chunk columns of one snapshot (row i = note i, sorted by id)."""

    notes: Sequence[Note]  # a list when built, a NoteTable when read from disk
    note_ids: Strings
    chunk_ids: Strings
    titles: Strings
    descriptions: Strings
    kind: np.ndarray  # int8: index into models.KINDS
    tag_names: list[str]
    tag_ptr: np.ndarray  # each note's tags (as it lists them) as ids into tag_names, CSR
    tag_ids: np.ndarray
    names: Strings  # every distinct title and alias, first seen first
    name_rows: np.ndarray  # the first note (by row) each name belongs to
    title_order: np.ndarray  # note rows by lower-cased title (ties by row)
    backlink_ptr: np.ndarray  # the rows citing each note, CSR
    backlink_rows: np.ndarray
    search_titles: Strings  # title.lower()
    search_texts: Strings  # text.lower() + "\0" + description.lower()
    by_id: KeyIndex | None = None
    chunk_rows: KeyIndex | None = None
    by_name: KeyIndex | None = None

    def __post_init__(self) -> None:
        if self.by_id is None:
            self.by_id = KeyIndex.build(self.note_ids)
        if self.chunk_rows is None:
            self.chunk_rows = KeyIndex.build(self.chunk_ids)
        if self.by_name is None:
            self.by_name = KeyIndex.build(self.names, self.name_rows)
        self.backlinks = Backlinks(self.note_ids, self.by_id, self.backlink_ptr, self.backlink_rows)

    @classmethod
    def build(cls, notes: list[Note], chunk_ids: Sequence[str]) -> Catalog:
        tag_names: dict[str, int] = {}
        tags = [[tag_names.setdefault(t, len(tag_names)) for t in n.tags] for n in notes]
        names: dict[str, int] = {}
        for row, note in enumerate(notes):
            for name in [note.title, *note.aliases]:
                names.setdefault(name, row)
        note_ids = Strings.build(n.id for n in notes)
        titles_lower = [n.title.lower() for n in notes]
        by_id = KeyIndex.build(note_ids)
        backlinks = Backlinks.build(note_ids, by_id, [n.links for n in notes])
        tag_ptr, tag_ids = csr(tags)
        return cls(
            notes=notes, note_ids=note_ids, chunk_ids=Strings.build(chunk_ids),
            titles=Strings.build(n.title for n in notes), descriptions=Strings.build(n.description for n in notes),
            kind=np.asarray([KINDS.index(n.kind) for n in notes], dtype=np.int8),
            tag_names=list(tag_names), tag_ptr=tag_ptr, tag_ids=tag_ids,
            names=Strings.build(names), name_rows=np.asarray(list(names.values()), dtype=np.int64),
            title_order=np.asarray(sorted(range(len(notes)), key=titles_lower.__getitem__), dtype=np.int64),
            backlink_ptr=backlinks.ptr, backlink_rows=backlinks.rows,
            search_titles=Strings.build(titles_lower),
            search_texts=Strings.build(f"{n.text.lower()}\0{n.description.lower()}" for n in notes),
            by_id=by_id,
        )

    # --- on disk ----------------------------------------------------------------------------

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        notes = self.notes.documents if isinstance(self.notes, NoteTable) else \
            Strings.build(n.model_dump_json() for n in self.notes)
        notes.save(directory, "notes")
        for name in _STRINGS[1:]:
            getattr(self, name).save(directory, name)
        for name in _ARRAYS:
            np.save(directory / f"{name}.npy", np.ascontiguousarray(getattr(self, name)))
        (directory / "tags.json").write_text(json.dumps(self.tag_names))
        self.by_id.save(directory, "by_id")
        self.chunk_rows.save(directory, "chunk_rows")
        self.by_name.save(directory, "by_name")

    @classmethod
    def load(cls, directory: Path, *, shared: bool = True) -> Catalog:
        strings = {name: Strings.load(directory, name, shared=shared) for name in _STRINGS}
        arrays = {name: np.load(directory / f"{name}.npy", mmap_mode="r" if shared else None) for name in _ARRAYS}
        notes = NoteTable(strings.pop("notes"))
        if not (len(notes) == len(strings["note_ids"]) == len(arrays["kind"]) == len(arrays["tag_ptr"]) - 1
                == len(arrays["backlink_ptr"]) - 1 == len(strings["search_texts"])):
            raise ValueError("the note columns differ in length")
        return cls(
            notes=notes, **strings, **arrays, tag_names=json.loads((directory / "tags.json").read_text()),
            by_id=KeyIndex.load(directory, "by_id", strings["note_ids"], shared=shared),
            chunk_rows=KeyIndex.load(directory, "chunk_rows", strings["chunk_ids"], shared=shared),
            by_name=KeyIndex.load(directory, "by_name", strings["names"], shared=shared),
        )

    # --- lookups ----------------------------------------------------------------------------

    def named(self, name: str) -> str | None:
        """The id of the first note (by row) with this title or alias."""
        row = self.by_name.get(name)
        return None if row is None else self.note_ids[row]

    def tags_of(self, row: int) -> list[str]:
        """Note `row`'s tags, as it lists them."""
        return [self.tag_names[int(i)] for i in self.tag_ids[int(self.tag_ptr[row]):int(self.tag_ptr[row + 1])]]

    def tag_counts(self) -> dict[str, int]:
        """How many notes carry each tag, in order of first use."""
        rows = np.repeat(np.arange(len(self.note_ids), dtype=np.int64), np.diff(np.asarray(self.tag_ptr)))
        pairs = np.unique(rows * max(1, len(self.tag_names)) + np.asarray(self.tag_ids, dtype=np.int64))
        counts = np.bincount(pairs % max(1, len(self.tag_names)), minlength=len(self.tag_names))
        return {tag: int(c) for tag, c in zip(self.tag_names, counts.tolist()) if c}

    def tag_rows(self, tag: str) -> np.ndarray:
        """The rows of the notes carrying `tag`."""
        if tag not in self.tag_names:
            return np.zeros(0, dtype=np.int64)
        code = self.tag_names.index(tag)
        holders = np.flatnonzero(np.asarray(self.tag_ids) == code)
        return np.unique(np.searchsorted(np.asarray(self.tag_ptr), holders, side="right") - 1).astype(np.int64)

    def mask(self, kinds: Sequence[str] = (), tags: Sequence[str] = (), note_ids: Sequence[str] = ()) -> np.ndarray:
        """Which notes pass: of one of `kinds`, carrying one of `tags`, one of `note_ids` (each
        test only when given), as `Filters.admits` says of one note."""
        keep = np.ones(len(self.note_ids), dtype=bool)
        if kinds:
            keep &= np.isin(self.kind, [KINDS.index(k) for k in kinds if k in KINDS])
        if tags:
            tagged = np.zeros(len(keep), dtype=bool)
            for tag in tags:
                tagged[self.tag_rows(tag)] = True
            keep &= tagged
        if note_ids:
            wanted = np.zeros(len(keep), dtype=bool)
            rows = self.by_id.lookup(list(note_ids))
            wanted[rows[rows >= 0]] = True
            keep &= wanted
        return keep
