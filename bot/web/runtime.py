"""What the app runs on: the open index, kept current while the app serves.

    runtime = AppRuntime(settings)
    runtime.start()                  # opens the index in the background; returns at once
    runtime.wait_ready(60)           # True once questions can be answered
    runtime.ask("Does warmth training make models less reliable?")
    runtime.reindex(wait=True)       # rescan the notes folders now (the "Re-index" button)
    runtime.close()

Lifecycle: `starting` → `ready` (the last committed index version is served as soon as it is
open) while the first rescan brings the index up to date in the background (with a progress bar
on the terminal); then every `BOT_RESCAN_SECONDS` and on `reindex()`, one ingest at a time, in
its own thread, so chats never wait for it. With an embedded store the app owns it (its lock's
purpose starts with "app", so a `bot ingest` run beside it is told to use the re-index button
instead). With a Chroma server the app never ingests: every `BOT_POLL_SECONDS` it checks that
the server is up and whether `bot ingest` (run elsewhere) committed a new version, which it
loads beside the one it serves and swaps in whole. While the server is down, questions and
searches fail at once with `StoreUnavailable` (the API's 503), `/readyz` says "unavailable", and
the first successful check brings everything back. `readiness()` is the state and version alone
(`/readyz`); `public_reason()` says in words why it is not ready (no exception text, URLs or
paths); `status()` is everything, errors included, for the log and signed-in users. A failure a
retry can't fix (the store locked by another process, an index built by an older version, no
embedding model) is `fatal`: the server stops with its message.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import TypeVar

from ..errors import EmbeddingModelError, IndexSchemaError, NotReady, StoreError, StoreLocked, StoreUnavailable
from ..models import Answer
from ..query.library import Library
from ..query.search import SearchHit
from ..service import Bot, BuildProgress
from ..settings import Settings
from .outage import StoreOutage
from .rescans import IngestStatus

T = TypeVar("T")
log = logging.getLogger(__name__)
RETRY_SECONDS = 5.0
CLOSE_WAIT_SECONDS = 5.0


class AppRuntime:
    """The app's index: opened once, refreshed in the background, closed on shutdown."""

    def __init__(self, settings: Settings, *, purpose: str | None = None, progress: bool = True,
                 wait_for_rescan: Callable[[float], bool] | None = None) -> None:
        """`wait_for_rescan(seconds)` is how the rescan timer waits between rescans (True: stop);
        by default it waits `seconds` or until the runtime closes; a test passes one that returns on cue."""
        self.settings = settings
        self.purpose = purpose or f"app on http://{settings.host}:{settings.port}{settings.root_path}"
        self.progress = progress
        self.bot: Bot | None = None  # the service, once open
        self.library: Library | None = None  # its read-only facade, once open
        self.error: str | None = None  # why it is not ready, when it isn't
        self.fatal = False
        self.started_at: float | None = None
        self.ready_seconds: float | None = None
        self.building = BuildProgress()  # the running ingest's progress (the first build's too)
        self.last_ingest: IngestStatus | None = None
        self.on_fatal: Callable[[str], None] | None = None
        self._ready, self._stop = threading.Event(), threading.Event()
        self._started, self._probe_now = False, threading.Event()
        self._start_lock = threading.Lock()
        self._ingest_lock = threading.Lock()
        self._ingest_done, self._ingest_rounds = threading.Condition(), 0
        self._ingest_requested = threading.Event()
        self._threads: list[threading.Thread] = []
        # server mode: reads fail at once while the Chroma server is known to be down
        self.outage = StoreOutage(on_down=self._probe_now.set)
        self.phase = "starting"  # until the index is open: starting, building (a first build), unavailable
        self.polls = 0  # server mode: checks of the server done so far (each one counts, failed or not)
        self._polled = threading.Condition()
        self._wait_for_rescan = wait_for_rescan or self._stop.wait

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
        with self._polled:
            self._polled.notify_all()
        deadline = time.monotonic() + CLOSE_WAIT_SECONDS
        for thread in self._threads:
            thread.join(timeout=max(0.0, deadline - time.monotonic()))
        self._ready.clear()
        # Never close the store under a running ingest (a first build serves its partial versions
        # before it ends). A long one is left to die with the process: ingest is crash-safe, and
        # the next start resumes it from the embedding cache.
        if self.phase == "building" or not self._ingest_lock.acquire(timeout=CLOSE_WAIT_SECONDS):
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
        """`Bot.ask_stream` on the served index: searched now; the LLM's checked sentences as iterated."""
        return self._against_store(lambda bot: bot.ask_stream(question, history, filters))

    def search(self, query: str, k: int = 10, filters: dict | None = None) -> list[SearchHit]:
        """`Bot.search` against the served index."""
        return self._against_store(lambda bot: bot.search(query, k, filters))

    def _against_store(self, read: Callable[[Bot], T]) -> T:
        """Run a read that needs the store (with a Chroma server: failing at once while it is down)."""
        bot = self.current_bot()
        if not self.settings.server_mode:
            return read(bot)
        return self.outage.run(lambda: read(bot))

    @property
    def store_error(self) -> str | None:
        """Why the Chroma server is unavailable, while it is (server mode)."""
        return self.outage.error

    def readiness(self) -> tuple[str, int | None]:
        """(state, version): `ready` while a complete version is served (a background update doesn't
        change that); `starting`, `building` (a first build, its partial versions answering meanwhile)
        or `unavailable` (store unreachable, or a failure that stopped the app) otherwise."""
        bot, library = self.bot, self.library
        if self.ready and bot is not None and library is not None:
            state = "unavailable" if self.store_error is not None else "building" if bot.partial else "ready"
            return state, library.version
        if self.fatal:
            return "unavailable", None
        return self.phase, None

    def public_reason(self) -> str:
        """Why questions can't be answered now, in words anyone may read (no exception text, no
        URLs, no paths); the details are in `status()` and the log."""
        state, _ = self.readiness()
        if state == "ready":
            return "The notes index is ready."
        if state == "building":
            return "The notes index is being built for the first time; try again in a minute."
        if state == "starting":
            return "The notes index is still opening; try again in a few seconds."
        if self.fatal:
            return "The notes index could not be opened; the server's log says why."
        if self.settings.server_mode:
            return "The index server is unreachable; retrying. Try again in a few seconds."
        return "The notes store is unavailable; retrying. Try again in a few seconds."

    def status(self) -> dict:
        """Everything a signed-in status view or the log shows: the state and version, the reason,
        store errors, the last rescan, and the counts of the served version."""
        state, version = self.readiness()
        status: dict = {
            "state": state,
            "version": version,
            "error": self.store_error if self.store_error is not None else self.error,
            "fatal": self.fatal,
            "owns_ingest": self.owns_ingest,
            "ingesting": self._ingest_lock.locked(),
            "rescans": self._ingest_rounds,
            "polls": self.polls,
        }
        bot = self.bot
        if bot is not None and self.library is not None:
            status["collection"] = bot.store.name
            status.update(self.library.stats())
            status["partial"] = bot.partial.model_dump() if bot.partial is not None else None
        if self.last_ingest is not None:
            status["last_ingest"] = {
                "finished_at": self.last_ingest.finished_at,
                "summary": self.last_ingest.summary,
                "error": self.last_ingest.error,
            }
        return status

    def wait_polls(self, count: int, timeout: float | None = None) -> bool:
        """Wait until `count` checks of the Chroma server have been done (server mode); False on timeout."""
        with self._polled:
            return self._polled.wait_for(lambda: self.polls >= count or self._stop.is_set(), timeout)

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
                bot = Bot.open(self.settings, purpose=self.purpose, progress=self.progress, building=self.building,
                               build_if_missing=self.owns_ingest, on_build=self._building,
                               on_partial=self._serve_partial)
            except (StoreLocked, IndexSchemaError, EmbeddingModelError) as exc:
                self._fail(str(exc))
                return False
            except StoreError as exc:
                self.error = f"the notes store is unavailable ({exc}); retrying every {RETRY_SECONDS:.0f} s"
                self.phase = "unavailable"
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
            self.phase = "serving"
            self.ready_seconds = time.perf_counter() - (self.started_at or time.perf_counter())
            snapshot = bot.snapshot
            log.info("serving index version %d: %d notes, %d chunks (index open in %.1f s)",
                     snapshot.version, len(snapshot.notes), len(snapshot.chunk_ids), self.ready_seconds)
            self._ready.set()
            self._warm_up(bot)
            return True
        return False

    def _building(self) -> None:
        self.phase = "building"

    def _serve_partial(self, bot: Bot | None) -> None:
        """A first build's first partial version: the chat answers from it while /readyz says building
        (None: the build failed, and that version's store is closed)."""
        if bot is None:
            self._ready.clear()
        self.bot, self.library = bot, getattr(bot, "library", None)
        if bot is not None:
            self._ready.set()

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
        while not self._wait_for_rescan(seconds) and not self._stop.is_set():
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
                self.outage.down(str(exc))
                self._count_poll()
                continue
            except Exception as exc:  # a Chroma server restarting: keep serving, try again
                log.warning("index refresh failed: %s: %s", exc.__class__.__name__, exc)
                self._count_poll()
                continue
            if self.outage.back():
                log.info("the notes store is back; serving index version %d", bot.snapshot.version)
            if changed:
                log.info("now serving index version %d", bot.snapshot.version)
            self._count_poll()

    def _count_poll(self) -> None:
        with self._polled:
            self.polls += 1
            self._polled.notify_all()
