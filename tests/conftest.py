"""Shared fixtures: the real seed pages, the real embedding model, isolated data dirs."""

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


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch, tmp_path_factory):
    """No test reads the developer's .env or data dir."""
    for name in list(os.environ):
        if name.startswith("BOT_"):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("BOT_DATA_DIR", str(tmp_path_factory.mktemp("data")))
    monkeypatch.chdir(ROOT)


@pytest.fixture
def seeds_copy(tmp_path) -> Path:
    """A private copy of the seed pages that a test may change."""
    target = tmp_path / "notes"
    shutil.copytree(SEEDS, target)
    return target


@pytest.fixture(scope="session")
def embedder_settings(tmp_path_factory):
    from bot.settings import Settings

    return Settings(data_dir=tmp_path_factory.mktemp("embeddings"))


@pytest.fixture(scope="session")
def embedder(embedder_settings):
    """The real bundled model, loaded once for the session, with a shared vector cache."""
    from bot.index.embedder import Embedder

    return Embedder.load(embedder_settings)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
