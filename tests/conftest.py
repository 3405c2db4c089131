"""Shared fixtures: the real seed pages, the real embedding model, isolated data dirs.

Isolation, so no test reads or writes anything of the developer's:

    for the session   HOME (and XDG_CACHE_HOME, XDG_DATA_HOME, XDG_CONFIG_HOME) in a tmp dir;
                      no BOT_* setting of the developer's (BOT_TEST_* kept); no .env file
                      (BOT_ENV_FILE="");
                      one model cache (BOT_MODEL_CACHE_DIR = $HOME/.cache/notes-bot, the default
                      under that HOME), so the ONNX export is made once a session, never in ~/.cache
                      (about 12 s of CPU, 40-50 s on a busy 2-core machine); to keep it between
                      runs, name a folder in BOT_TEST_MODEL_CACHE_DIR and the session uses that
    for each test     its own BOT_DATA_DIR; the working directory is the repository root

A subprocess gets `clean_env(...)`: the same isolation without the test's BOT_DATA_DIR.
"""

from __future__ import annotations

import os
import shutil
import socket
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
SCIFACT = (ROOT.parent / "shared" / "eval" / "scifact").resolve()


def _bot_setting(name: str) -> bool:
    """A variable the bot's Settings read (BOT_TEST_* ones configure the tests and are kept)."""
    return name.startswith("BOT_") and not name.startswith("BOT_TEST_")


# set for every test (and kept by clean_env for subprocesses); filled in by _isolated_session
SESSION_BOT_ENV: dict[str, str] = {}


@pytest.fixture(scope="session", autouse=True)
def _isolated_session(tmp_path_factory):
    """A tmp HOME, no developer BOT_* variables, no .env, and one model cache for the session."""
    home = tmp_path_factory.mktemp("home")
    patch = pytest.MonkeyPatch()
    for name in list(os.environ):
        if _bot_setting(name):
            patch.delenv(name)
    patch.setenv("HOME", str(home))
    patch.setenv("XDG_CACHE_HOME", str(home / ".cache"))
    patch.setenv("XDG_DATA_HOME", str(home / ".local" / "share"))
    patch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    SESSION_BOT_ENV.update({
        "BOT_ENV_FILE": "",  # read no .env, wherever a test runs
        # the default under this HOME, so a subprocess that drops BOT_* still finds the export
        "BOT_MODEL_CACHE_DIR": os.environ.get("BOT_TEST_MODEL_CACHE_DIR") or str(home / ".cache" / "notes-bot"),
    })
    for name, value in SESSION_BOT_ENV.items():
        patch.setenv(name, value)
    yield home
    patch.undo()
    SESSION_BOT_ENV.clear()


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch, tmp_path_factory):
    """No test reads the developer's .env or data dir, or a BOT_* variable another test left."""
    for name in list(os.environ):
        if _bot_setting(name):
            monkeypatch.delenv(name, raising=False)
    for name, value in SESSION_BOT_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("BOT_DATA_DIR", str(tmp_path_factory.mktemp("data")))
    monkeypatch.chdir(ROOT)


def clean_env(**variables: str) -> dict[str, str]:
    """The environment for a subprocess: this one without BOT_* variables but with the session's
    isolation (no .env, its model cache), plus `variables` (BOT_DATA_DIR="...", say)."""
    env = {k: v for k, v in os.environ.items() if not _bot_setting(k)}
    env.update(SESSION_BOT_ENV)
    env.update(variables)
    return env


@pytest.fixture
def seeds_copy(tmp_path) -> Path:
    """A private copy of the seed pages that a test may change."""
    target = tmp_path / "notes"
    shutil.copytree(SEEDS, target)
    return target


@pytest.fixture(scope="session")
def embedder_settings(tmp_path_factory):
    from bot.settings import Settings

    return Settings(data_dir=tmp_path_factory.mktemp("embeddings"),
                    model_cache_dir=SESSION_BOT_ENV["BOT_MODEL_CACHE_DIR"])


@pytest.fixture(scope="session")
def embedder(embedder_settings):
    """The real bundled model, loaded once for the session, with a shared vector cache. The first
    load of a session exports the model to ONNX and checks it against torch (about 12 s of CPU;
    47 s of wall time on a loaded 2-core machine); later loads in the session take a moment."""
    from bot.index.embedder import Embedder

    return Embedder.load(embedder_settings)


@pytest.fixture(scope="session")
def fp32_embedder(embedder_settings):
    """The bundled model's fp32 ONNX export (BOT_EMBEDDING_PRECISION=fp32), for comparisons with torch."""
    from bot.index.embedder import Embedder

    return Embedder.load(embedder_settings.model_copy(update={"embedding_precision": "fp32"}))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
