"""Bring the index in step with folders of notes: incremental, scoped, crash-safe.

    report = ingest(["seeds"], settings, store, embedder)
    print(report.summary())
    # 25 notes: 25 added, 0 updated, 0 unchanged, 0 removed; 41 chunks; 0 files skipped; 3.1 s

A note whose content hash is unchanged costs nothing; a changed note's chunks
are replaced; a note whose file (or `.jsonl` line) is gone from an ingested
path is removed. Notes from paths not named in this run are left alone.
Everything is written as the next index version and committed at the end
(see `store`), so killing ingest at any point leaves the last version whole,
and the next run picks up where it stopped (embeddings are cached on disk).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from ..models import Note
from ..notes.chunks import embedding_text, segment_note, sentence_rows
from ..notes.collection import build_notes
from ..notes.files import Skipped, read_notes
from ..notes.formats import ParsedFile, format_for
from ..settings import Settings
from . import pipeline
from .embedder import Embedder
from .partial import PartialCommits, chained
from .progress import progress_bar
from .records import FOREVER, note_key, pack_sentences
from .report import file_entries, last_ingest, read_report, report_path, save_report
from .store import Store

log = logging.getLogger(__name__)

BATCH_CHUNKS = 256  # chunks embedded and written together


@dataclass
class IngestReport:
    """What one ingest did."""

    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: int = 0
    removed: list[str] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    notes: int = 0
    chunks: int = 0
    embedded_texts: int = 0  # texts the model encoded (not found in the embedding cache)
    version: int = 0
    seconds: float = 0.0
    files: list[dict] = field(default_factory=list)  # this run's per-file report (see `report`)
    parsed: list[ParsedFile] = field(default_factory=list, repr=False)
    note_hashes: dict[str, list[str]] = field(default_factory=dict, repr=False)  # source path -> hashes
    encode_seconds: float = 0.0  # the encoder's time inside the pipeline (its share of write_seconds)
    write_seconds: float = 0.0  # the pipeline's wall time: segmenting, encoding and storing

    @property
    def changed(self) -> bool:
        return bool(self.added or self.updated or self.removed)

    @property
    def failed(self) -> list[Skipped]:
        """Files that failed unexpectedly (a parser error, an I/O error), not merely skipped."""
        return [s for s in self.skipped if s.failed]

    def summary(self) -> str:
        failed = len(self.failed)
        skipped = len(self.skipped) - failed
        indexed = len(self.parsed)
        return (
            f"{self.notes} notes: {len(self.added)} added, {len(self.updated)} updated, "
            f"{self.unchanged} unchanged, {len(self.removed)} removed; {self.chunks} chunks; "
            f"{indexed + skipped + failed} files: {indexed} indexed, {skipped} skipped, {failed} failed; "
            f"{self.seconds:.1f} s (index version {self.version})"
        )

    def as_dict(self) -> dict:
        return {
            "notes": self.notes,
            "added": len(self.added),
            "updated": len(self.updated),
            "unchanged": self.unchanged,
            "removed": len(self.removed),
            "chunks": self.chunks,
            "skipped": [{"path": s.path, "reason": s.reason} for s in self.skipped if not s.failed],
            "failed": [{"path": s.path, "reason": s.reason} for s in self.failed],
            "files": self.files,
            "warnings": self.warnings,
            "embedded_texts": self.embedded_texts,
            "version": self.version,
            "seconds": round(self.seconds, 3),
            "encode_seconds": round(self.encode_seconds, 3),
            "write_seconds": round(self.write_seconds, 3),
        }


# --- ingest ---------------------------------------------------------------------------------


def ingest(
    paths: list[str | Path] | None,
    settings: Settings,
    store: Store,
    embedder: Embedder,
    *,
    rebuild: bool = False,
    progress: bool = True,
    on_progress: Callable[[int, int], None] | None = None,
    on_commit: Callable[[int], None] | None = None,
) -> IngestReport:
    """Index the notes under `paths` (default: the configured notes folders) as a new version.

    `on_progress(done_texts, total_texts)` is called after each stored group (from ingest's writer
    thread); `total_texts` is estimated from the texts per note so far until the last group.
    With `on_commit(version)`, a cold build commits partial versions as it goes (`partial`)
    and calls it after each.

    The per-file report and the last ingest's figures (or its error) are written beside the
    index (`bot.index.report`) whether the run succeeds or not.
    """
    scope = [Path(p).resolve() for p in (paths or settings.notes_dirs)]
    where = report_path(settings, store.name)
    started_at = _now()
    try:
        report = _ingest(scope, settings, store, embedder, rebuild=rebuild, progress=progress,
                         on_progress=on_progress, on_commit=on_commit)
    except Exception as exc:
        stored = read_report(where)
        stored["last_ingest"] = last_ingest(started_at, _now(), error=f"{exc.__class__.__name__}: {exc}")
        save_report(where, stored)
        raise
    chunks_by_path: dict[str, int] = {}
    for record in store.note_records():
        if record.live_at(report.version):
            chunks_by_path[record.path] = chunks_by_path.get(record.path, 0) + (record.chunks or 0)
    previous = [] if rebuild else read_report(where)["files"]
    finished_at = _now()
    report.files = file_entries(report.parsed, report.skipped, chunks_by_path, report.note_hashes, previous, _scope_test(scope), finished_at)
    failed = len(report.failed)
    counts = dict(added=len(report.added), updated=len(report.updated), removed=len(report.removed),
                  skipped=len(report.skipped) - failed, failed=failed)
    save_report(where, {"last_ingest": last_ingest(started_at, finished_at, **counts), "files": report.files})
    return report


def _ingest(scope: list[Path], settings: Settings, store: Store, embedder: Embedder, *,
            rebuild: bool, progress: bool, on_progress=None, on_commit=None) -> IngestReport:
    started = time.perf_counter()
    report = IngestReport()
    if rebuild:
        log.info("rebuilding %s from scratch", store.name)
        store.drop()
    elif not store.exists() and store.other_indexes():
        log.warning(
            "building a new index %s: the existing index(es) %s were built with another model or "
            "chunking settings and are left untouched (vectors are never mixed)",
            store.name, ", ".join(store.other_indexes()),
        )
    store.chunks(create=True)

    parsed, report.skipped, report.warnings = read_notes(scope, settings)
    report.parsed = parsed
    for item in report.skipped:
        log.warning("skipped %s: %s", item.path, item.reason)
    for warning in report.warnings:
        log.warning("%s", warning)

    metadata = store.metadata()
    version = int(metadata.get("index_version", 0))
    records = store.note_records()
    live = [r for r in records if r.live_at(version)]
    pending = {r.key: r for r in records if r.live_from > version}
    target = version + 1

    in_scope = _scope_test(scope)
    kept = [r for r in live if not in_scope(r.path)]
    notes = build_notes(parsed + _stored_files(store, kept))
    for note in notes:
        report.note_hashes.setdefault(note.source_path, []).append(note.content_hash)
    live_by_id = {r.note_id: r for r in live}

    write: list[tuple[str, Note]] = []
    keep_keys: set[str] = set()
    for note in notes:
        current = live_by_id.get(note.id)
        if current is not None and current.content_hash == note.content_hash:
            keep_keys.add(current.key)
            if in_scope(current.path) or in_scope(note.source_path):
                report.unchanged += 1
            continue
        key = note_key(note.id, note.content_hash, target)
        write.append((key, note))
        (report.updated if current is not None else report.added).append(note.id)
    wanted_ids = {note.id for note in notes}
    superseded = [r.key for r in live if r.key not in keep_keys]
    report.removed = sorted({r.note_id for r in live if r.note_id not in wanted_ids})
    leftovers = [k for k in pending if k not in {key for key, _ in write}]
    recovering = bool(pending) or "ingest_started" in metadata
    first_build = version == 0 or bool(metadata.get("partial"))  # or one cut short after a partial version
    if not write and not superseded:
        if recovering:  # a crashed run left records or chunks behind: clear them, keep the version
            store.delete_notes(leftovers)
            _collect_garbage(store, version, recovering=True)
            if metadata.get("partial"):  # cut short after its last note: complete it as a new version
                version = _commit_complete(store, target, len(live), embedder)
            else:
                store.commit(version, **_counts(metadata))
        _finish(report, store, version, len(live), started)
        return report

    store.commit(version, **_counts(metadata), ingest_started=_now())
    to_embed = [(key, note) for key, note in write if key not in pending]
    partials = None
    if first_build and not superseded and on_commit is not None:  # serve what is written as it goes
        store.delete_notes(leftovers)  # before any partial version could show them
        leftovers = []
        info = dict(model=embedder.name, model_fingerprint=embedder.fingerprint, ingest_started=_now())
        partials = PartialCommits(store, version, len(keep_keys) + len(write), info, on_commit)
    report.embedded_texts = _write_notes(to_embed, settings, store, embedder, report, progress,
                                         chained(on_progress, partials))
    if partials is not None:
        target = max(target, partials.version + 1)  # records are live from their first version on
    store.set_live_until(superseded, target)
    store.delete_notes(leftovers)
    _commit_complete(store, target, len(keep_keys) + len(write), embedder)
    _collect_garbage(store, target, recovering)
    _finish(report, store, target, len(keep_keys) + len(write), started)
    return report


def _finish(report: IngestReport, store: Store, version: int, notes: int, started: float) -> None:
    report.version = version
    report.notes = notes
    report.chunks = int(store.metadata().get("chunks", 0))
    report.seconds = time.perf_counter() - started


def _commit_complete(store: Store, version: int, notes: int, embedder: Embedder) -> int:
    """Commit `version` as a complete one (no `partial`: a commit replaces all the metadata)."""
    store.commit(version, notes=notes, chunks=store.live_chunk_count(version), model=embedder.name,
                 model_fingerprint=embedder.fingerprint, updated_at=_now())
    return version


def _counts(metadata: dict) -> dict:
    """What a re-commit of the same version keeps (a partial version stays partial)."""
    keys = ("notes", "chunks", "model", "model_fingerprint", "updated_at", "partial", "notes_total")
    return {k: metadata[k] for k in keys if k in metadata}


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _scope_test(scope: list[Path]):
    prefixes = [str(p) for p in scope]

    def in_scope(path: str) -> bool:
        return any(path == p or path.startswith(p.rstrip(os.sep) + os.sep) for p in prefixes)

    return in_scope


def _stored_files(store: Store, records) -> list[ParsedFile]:
    """Notes outside this run's paths, as stored: they take part in ids and source notes unchanged."""
    keys = [r.key for r in records if r.kind != "source"]
    documents = store.note_documents(keys)
    by_path: dict[str, ParsedFile] = {}
    for record in records:
        if record.kind == "source":
            continue  # regenerated from the pages that list them
        note = Note.model_validate_json(documents[record.key])
        note_format = format_for(note.source_path)
        parsed = by_path.setdefault(
            note.source_path, ParsedFile(path=note.source_path, format=note_format.name if note_format else "text")
        )
        parsed.notes.append(note)
    return list(by_path.values())


