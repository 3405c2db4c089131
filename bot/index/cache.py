"""The on-disk embedding cache: sha256 of a text -> its float32 vector, in SQLite.

    cache = EmbeddingCache(data_dir / "cache" / f"embeddings-{fingerprint}.sqlite")
    cache.put_many([text_key("a")], vectors); cache.get_many([text_key("a")])

Re-ingesting, rebuilding or resuming after a crash never pays for the same text twice.
One file per model fingerprint (and precision), so vectors of two models never mix.
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from pathlib import Path

import numpy as np


def text_key(text: str) -> bytes:
    """The cache key of a text: its sha256."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()


class EmbeddingCache:
    """A SQLite map from text hash to float32 vector; safe for one process, several threads."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(path), check_same_thread=False, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS vectors (key BLOB PRIMARY KEY, vector BLOB)")

    def get_many(self, keys: list[bytes]) -> dict[bytes, np.ndarray]:
        found: dict[bytes, np.ndarray] = {}
        with self._lock:
            for begin in range(0, len(keys), 500):
                batch = keys[begin:begin + 500]
                marks = ",".join("?" * len(batch))
                rows = self._db.execute(f"SELECT key, vector FROM vectors WHERE key IN ({marks})", batch)
                for key, blob in rows:
                    found[key] = np.frombuffer(blob, dtype=np.float32)
        return found

    def put_many(self, keys: list[bytes], vectors: np.ndarray) -> None:
        rows = [(key, np.ascontiguousarray(vector, dtype=np.float32).tobytes()) for key, vector in zip(keys, vectors)]
        with self._lock, self._db:
            self._db.executemany("INSERT OR REPLACE INTO vectors VALUES (?, ?)", rows)
