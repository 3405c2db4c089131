"""Partial versions during a cold build: the first answers before the whole index is built.

During a first build (nothing committed yet, or `--rebuild`) ingest commits the notes written so
far as versions marked `partial: true` (with `notes` done of `notes_total`) every
`PARTIAL_COMMIT_SECONDS` of work; the last commit is a complete version. A cold build writes
every record `live_from` its first version and supersedes nothing, so each partial version is
simply "every note whose record is written": a note record is written after all its chunks, so
a partial version never holds half a note. Readers serve partial versions like any other
(`Bot.partial` says so, answers say so); `/readyz` waits for a complete one.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from .store import Store

PARTIAL_COMMIT_SECONDS = 5.0

Checkpoint = Callable[[int, int], bool]  # (done_texts, total_texts) -> commit a partial version now?


def every(seconds: float, clock: Callable[[], float] = time.monotonic) -> Checkpoint:
    """A checkpoint that is due once every `seconds` of work."""
    last = clock()

    def due(done: int, total: int) -> bool:
        nonlocal last
        if clock() - last < seconds:
            return False
        last = clock()
        return True

    return due


def chained(first, second):
    """Two `(done, total)` callbacks as one (either may be None)."""
    if first is None or second is None:
        return first or second
    return lambda done, total: (first(done, total), second(done, total))


def default_checkpoint() -> Checkpoint:
    """The checkpoint a cold build uses (a test replaces this to pause a build at a known point)."""
    return every(PARTIAL_COMMIT_SECONDS)


class PartialCommits:
    """Called as texts are embedded; commits a partial version when the checkpoint is due and
    more notes are written than at the last one, then tells `on_commit` its number."""

    def __init__(self, store: Store, version: int, notes_total: int, info: dict,
                 on_commit: Callable[[int], None], checkpoint: Checkpoint | None = None) -> None:
        self.store, self.version, self.notes_total, self.info = store, version, notes_total, info
        self.on_commit = on_commit
        self.checkpoint = checkpoint or default_checkpoint()
        self.written = 0

    def __call__(self, done: int, total: int) -> None:
        if not self.checkpoint(done, total):
            return
        written = self.store.notes().count()
        if written <= self.written:
            return
        self.version += 1
        self.written = written
        self.store.commit(self.version, partial=True, notes=written, notes_total=self.notes_total,
                          chunks=self.store.count(), **self.info)
        self.on_commit(self.version)
