"""int8 encoding: a quantized copy of the ONNX export, and which precision an index is served with.

    encoder = int8_encoder(fp32_encoder, settings)     # made and checked once per machine, or None
    settings = served_precision(settings, rebuild=False).settings   # the precision of the index on disk

The export (`<BOT_MODEL_CACHE_DIR>/onnx-<model>-int8/model.onnx`) is made once from the fp32 one
with exactly this recipe: `quantize_dynamic(per_channel=True, op_types_to_quantize=["MatMul"],
weight_type=QInt8, reduce_range=False)`; then checked: the cosine of its vectors to fp32's on a
fixed sample of texts (`SAMPLE`) must average at least `MIN_MEAN_COSINE`, else it is refused and
fp32 is used (with a warning). Mean and minimum cosine are written to its `checked.json`.

Precision is part of the index's identity: the embedder's fingerprint is the model's for fp32 (so an
index built before int8 existed is an fp32 index) and `<model>-int8` for int8, which names both the
Chroma collections and the embedding cache, so vectors of the two never mix.

fp32 is the default (README, "int8 encoding", says why). An existing index keeps the precision it
was built with: when BOT_EMBEDDING_PRECISION is not set explicitly and no index of the default
precision exists but one of the other does, that one is served and ingested into (the caller says
so once); `bot ingest --rebuild` builds the default precision instead.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..settings import Settings
from .fingerprint import model_fingerprint
from .onnx import OnnxEncoder, onnx_dir

log = logging.getLogger(__name__)

INT8_FORMAT = 1  # what checked.json holds; an export without it is made again
MIN_MEAN_COSINE = 0.98
# A fixed sample, of the lengths notes and questions have: what the check measures.
SAMPLE = [
    "What does warmth training cost?",
    "Does reinforcement learning with verifiable rewards teach a model when to reason?",
    "Empathy in language models is measured by how well a reply recognises the user's feelings.",
    "Scaffolds shape which empathy skills models develop during fine-tuning.",
    "Chain-of-thought prompting improves arithmetic reasoning in large models, but not in small ones.",
    "The reward model was trained on 40,000 human preference comparisons between pairs of answers.",
    "Warmth and accuracy trade off: models tuned to be warmer make more factual errors when users are sad.",
    "Self-consistency samples several reasoning paths and keeps the most frequent final answer.",
    "Sycophancy rises with model size and with instruction tuning, and falls with synthetic data.",
    "Process supervision rewards each correct step of a solution rather than only its final answer.",
    "We release the dataset, the code and the trained checkpoints under an open licence.",
    "Vitamin D supplementation did not reduce the incidence of cancer or cardiovascular events.",
    "Mutations in the BRCA1 gene increase the lifetime risk of breast and ovarian cancer.",
    "The patients were randomised to receive either the drug or a placebo for twelve weeks.",
    "x",
    ("Reinforcement learning from human feedback aligns a model's outputs with what people prefer; a reward "
     "model learns the preferences and a policy is optimised against it with PPO. ") * 4,
]


def int8_dir(settings: Settings) -> Path:
    """Where the int8 export of the configured model lives (beside the fp32 one)."""
    return onnx_dir(settings).with_name(onnx_dir(settings).name + "-int8")


def _checked(directory: Path) -> dict | None:
    try:
        checked = json.loads((directory / "checked.json").read_text())
    except (OSError, ValueError):
        return None
    return checked if checked.get("format") == INT8_FORMAT and (directory / "model.onnx").is_file() else None


def int8_encoder(fp32: OnnxEncoder, settings: Settings) -> OnnxEncoder | None:
    """The int8 encoder beside `fp32`'s export (quantized and checked on first use), or None when it
    can't be made or fails the check (a warning says why; fp32 is then used)."""
    directory = int8_dir(settings)
    encoder = OnnxEncoder(directory / "model.onnx", fp32.tokenizer_json, fp32.max_tokens, fp32.dimension,
                          fp32.threads, fp32.lowercase)
    checked = _checked(directory)
    if checked is not None:
        return encoder if checked.get("passed") else None
    try:
        checked = _export_and_check(fp32, encoder, directory)
    except Exception as exc:  # no quantization module, an unwritable cache: fp32 still works
        log.warning("int8 encoding unavailable, using fp32: quantizing %s failed (%s: %s)",
                    fp32.path, exc.__class__.__name__, str(exc)[:200])
        return None
    if not checked["passed"]:
        log.warning("int8 encoding refused, using fp32: its vectors' mean cosine to fp32 is %.4f (under %.2f); "
                    "see %s", checked["mean_cosine"], MIN_MEAN_COSINE, directory / "checked.json")
        return None
    return encoder


