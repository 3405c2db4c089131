"""One immutable `Snapshot` of a committed index version: what retrieval needs in memory.

A snapshot holds what retrieval needs besides Chroma's vector search: the live
notes (links resolved), chunk offsets, every sentence's offsets and vector,
and the BM25 index. Everything in it is derived from the Chroma store, so a
worker needs nothing but the store's address; it is cached on local disk per
version, so a restart with an unchanged index loads in a moment. Read from that cache, every
array and the notes themselves (`catalog.py`: note JSON, ids, titles, search text as columns)
are memory-mapped, so the workers on a host share one copy and a worker holds no Python object
per note.

    snapshot = load_snapshot(store, version, dimension, cache_root(settings))
    snapshot.note("some-note-id"), snapshot.sentences_of(row)
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import StoreError
from ..models import Note
from ..notes.chunks import chunk_heading
from ..notes.links import resolve_links
from ..settings import Settings
from .catalog import Catalog
from .columns import Backlinks, KeyIndex, Strings
from .lexical import LexicalIndex, term_table
from .records import unpack_sentences
from .store import Store

log = logging.getLogger(__name__)

CACHE_FORMAT = 6  # 6: notes and chunk ids as mapped columns (5: one .npy per array, memory-mapped)


@dataclass
class Snapshot:
    """Everything about one committed index version that lives in memory."""

    version: int
    notes: Sequence[Note]  # a list when built; rows parsed from the mapped cache when read from it
    note_vectors: np.ndarray  # (notes, dim), normalised
    chunk_ids: Sequence[str]
    chunk_note: np.ndarray  # (chunks,) note row
    chunk_start: np.ndarray
    chunk_end: np.ndarray
    sentence_note: np.ndarray  # (sentences,) note row; sorted by note row, then start
    sentence_start: np.ndarray
    sentence_end: np.ndarray
    sentence_quotable: np.ndarray  # bool
    sentence_vectors: np.ndarray  # (sentences, dim) float16 (as stored in Chroma)
    lexical: LexicalIndex
    store_chunks: int = 0  # chunk records in the store when loaded (live or not)
    # the notes and chunk ids as columns, with the lookups over them (ids, names, backlinks,
    # kinds, tags, search text): built from `notes` when not given (see catalog.py)
    catalog: Catalog | None = None
    note_sentence_offsets: np.ndarray = field(default_factory=lambda: np.zeros(1, np.int64))
    # each sentence's and each name's distinct terms as ids into `terms` (see lexical.term_table):
    # questions score sentences and titles without tokenizing them. A note's names are its title,
    # then its aliases (a seed page's original title, a Markdown note's front-matter aliases):
    # row i of the title table is a name of note `title_note[i]`, sorted by note row.
    terms: dict[str, int] | None = None
    sentence_term_ptr: np.ndarray | None = None
    sentence_term_ids: np.ndarray | None = None
    title_term_ptr: np.ndarray | None = None
    title_term_ids: np.ndarray | None = None
    title_note: np.ndarray | None = None
    note_title_offsets: np.ndarray = field(default_factory=lambda: np.zeros(1, np.int64))

    def __post_init__(self) -> None:
        if self.catalog is None:
            self.catalog = Catalog.build(list(self.notes), self.chunk_ids)
        self.notes, self.chunk_ids = self.catalog.notes, self.catalog.chunk_ids
        counts = np.bincount(self.sentence_note, minlength=len(self.notes)) if len(self.notes) else np.zeros(0)
        self.note_sentence_offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        if (self.terms is None or self.sentence_term_ptr is None or self.title_term_ptr is None
                or self.title_note is None):
            self.terms = {}
            self.sentence_term_ptr, self.sentence_term_ids = term_table(
                [self.notes[row].text[start:end] for row, start, end in
                 zip(self.sentence_note.tolist(), self.sentence_start.tolist(), self.sentence_end.tolist())],
                self.terms)
            names = [(row, name) for row, note in enumerate(self.notes) for name in note_names(note)]
            self.title_term_ptr, self.title_term_ids = term_table([name for _, name in names], self.terms)
            self.title_note = np.asarray([row for row, _ in names], dtype=np.int32)
        name_counts = np.bincount(self.title_note, minlength=len(self.notes)) if len(self.notes) else np.zeros(0)
        self.note_title_offsets = np.concatenate([[0], np.cumsum(name_counts)]).astype(np.int64)

    @property
    def by_id(self) -> KeyIndex:
        """note id -> row."""
        return self.catalog.by_id

    @property
    def chunk_rows(self) -> KeyIndex:
        """chunk id -> row."""
        return self.catalog.chunk_rows

    @property
    def backlinks(self) -> Backlinks:
        """note id -> the ids of the notes citing it."""
        return self.catalog.backlinks

    @property
    def note_ids(self) -> Strings:
        return self.catalog.note_ids

    @property
    def dimension(self) -> int:
        return int(self.note_vectors.shape[1]) if self.note_vectors.ndim == 2 else 0

    def note(self, note_id: str) -> Note | None:
        row = self.by_id.get(note_id)
        return None if row is None else self.notes[row]

    def names_of(self, row: int) -> range:
        """Rows of note `row`'s names (title first, then aliases) in the title term table."""
        return range(int(self.note_title_offsets[row]), int(self.note_title_offsets[row + 1]))

    def sentences_of(self, row: int) -> range:
        """Sentence rows of note `row`, in text order."""
        return range(int(self.note_sentence_offsets[row]), int(self.note_sentence_offsets[row + 1]))


