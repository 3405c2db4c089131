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

import base64
import fcntl
import hashlib
import json
import logging
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .notes import SCHEMA_VERSION
from .settings import Settings

log = logging.getLogger(__name__)

os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

FOREVER = 2**62
DISTANCE = "cosine"
HTTP_TIMEOUT_SECONDS = 10.0


class StoreError(RuntimeError):
    """Base class: something about the notes store needs attention (the message says what)."""


class StoreUnavailable(StoreError):
    """The store cannot be reached (a Chroma server down, a broken directory)."""


class StoreLocked(StoreError):
    """Another process owns the embedded store."""


class IndexSchemaError(StoreError):
    """The index was built by an older version of the bot."""


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


def note_key(note_id: str, content_hash: str, version: int) -> str:
    """A note record's id: the note, its content, and the version that first made it live."""
    return f"{note_id}@{content_hash[:16]}.{version}"


def key_note_id(key: str) -> str:
    return key.rsplit("@", 1)[0]


@dataclass(frozen=True)
class NoteRecordInfo:
    """A note record's small metadata (no text, no vectors)."""

    key: str
    note_id: str
    content_hash: str
    title: str
    kind: str
    path: str
    live_from: int
    live_until: int
    chunks: int | None = None  # chunk records the note has (written before the note record)

    def live_at(self, version: int) -> bool:
        return self.live_from <= version < self.live_until


class StoreLock:
    """An exclusive, non-blocking flock on the embedded store, recording the owner's PID."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._handle = None

    def acquire(self, purpose: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self.path, "a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            owner = handle.read().strip() or "unknown"
            handle.close()
            raise StoreLocked(_locked_message(self.path.parent, owner)) from None
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps({"pid": os.getpid(), "purpose": purpose, "host": socket.gethostname()}))
        handle.flush()
        self._handle = handle

    def release(self) -> None:
        if self._handle is not None:
            fcntl.flock(self._handle, fcntl.LOCK_UN)
            self._handle.close()
            self._handle = None


def _locked_message(directory: Path, owner: str) -> str:
    try:
        info = json.loads(owner)
        who = f"process {info['pid']} ({info.get('purpose', 'bot')})"
        serving = info.get("purpose", "").startswith("app")
    except (ValueError, KeyError):
        who, serving = f"another process ({owner})", False
    advice = (
        "The running app keeps the index current itself (it rescans the notes folder; "
        "use its re-index button to do it now)."
        if serving
        else "Wait for it to finish or stop it."
    )
    return (
        f"The notes store at {directory} is in use by {who}. Chroma's on-disk store is not safe "
        f"for two processes at once. {advice} To share one index between processes, run a "
        "Chroma server (`chroma run --path DIR`) and set BOT_CHROMA_HOST/BOT_CHROMA_PORT."
    )


class Store:
    """The two collections of one index, on an embedded or a server Chroma."""

    def __init__(self, client, name: str, location: str, lock: StoreLock | None = None) -> None:
        self.client = client
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
            client, location = _http_client(settings)
            return cls(client, name, location)
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
                    if _is_not_found(exc):
                        raise IndexMissing(self) from None
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
                    if not _is_not_found(exc):
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
                if _is_not_found(exc):  # a fresh store: nothing committed yet
                    raise IndexMissing(self) from None
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

    def set_ef_search(self, ef_search: int) -> None:
        with self._errors():
            self.chunks().modify(configuration={"hnsw": {"ef_search": ef_search}})

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

    def query_notes(self, vector: np.ndarray, n_results: int) -> tuple[list[str], list[float]]:
        """Nearest note records (all versions) to a vector: keys and cosine similarities."""
        with self._errors():
            result = self.notes().query(query_embeddings=[vector], n_results=n_results, include=["distances"])
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
            if _is_connection_error(exc):
                raise StoreUnavailable(
                    f"the notes store ({self.location}) is unavailable: {_short(exc)}. "
                    "Check that the Chroma server is running, then try again."
                ) from exc
            raise


class IndexMissing(StoreError):
    """No index has been built yet for these settings."""

    def __init__(self, store: Store) -> None:
        super().__init__(
            f"no index named {store.name} in {store.location} yet. Build it: `bot ingest` "
            "(or start the app, which builds it from BOT_NOTES_DIR)."
        )


def _http_client(settings: Settings):
    import chromadb
    from chromadb.config import Settings as ChromaSettings
    from urllib.parse import urlparse

    if settings.chroma_url:
        parsed = urlparse(settings.chroma_url)
        host, port, ssl = parsed.hostname or "localhost", parsed.port or 8000, parsed.scheme == "https"
    else:
        host, port, ssl = settings.chroma_host, settings.chroma_port, False
    location = f"Chroma server at {'https' if ssl else 'http'}://{host}:{port}"
    try:
        client = chromadb.HttpClient(
            host=host, port=port, ssl=ssl, settings=ChromaSettings(anonymized_telemetry=False)
        )
    except Exception as exc:
        raise StoreUnavailable(f"the notes store ({location}) is unavailable: {_short(exc)}") from exc
    _set_http_timeout(client, HTTP_TIMEOUT_SECONDS)
    return client, location


def _set_http_timeout(client, seconds: float) -> None:
    """Chroma's HTTP client waits forever by default; a hung server must not hang the app."""
    import httpx

    session = getattr(getattr(client, "_server", None), "_session", None)
    if isinstance(session, httpx.Client):
        session.timeout = httpx.Timeout(seconds, connect=3.0)


def _is_connection_error(exc: BaseException) -> bool:
    import httpx

    if isinstance(exc, (httpx.TransportError, ConnectionError, TimeoutError, OSError)):
        return True
    text = str(exc).lower()
    return any(s in text for s in ("could not connect", "connection refused", "connecterror", "timed out"))


def _is_not_found(exc: BaseException) -> bool:
    text = f"{exc.__class__.__name__} {exc}".lower()
    return "notfound" in text or "does not exist" in text or "not found" in text


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__
    return text[:200]


# --- sentence vectors travel inside chunk metadata ------------------------------------------


def pack_sentences(spans: list[tuple[int, int]], quotable: list[bool], vectors: np.ndarray) -> dict:
    """Chunk metadata fields holding its sentences' offsets and float16 vectors."""
    return {
        "sentences": ",".join(f"{s}:{e}:{int(q)}" for (s, e), q in zip(spans, quotable)),
        "sentence_vectors": base64.b64encode(np.asarray(vectors, dtype=np.float16).tobytes()).decode("ascii"),
    }


def unpack_sentences(meta: dict, dimension: int) -> tuple[list[tuple[int, int, bool]], np.ndarray]:
    spans = []
    if meta.get("sentences"):
        for part in meta["sentences"].split(","):
            s, e, q = part.split(":")
            spans.append((int(s), int(e), q == "1"))
    blob = meta.get("sentence_vectors", "")
    vectors = np.frombuffer(base64.b64decode(blob), dtype=np.float16) if blob else np.zeros(0, np.float16)
    return spans, vectors.reshape(len(spans), dimension) if spans else np.zeros((0, dimension), np.float16)
