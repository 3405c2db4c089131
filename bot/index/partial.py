"""Partial versions during a cold build: the first answers before the whole index is built.

During a first build (nothing committed yet, `--rebuild`, or resuming a first build that was cut
short) ingest commits the notes written so far as versions marked `partial: true` (with
`notes_total`, the notes the build will hold), at most every `PARTIAL_COMMIT_SECONDS`; the last
commit is a complete version (no `partial` key). Readers serve a partial version like any other;
`Index.partial` says it is one (`PartialIndex`: notes served of notes to come), answers say so,
and the app's `/readyz` waits for a complete one.

    cold build    commit 0 ── group ── group ── partial 1 ── group ── partial 2 ── … ── complete N
    readers       (nothing)            serve 1 (marked partial)      serve 2          serve N

Why a partial version is whole: a first build retires nothing, and writes every record
`live_from` its first version, so a partial version is "every note whose record is written" (a
note record is written after all its chunks: never half a note). Loaded later, the same version
may hold more notes than when it was committed, never fewer; `PartialIndex.notes_indexed` counts
what the loaded snapshot holds.

Serving a version costs a snapshot load, which grows with the notes written; so after each one
the next waits until that cost is at most `SERVE_SHARE` of the time (a 5,000-note build does not
spend its time reloading itself).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from ..errors import IndexMissing
from ..models import PartialIndex
from .store import Store

PARTIAL_COMMIT_SECONDS = 5.0
SERVE_SHARE = 0.1  # at most this share of a build's time goes to committing and serving partial versions

Checkpoint = Callable[[int, int], bool]  # (done_texts, total_texts) -> commit a partial version now?


def committed(store: Store) -> dict:
    """The committed version's metadata (`index_version`, counts, `partial`); {} before the first commit."""
    try:
        return store.metadata()
    except IndexMissing:
        return {}


def partial_of(metadata: dict, notes_served: int) -> PartialIndex | None:
    """What a version with this metadata, loaded with `notes_served` notes, lacks; None when complete.

        >>> partial_of({"index_version": 2, "partial": True, "notes_total": 300}, 120)
        PartialIndex(notes_indexed=120, notes_total=300)
        >>> partial_of({"index_version": 3}, 300) is None
        True
    """
    if not metadata.get("partial"):
        return None
    return PartialIndex(notes_indexed=notes_served, notes_total=max(int(metadata.get("notes_total", 0)), notes_served))


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

    def both(done: int, total: int) -> None:
        first(done, total)
        second(done, total)

    return both


def default_checkpoint() -> Checkpoint:
    """The checkpoint a cold build uses (a test replaces this to hold a build at a known point)."""
    return every(PARTIAL_COMMIT_SECONDS)


class PartialCommits:
    """Ingest's `on_progress` during a first build (called from its writer thread after each
    stored group): commits a partial version when the checkpoint is due, the last serving cost
    allows, more notes are written than at the last one, and the build isn't about to finish;
    then tells `on_commit(version)`, which serves it (and whose time is that cost)."""

    def __init__(self, store: Store, version: int, notes_total: int, info: dict,
                 on_commit: Callable[[int], None], checkpoint: Checkpoint | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.store, self.version, self.notes_total, self.info = store, version, notes_total, info
        self.on_commit = on_commit
        self.checkpoint = checkpoint or default_checkpoint()
        self.clock = clock
        self.written = 0
        self.quiet_until = float("-inf")  # no commit before this (the last one's cost, see SERVE_SHARE)

    def __call__(self, done: int, total: int) -> None:
        if not self.checkpoint(done, total) or done >= total or self.clock() < self.quiet_until:
            return  # done == total: the complete version is committed next anyway
        written = self.store.notes().count()
        if written <= self.written:
            return
        began = self.clock()
        self.version += 1
        self.written = written
        self.store.commit(self.version, partial=True, notes=written, notes_total=self.notes_total,
                          chunks=self.store.count(), **self.info)
        self.on_commit(self.version)
        spent = self.clock() - began
        self.quiet_until = self.clock() + spent * (1 - SERVE_SHARE) / SERVE_SHARE