def _export_and_check(fp32: OnnxEncoder, encoder: OnnxEncoder, directory: Path) -> dict:
    import os
    import tempfile

    from onnxruntime.quantization import QuantType, quantize_dynamic

    started = time.perf_counter()
    directory.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".quantize-", dir=directory))
    try:
        quantize_dynamic(str(fp32.path), str(staging / "model.onnx"), per_channel=True,
                         op_types_to_quantize=["MatMul"], weight_type=QuantType.QInt8, reduce_range=False)
        os.replace(staging / "model.onnx", directory / "model.onnx")
    finally:
        import shutil

        shutil.rmtree(staging, ignore_errors=True)
    cosines = cosines_to_fp32(fp32, encoder)
    checked = {"format": INT8_FORMAT, "recipe": "quantize_dynamic per_channel MatMul QInt8 reduce_range=False",
               "sample_texts": len(SAMPLE), "mean_cosine": float(cosines.mean()),
               "min_cosine": float(cosines.min()), "threshold": MIN_MEAN_COSINE,
               "passed": bool(cosines.mean() >= MIN_MEAN_COSINE)}
    (directory / "checked.json").write_text(json.dumps(checked))
    log.info("quantized the embedding model to int8 in %s (%.1f s; cosine to fp32 mean %.4f, min %.4f)",
             directory, time.perf_counter() - started, checked["mean_cosine"], checked["min_cosine"])
    return checked


def cosines_to_fp32(fp32: OnnxEncoder, other: OnnxEncoder, texts: list[str] | None = None) -> np.ndarray:
    """Cosine of each text's vector by `other` to its fp32 vector (both are normalised)."""
    texts = texts or SAMPLE
    return np.sum(fp32.encode(texts) * other.encode(texts), axis=1)


def precision_fingerprint(model_print: str, precision: str) -> str:
    """The embedder's identity: the model's for fp32 (as before int8 existed), `<model>-int8` for int8."""
    return model_print if precision == "fp32" else f"{model_print}-{precision}"


@dataclass(frozen=True)
class Precision:
    settings: Settings  # with embedding_precision the one to use
    kept: str | None = None  # the precision of an index found on disk and kept (not the default's)
    default: str = "fp32"

    @property
    def message(self) -> str | None:
        if self.kept is None:
            return None
        return (f"the index was built with {self.kept} embeddings; `bot ingest --rebuild` rebuilds it with "
                f"{self.default}")


def served_precision(settings: Settings, *, rebuild: bool = False, store_path: Path | None = None) -> Precision:
    """The precision to serve and ingest with: the configured one, unless it is only the default and
    the index on disk was built with the other precision (and this is no rebuild): switching is a
    full re-embedding, so it happens only when asked for (`--rebuild`, or the setting set)."""
    configured = settings.embedding_precision
    if rebuild or "embedding_precision" in settings.model_fields_set:
        return Precision(settings, None, configured)
    from .store import Store

    model_print = model_fingerprint(settings.embedding_model)

    def built(precision: str) -> bool:
        with Store.open(settings, precision_fingerprint(model_print, precision), path=store_path,
                        purpose="checking the index's precision") as store:
            return store.version() > 0

    other = "fp32" if configured == "int8" else "int8"
    if built(configured) or not built(other):
        return Precision(settings, None, configured)
    return Precision(settings.model_copy(update={"embedding_precision": other}), other, configured)