# --- building a snapshot from the store --------------------------------------------------


def note_names(note: Note) -> list[str]:
    """The names a question may call a note by: its title, then its aliases (its original title)."""
    return list(dict.fromkeys(name for name in [note.title, *note.aliases] if name))


def load_snapshot(store: Store, version: int, dimension: int, cache_root: Path | None, *,
                  shared: bool = True) -> Snapshot:
    """The snapshot of `version`, from the local cache when it has it, else from the store (and
    then cached); `shared` maps the cached arrays rather than reading them in (see `_read_cache`)."""
    cache_dir = _cache_dir(cache_root, store, version) if cache_root else None
    if cache_dir is not None and (cache_dir / "meta.json").exists():
        try:
            return _read_cache(cache_dir, shared=shared)
        except Exception as exc:  # a damaged cache is rebuilt, never trusted
            log.warning("ignoring damaged index cache %s (%s)", cache_dir, exc)
    started = time.perf_counter()
    snapshot = build_snapshot(store, version, dimension)
    log.info("loaded index version %d from %s: %d notes, %d chunks, %d sentences (%.1f s)",
             version, store.location, len(snapshot.notes), len(snapshot.chunk_ids),
             len(snapshot.sentence_note), time.perf_counter() - started)
    if cache_dir is not None:
        try:
            _write_cache(snapshot, cache_dir)
            return _read_cache(cache_dir, shared=shared)  # mapped: the builder shares the pages too
        except OSError as exc:
            log.warning("could not cache the index at %s (%s)", cache_dir, exc)
    return snapshot


def build_snapshot(store: Store, version: int, dimension: int) -> Snapshot:
    keys, documents, note_vectors = store.live_notes(version)
    notes = resolve_links([Note.model_validate_json(doc) for doc in documents])
    order = sorted(range(len(notes)), key=lambda i: notes[i].id)
    notes = [notes[i] for i in order]
    keys = [keys[i] for i in order]
    note_vectors = note_vectors[order] if len(order) else np.zeros((0, dimension), np.float32)
    row_of_key = {key: row for row, key in enumerate(keys)}
    expected = {r.key: r.chunks for r in store.note_records() if r.key in row_of_key}

    chunk_records = []
    sentences: dict[tuple[int, int], tuple[int, bool, np.ndarray]] = {}
    found: dict[str, int] = {}
    for chunk_id, meta, text in store.chunks_of(keys):
        row = row_of_key.get(meta.get("note_key"))
        if row is None:
            continue
        found[meta["note_key"]] = found.get(meta["note_key"], 0) + 1
        chunk_records.append((row, int(meta["start"]), int(meta["end"]), chunk_id, text))
        spans, vectors = unpack_sentences(meta, dimension)
        for (start, end, quotable), vector in zip(spans, vectors):
            sentences.setdefault((row, start), (end, quotable, vector))
    incomplete = [key for key in keys if expected.get(key) is not None and found.get(key, 0) != expected[key]]
    if incomplete or len(expected) != len(keys):
        # only when a later ingest committed and collected this version's records while we read
        raise StoreError(
            f"index version {version} changed while it was being read ({len(incomplete)} notes incomplete); "
            "it is read again from the newest version"
        )
    store_chunks = store.count()
    chunk_records.sort()
    sentence_keys = sorted(sentences)

    # as embedded: each chunk with its heading (the note's title, names and tags, its section)
    lexical = LexicalIndex.build([f"{chunk_heading(notes[row], start)}\n{text}"
                                  for row, start, _, _, text in chunk_records])
    dim = dimension
    return Snapshot(
        version=version,
        notes=notes,
        note_vectors=np.asarray(note_vectors, dtype=np.float32).reshape(len(notes), dim),
        chunk_ids=[r[3] for r in chunk_records],
        chunk_note=np.asarray([r[0] for r in chunk_records], dtype=np.int32),
        chunk_start=np.asarray([r[1] for r in chunk_records], dtype=np.int32),
        chunk_end=np.asarray([r[2] for r in chunk_records], dtype=np.int32),
        sentence_note=np.asarray([k[0] for k in sentence_keys], dtype=np.int32),
        sentence_start=np.asarray([k[1] for k in sentence_keys], dtype=np.int32),
        sentence_end=np.asarray([sentences[k][0] for k in sentence_keys], dtype=np.int32),
        sentence_quotable=np.asarray([sentences[k][1] for k in sentence_keys], dtype=bool),
        # float16, as stored: float32 would double the largest array and add no information
        sentence_vectors=np.asarray(
            [sentences[k][2] for k in sentence_keys], dtype=np.float16
        ).reshape(len(sentence_keys), dim),
        lexical=lexical,
        store_chunks=store_chunks,
    )


