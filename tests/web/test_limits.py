"""Rate limits: token buckets per key, a bounded table whose eviction is constant work per request.
Time is passed in (`now=`), never slept."""

from __future__ import annotations

import time

from bot.web.limits import Limits, RateLimiter


def test_a_bucket_allows_a_burst_then_refills_steadily():
    limiter = RateLimiter(60)  # one a second, a burst of 10
    assert [limiter.take("ada", now=0.0) for _ in range(10)] == [None] * 10
    assert limiter.take("ada", now=0.0) == 1.0  # seconds until the next token
    assert limiter.take("ada", now=1.0) is None
    assert limiter.take("bob", now=1.0) is None  # each key has its own bucket


def test_the_table_stays_bounded_and_drops_the_least_recently_used():
    limiter = RateLimiter(60, max_keys=100)
    for i in range(100):
        limiter.take(f"k{i}", now=0.0)
    limiter.take("k0", now=0.0)  # k0 is now the most recently used; k1 the least
    limiter.take("new", now=0.0)
    assert len(limiter) == 100
    assert "k1" not in limiter._buckets and "k0" in limiter._buckets and "new" in limiter._buckets


def test_eviction_is_constant_work_when_the_table_is_full_of_active_keys():
    """Before: once full, every request rebuilt the whole table under the lock (O(keys)). Now a full
    table costs a request about what an empty one does (a ratio in one run, never a time)."""
    def per_request(limiter: RateLimiter, keys: int, requests: int = 20_000) -> float:
        for i in range(keys):
            limiter.take(f"warm{i}", now=0.0)  # buckets just spent: none is full, none can be forgotten
        started = time.perf_counter()
        for i in range(requests):
            limiter.take(f"new{i}", now=0.0)
        return (time.perf_counter() - started) / requests

    small = per_request(RateLimiter(60, max_keys=1_000), 1_000)
    large = per_request(RateLimiter(60, max_keys=100_000), 100_000)
    assert large < 5 * small, (small, large)  # a rebuild of 100,000 entries would be ~100x


def test_limits_combine_user_and_address():
    limits = Limits(per_user=6, per_address=0)
    waits = [limits.check(user="ada", address="10.0.0.7") for _ in range(6)]
    assert waits[:5] == [None] * 5 and waits[5] is not None and waits[5] >= 1
    assert limits.check(user="bob", address="10.0.0.7") is None  # the address has no limit
