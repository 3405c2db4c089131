"""Shared by the web, library and browser tests: a small collection (the seed pages plus two
Markdown notes, one tagged and one hostile) and a real app runtime over it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bot.notes.collection import slugify

from ..conftest import SEEDS

THINK_NOTE = "do-reasoning-scaffolds-reshape-which-empathy-skills-models-develop"

TAGGED = """---
title: Field notes on empathy benchmarks
tags: [empathy, benchmarks]
---
Benchmarks of empathic dialogue disagree about what they measure. Some score the listener's
emotional accuracy, others the helpfulness of the advice, and the two rankings rarely agree.
"""

# Every payload sets window.__xss if it ever runs; the browser test checks it never does.
HOSTILE = """---
title: Can a note's <img src=x onerror="window.__xss='title'"> title run script?
tags: [security]
---
Hostile markup in a note must show as text and never run. Here is a script tag:
<script>window.__xss = 'script'</script> and an image that would fire on error:
<img src=x onerror="window.__xss='img'"> and a link [click me](javascript:window.__xss='link')
and <b>bold</b> with <iframe src="javascript:window.__xss='iframe'"></iframe> inside it.
"""
HOSTILE_TITLE = """Can a note's <img src=x onerror="window.__xss='title'"> title run script?"""
HOSTILE_NOTE = slugify(HOSTILE_TITLE)


def make_collection(root: Path) -> Path:
    """seeds/ plus the tagged and the hostile note, under `root/notes`."""
    notes = root / "notes"
    shutil.copytree(SEEDS, notes)
    (notes / "extra").mkdir()
    (notes / "extra" / "benchmarks.md").write_text(TAGGED, encoding="utf-8")
    (notes / "extra" / "hostile.md").write_text(HOSTILE, encoding="utf-8")
    return notes


@pytest.fixture(scope="session")
def web_collection(tmp_path_factory) -> Path:
    return make_collection(tmp_path_factory.mktemp("web"))


@pytest.fixture(scope="session")
def web_settings(web_collection, tmp_path_factory):
    from bot.settings import Settings

    # Starlette's TestClient sends `Host: testserver`
    return Settings(notes_dir=str(web_collection), data_dir=tmp_path_factory.mktemp("web-data"),
                    rescan_seconds=0, allowed_hosts="testserver,localhost,127.0.0.1")


@pytest.fixture(scope="session")
def web_runtime(web_settings):
    """A real runtime (embedded Chroma, the bundled model) over the collection, open for the session."""
    from bot.web.runtime import AppRuntime

    runtime = AppRuntime(web_settings, purpose="app (tests)", progress=False)
    runtime.start()
    assert runtime.wait_ready(300), runtime.error
    runtime.reindex(wait=True, timeout=300)  # the first rescan is done before any test looks
    yield runtime
    runtime.close()