def _write_notes(write, settings: Settings, store: Store, embedder: Embedder, report: IngestReport,
                 progress: bool, on_progress: Callable[[int, int], None] | None) -> int:
    """Embed and store chunk records, then note records (a note record means its chunks are
    complete), segmenting the next group and storing the previous one while this one is encoded."""
    if not write:
        return 0

    def segmented():
        for key, note in write:
            yield key, note, segment_note(
                note, embedder.count_tokens,
                chunk_tokens=settings.chunk_tokens, overlap_tokens=settings.chunk_overlap_tokens,
                window=embedder.max_tokens,
            )

    def texts_of(group) -> list[str]:
        texts: list[str] = []
        for _, note, segments in group:
            texts.extend(embedding_text(chunk) for chunk in segments.chunks)
            texts.extend(note.text[s:e] for (s, e), q in zip(segments.sentences, segments.quotable) if q)
        return texts

    bar = progress_bar(len(write), progress)
    done = {"notes": 0, "texts": 0}

    def stored(group, texts: int) -> None:
        done["notes"] += len(group)
        done["texts"] += texts
        if bar is not None:
            bar.update(len(group))
            bar.set_postfix(texts=done["texts"], refresh=False)
        if on_progress is not None:  # the total is estimated from the texts per note so far
            total = round(done["texts"] * len(write) / done["notes"])
            on_progress(done["texts"], done["texts"] if done["notes"] == len(write) else max(total, done["texts"]))

    computed_before = embedder.computed
    try:
        times = pipeline.run(pipeline.grouped(segmented(), lambda item: len(item[2].chunks), BATCH_CHUNKS),
                             texts_of, embedder.encode,
                             lambda group, vectors: _store_group(group, vectors, store, embedder.dimension), stored)
    finally:
        if bar is not None:
            bar.close()
    report.encode_seconds, report.write_seconds = times.encode_seconds, times.wall_seconds
    return embedder.computed - computed_before


