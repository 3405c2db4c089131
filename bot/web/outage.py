"""While the Chroma server is down: reads fail at once instead of waiting on it, except one trial
every TRIAL_SECONDS, so the first question after the server is back gets its answer.

    outage = StoreOutage(on_down=probe_now.set)
    outage.run(lambda: bot.ask(question))   # a StoreUnavailable marks it down (and calls on_down)
    outage.error                            # why it is down (None while up): for the log and status
    outage.back()                           # the poll loop saw it answer: True when it had been down
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TypeVar

from ..errors import StoreUnavailable

T = TypeVar("T")
log = logging.getLogger(__name__)

TRIAL_SECONDS = 0.5


class StoreOutage:
    """The store's reachability as the runtime's reads and polls see it."""

    def __init__(self, on_down: Callable[[], None] | None = None) -> None:
        self.error: str | None = None
        self.on_down = on_down
        self._trial_lock = threading.Lock()
        self._last_trial = 0.0

    def run(self, read: Callable[[], T]) -> T:
        """Run a read that needs the store; while it is known to be down, fail at once (but for a trial)."""
        trial = False
        if self.error is not None:
            trial = self._trial_lock.acquire(blocking=False)
            if trial and time.monotonic() - self._last_trial < TRIAL_SECONDS:
                self._trial_lock.release()
                trial = False
            if not trial:
                raise StoreUnavailable(self.error)
            self._last_trial = time.monotonic()
        try:
            result = read()
            if trial and self.error is not None:
                log.info("the notes store is back")
                self.error = None
            return result
        except StoreUnavailable as exc:
            self.down(str(exc))
            raise
        finally:
            if trial:
                self._trial_lock.release()

    def down(self, reason: str) -> None:
        if self.error is None:
            log.warning("the notes store is unavailable: %s", reason)
        self.error = reason
        if self.on_down is not None:
            self.on_down()

    def back(self) -> bool:
        """The store answered again; True when it had been down."""
        was_down, self.error = self.error is not None, None
        return was_down
