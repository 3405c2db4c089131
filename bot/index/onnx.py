"""The encoder's fast path: an ONNX export of the sentence-transformers model, run by onnxruntime.

    encoder = ready_encoder(settings)        # the checked export, without importing torch; or None
    encoder = encoder_for(model, settings)   # made from the loaded model (exported and checked once)
    encoder.encode(texts, batch_size=32); encoder.encode_query("a question")

The export is made once per machine into BOT_MODEL_CACHE_DIR, checked to give torch's vectors
within ONNX_TOLERANCE and to count tokens as transformers does, and used only then.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from pathlib import Path

import numpy as np

from ..errors import EmbeddingModelError
from ..settings import Settings
from .fingerprint import model_fingerprint

log = logging.getLogger(__name__)


class OnnxUnavailable(RuntimeError):
    """The model can't be run by onnxruntime here (the message says why); torch is used instead."""


ONNX_TOLERANCE = 1e-4  # the largest difference from torch's vectors, per component, accepted
_PROBES = [
    "What does warmth training cost?",
    "Scaffolds shape which empathy skills models develop; reinforcement learning with verifiable "
    "rewards teaches when to reason, not how. " * 6,
    "x",
]


class OnnxEncoder:
    """Pooled, normalised vectors from an ONNX export of a sentence-transformers model, by onnxruntime,
    with the model's own tokenizer (the `tokenizers` library, as its fast tokenizer runs it).

    Batches (ingest) and questions each get a session of their own, made on first use, so a
    question never waits behind an ingest batch and a process that only does one of them
    holds one copy of the weights."""

    def __init__(self, path: Path, tokenizer_json: str, max_tokens: int, dimension: int, threads: int,
                 lowercase: bool = False) -> None:
        self.path = path
        self.tokenizer_json = tokenizer_json  # the tokenizer, serialised (each role parses its own)
        self.max_tokens = max_tokens
        self.dimension = dimension
        self.threads = threads
        self.lowercase = lowercase
        self._roles: dict[str, tuple] = {}  # role -> (session, tokenizer, lock)
        self._lock = threading.Lock()

    def tokenizer(self, *, for_model: bool = True):
        """A fresh `tokenizers.Tokenizer`: padded and truncated as the model needs, or bare for counting."""
        tokenizer = _bare_tokenizer(self.tokenizer_json)
        if for_model:
            pad = tokenizer.token_to_id("[PAD]")
            padding = json.loads(self.tokenizer_json).get("padding") or {}
            tokenizer.enable_padding(pad_id=padding.get("pad_id", pad if pad is not None else 0),
                                     pad_token=padding.get("pad_token", "[PAD]"))
            tokenizer.enable_truncation(max_length=self.max_tokens)
        return tokenizer

    def counter(self):
        return self.tokenizer(for_model=False)

    def _role(self, role: str):
        with self._lock:
            found = self._roles.get(role)
            if found is None:
                found = (self._new_session(), self.tokenizer(), threading.Lock())
                self._roles[role] = found
            return found

    def _new_session(self):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        # Idle threads sleep instead of spinning: on two shared cores a spinning thread takes the
        # CPU from whatever runs next (another question, an ingest batch, torch), for a gain of
        # about a millisecond a question (measured).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        return ort.InferenceSession(str(mapped_model(self.path)), options, providers=["CPUExecutionProvider"])

    def _run(self, role: str, texts: list[str]) -> np.ndarray:
        session, tokenizer, lock = self._role(role)
        # as sentence-transformers prepares them: stripped, lowercased when the model says so
        texts = [t.strip().lower() if self.lowercase else t.strip() for t in texts]
        with lock:
            encodings = tokenizer.encode_batch(texts)
            feed = {
                "input_ids": np.asarray([e.ids for e in encodings], dtype=np.int64),
                "attention_mask": np.asarray([e.attention_mask for e in encodings], dtype=np.int64),
                "token_type_ids": np.asarray([e.type_ids for e in encodings], dtype=np.int64),
            }
            return session.run(None, feed)[0].astype(np.float32)

    def encode(self, texts: list[str], batch_size: int = 32) -> np.ndarray:
        """Vectors in batches of similar length (longest first: the first batch shows the peak memory)."""
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        result = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for begin in range(0, len(order), max(1, batch_size)):
            rows = order[begin:begin + batch_size]
            result[rows] = self._run("batches", [texts[i] for i in rows])
        return result

    def encode_query(self, text: str) -> np.ndarray:
        return self._run("questions", [text])[0]

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        """A few short texts in one batch on the questions' session (never behind an ingest)."""
        return self._run("questions", texts)


