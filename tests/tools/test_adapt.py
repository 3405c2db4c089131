"""`bot adapt`: title → text pairs, and a real (tiny) fine-tuning run on the seed pages."""

from __future__ import annotations

import doctest
import json

import pytest
from click.testing import CliRunner

import bot.tools.adapt
import bot.cli
from bot.tools.adapt import AdaptParams, similar_batches, title_text_pairs
from bot.models import Note


def test_doctests():
    assert doctest.testmod(bot.tools.adapt).failed == 0


def test_pairs_skip_titles_that_teach_nothing():
    notes = [
        Note(id="a", title="Does warmth training hurt reliability?", text="Five models trained for warmth..."),
        Note(id="b", title="Short", text="Too short a title."),
        Note(id="c", title="Alpine glaciers lost a third", text="Alpine glaciers lost a third of their volume."),
        Note(id="d", title="Does warmth training hurt reliability?", text="A second note, same title."),
        Note(id="e", title="meeting notes 2024", text="Agenda.", source_path="/n/meeting notes 2024"),
    ]
    assert title_text_pairs(notes) == [("Does warmth training hurt reliability?", "Five models trained for warmth...")]


def test_similar_batches_cover_every_row_once():
    import random

    import numpy as np

    vectors = np.eye(10, dtype=np.float32)[[0, 0, 1, 1, 2, 2, 3, 3, 4, 4]]
    order = similar_batches(vectors, 2, random.Random(0))
    assert sorted(order) == list(range(10))
    assert all(vectors[order[i]] @ vectors[order[i + 1]] == 1.0 for i in range(0, 10, 2))  # pairs of twins


@pytest.mark.integration
def test_adapt_command_saves_a_model_with_its_own_fingerprint(tmp_path, embedder):
    from bot.index.fingerprint import model_fingerprint
    from bot.settings import Settings

    out = tmp_path / "adapted"
    result = CliRunner().invoke(bot.cli.cli, ["adapt", "seeds", "--out", str(out), "--batch-size", "4",
                                              "--no-progress"])
    assert result.exit_code == 0, result.output
    assert f"export BOT_EMBEDDING_MODEL={out}" in result.stdout
    assert "title → text pairs" in result.stdout and "steps" in result.stdout
    report = json.loads((out / "adapt.json").read_text())
    assert report["pairs"] == 25 and report["steps"] == 6 and report["seconds"] > 0
    assert model_fingerprint(str(out)) != model_fingerprint(Settings().embedding_model)
    from sentence_transformers import SentenceTransformer

    vector = SentenceTransformer(str(out), device="cpu").encode(["warmth"], normalize_embeddings=True)
    assert vector.shape == (1, 384)


def test_too_few_notes_is_explained(tmp_path):
    from bot.settings import Settings

    notes = [Note(id=str(i), title=f"A title long enough {i}", text="text") for i in range(5)]
    with pytest.raises(ValueError, match="needs at least 64"):
        bot.tools.adapt.adapt(notes, Settings(data_dir=tmp_path), params=AdaptParams())

