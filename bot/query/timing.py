"""Stage timings for benchmarks, free when nobody asks for them."""

from __future__ import annotations

import time


class Clock:
    """Stage timings for benchmarks (`timings` dict), free when not asked for."""

    def __init__(self, timings: dict[str, float] | None) -> None:
        self.timings = timings
        self.last = time.perf_counter()

    def lap(self, stage: str) -> None:
        if self.timings is None:
            return
        now = time.perf_counter()
        self.timings[stage] = self.timings.get(stage, 0.0) + (now - self.last) * 1000
        self.last = now
