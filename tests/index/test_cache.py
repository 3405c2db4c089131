"""The on-disk embedding cache (SQLite: text hash → float32 vector) and a model's fingerprint."""

from __future__ import annotations

import threading

import numpy as np

from bot.index.cache import EmbeddingCache, text_key
from bot.index.fingerprint import model_fingerprint
from bot.settings import bundled_model_path


def test_vectors_round_trip_exactly_and_survive_a_reopen(tmp_path):
    path = tmp_path / "cache" / "embeddings-x.sqlite"
    vectors = np.random.default_rng(0).normal(size=(3, 384)).astype(np.float32)
    keys = [text_key(t) for t in ("a", "b", "c")]
    EmbeddingCache(path).put_many(keys, vectors)
    found = EmbeddingCache(path).get_many(keys + [text_key("never stored")])
    assert set(found) == set(keys)
    for key, vector in zip(keys, vectors):
        assert found[key].dtype == np.float32 and np.array_equal(found[key], vector)


def test_a_key_is_the_sha256_of_the_text_and_any_text_has_one():
    assert text_key("a") != text_key("a ") and len(text_key("a")) == 32
    assert len(text_key("lone \udcff surrogate")) == 32  # as a file read with errors may hold


def test_storing_a_text_again_replaces_its_vector(tmp_path):
    cache = EmbeddingCache(tmp_path / "c.sqlite")
    cache.put_many([text_key("a")], np.ones((1, 4), np.float32))
    cache.put_many([text_key("a")], np.full((1, 4), 2.0, np.float32))
    assert cache.get_many([text_key("a")])[text_key("a")].tolist() == [2.0] * 4


def test_lookups_past_sqlites_variable_limit_and_from_several_threads(tmp_path):
    cache = EmbeddingCache(tmp_path / "c.sqlite")
    keys = [text_key(str(i)) for i in range(1800)]  # looked up in slices of 500
    cache.put_many(keys, np.arange(1800 * 2, dtype=np.float32).reshape(1800, 2))
    results: list[int] = []

    def look():
        results.append(len(cache.get_many(keys)))

    threads = [threading.Thread(target=look) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [1800] * 4
    assert cache.get_many(keys)[keys[1799]].tolist() == [3598.0, 3599.0]


def test_a_model_id_and_a_model_folder_have_stable_fingerprints(tmp_path):
    bundled = bundled_model_path()
    assert model_fingerprint(bundled) == model_fingerprint(bundled) and len(model_fingerprint(bundled)) == 16
    assert model_fingerprint("org/model-a") != model_fingerprint("org/model-b")
    copy = tmp_path / "model"
    copy.mkdir()
    (copy / "config.json").write_text('{"hidden_size": 384}')
    (copy / "model.safetensors").write_bytes(b"\x00" * 4096)
    before = model_fingerprint(str(copy))
    assert before != model_fingerprint(bundled)
    (copy / "model.safetensors").write_bytes(b"\x00" * 4095 + b"\x01")  # retrained: new weights
    assert model_fingerprint(str(copy)) != before
    (copy / "model.safetensors").write_bytes(b"\x00" * 4096)
    assert model_fingerprint(str(copy)) == before
    (copy / "README.md").write_text("notes about the model")  # what doesn't shape vectors doesn't count
    assert model_fingerprint(str(copy)) == before
