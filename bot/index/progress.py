"""How far a running build is: done and total, and the time left at the rate so far.

    progress = BuildProgress(clock=time.monotonic)
    progress.update(120, 300)          # ingest's on_progress(done_texts, total_texts)
    progress.view()                    # {"done": 120, "total": 300, "eta_seconds": 45.0}
    progress.finish(); progress.view() # None: nothing is being built

The clock is injected so tests step it instead of sleeping.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class BuildProgress:
    """The running build's progress, shared between the ingest thread and readers (thread-safe)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._started: float | None = None
        self._done = 0
        self._total = 0

    def update(self, done: int, total: int) -> None:
        """Ingest's `on_progress(done_texts, total_texts)`; the first call starts the clock."""
        with self._lock:
            if self._started is None:
                self._started = self._clock()
            self._done, self._total = done, total

    def finish(self) -> None:
        with self._lock:
            self._started = None
            self._done = self._total = 0

    def view(self) -> dict | None:
        """`{done, total, eta_seconds}` while a build runs (eta None until the rate is known), else None."""
        with self._lock:
            if self._started is None:
                return None
            elapsed = self._clock() - self._started
            eta = None
            if self._done > 0 and elapsed > 0:
                eta = round(elapsed / self._done * max(self._total - self._done, 0), 1)
            return {"done": self._done, "total": self._total, "eta_seconds": eta}


def progress_bar(total: int, enabled: bool):
    """The terminal's bar for `bot ingest` (tqdm), or None when disabled or there is nothing to do."""
    if not enabled or total == 0:
        return None
    from tqdm import tqdm

    # notes/s and the time left, as tqdm shows them for a known total
    return tqdm(total=total, desc="indexing", unit="note", dynamic_ncols=True, leave=False,
                bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} notes [{elapsed}<{remaining}, {rate_fmt}{postfix}]")
