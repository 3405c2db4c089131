"""What the app runs on: the open index, kept current while the app serves.

    runtime = AppRuntime(settings)
    runtime.start()                  # opens the index in the background; returns at once
    runtime.wait_ready(60)           # True once questions can be answered
    runtime.ask("Does warmth training make models less reliable?")
    runtime.reindex(wait=True)       # rescan the notes folders now (the "Re-index" button)
    runtime.close()

Lifecycle: `starting` → `ready` (the last committed index version is served as
soon as it is open) while the first rescan brings the index up to date in the
background (with a progress bar on the terminal); then every
`BOT_RESCAN_SECONDS` and on `reindex()`, one ingest at a time, in its own
thread, so chats never wait for it. With an embedded store the app owns it (its
lock's purpose starts with "app", so a `bot ingest` run beside it is told to
use the re-index button instead). With a Chroma server the app never ingests:
every `BOT_POLL_SECONDS` it checks that the server is up and whether `bot ingest`
(run elsewhere) committed a new version, which it loads beside the one it serves
and swaps in whole. While the server is down, questions and searches fail at
once with `StoreUnavailable` (the API's 503) instead of waiting on it, `/readyz`
says why, and the first successful check brings everything back.

A failure that a retry can't fix (the store locked by another process, an
index built by an older version, no embedding model) is `fatal`: the server
stops with its message. A store that is merely unavailable is retried.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from ..errors import EmbeddingModelError, IndexSchemaError, NotReady, StoreError, StoreLocked, StoreUnavailable
from ..models import Answer
from ..query.library import Library
from ..query.search import SearchHit
from ..service import Bot
from ..settings import Settings

T = TypeVar("T")
log = logging.getLogger(__name__)

RETRY_SECONDS = 5.0
CLOSE_WAIT_SECONDS = 5.0


@dataclass
class IngestStatus:
    """The last rescan: when, what it did, or what went wrong."""

    finished_at: float
    summary: str = ""
    changed: bool = False
    error: str | None = None


class AppRuntime:
    """The app's index: opened once, refreshed in the background, closed on shutdown."""

    def __init__(self, settings: Settings, *, purpose: str | None = None, progress: bool = True) -> None:
        self.settings = settings
        self.purpose = purpose or f"app on http://{settings.host}:{settings.port}{settings.root_path}"
        self.progress = progress
        self.bot: Bot | None = None  # the service, once open
        self.library: Library | None = None  # its read-only facade, once open
        self.error: str | None = None  # why it is not ready, when it isn't
        self.fatal = False
        self.started_at: float | None = None
        self.ready_seconds: float | None = None
        self.last_ingest: IngestStatus | None = None
        self.on_fatal: Callable[[str], None] | None = None
        self._ready = threading.Event()
        self._stop = threading.Event()
        self._started = False
        self._probe_now = threading.Event()
        self._start_lock = threading.Lock()
        self._ingest_lock = threading.Lock()
        self._ingest_done = threading.Condition()
        self._ingest_rounds = 0
        self._ingest_requested = threading.Event()
        self._threads: list[threading.Thread] = []
        self.store_error: str | None = None  # the Chroma server is down (server mode): why
        self._trial_lock = threading.Lock()
        self._last_trial = 0.0

    # --- lifecycle --------------------------------------------------------------------------

    def start(self) -> None:
        """Open the index in a background thread (idempotent)."""
        with self._start_lock:
            if self._started:
                return
            self._started = True
            self.started_at = time.perf_counter()
        self._spawn(self._run, "index-keeper")

    @property
    def ready(self) -> bool:
        return self._ready.is_set()

    @property
    def busy(self) -> bool:
        """True while the index is being opened, built or updated."""
        opening = self._started and not self._ready.is_set() and not self.fatal and any(
            t.name == "index-keeper" and t.is_alive() for t in self._threads)
        return opening or self._ingest_lock.locked()

    @property
    def owns_ingest(self) -> bool:
        """True with an embedded store: this process rescans the notes folders and ingests."""
        return not self.settings.server_mode

    def wait_ready(self, timeout: float | None = None) -> bool:
        """Wait until questions can be answered; False on timeout or a fatal error."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._ready.wait(0.1):
            if self.fatal or self._stop.is_set():
                return False
            if deadline is not None and time.monotonic() > deadline:
                return False
        return True

    def close(self) -> None:
        """Stop the background work and release the store (an ingest under way is left crash-safe)."""
        self._stop.set()
        self._ingest_requested.set()
        self._probe_now.set()
        deadline = time.monotonic() + CLOSE_WAIT_SECONDS
        for thread in self._threads:
            thread.join(timeout=max(0.0, deadline - time.monotonic()))
        self._ready.clear()
        # Never close the store under a running ingest. A long one is left to die with the
        # process: ingest is crash-safe, and the next start resumes it from the embedding cache.
        if not self._ingest_lock.acquire(timeout=CLOSE_WAIT_SECONDS):
            log.warning("an ingest is still running; it will be resumed on the next start")
            return
        try:
            bot, self.bot = self.bot, None
            if bot is not None:
                bot.close()
        finally:
            self._ingest_lock.release()

    # --- serving ----------------------------------------------------------------------------

    def current_bot(self) -> Bot:
        """The open service; raises NotReady with the reason when there is none."""
        bot = self.bot
        if bot is None or not self._ready.is_set():
            raise NotReady(self.error or "the notes index is still opening")
        return bot

    def ask(self, question: str, history: Sequence[dict] | None = None, filters: dict | None = None) -> Answer:
        """`Bot.ask` against the served index."""
        return self._against_store(lambda bot: bot.ask(question, history, filters))

    def ask_stream(self, question: str, history: Sequence[dict] | None = None, filters: dict | None = None):
        """`Bot.ask_stream` against the served index: the search happens now (and fails now, like
        `ask`); the LLM's checked sentences come as the steps are iterated."""
        return self._against_store(lambda bot: bot.ask_stream(question, history, filters))

    def search(self, query: str, k: int = 10, filters: dict | None = None) -> list[SearchHit]:
        """`Bot.search` against the served index."""
        return self._against_store(lambda bot: bot.search(query, k, filters))

    def _against_store(self, read: Callable[[Bot], T]) -> T:
        """Run a read that needs the Chroma store; while it is known to be down, fail at once."""
        bot = self.current_bot()
        trial = False
        if self.store_error is not None:
            # while it is down every request fails at once, but one every TRIAL_SECONDS goes
            # through: the first question after the server is back gets its answer
            trial = self._trial_lock.acquire(blocking=False)
            if trial and time.monotonic() - self._last_trial < TRIAL_SECONDS:
                self._trial_lock.release()
                trial = False
            if not trial:
                raise StoreUnavailable(self.store_error)
            self._last_trial = time.monotonic()
        try:
            result = read(bot)
            if trial and self.store_error is not None:
                log.info("the notes store is back")
                self.store_error = None
            return result
        except StoreUnavailable as exc:
            self._store_down(str(exc))
            raise
        finally:
            if trial:
                self._trial_lock.release()

    def _store_down(self, reason: str) -> None:
        if self.settings.server_mode:
            if self.store_error is None:
                log.warning("the notes store is unavailable: %s", reason)
            self.store_error = reason
            self._probe_now.set()

    def status(self) -> dict:
        """What a status line or a readiness check shows."""
        state = "ready" if self.ready else ("failed" if self.fatal else "starting")
        if state == "ready" and self.store_error is not None:
            state = "unavailable"
        status: dict = {
            "state": state,
            "error": self.store_error if state == "unavailable" else self.error,
            "owns_ingest": self.owns_ingest,
            "ingesting": self._ingest_lock.locked(),
            "rescans": self._ingest_rounds,
        }
        bot = self.bot
        if bot is not None and self.library is not None:
            status["collection"] = bot.store.name
            status.update(self.library.stats())
        if self.last_ingest is not None:
            status["last_ingest"] = {
                "finished_at": self.last_ingest.finished_at,
                "summary": self.last_ingest.summary,
                "error": self.last_ingest.error,
            }
        return status

    def reindex(self, wait: bool = False, timeout: float | None = None) -> IngestStatus | None:
        """Rescan the notes folders now, in the background; with `wait`, return when that rescan is done."""
        if not self.owns_ingest:
            raise NotReady(
                "this app reads a Chroma server's index and never ingests; run `bot ingest` where the "
                "notes are, and the app picks up the new version by itself"
            )
        with self._ingest_done:
            target = self._ingest_rounds + 1 + (1 if self._ingest_lock.locked() else 0)
        self._ingest_requested.set()
        if not wait:
            return None
        with self._ingest_done:
            self._ingest_done.wait_for(lambda: self._ingest_rounds >= target or self._stop.is_set(), timeout)
        return self.last_ingest

    # --- the background work ----------------------------------------------------------------

    def _spawn(self, target, name: str) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _run(self) -> None:
        if not self._open() or self._stop.is_set():
            return
        if self.owns_ingest:
            self._ingest_requested.set()  # the first rescan: bring the index up to date now
            self._spawn(self._timer, "rescan-timer")
            self._ingest_loop()
        else:
            self._poll_loop()

    def _open(self) -> bool:
        while not self._stop.is_set():
            try:
                # a worker of a Chroma server never ingests: `bot ingest` builds the index there
                bot = Bot.open(self.settings, purpose=self.purpose, progress=self.progress,
                               build_if_missing=self.owns_ingest)
            except (StoreLocked, IndexSchemaError, EmbeddingModelError) as exc:
                self._fail(str(exc))
                return False
            except StoreError as exc:
                self.error = f"the notes store is unavailable ({exc}); retrying every {RETRY_SECONDS:.0f} s"
                log.warning("%s", self.error)
                self._stop.wait(RETRY_SECONDS)
                continue
            except Exception as exc:  # a bug or a broken store: say so and stop, never serve half
                log.exception("could not open the notes index")
                self._fail(f"could not open the notes index ({exc.__class__.__name__}: {exc})")
                return False
            self.bot = bot
            self.library = bot.library
            self.error = None
            self.ready_seconds = time.perf_counter() - (self.started_at or time.perf_counter())
            snapshot = bot.snapshot
            log.info("serving index version %d: %d notes, %d chunks (index open in %.1f s)",
                     snapshot.version, len(snapshot.notes), len(snapshot.chunk_ids), self.ready_seconds)
            self._ready.set()
            self._warm_up(bot)
            return True
        return False

    def _warm_up(self, bot: Bot) -> None:
        """Answer one throwaway question, so the first person's question doesn't pay for the
        query model's copy and torch's first run (about a second); done while the page loads."""
        started = time.perf_counter()
        try:
            bot.respond("warm up")  # the read path only: a start never calls the LLM
        except Exception as exc:  # a real question will meet the same problem and report it
            log.debug("warm-up question failed: %s", exc)
        log.debug("warmed up in %.2f s", time.perf_counter() - started)

    def _fail(self, message: str) -> None:
        self.error = message
        self.fatal = True
        log.error("%s", message)
        if self.on_fatal is not None:
            self.on_fatal(message)

    def _timer(self) -> None:
        seconds = self.settings.rescan_seconds
        if seconds <= 0:
            return
        while not self._stop.wait(seconds):
            self._ingest_requested.set()

    def _ingest_loop(self) -> None:
        first = True
        while not self._stop.is_set():
            self._ingest_requested.wait()
            if self._stop.is_set():
                break
            self._ingest_requested.clear()
            self._ingest_once(progress=self.progress and first)
            first = False
            with self._ingest_done:
                self._ingest_rounds += 1
                self._ingest_done.notify_all()

    def _ingest_once(self, progress: bool) -> None:
        bot = self.bot
        if bot is None:
            return
        with self._ingest_lock:
            try:
                report = bot.ingest(progress=progress)
            except Exception as exc:  # the next rescan tries again; the served version stays whole
                message = f"{exc.__class__.__name__}: {exc}"
                log.warning("re-index failed: %s", message)
                self.last_ingest = IngestStatus(finished_at=time.time(), error=message)
                return
        for item in report.skipped:
            log.warning("skipped %s: %s", item.path, item.reason)
        level = logging.INFO if report.changed or progress else logging.DEBUG
        log.log(level, "index up to date: %s", report.summary())
        self.last_ingest = IngestStatus(finished_at=time.time(), summary=report.summary(), changed=report.changed)

    def _poll_loop(self) -> None:
        """Server mode: check the server (and its committed version) every BOT_POLL_SECONDS,
        every second while it is down; load a new version beside the served one, then swap."""
        while True:
            wait = 1.0 if self.store_error else self.settings.poll_seconds
            self._probe_now.wait(wait)
            self._probe_now.clear()
            if self._stop.is_set():
                return
            bot = self.bot
            if bot is None:
                return
            try:
                changed = bot.refresh()
            except StoreUnavailable as exc:
                self._store_down(str(exc))
                continue
            except Exception as exc:  # a Chroma server restarting: keep serving, try again
                log.warning("index refresh failed: %s: %s", exc.__class__.__name__, exc)
                continue
            if self.store_error is not None:
                log.info("the notes store is back; serving index version %d", bot.snapshot.version)
                self.store_error = None
            if changed:
                log.info("now serving index version %d", bot.snapshot.version)


TRIAL_SECONDS = 0.5
