"""The app's runtime on a real embedded store and the real model: starting → ready, status, reindex,
NotReady while the index can't be opened, a fatal refusal, and close releasing the store.
(tests/web/test_app.py covers building a missing index, rescans and a second app on one store.)"""

from __future__ import annotations

import queue
import threading
import time

import pytest

from bot.errors import NotReady, StoreLocked
from bot.index.store import Store
from bot.settings import Settings
from bot.web.runtime import AppRuntime, IngestStatus

from ..conftest import free_port

pytestmark = pytest.mark.integration

SLEEP_NOTE = "# Sleep and memory\n\nSleep consolidates the memories of the day.\n"
COFFEE_NOTE = "# Coffee and focus\n\nCaffeine sharpens attention for a few hours.\n"


@pytest.fixture
def settings(tmp_path) -> Settings:
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "sleep.md").write_text(SLEEP_NOTE, encoding="utf-8")
    (notes / "coffee.md").write_text(COFFEE_NOTE, encoding="utf-8")
    return Settings(notes_dir=str(notes), data_dir=tmp_path / "data", rescan_seconds=0, port=free_port())


@pytest.fixture
def runtime(settings, embedder):  # the session's embedder has made the model's ONNX export
    runtime = AppRuntime(settings, purpose="app (test)", progress=False)
    yield runtime
    runtime.close()


def until(condition, timeout: float = 60.0) -> bool:
    """Wait for something another thread does (never for time itself to pass)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def test_before_it_starts_nothing_is_served_and_it_says_why(runtime):
    assert not runtime.ready and not runtime.busy
    assert runtime.status()["state"] == "starting" and runtime.status()["ingesting"] is False
    with pytest.raises(NotReady, match="still opening"):
        runtime.ask("Why sleep?")
    with pytest.raises(NotReady):
        runtime.search("sleep")
    assert runtime.wait_ready(0.05) is False


def test_starting_then_ready_then_a_rescan_on_demand(runtime, settings):
    runtime.start()
    runtime.start()  # starting twice starts once
    assert runtime.wait_ready(300), runtime.error
    assert [t.name for t in runtime._threads].count("index-keeper") == 1
    first = runtime.reindex(wait=True, timeout=300)  # after the rescan every start begins with
    assert isinstance(first, IngestStatus) and first.error is None and not first.changed
    status = runtime.status()
    assert status["state"] == "ready" and status["error"] is None and status["owns_ingest"]
    assert status["notes"] == 2 and status["collection"].startswith("notes-")
    assert status["rescans"] >= 1 and status["last_ingest"]["summary"] == first.summary
    assert runtime.ready_seconds is not None and runtime.ready_seconds > 0

    (settings.notes_dirs[0] / "tides.md").write_text(
        "# Tides and the moon\n\nThe moon's pull raises the tides twice a day.\n", encoding="utf-8")
    (settings.notes_dirs[0] / "coffee.md").unlink()
    second = runtime.reindex(wait=True, timeout=300)
    assert second.changed and "1 added" in second.summary and "1 removed" in second.summary
    assert runtime.status()["notes"] == 2
    answer = runtime.ask("What raises the tides?")
    assert answer.citations and answer.citations[0].title == "Tides and the moon"
    assert "coffee-and-focus" not in [hit.note.id for hit in runtime.search("caffeine attention")]


def test_reindex_without_waiting_returns_at_once_and_the_rescan_happens(runtime):
    runtime.start()
    assert runtime.wait_ready(300), runtime.error
    runtime.reindex(wait=True, timeout=300)
    rounds = runtime.status()["rescans"]
    assert runtime.reindex() is None
    assert until(lambda: runtime.status()["rescans"] > rounds)


class RescanClock:
    """The rescan timer's wait, on cue: `tick()` ends one wait; `stop()` ends the timer."""

    def __init__(self) -> None:
        self.cues: queue.Queue[str] = queue.Queue()
        self.asked: list[float] = []

    def __call__(self, seconds: float) -> bool:
        self.asked.append(seconds)
        return self.cues.get(timeout=300) == "stop"

    def tick(self) -> None:
        self.cues.put("tick")

    def stop(self) -> None:
        self.cues.put("stop")


