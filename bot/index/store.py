"""The Chroma store: an embedded PersistentClient (one owner process) or a `chroma run` server.

Two collections per index, named from a fingerprint of what shapes the vectors
(model, chunking, distance, schema), so a different model never mixes vectors:

    <name>-<fingerprint>         chunks: embedding, text, note key, offsets, sentence vectors
    <name>-<fingerprint>-notes   one record per note version: Note JSON, mean vector, liveness

Versions (multi-version concurrency, so readers never see a half-written index):
each note record is live for versions `live_from <= v < live_until`; a chunk is
live when its note record is. The committed version is `index_version` in the
chunks collection's metadata; ingest writes version N+1 beside N and commits by
bumping it, so a kill -9 anywhere leaves version N whole. Records that died
before the previous version are deleted afterwards.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from ..errors import IndexMissing, IndexSchemaError, StoreError, StoreUnavailable
from ..notes.collection import SCHEMA_VERSION
from ..settings import Settings
from .chroma import http_client, is_chroma_error, is_connection_error, is_not_found, short
from .lock import StoreLock
from .records import FOREVER, NoteRecordInfo

log = logging.getLogger(__name__)

os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

DISTANCE = "cosine"


def index_fingerprint(settings: Settings, model_fingerprint: str) -> str:
    """What shapes the vectors and chunks; part of the collection's name."""
    shape = {
        "model": model_fingerprint,
        "chunk_tokens": settings.chunk_tokens,
        "overlap": settings.chunk_overlap_tokens,
        "distance": DISTANCE,
        "schema": SCHEMA_VERSION,
    }
    return hashlib.sha256(json.dumps(shape, sort_keys=True).encode()).hexdigest()[:10]


def search_breadth(chunks: int) -> int:
    """How many neighbours a dense query asks HNSW for in a collection of `chunks` records, so
    that its top results match exact search (recall@10 >= 0.99, measured up to 300k chunks by
    bench/scale.py). hnswlib explores max(ef_search, k) candidates, so asking for more and
    keeping the best is how a query widens its search, whatever ef_search the collection was
    created with (and a changed ef_search only reaches processes that load the index later)."""
    for limit, breadth in SEARCH_BREADTH:
        if chunks <= limit:
            return breadth
    return SEARCH_BREADTH[-1][1]


# (collection size up to, neighbours to ask for); see search_breadth. Measured (recall@10 against
# exact search, SciFact replicas): 5k chunks 0.999 asking for 10; 50k 0.995 for 10, 0.998 for 200;
# 300k 0.948 for 10, 0.985 for 400, 0.997 for 800. Beyond 400k the breadth is extrapolated.
SEARCH_BREADTH = ((20_000, 100), (100_000, 200), (400_000, 800), (FOREVER, 1600))