_ARRAYS = (
    "note_vectors", "chunk_note", "chunk_start", "chunk_end", "sentence_note", "sentence_start",
    "sentence_end", "sentence_quotable", "sentence_vectors", "sentence_term_ptr", "sentence_term_ids",
    "title_term_ptr", "title_term_ids", "title_note",
)


def _cache_dir(root: Path, store: Store, version: int) -> Path:
    where = hashlib.sha256(f"{store.location}|{store.name}".encode()).hexdigest()[:12]
    return root / f"{store.name}-{where}" / f"v{version}"


def _write_cache(snapshot: Snapshot, directory: Path) -> None:
    directory.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=directory.parent))
    try:
        arrays = staging / "arrays"
        arrays.mkdir()
        for name in _ARRAYS:
            np.save(arrays / f"{name}.npy", np.ascontiguousarray(getattr(snapshot, name)))
        snapshot.catalog.save(staging / "catalog")
        (staging / "terms.json").write_text(json.dumps(sorted(snapshot.terms, key=snapshot.terms.get)))
        snapshot.lexical.save(staging / "lexical")
        (staging / "meta.json").write_text(
            json.dumps({"format": CACHE_FORMAT, "version": snapshot.version, "store_chunks": snapshot.store_chunks})
        )
        if directory.exists():
            shutil.rmtree(directory)
        os.replace(staging, directory)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    for old in directory.parent.glob("v*"):  # keep only this version
        if old != directory:
            shutil.rmtree(old, ignore_errors=True)


def _read_cache(directory: Path, *, shared: bool = True) -> Snapshot:
    """The cached snapshot; `shared` maps its arrays, its notes' columns and BM25's matrices
    read-only from the files, so the workers on one host share those pages through the OS page
    cache instead of each holding a copy (`shared=False` reads the same files into private
    memory: the before of bench/memory.py)."""
    meta = json.loads((directory / "meta.json").read_text())
    if meta.get("format") != CACHE_FORMAT:
        raise ValueError("cache format changed")
    mode = "r" if shared else None
    arrays = {name: np.load(directory / "arrays" / f"{name}.npy", mmap_mode=mode) for name in _ARRAYS}
    catalog = Catalog.load(directory / "catalog", shared=shared)
    return Snapshot(
        version=int(meta["version"]),
        notes=catalog.notes,
        chunk_ids=catalog.chunk_ids,
        catalog=catalog,
        terms={term: i for i, term in enumerate(json.loads((directory / "terms.json").read_text()))},
        lexical=LexicalIndex.load(directory / "lexical", mmap=shared),
        store_chunks=int(meta.get("store_chunks", 0)),
        **arrays,
    )


def cache_root(settings: Settings) -> Path:
    return Path(settings.data_dir) / "cache" / "index"
