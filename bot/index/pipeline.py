"""Ingest's pipeline: the encoder never waits for parsing or for Chroma.

    segment (thread) ──queue──▶ encode (caller's thread) ──queue──▶ store (thread)

One producer thread prepares the next group (segmenting its notes into chunks and sentences and
listing their texts), the caller's thread encodes the current group, and one writer thread stores
the previous one; the queues are bounded (`DEPTH`), so memory stays that of a few groups. Within a
group the embedder sorts its texts by length (longest first, a window of a few hundred texts) so
batches carry little padding, and puts the vectors back in the group's order for storing.

An exception in any stage stops the others and is raised in the caller. Nothing is committed
here: the caller commits the version after `run` returns, so a kill mid-way leaves the last
committed version whole.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import numpy as np

DEPTH = 2  # groups waiting between two stages
_DONE = object()


@dataclass
class PipelineTimes:
    """Where the wall time went: `encode_seconds` of `wall_seconds` (the encoder's share)."""

    wall_seconds: float = 0.0
    encode_seconds: float = 0.0

    @property
    def encoder_share(self) -> float:
        return self.encode_seconds / self.wall_seconds if self.wall_seconds else 0.0


class _Stopped(Exception):
    pass


def run(
    groups: Iterable,
    texts_of: Callable[[object], list[str]],
    encode: Callable[[list[str]], np.ndarray],
    store: Callable[[object, np.ndarray], None],
    on_stored: Callable[[object, int], None] | None = None,
) -> PipelineTimes:
    """Prepare each of `groups` (iterating it: the segmenting) and `texts_of` it in one thread,
    `encode` its texts here, and `store(group, vectors)` in another thread, overlapping; then
    `on_stored(group, texts)` in the writer thread."""
    started = time.perf_counter()
    times = PipelineTimes()
    stop = threading.Event()
    errors: list[BaseException] = []
    prepared: queue.Queue = queue.Queue(DEPTH)
    encoded: queue.Queue = queue.Queue(DEPTH)

    def put(q: queue.Queue, item) -> None:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return
            except queue.Full:
                continue
        raise _Stopped

    def get(q: queue.Queue):
        while True:
            if stop.is_set():
                raise _Stopped
            try:
                return q.get(timeout=0.1)
            except queue.Empty:
                continue

    def produce() -> None:
        try:
            for group in groups:
                put(prepared, (group, texts_of(group)))
            put(prepared, _DONE)
        except _Stopped:
            pass
        except BaseException as exc:  # raised in the caller
            errors.append(exc)
            stop.set()

    def write() -> None:
        try:
            while (item := get(encoded)) is not _DONE:
                group, texts, vectors = item
                store(group, vectors)
                if on_stored is not None:
                    on_stored(group, texts)
        except _Stopped:
            pass
        except BaseException as exc:
            errors.append(exc)
            stop.set()

    threads = [threading.Thread(target=produce, name="ingest-segment", daemon=True),
               threading.Thread(target=write, name="ingest-store", daemon=True)]
    for thread in threads:
        thread.start()
    try:
        while (item := get(prepared)) is not _DONE:
            group, texts = item
            began = time.perf_counter()
            vectors = encode(texts)
            times.encode_seconds += time.perf_counter() - began
            put(encoded, (group, len(texts), vectors))
        put(encoded, _DONE)
    except _Stopped:
        pass
    except BaseException:
        stop.set()
        raise
    finally:
        for thread in threads:
            thread.join()
    if errors:
        raise errors[0]
    times.wall_seconds = time.perf_counter() - started
    return times


def grouped(items: Iterator, size_of: Callable[[object], int], limit: int) -> Iterator[list]:
    """`items` in lists whose sizes add up to at least `limit` (the last one, what is left)."""
    group, size = [], 0
    for item in items:
        group.append(item)
        size += size_of(item)
        if size >= limit:
            yield group
            group, size = [], 0
    if group:
        yield group