class Store:
    """The two collections of one index, on an embedded or a server Chroma."""

    def __init__(self, client, name: str, location: str, lock: StoreLock | None = None, *,
                 remote: bool = False) -> None:
        self.client = client
        self.remote = remote  # a Chroma server: any failure of it means "unavailable, retry"
        self.name = name
        self.notes_name = f"{name}-notes"
        self.location = location
        self._lock = lock
        self._chunks = None
        self._notes = None

    # --- opening --------------------------------------------------------------------------

    @classmethod
    def open(
        cls,
        settings: Settings,
        model_fingerprint: str,
        *,
        path: Path | None = None,
        purpose: str = "bot",
    ) -> Store:
        """Open the configured store; `path` forces an embedded store there (evaluation corpora)."""
        name = f"{settings.collection}-{index_fingerprint(settings, model_fingerprint)}"
        if path is None and settings.server_mode:
            client, location = http_client(settings)
            return cls(client, name, location, remote=True)
        directory = Path(path) if path is not None else Path(settings.data_dir) / "chroma"
        lock = StoreLock(directory.parent / f"{directory.name}.lock")
        lock.acquire(purpose)
        try:
            import chromadb
            from chromadb.config import Settings as ChromaSettings

            directory.mkdir(parents=True, exist_ok=True)
            client = chromadb.PersistentClient(
                path=str(directory), settings=ChromaSettings(anonymized_telemetry=False)
            )
        except Exception as exc:
            lock.release()
            raise StoreUnavailable(f"could not open the notes store at {directory}: {exc}") from exc
        return cls(client, name, str(directory), lock)

    def close(self) -> None:
        """Stop the client, then release the embedded store's lock.

        Chroma shares one system per path inside a process; it must be stopped
        before another process may open the directory, or this process would
        keep serving (and later writing) a stale view of it.
        """
        self._chunks = self._notes = None
        close = getattr(self.client, "close", None)
        if close is not None:
            try:
                close()
            except Exception as exc:  # closing must never hide the lock release
                log.debug("closing the Chroma client: %s", exc)
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # --- collections ----------------------------------------------------------------------

    def exists(self) -> bool:
        with self._errors():
            names = {c if isinstance(c, str) else c.name for c in self.client.list_collections()}
        return self.name in names and self.notes_name in names

    def chunks(self, create: bool = False):
        if self._chunks is None:
            self._chunks, self._notes = self._open_collections(create)
        return self._chunks

    def notes(self, create: bool = False):
        if self._notes is None:
            self._chunks, self._notes = self._open_collections(create)
        return self._notes

    def _open_collections(self, create: bool):
        with self._errors():
            if create:
                chunks = self.client.get_or_create_collection(
                    self.name,
                    configuration={"hnsw": {"space": DISTANCE, "ef_search": 128, "ef_construction": 128}},
                    metadata={"index_version": 0, "schema": SCHEMA_VERSION},
                    embedding_function=None,
                )
                notes = self.client.get_or_create_collection(
                    self.notes_name,
                    configuration={"hnsw": {"space": DISTANCE}},
                    embedding_function=None,
                )
            else:
                try:
                    chunks = self.client.get_collection(self.name, embedding_function=None)
                    notes = self.client.get_collection(self.notes_name, embedding_function=None)
                except Exception as exc:
                    if is_not_found(exc):
                        raise IndexMissing(self.name, self.location) from None
                    raise
        schema = (chunks.metadata or {}).get("schema", SCHEMA_VERSION)
        if schema != SCHEMA_VERSION:
            raise IndexSchemaError(
                f"the index {self.name} was built by an older version of the bot (schema {schema}, "
                f"now {SCHEMA_VERSION}). Rebuild it: `bot ingest --rebuild`."
            )
        return chunks, notes

    def drop(self) -> None:
        """Delete this index's collections (for `--rebuild`)."""
        with self._errors():
            for name in (self.name, self.notes_name):
                try:
                    self.client.delete_collection(name)
                except Exception as exc:
                    if not is_not_found(exc):
                        raise
        self._chunks = self._notes = None

    def other_indexes(self) -> list[str]:
        """Collections of this store built for other models or chunking settings."""
        prefix = self.name.rsplit("-", 1)[0] + "-"
        with self._errors():
            names = [c if isinstance(c, str) else c.name for c in self.client.list_collections()]
        return sorted(n for n in names if n.startswith(prefix) and not n.startswith(self.name))

    # --- the version ----------------------------------------------------------------------

    def metadata(self) -> dict:
        """The chunks collection's metadata (index_version, counts, model)."""
        with self._errors():
            try:
                collection = self.client.get_collection(self.name, embedding_function=None)
            except Exception as exc:
                if is_not_found(exc):  # a fresh store: nothing committed yet
                    raise IndexMissing(self.name, self.location) from None
                raise
            return dict(collection.metadata or {})

    def version(self) -> int:
        """The committed index version (0: nothing committed yet)."""
        try:
            return int(self.metadata().get("index_version", 0))
        except IndexMissing:
            return 0

    def commit(self, version: int, **info) -> None:
        """Make `version` the one readers see."""
        metadata = {"index_version": version, "schema": SCHEMA_VERSION, **info}
        with self._errors():
            self.chunks().modify(metadata=metadata)

    # --- reading --------------------------------------------------------------------------

    def note_records(self) -> list[NoteRecordInfo]:
        """Every note record's small metadata (live, pending and dead alike)."""
        records = []
        for ids, metadatas, _, _ in self._pages(self.notes(), include=["metadatas"]):
            for key, meta in zip(ids, metadatas):
                records.append(
                    NoteRecordInfo(
                        key=key,
                        note_id=meta["note_id"],
                        content_hash=meta["hash"],
                        title=meta.get("title", ""),
                        kind=meta.get("kind", "note"),
                        path=meta.get("path", ""),
                        live_from=int(meta["live_from"]),
                        live_until=int(meta["live_until"]),
                        chunks=int(meta["chunks"]) if "chunks" in meta else None,
                    )
                )
        return records

    def note_documents(self, keys: list[str]) -> dict[str, str]:
        """Note JSON documents by record key."""
        found = {}
        with self._errors():
            for begin in range(0, len(keys), 500):
                got = self.notes().get(ids=keys[begin:begin + 500], include=["documents"])
                found.update(zip(got["ids"], got["documents"]))
        return found

    def live_notes(self, version: int) -> tuple[list[str], list[str], np.ndarray]:
        """Keys, Note JSON documents and mean vectors of the notes live at `version`."""
        keys, documents, vectors = [], [], []
        where = {"live_until": {"$gt": version}}
        for ids, metadatas, docs, embeddings in self._pages(
            self.notes(), include=["metadatas", "documents", "embeddings"], where=where
        ):
            for key, meta, doc, vector in zip(ids, metadatas, docs, embeddings):
                if int(meta["live_from"]) <= version:
                    keys.append(key)
                    documents.append(doc)
                    vectors.append(vector)
        matrix = np.asarray(vectors, dtype=np.float32) if vectors else np.zeros((0, 0), np.float32)
        return keys, documents, matrix

    def live_chunk_count(self, version: int) -> int:
        """Chunks of the notes live at `version` (each note record counts its own)."""
        total = 0
        where = {"live_until": {"$gt": version}}
        for _, metadatas, _, _ in self._pages(self.notes(), include=["metadatas"], where=where):
            total += sum(int(m.get("chunks", 0)) for m in metadatas if int(m["live_from"]) <= version)
        return total

    def iter_chunks(self, include_embeddings: bool = False) -> Iterator[tuple[str, dict, str, object]]:
        """(id, metadata, text, embedding or None) of every chunk record."""
        include = ["metadatas", "documents"] + (["embeddings"] if include_embeddings else [])
        for ids, metadatas, docs, embeddings in self._pages(self.chunks(), include=include):
            for position, (chunk_id, meta, doc) in enumerate(zip(ids, metadatas, docs)):
                yield chunk_id, meta, doc, (embeddings[position] if include_embeddings else None)

    def chunks_of(self, note_keys: list[str], batch: int = 200) -> Iterator[tuple[str, dict, str]]:
        """(id, metadata, text) of the chunks of these note records. Read by note, not by offset over
        the whole collection, so an ingest writing or deleting other records meanwhile can't shift
        the pages under the reader."""
        for begin in range(0, len(note_keys), batch):
            where = {"note_key": {"$in": note_keys[begin:begin + batch]}}
            for ids, metadatas, docs, _ in self._pages(self.chunks(), include=["metadatas", "documents"], where=where):
                yield from zip(ids, metadatas, docs)

    def chunk_ids(self) -> list[str]:
        return [i for ids, _, _, _ in self._pages(self.chunks(), include=[]) for i in ids]

    def query(self, vector: np.ndarray, n_results: int, where: dict | None = None) -> tuple[list[str], list[float]]:
        """Nearest chunks to a query vector: ids and cosine similarities."""
        with self._errors():
            result = self.chunks().query(
                query_embeddings=[vector], n_results=n_results, where=where, include=["distances"]
            )
        return result["ids"][0], [1.0 - d for d in result["distances"][0]]

    def count(self) -> int:
        with self._errors():
            return self.chunks().count()

    # --- writing --------------------------------------------------------------------------

    def add_chunks(self, ids: list[str], vectors: np.ndarray, texts: list[str], metadatas: list[dict]) -> None:
        with self._errors():
            for begin in range(0, len(ids), self._batch()):
                end = begin + self._batch()
                self.chunks(create=True).upsert(
                    ids=ids[begin:end], embeddings=vectors[begin:end], documents=texts[begin:end],
                    metadatas=metadatas[begin:end],
                )

    def add_notes(self, keys: list[str], vectors: np.ndarray, documents: list[str], metadatas: list[dict]) -> None:
        with self._errors():
            for begin in range(0, len(keys), self._batch()):
                end = begin + self._batch()
                self.notes(create=True).upsert(
                    ids=keys[begin:end], embeddings=vectors[begin:end], documents=documents[begin:end],
                    metadatas=metadatas[begin:end],
                )

    def set_live_until(self, keys: list[str], live_until: int) -> None:
        with self._errors():
            for begin in range(0, len(keys), self._batch()):
                batch = keys[begin:begin + self._batch()]
                self.notes().update(ids=batch, metadatas=[{"live_until": live_until}] * len(batch))

    def delete_notes(self, keys: list[str]) -> None:
        """Delete note records and their chunks."""
        if not keys:
            return
        with self._errors():
            for begin in range(0, len(keys), 200):
                batch = keys[begin:begin + 200]
                self.chunks().delete(where={"note_key": {"$in": batch}})
                self.notes().delete(ids=batch)

    def delete_chunks(self, ids: list[str]) -> None:
        with self._errors():
            for begin in range(0, len(ids), self._batch()):
                self.chunks().delete(ids=ids[begin:begin + self._batch()])

    # --- helpers --------------------------------------------------------------------------

    def _batch(self) -> int:
        try:
            return max(1, min(1000, int(self.client.get_max_batch_size())))
        except Exception:
            return 500

    def _pages(self, collection, include: list[str], where: dict | None = None, page: int = 2000):
        offset = 0
        while True:
            with self._errors():
                got = collection.get(include=include, where=where, limit=page, offset=offset)
            ids = got["ids"]
            if not ids:
                return
            metadatas = got.get("metadatas") or [None] * len(ids)
            documents = got.get("documents") or [None] * len(ids)
            embeddings = got.get("embeddings")
            if embeddings is None:
                embeddings = [None] * len(ids)
            yield ids, metadatas, documents, embeddings
            if len(ids) < page:
                return
            offset += len(ids)

    @contextmanager
    def _errors(self):
        try:
            yield
        except StoreError:
            raise
        except Exception as exc:
            if is_connection_error(exc) or (self.remote and is_chroma_error(exc)):
                raise StoreUnavailable(
                    f"the notes store ({self.location}) is unavailable: {short(exc)}. "
                    "Check that the Chroma server is running, then try again."
                ) from exc
            if is_chroma_error(exc):
                raise StoreError(f"the notes store ({self.location}) failed: {short(exc)}") from exc
            raise
