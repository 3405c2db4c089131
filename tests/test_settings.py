"""Settings: which .env file is read (BOT_ENV_FILE), a bad value as one line naming the variable,
and the suite's own isolation (tests/conftest.py): no .env, a tmp HOME, a private model cache."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.errors import SettingsError
from bot.settings import Settings, default_data_dir, default_model_cache_dir, load_settings

from .conftest import ROOT, SESSION_BOT_ENV, clean_env


@pytest.fixture
def folder_with_dotenv(tmp_path, monkeypatch) -> Path:
    """The working directory is a folder whose .env sets BOT_PORT=1234."""
    (tmp_path / ".env").write_text("BOT_PORT=1234\nBOT_ANSWER_NOTES=5\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    return tmp_path


# --- BOT_ENV_FILE ---------------------------------------------------------------------------------


def test_unset_it_reads_dotenv_in_the_working_directory(folder_with_dotenv, monkeypatch):
    monkeypatch.delenv("BOT_ENV_FILE")
    settings = Settings()
    assert (settings.port, settings.answer_notes) == (1234, 5)


def test_the_environment_wins_over_the_dotenv_file(folder_with_dotenv, monkeypatch):
    monkeypatch.delenv("BOT_ENV_FILE")
    monkeypatch.setenv("BOT_PORT", "4321")
    assert Settings().port == 4321 and Settings().answer_notes == 5


def test_empty_reads_no_dotenv_file(folder_with_dotenv, monkeypatch):
    monkeypatch.setenv("BOT_ENV_FILE", "")
    assert (Settings().port, Settings().answer_notes) == (7860, 3)


def test_a_path_reads_that_file_instead(folder_with_dotenv, tmp_path, monkeypatch):
    other = tmp_path / "elsewhere" / "team.env"
    other.parent.mkdir()
    other.write_text("BOT_PORT=9999\n", encoding="utf-8")
    monkeypatch.setenv("BOT_ENV_FILE", str(other))
    settings = Settings()
    assert settings.port == 9999 and settings.answer_notes == 3  # the working directory's .env is not read


def test_it_is_read_when_settings_are_made_not_at_import(folder_with_dotenv, monkeypatch):
    monkeypatch.setenv("BOT_ENV_FILE", "")
    assert Settings().port == 7860
    monkeypatch.delenv("BOT_ENV_FILE")
    assert Settings().port == 1234


def test_a_missing_file_is_one_line_naming_the_variable(tmp_path, monkeypatch):
    monkeypatch.setenv("BOT_ENV_FILE", str(tmp_path / "nope.env"))
    with pytest.raises(SettingsError) as raised:
        load_settings()
    message = str(raised.value)
    assert message.startswith("BOT_ENV_FILE=") and "no such file" in message and "\n" not in message
    assert raised.value.exit_code == 2


def test_a_bad_value_in_the_dotenv_file_is_named_like_one_in_the_environment(tmp_path, monkeypatch):
    (tmp_path / "bad.env").write_text("BOT_PORT=seventy\n", encoding="utf-8")
    monkeypatch.setenv("BOT_ENV_FILE", str(tmp_path / "bad.env"))
    with pytest.raises(SettingsError, match=r"^BOT_PORT='seventy': Input should be a valid integer"):
        load_settings()


def test_bad_values_are_one_line_each_naming_the_variable(monkeypatch):
    monkeypatch.setenv("BOT_PORT", "abc")
    monkeypatch.setenv("BOT_ANSWER_NOTES", "99")
    with pytest.raises(SettingsError) as raised:
        load_settings()
    message = str(raised.value)
    assert "BOT_PORT='abc'" in message and "BOT_ANSWER_NOTES='99'" in message and "\n" not in message


# --- the suite's isolation ------------------------------------------------------------------------


def test_a_developers_dotenv_never_reaches_a_test(folder_with_dotenv):
    assert os.environ["BOT_ENV_FILE"] == ""
    assert Settings().port == 7860


def test_home_and_the_default_dirs_are_in_the_sessions_tmp_dir(tmp_path_factory):
    base = tmp_path_factory.getbasetemp()
    assert Path.home().is_relative_to(base)
    assert default_model_cache_dir().is_relative_to(Path.home())
    assert default_data_dir().is_relative_to(Path.home())


def test_each_test_has_its_own_data_dir_and_the_session_one_model_cache(tmp_path_factory):
    settings = Settings()
    base = tmp_path_factory.getbasetemp()
    assert settings.data_dir.is_relative_to(base) and not settings.data_dir.is_relative_to(Path.home())
    assert settings.data_dir.name.startswith("data")
    assert settings.model_cache_dir == Path(SESSION_BOT_ENV["BOT_MODEL_CACHE_DIR"])
    if not os.environ.get("BOT_TEST_MODEL_CACHE_DIR"):
        # the default under the tmp HOME, so a subprocess that drops BOT_* still finds the export
        assert settings.model_cache_dir == default_model_cache_dir()
        assert settings.model_cache_dir.is_relative_to(base)
    assert Path.cwd() == ROOT


def test_a_subprocess_gets_the_same_isolation(folder_with_dotenv, tmp_path):
    shown = subprocess.run(
        [sys.executable, "-c", "from bot.settings import Settings; s = Settings(); "
                               "print(s.port, s.model_cache_dir, s.data_dir, sep='\\n')"],
        cwd=folder_with_dotenv, env=clean_env(BOT_DATA_DIR=str(tmp_path / "sub")),
        capture_output=True, text=True, timeout=120,
    )
    assert shown.returncode == 0, shown.stderr
    port, cache, data = shown.stdout.split("\n")[:3]
    assert port == "7860"  # the .env in its working directory was not read
    assert cache == SESSION_BOT_ENV["BOT_MODEL_CACHE_DIR"] and data == str(tmp_path / "sub")


@pytest.mark.integration
def test_the_models_onnx_export_is_made_in_the_sessions_cache(embedder, tmp_path_factory):
    assert embedder.backend == "onnxruntime"
    assert embedder.onnx.path.is_relative_to(Path(SESSION_BOT_ENV["BOT_MODEL_CACHE_DIR"]))
    if not os.environ.get("BOT_TEST_MODEL_CACHE_DIR"):  # unless one was named to keep between runs
        assert embedder.onnx.path.is_relative_to(tmp_path_factory.getbasetemp())


def test_doctests(tmp_path, monkeypatch):
    import doctest

    import bot.settings

    monkeypatch.chdir(tmp_path)  # the examples change BOT_ENV_FILE: no .env may be found meanwhile
    result = doctest.testmod(bot.settings)
    assert result.failed == 0 and result.attempted > 0
