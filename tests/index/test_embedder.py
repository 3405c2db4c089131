"""The encoder: onnxruntime on an ONNX export of the bundled model gives torch's vectors, the export
is made once and reused, and what can't be exported falls back to torch (or says why)."""

from __future__ import annotations

import numpy as np
import pytest

from bot.errors import EmbeddingModelError
from bot.index.onnx import OnnxUnavailable, _pooling_of
from bot.settings import Settings

from ..conftest import SEEDS

pytestmark = pytest.mark.integration


def _seed_texts() -> list[str]:
    text = (SEEDS / sorted(p.name for p in SEEDS.glob("*.txt"))[0]).read_text(encoding="utf-8")
    paragraphs = [p.strip() for p in text.split("\n") if len(p.strip()) > 40]
    return paragraphs[:12] + ["Does warmth training make models less reliable?", "x", "<think>tags</think>"]


def test_onnxruntime_gives_torchs_vectors_for_batches_and_questions(fp32_embedder):
    embedder = fp32_embedder  # int8 is checked against fp32 in test_int8.py
    assert embedder.backend == "onnxruntime"
    texts = _seed_texts()
    expected = embedder.model.encode(texts, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)
    assert np.abs(embedder.encode_batch(texts) - expected).max() < 1e-5
    for text, vector in zip(texts[-3:], expected[-3:]):
        assert np.abs(embedder.encode_query(text) - vector).max() < 1e-5
    assert np.allclose(np.linalg.norm(embedder.encode_batch(texts), axis=1), 1.0, atol=1e-5)


def test_the_export_is_made_once_per_model_and_checked(fp32_embedder, embedder_settings):
    embedder = fp32_embedder
    directory = next(embedder_settings.model_cache_dir.glob(f"onnx-{embedder.fingerprint}"))
    assert (directory / "model.onnx").stat().st_size > 10_000_000
    assert "max_abs_difference" in (directory / "checked.json").read_text()
    assert embedder.onnx.path == directory / "model.onnx"


def test_sessions_map_the_weights_from_a_copy_of_the_export(fp32_embedder):
    """Each worker maps the weights file instead of reading the weights in (bench/memory.py),
    and the vectors are the export's own, to the bit."""
    import onnxruntime as ort

    from bot.index.onnx import mapped_model

    embedder = fp32_embedder
    texts = _seed_texts()[:4]
    vectors = embedder.encode_batch(texts)
    mapped = embedder.onnx.path.parent / "mapped"
    assert (mapped / "weights.bin").stat().st_size > 10_000_000 and (mapped / "model.onnx").stat().st_size < 1_000_000
    assert mapped_model(embedder.onnx.path) == mapped / "model.onnx"
    session, tokenizer, lock = embedder.onnx._role("batches")
    plain = ort.InferenceSession(str(embedder.onnx.path), providers=["CPUExecutionProvider"])
    embedder.onnx._roles["batches"] = (plain, tokenizer, lock)
    try:
        assert np.array_equal(embedder.encode_batch(texts), vectors)
    finally:
        embedder.onnx._roles["batches"] = (session, tokenizer, lock)


def test_the_torch_backend_is_there_when_asked_for(tmp_path):
    from bot.index.embedder import Embedder

    torch_embedder = Embedder.load(Settings(data_dir=tmp_path, embedding_backend="torch"))
    assert torch_embedder.backend == "torch" and torch_embedder.onnx is None
    question = "Does warmth training make models less reliable?"
    onnx_embedder = Embedder.load(Settings(data_dir=tmp_path, embedding_precision="fp32"))
    assert np.abs(torch_embedder.encode_query(question) - onnx_embedder.encode_query(question)).max() < 1e-5


def test_a_model_that_cant_be_exported_says_why():
    class Transformer:
        pass

    class Pooling:
        pooling_mode = "mean"

    class Dense:
        pass

    with pytest.raises(OnnxUnavailable, match="only Transformer \\+ Pooling models"):
        _pooling_of([Transformer(), Pooling(), Dense()])
    Pooling.pooling_mode = "max"
    with pytest.raises(OnnxUnavailable, match="pooling \\(max\\)"):
        _pooling_of([Transformer(), Pooling()])


def test_requiring_onnx_for_a_model_it_cant_run_is_a_clear_error(tmp_path, monkeypatch, embedder):
    import bot.index.onnx as embeddings

    def unexportable(model, directory, threads):
        raise OnnxUnavailable("only Transformer + Pooling models are exported (this one is Transformer + Dense)")

    monkeypatch.setattr(embeddings, "load_onnx", unexportable)
    required = Settings(data_dir=tmp_path, embedding_backend="onnx")
    with pytest.raises(EmbeddingModelError, match="BOT_EMBEDDING_BACKEND=onnx, but only Transformer"):
        embeddings.encoder_for(embedder.model, required)
    assert embeddings.encoder_for(embedder.model, Settings(data_dir=tmp_path)) is None  # auto: torch instead


def test_an_unwritable_model_cache_falls_back_to_torch(tmp_path, embedder):
    import bot.index.onnx as embeddings

    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the cache folder would go")
    settings = Settings(data_dir=tmp_path, model_cache_dir=blocked)
    assert embeddings.encoder_for(embedder.model, settings) is None
    with pytest.raises(EmbeddingModelError, match="could not be made or opened .* BOT_MODEL_CACHE_DIR"):
        embeddings.encoder_for(embedder.model, settings.model_copy(update={"embedding_backend": "onnx"}))


def test_with_the_export_made_a_process_starts_without_torch(embedder, embedder_settings, tmp_path):
    """The app's start: a checked export is served by onnxruntime alone, torch is never imported."""
    import subprocess
    import sys

    from ..conftest import ROOT

    code = (
        "import sys; from bot.settings import Settings; from bot.index.embedder import Embedder; "
        f"e = Embedder.load(Settings(data_dir={str(tmp_path)!r}, model_cache_dir={str(embedder_settings.model_cache_dir)!r})); "
        "v = e.encode_query('Does warmth training hurt?'); "
        "print(e.backend, 'torch' in sys.modules, 'sentence_transformers' in sys.modules, "
        "e.count_tokens(['Does warmth training hurt?'])[0], ' '.join(f'{x:.6f}' for x in v[:4]))"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    backend, torch_loaded, st_loaded, tokens, *head = done.stdout.split()
    assert (backend, torch_loaded, st_loaded) == ("onnxruntime", "False", "False"), done.stderr[-2000:]
    question = "Does warmth training hurt?"
    assert int(tokens) == embedder.count_tokens([question])[0]
    assert np.allclose([float(x) for x in head], embedder.encode_query(question)[:4], atol=1e-5)
