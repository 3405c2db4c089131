"""The first answers before the whole index is built (issue 14): a cold build of 300 notes with the
app running. The build is held (by its checkpoint hook, in ingest's writer thread: no timing) at
the first group stored after its first partial version is served, so the test asks midway, for
certain: a cited answer marked partial, `/readyz` 503 "building", `/api/index` and the chat's
Index panel showing how far the build is. Then the build goes on; once `/readyz` says ready (polled
with a deadline), the same question gets a normal answer from all 300 notes.

Groups are made smaller (`BATCH_CHUNKS`) than a real build's so that 300 one-chunk notes make ten
groups rather than two: the hold then falls well before the end of the build."""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient

import bot.index.ingest as ingest_module
import bot.index.partial as partial_module
from bot.settings import Settings

pytestmark = pytest.mark.integration

NOTES = 300
GROUP = 30  # notes (one chunk each) per group: ten groups
QUESTION = "Where was the grey heron seen?"


def wait_until(condition, timeout: float = 300) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


@dataclass
class HeldBuild:
    """A cold build of NOTES notes in an app runtime, held midway once a partial version is served."""

    settings: Settings
    runtime: object
    held: threading.Event
    resume: threading.Event
    progress_when_held: list


@pytest.fixture
def held_build(tmp_path, monkeypatch):
    from bot.web.runtime import AppRuntime

    notes = tmp_path / "notes"
    notes.mkdir()
    run = uuid.uuid4().hex[:8]  # texts never met before: the embedding cache can't skip the encoder
    for i in range(NOTES):
        (notes / f"survey-{i:03d}.md").write_text(
            f"# Survey {i} ({run})\n\nOn walk {i} the grey heron was seen near the old mill pond at dawn. "
            f"Walk {i} also counted {i % 7 + 2} coots on the water.\n", encoding="utf-8")
    settings = Settings(notes_dir=str(notes), data_dir=tmp_path / "data", rescan_seconds=0,
                        allowed_hosts="testserver,localhost,127.0.0.1", rate_limit_user=0, rate_limit_address=0)
    runtime = AppRuntime(settings, purpose="app (tests)", progress=False)
    build = HeldBuild(settings, runtime, threading.Event(), threading.Event(), [])

    def checkpoint():
        def due(done: int, total: int) -> bool:
            bot = runtime.bot
            if bot is not None and bot.partial is not None and not build.held.is_set():
                build.progress_when_held.append((done, total))
                build.held.set()  # a partial version is served: hold the build here until the test says
                build.resume.wait(300)
            return True  # commit whenever more notes are written than at the last partial version

        return due

    monkeypatch.setattr(ingest_module, "BATCH_CHUNKS", GROUP)
    monkeypatch.setattr(partial_module, "default_checkpoint", checkpoint)
    try:
        yield build
    finally:
        build.resume.set()
        runtime.close()


def test_a_cold_build_answers_from_its_partial_versions_then_from_the_whole(held_build):
    from bot.web.app import create_app
    from bot.web.chat import _status_markdown

    settings, runtime, held, resume = held_build.settings, held_build.runtime, held_build.held, held_build.resume
    progress_when_held = held_build.progress_when_held
    runtime.start()
    try:
        with TestClient(create_app(settings, runtime=runtime)) as client:
            assert held.wait(600), runtime.status()
            (done, total), = progress_when_held
            assert 0 < done < total  # midway: texts of groups still to come

            assert runtime.ready
            ready = client.get("/readyz")
            assert ready.status_code == 503
            assert ready.json() == {"state": "building", "version": runtime.library.version}
            assert client.get("/api/status").json()["state"] == "building"

            answer = client.post("/api/ask", json={"question": QUESTION}).json()
            assert not answer["abstained"] and answer["citations"]
            indexed, of = answer["partial"]["notes_indexed"], answer["partial"]["notes_total"]
            assert 0 < indexed < of == NOTES
            assert answer["answer"].startswith(f"*Answered from a partial index: {indexed} of {NOTES} notes "
                                               "indexed so far.*")

            report = client.get("/api/index").json()
            assert report["notes"] == indexed and report["partial"] == answer["partial"]
            assert report["building"] is not None
            assert 0 < report["building"]["done"] < report["building"]["total"]
            panel = _status_markdown(runtime)  # the chat's Index panel
            assert f"**Partial index** (version {report['version']}): {indexed} of {NOTES} notes" in panel
            assert "Building: " in panel and "texts embedded" in panel
            assert f"Partial index: {indexed} of {NOTES} notes indexed so far" in client.get("/index").text

            resume.set()
            assert wait_until(lambda: client.get("/readyz").status_code == 200), runtime.status()
            assert client.get("/readyz").json() == {"state": "ready", "version": runtime.library.version}
            whole = client.post("/api/ask", json={"question": QUESTION}).json()
            assert whole["partial"] is None and whole["citations"] and not whole["abstained"]
            assert "partial index" not in whole["answer"]
            report = client.get("/api/index").json()
            assert report["notes"] == NOTES and report["partial"] is None
            assert [f["status"] for f in report["files"]] == ["indexed"] * NOTES
            assert "Partial index" not in _status_markdown(runtime)
    finally:
        resume.set()