def test_the_rescan_timer_rescans_the_notes_folders_on_its_own(settings):
    clock = RescanClock()
    runtime = AppRuntime(settings.model_copy(update={"rescan_seconds": 30.0}), progress=False,
                         wait_for_rescan=clock)
    runtime.start()
    try:
        assert runtime.wait_ready(300), runtime.error
        runtime.reindex(wait=True, timeout=300)  # the rescan every start begins with
        rounds = runtime.status()["rescans"]
        (settings.notes_dirs[0] / "coffee.md").unlink()
        assert runtime.status()["notes"] == 2  # nothing happens until the timer says so
        clock.tick()  # thirty seconds pass
        assert until(lambda: runtime.status()["rescans"] > rounds)
        assert runtime.status()["notes"] == 1 and "1 removed" in runtime.last_ingest.summary
        assert set(clock.asked) == {30.0}  # it waits BOT_RESCAN_SECONDS between rescans
    finally:
        clock.stop()
        runtime.close()


def test_without_a_rescan_interval_the_timer_never_waits(settings):
    clock = RescanClock()
    runtime = AppRuntime(settings, progress=False, wait_for_rescan=clock)  # rescan_seconds=0
    runtime.start()
    try:
        assert runtime.wait_ready(300), runtime.error
        runtime.reindex(wait=True, timeout=300)
        assert clock.asked == [] and "rescan-timer" not in [t.name for t in runtime._threads if t.is_alive()]
    finally:
        runtime.close()


def test_close_stops_serving_and_releases_the_store(runtime, settings, embedder):
    runtime.start()
    assert runtime.wait_ready(300), runtime.error
    with pytest.raises(StoreLocked, match="re-index button"):  # while it serves, it owns the store
        Store.open(settings, embedder.fingerprint, purpose="bot ingest")
    runtime.close()
    assert not runtime.ready and runtime.bot is None
    with pytest.raises(NotReady):
        runtime.ask("Why sleep?")
    assert not [t for t in runtime._threads if t.is_alive()]
    Store.open(settings, embedder.fingerprint, purpose="bot ingest").close()
    runtime.close()  # closing twice is harmless


def test_while_the_index_cant_be_opened_questions_get_not_ready_with_the_reason(tmp_path, embedder):
    """A Chroma server that isn't there yet: the runtime keeps trying and says why meanwhile."""
    settings = Settings(data_dir=tmp_path / "data", chroma_host="127.0.0.1", chroma_port=free_port(),
                        port=free_port())
    runtime = AppRuntime(settings, progress=False)
    runtime.start()
    try:
        assert until(lambda: runtime.error is not None)
        assert not runtime.fatal and runtime.busy
        status = runtime.status()
        # /readyz's states: a store it can't reach yet is "unavailable", and the signed-in status says why
        assert status["state"] == "unavailable" and "retrying every 5 s" in status["error"]
        assert not status["owns_ingest"]
        with pytest.raises(NotReady, match="the notes store is unavailable"):
            runtime.ask("Why sleep?")
        with pytest.raises(NotReady, match="never ingests"):  # a Chroma server's app never ingests
            runtime.reindex()
        assert runtime.wait_ready(0.2) is False
    finally:
        closing = threading.Thread(target=runtime.close)
        closing.start()
        closing.join(30)
    assert not closing.is_alive()  # close wakes the retry wait instead of sitting it out
    assert not [t for t in runtime._threads if t.is_alive()]


def test_a_store_another_process_owns_is_fatal_with_its_message(settings, embedder):
    holder = Store.open(settings, embedder.fingerprint, purpose="bot ingest")
    runtime = AppRuntime(settings, progress=False)
    reasons: list[str] = []
    runtime.on_fatal = reasons.append
    try:
        runtime.start()
        assert runtime.wait_ready(120) is False
        status = runtime.status()
        assert runtime.fatal and status["fatal"] and status["state"] == "unavailable"
        assert "(bot ingest)" in status["error"]
        assert reasons == [runtime.error]
        with pytest.raises(NotReady, match="is in use by process"):
            runtime.ask("Why sleep?")
    finally:
        runtime.close()
        holder.close()
