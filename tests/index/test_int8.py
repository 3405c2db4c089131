"""int8 encoding: the quantized export, its check, and an index's precision (bot/index/int8.py)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from bot.cli import cli
from bot.index.embedder import Embedder
from bot.index.int8 import MIN_MEAN_COSINE, SAMPLE, int8_dir, served_precision
from bot.index.store import Store
from bot.settings import Settings

pytestmark = pytest.mark.integration

KEPT = "the index was built with int8 embeddings; `bot ingest --rebuild` rebuilds it with fp32"


@pytest.fixture(scope="module")
def int8_embedder(embedder_settings):
    return Embedder.load(embedder_settings.model_copy(update={"embedding_precision": "int8"}))


def test_the_default_is_fp32_and_the_int8_export_is_checked_and_made_once(embedder, int8_embedder, embedder_settings):
    assert Settings.model_fields["embedding_precision"].default == "fp32" and embedder.precision == "fp32"
    embedder = int8_embedder
    assert embedder.precision == "int8" and embedder.onnx.path.parent == int8_dir(embedder_settings)
    checked = json.loads((int8_dir(embedder_settings) / "checked.json").read_text())
    assert checked["passed"] and checked["sample_texts"] == len(SAMPLE)
    assert MIN_MEAN_COSINE <= checked["mean_cosine"] <= 1.0 and 0.9 < checked["min_cosine"] <= checked["mean_cosine"]
    made = (embedder.onnx.path.stat().st_mtime_ns, embedder.onnx.path.stat().st_size)
    again = Embedder.load(embedder_settings.model_copy(update={"embedding_precision": "int8"}), use_cache=False)
    assert again.precision == "int8" and (again.onnx.path.stat().st_mtime_ns, again.onnx.path.stat().st_size) == made


def test_int8_vectors_are_close_to_fp32_but_not_the_same(int8_embedder, embedder_settings):
    embedder = int8_embedder
    fp32 = Embedder.load(embedder_settings.model_copy(update={"embedding_precision": "fp32"}), use_cache=False)
    assert fp32.precision == "fp32" and fp32.onnx.path.parent.name.endswith("-int8") is False
    texts = ["Sleep consolidates the memories of the day.", "What does warmth training cost?"]
    a, b = fp32.encode_batch(texts), embedder.encode_batch(texts)
    cosines = np.sum(a * b, axis=1)
    assert (cosines > 0.95).all() and not np.allclose(a, b, atol=1e-6)
    # the identity of the index and of the cache differ, so the two never mix
    assert fp32.fingerprint != embedder.fingerprint and embedder.fingerprint.endswith("-int8")
    names = set()
    for model in (embedder, fp32):
        with Store.open(embedder_settings, model.fingerprint, path=embedder_settings.data_dir / "names") as store:
            names.add(store.name)
    assert len(names) == 2


def test_the_setting_validates_in_one_line(monkeypatch):
    monkeypatch.setenv("BOT_EMBEDDING_PRECISION", "int4")
    result = CliRunner().invoke(cli, ["ingest", "--no-progress"])
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [
        "Error: BOT_EMBEDDING_PRECISION='int4': Input should be 'fp32' or 'int8'. Set it in the environment "
        "or in .env, or unset it for the default."]


def test_an_int8_index_stays_int8_when_the_setting_is_unset_until_rebuild(tmp_path, monkeypatch, int8_embedder):
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "tides.md").write_text("# Tides and the moon\n\nThe moon's pull raises the tides twice a day.\n")
    monkeypatch.setenv("BOT_NOTES_DIR", str(folder))
    monkeypatch.setenv("BOT_EMBEDDING_PRECISION", "int8")  # built with int8 chosen
    built = CliRunner().invoke(cli, ["ingest", "--no-progress"])
    assert built.exit_code == 0 and KEPT not in built.stderr, built.output
    monkeypatch.delenv("BOT_EMBEDDING_PRECISION")  # the setting unset: fp32 is the default
    assert served_precision(Settings()).settings.embedding_precision == "int8"
    again = CliRunner().invoke(cli, ["ingest", "--no-progress"])
    assert again.exit_code == 0 and again.stderr.strip().splitlines() == [KEPT], again.output
    assert "1 unchanged" in again.stdout  # the same int8 index, nothing re-embedded
    rebuilt = CliRunner().invoke(cli, ["ingest", "--no-progress", "--rebuild"])
    assert rebuilt.exit_code == 0 and KEPT not in rebuilt.stderr, rebuilt.output
    assert served_precision(Settings()).settings.embedding_precision == "fp32"
    # set explicitly, the setting wins over the index on disk
    monkeypatch.setenv("BOT_EMBEDDING_PRECISION", "int8")
    assert served_precision(Settings()).settings.embedding_precision == "int8"
