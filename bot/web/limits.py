"""Rate limits: token buckets per signed-in user and per client address.

    limits = Limits(per_user=60, per_address=120)        # per minute; 0 = no limit
    wait = limits.check(user="ada", address="10.0.0.7")  # None: go ahead; else seconds to wait

A bucket holds up to a sixth of the minute's allowance (at least 5), so a person can ask a
few questions in a row, and refills steadily. Past `max_keys` buckets, the least recently used
ones are dropped once they are full again (a full bucket is what a new key starts with, so
nothing is lost), a couple per request: constant work, never a rebuild of the whole table under
the lock. A spent bucket is never dropped, so a flood of new keys can't hand its owner a fresh
burst; the table then grows by at most the keys seen while buckets refill (a few seconds). Each worker process counts on its own; the
example proxy config sends one user's requests to one worker, so for a user the limit holds
as configured, and for an address it is at most (workers × limit).
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict


class RateLimiter:
    """One token bucket per key, refilled at `per_minute / 60` tokens a second."""

    def __init__(self, per_minute: int, *, max_keys: int = 100_000) -> None:
        self.per_minute = per_minute
        self.capacity = max(5.0, per_minute / 6)
        self.rate = per_minute / 60.0
        self.max_keys = max_keys
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # key -> (tokens, at); LRU first
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self.per_minute > 0

    def take(self, key: str, now: float | None = None) -> float | None:
        """Spend one token for `key`: None when allowed, else the seconds until one is free."""
        if not self.enabled:
            return None
        now = time.monotonic() if now is None else now
        with self._lock:
            tokens, at = self._buckets.get(key, (self.capacity, now))
            tokens = min(self.capacity, tokens + (now - at) * self.rate)
            allowed = tokens >= 1.0
            self._buckets[key] = (tokens - 1.0 if allowed else tokens, now)
            self._buckets.move_to_end(key)
            # The least recently used bucket is the one most likely full again; two looked at per
            # request keep the table near max_keys in O(1) a request.
            for _ in range(2):
                if len(self._buckets) <= self.max_keys:
                    break
                oldest_tokens, oldest_at = next(iter(self._buckets.values()))
                if oldest_tokens + (now - oldest_at) * self.rate < self.capacity:
                    break  # still spent: forgetting it would hand its owner a fresh burst
                self._buckets.popitem(last=False)
        return None if allowed else (1.0 - tokens) / self.rate

    def __len__(self) -> int:
        return len(self._buckets)


class Limits:
    """The per-user and per-address limits of one worker."""

    def __init__(self, per_user: int, per_address: int) -> None:
        self.user = RateLimiter(per_user)
        self.address = RateLimiter(per_address)

    @classmethod
    def from_settings(cls, settings) -> Limits:
        return cls(settings.rate_limit_user, settings.rate_limit_address)

    def check(self, *, user: str | None, address: str | None) -> float | None:
        """Count one request; None when allowed, else seconds to wait (rounded up)."""
        waits = []
        if address:
            waits.append(self.address.take(address))
        if user:
            waits.append(self.user.take(user))
        waits = [w for w in waits if w is not None]
        return float(math.ceil(max(waits))) if waits else None

    def check_address(self, address: str | None) -> float | None:
        wait = self.address.take(address or "unknown")
        return float(math.ceil(wait)) if wait is not None else None


TOO_MANY = "Too many requests"  # how a refusal begins (the load client recognises the chat's by it)


def too_many_message(wait: float) -> str:
    seconds = int(max(1, wait))
    return (f"{TOO_MANY}: wait {seconds} s and try again (limits are set by BOT_RATE_LIMIT_USER "
            "and BOT_RATE_LIMIT_ADDRESS).")


class BodyLimit:
    """ASGI middleware: refuses request bodies over `max_bytes` (413) before the app reads them.

    A body is read whole (it is small by then) and replayed to the app; it is also left in
    the request's state as `body`, where the sign-in gate reads a chat session's id."""

    def __init__(self, app, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS", "DELETE"):
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None:
            try:
                too_big = int(declared) > self.max_bytes
            except ValueError:
                await _reply(send, 400, "The Content-Length header is not a number.")
                return
            if too_big:
                await _reply(send, 413, self._message())
                return
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await _reply(send, 413, self._message())
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        scope.setdefault("state", {})["body"] = body
        replayed = False

        async def replay():
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    def _message(self) -> str:
        return (f"The request body is larger than {self.max_bytes:,} bytes (BOT_MAX_REQUEST_BYTES); "
                "send less (a shorter question or history).")


async def _reply(send, status: int, message: str) -> None:
    import json

    body = json.dumps({"detail": message}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