def _store_group(group, vectors: np.ndarray, store: Store, dimension: int) -> None:
    chunk_ids, chunk_vectors, chunk_texts, chunk_metas = [], [], [], []
    note_keys, note_vectors, note_docs, note_metas = [], [], [], []
    row = 0
    for key, note, segments in group:
        n_chunks = len(segments.chunks)
        vecs = vectors[row:row + n_chunks]
        row += n_chunks
        sentence_vecs = np.zeros((len(segments.sentences), dimension), dtype=np.float32)
        quotable_rows = [i for i, q in enumerate(segments.quotable) if q]
        sentence_vecs[quotable_rows] = vectors[row:row + len(quotable_rows)]
        row += len(quotable_rows)
        for number, (chunk, inside) in enumerate(zip(segments.chunks, sentence_rows(segments.chunks, segments.sentences))):
            inside = list(inside)
            meta = {
                "note_key": key,
                "note_id": note.id,
                "kind": note.kind,
                "start": chunk.start,
                "end": chunk.end,
                "section": chunk.section,
                **pack_sentences(
                    [segments.sentences[i] for i in inside],
                    [segments.quotable[i] for i in inside],
                    sentence_vecs[inside],
                ),
            }
            if note.tags:
                meta["tags"] = list(note.tags)
            chunk_ids.append(f"{key}#{number}")
            chunk_vectors.append(vecs[number])
            chunk_texts.append(chunk.text)
            chunk_metas.append(meta)
        mean = vecs.mean(axis=0)
        note_keys.append(key)
        note_vectors.append(mean / (np.linalg.norm(mean) or 1.0))
        note_docs.append(note.model_dump_json(exclude={"links", "link_spans"}))
        note_metas.append(
            {
                "note_id": note.id,
                "hash": note.content_hash,
                "title": note.title[:500],
                "kind": note.kind,
                "path": note.source_path,
                "chunks": n_chunks,
                "live_from": int(key.rsplit(".", 1)[1]),
                "live_until": FOREVER,
            }
        )
    store.add_chunks(chunk_ids, np.asarray(chunk_vectors), chunk_texts, chunk_metas)
    store.add_notes(note_keys, np.asarray(note_vectors), note_docs, note_metas)


def _collect_garbage(store: Store, version: int, recovering: bool) -> None:
    """Delete records dead before the previous version, and chunks a crashed run left behind."""
    records = store.note_records()
    store.delete_notes([r.key for r in records if r.live_until <= version - 1])
    if recovering:
        keys = {r.key for r in records if r.live_until > version - 1}
        orphans = [cid for cid in store.chunk_ids() if cid.rsplit("#", 1)[0] not in keys]
        if orphans:
            log.info("removing %d chunks left by an interrupted ingest", len(orphans))
            store.delete_chunks(orphans)