def test_a_first_build_that_fails_after_a_partial_version_stops_serving_it(tmp_path, monkeypatch):
    """The partial version's store is closed with the failed build: the app must not go on
    answering from it (nor say "building" forever)."""
    from bot.web.runtime import AppRuntime

    notes = tmp_path / "notes"
    notes.mkdir()
    for i in range(40):
        (notes / f"walk-{i:02d}.md").write_text(f"# Walk {i}\n\nA kingfisher by the weir on walk {i}.\n",
                                                encoding="utf-8")
    settings = Settings(notes_dir=str(notes), data_dir=tmp_path / "data", rescan_seconds=0)
    runtime = AppRuntime(settings, purpose="app (tests)", progress=False)
    served = threading.Event()

    def checkpoint():
        def due(done: int, total: int) -> bool:
            if runtime.bot is not None and runtime.bot.partial is not None:
                served.set()
                raise RuntimeError("the disk is full")
            return True

        return due

    monkeypatch.setattr(ingest_module, "BATCH_CHUNKS", 8)
    monkeypatch.setattr(partial_module, "default_checkpoint", checkpoint)
    runtime.start()
    try:
        assert wait_until(lambda: runtime.fatal, timeout=300), runtime.status()
        assert served.is_set()
        assert runtime.bot is None and not runtime.ready
        assert runtime.readiness() == ("unavailable", None)
        assert "the disk is full" in runtime.error
    finally:
        runtime.close()



@pytest.mark.browser
def test_the_chat_says_partial_while_the_build_runs_and_follows_it_to_the_end(held_build):
    """In Chromium: the Index panel says "Partial index" and how far the build is, an answer starts
    with the partial line; after the build, the panel (its timer, no reload) shows the complete
    version and the same question gets an unmarked answer."""
    import uvicorn

    from bot.web.app import create_app

    from ..conftest import free_port
    from .browser_helpers import chromium, require_browser
    from .test_browser import ANSWER_TIMEOUT_MS, BOT

    executable = require_browser()
    runtime = held_build.runtime
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(held_build.settings, runtime=runtime), host="127.0.0.1",
                                           port=port, log_level="warning", timeout_graceful_shutdown=1))
    thread = threading.Thread(target=server.run, daemon=True)
    runtime.start()
    thread.start()

    def ask(page, question: str) -> str:
        before = page.locator(BOT).count()
        page.fill("#nb-question textarea", question)
        page.press("#nb-question textarea", "Enter")
        page.wait_for_function(
            "([sel, n]) => { const a = document.querySelectorAll(sel)[n]; return a && /Sources:/.test(a.innerText); }",
            arg=[BOT, before], timeout=ANSWER_TIMEOUT_MS)
        return page.locator(BOT).nth(before).inner_text()

    def panel_says(page, pattern: str, timeout_ms: int) -> None:
        # the panel's body may not be rendered yet right after the click (Gradio draws it lazily)
        page.wait_for_function("([re]) => { const el = document.querySelector('#nb-status'); "
                               "return !!el && new RegExp(re).test(el.innerText); }",
                               arg=[pattern], timeout=timeout_ms)

    try:
        assert wait_until(lambda: server.started, 60)
        assert held_build.held.wait(600), runtime.status()
        indexed = runtime.bot.partial.notes_indexed
        with chromium(executable) as context:
            page = context.new_page()
            page.goto(f"http://127.0.0.1:{port}/")
            page.wait_for_selector("#nb-question textarea")
            page.click("#nb-index .label-wrap")
            panel_says(page, f"Partial index \\(version \\d+\\): {indexed} of {NOTES} notes", 60_000)
            panel_says(page, "Building: \\d+ of \\d+ texts embedded", 60_000)
            answer = ask(page, QUESTION)
            assert answer.startswith(f"Answered from a partial index: {indexed} of {NOTES} notes indexed so far.")

            held_build.resume.set()
            panel_says(page, f"Index version \\d+: {NOTES} notes", 300_000)  # followed without a reload
            assert "Partial index" not in page.locator("#nb-status").inner_text()
            assert "partial index" not in ask(page, QUESTION)
    finally:
        held_build.resume.set()
        server.should_exit = True
        thread.join(15)