def _bare_tokenizer(tokenizer_json: str):
    """A `tokenizers.Tokenizer` from its JSON, with no padding and no truncation."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_str(tokenizer_json)
    tokenizer.no_padding()
    tokenizer.no_truncation()
    return tokenizer


def counting_tokenizer(hf_tokenizer):
    """The bare tokenizer behind a fast HF tokenizer."""
    backend = getattr(hf_tokenizer, "backend_tokenizer", None)
    if backend is None:
        raise EmbeddingModelError("the embedding model has no fast tokenizer (tokenizer.json); use a model that does")
    return _bare_tokenizer(backend.to_str())


def mapped_model(path: Path) -> Path:
    """A copy of the model at `path` with its weights in a file of their own beside it (made once,
    in `mapped/`, again when the model changes), which onnxruntime maps instead of reading the
    weights into each process: the workers on a host share those pages (about 75 MB of fp32
    MiniLM each, measured; the same vectors). `path` itself when the copy can't be made (no
    `onnx` package, a read-only folder)."""
    import shutil
    import tempfile

    folder = path.parent / "mapped"
    stat = path.stat()
    source = f"{stat.st_size}:{stat.st_mtime_ns}"
    try:
        if (folder / "source.txt").read_text() == source and (folder / "weights.bin").is_file():
            return folder / path.name
    except OSError:
        pass
    staging = None
    try:
        import onnx

        staging = Path(tempfile.mkdtemp(prefix=".mapped-", dir=path.parent))
        onnx.save_model(onnx.load(str(path)), str(staging / path.name), save_as_external_data=True,
                        all_tensors_to_one_file=True, location="weights.bin", size_threshold=1024)
        (staging / "source.txt").write_text(source)
        shutil.rmtree(folder, ignore_errors=True)  # a copy of an older export
        os.replace(staging, folder)  # whole or not at all
        return folder / path.name
    except ImportError:
        return path
    except OSError as exc:
        if (folder / "source.txt").is_file() and (folder / "source.txt").read_text() == source:
            return folder / path.name  # another process made it meanwhile
        log.info("could not write a mapped copy of %s (%s); each process reads its weights", path, exc)
        return path
    finally:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)


def _checked_export(directory: Path) -> dict | None:
    """What checked.json says of the export in `directory`, or None when there is no usable one."""
    try:
        checked = json.loads((directory / "checked.json").read_text())
    except (OSError, ValueError):
        return None
    return checked if checked.get("format") == ONNX_FORMAT and (directory / "model.onnx").is_file() else None


def onnx_dir(settings: Settings) -> Path:
    """Where the ONNX export of the configured model lives."""
    return Path(settings.model_cache_dir) / f"onnx-{model_fingerprint(settings.embedding_model)}"


def ready_encoder(settings: Settings) -> OnnxEncoder | None:
    """The checked export of a local model folder, without loading torch, or None (not made yet,
    a model id, BOT_EMBEDDING_BACKEND=torch, anything amiss: the full load then decides)."""
    if settings.embedding_backend == "torch" or not Path(settings.embedding_model).is_dir():
        return None
    directory = onnx_dir(settings)
    checked = _checked_export(directory)
    if checked is None:
        return None
    try:
        import onnxruntime  # noqa: F401

        return OnnxEncoder(directory / "model.onnx", (directory / "tokenizer.json").read_text(encoding="utf-8"),
                           int(checked["max_tokens"]), int(checked["dimension"]), settings.encoder_threads,
                           bool(checked.get("lowercase", False)))
    except (OSError, ValueError, KeyError, ImportError):
        return None


def encoder_for(model, settings: Settings) -> OnnxEncoder | None:
    """The onnxruntime encoder for this model (exported and checked on first use), or None: torch."""
    if settings.embedding_backend == "torch":
        return None
    directory = onnx_dir(settings)
    try:
        return load_onnx(model, directory, settings.encoder_threads)
    except OnnxUnavailable as exc:
        reason = str(exc)
    except Exception as exc:  # an unwritable cache dir, a damaged export: torch still works
        reason = (f"its ONNX export in {directory} could not be made or opened ({exc.__class__.__name__}: "
                  f"{str(exc)[:200]}); delete that folder to make it again, or set BOT_MODEL_CACHE_DIR")
    if settings.embedding_backend == "onnx":
        raise EmbeddingModelError(f"BOT_EMBEDDING_BACKEND=onnx, but {reason}") from None
    log.info("embedding with torch: %s", reason)
    return None


def load_onnx(model, directory: Path, threads: int) -> OnnxEncoder:
    """The ONNX export of `model` in `directory`, made and checked against torch there if it isn't yet.

    The check compares vectors (torch's against onnxruntime's, one padded batch of probe texts)
    and token counts (the model's tokenizer against the `tokenizers` copy used without it)."""
    import time

    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        raise OnnxUnavailable("onnxruntime is not installed (pip install onnxruntime)") from None
    pooling, lowercase = _pooling_of(model)
    dimension_of = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
    backend = getattr(model.tokenizer, "backend_tokenizer", None)
    if backend is None:
        raise OnnxUnavailable("its tokenizer is not a fast (tokenizers) one")
    path = directory / "model.onnx"
    encoder = OnnxEncoder(path, backend.to_str(), int(model.max_seq_length), int(dimension_of()), threads, lowercase)
    if _checked_export(directory) is not None:
        return encoder
    started = time.perf_counter()
    _export(model, directory, pooling)
    difference = _difference(model, encoder)
    if difference > ONNX_TOLERANCE:
        raise OnnxUnavailable(f"its ONNX export differs from torch by {difference:.2g} (over {ONNX_TOLERANCE})")
    expected = [len(ids) for ids in model.tokenizer(_PROBES, add_special_tokens=False)["input_ids"]]
    if [len(e.ids) for e in encoder.counter().encode_batch(_PROBES, add_special_tokens=False)] != expected:
        raise OnnxUnavailable("its tokenizer counts tokens differently outside transformers")
    (directory / "tokenizer.json").write_text(encoder.tokenizer_json, encoding="utf-8")
    checked = {"format": ONNX_FORMAT, "max_abs_difference": difference, "pooling": pooling, "lowercase": lowercase,
               "max_tokens": encoder.max_tokens, "dimension": encoder.dimension}
    (directory / "checked.json").write_text(json.dumps(checked))
    log.info("exported the embedding model for onnxruntime to %s (%.1f s; largest difference from "
             "torch %.1g)", path, time.perf_counter() - started, difference)
    return encoder


ONNX_FORMAT = 2  # what checked.json holds; an export without it is made again


def _pooling_of(model) -> tuple[str, bool]:
    """("mean" | "cls", lowercase) of a plain Transformer + Pooling [+ Normalize] model."""
    names = [type(module).__name__ for module in model]
    if not names or names[0] != "Transformer" or any(n not in ("Transformer", "Pooling", "Normalize") for n in names):
        raise OnnxUnavailable(f"only Transformer + Pooling models are exported (this one is {' + '.join(names)})")
    pooling = next((m for m in model if type(m).__name__ == "Pooling"), None)
    mode = "mean"
    if pooling is not None:  # sentence-transformers 5+ names it pooling_mode; older ones, a method
        mode = getattr(pooling, "pooling_mode", None) or pooling.get_pooling_mode_str()
        mode = mode if isinstance(mode, str) else str(mode)
    if mode not in ("mean", "cls"):
        raise OnnxUnavailable(f"its pooling ({mode}) is not exported; mean and cls are")
    return mode, bool(getattr(model[0], "do_lower_case", False))


def _export(model, directory: Path, pooling: str) -> None:
    """Write `directory/model.onnx`: the transformer with its pooling and normalisation, one graph."""
    import shutil
    import tempfile
    import warnings

    try:
        import onnx  # noqa: F401  (torch.onnx.export writes through it)
        import torch
    except ImportError:
        raise OnnxUnavailable("the onnx package is not installed (pip install onnx)") from None

    transformer = model[0].auto_model.eval()

    class Pooled(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.transformer = transformer

        def forward(self, input_ids, attention_mask, token_type_ids):
            hidden = self.transformer(input_ids=input_ids, attention_mask=attention_mask,
                                      token_type_ids=token_type_ids).last_hidden_state
            if pooling == "cls":
                vector = hidden[:, 0]
            else:
                mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
                vector = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(vector, p=2, dim=1)

    example = dict(model.tokenizer(["an example"], return_tensors="pt"))
    example.setdefault("token_type_ids", torch.zeros_like(example["input_ids"]))
    axes = {0: "batch", 1: "tokens"}
    directory.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".export-", dir=directory))
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                Pooled().eval(), (example["input_ids"], example["attention_mask"], example["token_type_ids"]),
                str(staging / "model.onnx"), input_names=["input_ids", "attention_mask", "token_type_ids"],
                output_names=["embedding"], opset_version=17, dynamo=False,
                dynamic_axes={"input_ids": axes, "attention_mask": axes, "token_type_ids": axes,
                              "embedding": {0: "batch"}},
            )
        os.replace(staging / "model.onnx", directory / "model.onnx")
    except Exception as exc:
        raise OnnxUnavailable(f"exporting it to ONNX failed ({exc.__class__.__name__}: {str(exc)[:200]})") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _difference(model, encoder: OnnxEncoder) -> float:
    """The largest per-component difference between torch's and onnxruntime's vectors of probe texts."""
    expected = model.encode(_PROBES, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)
    got = encoder.encode(_PROBES, batch_size=len(_PROBES))  # one batch: padding is part of the check
    return float(np.abs(expected - got).max())
