"""Rate limits with the clock injected (`RateLimiter.take(key, now=...)`: no sleeps, no wall-clock
assertions) and the request-body limit, driven as the ASGI server drives it."""

from __future__ import annotations

import asyncio
import json
import math

import pytest

from bot.settings import Settings
from bot.web.limits import TOO_MANY, BodyLimit, Limits, RateLimiter, too_many_message

T0 = 1000.0  # any start: the limiter only looks at differences


# --- one token bucket -----------------------------------------------------------------------------


@pytest.mark.parametrize("per_minute, capacity", [(6, 5), (30, 5), (60, 10), (120, 20), (600, 100)])
def test_a_bucket_holds_a_sixth_of_a_minutes_allowance_and_at_least_five(per_minute, capacity):
    limiter = RateLimiter(per_minute)
    allowed = [limiter.take("ada", now=T0) for _ in range(capacity)]
    assert allowed == [None] * capacity  # a burst of `capacity` at one instant
    assert limiter.take("ada", now=T0) is not None


def test_a_refusal_says_how_long_until_the_next_token():
    limiter = RateLimiter(6)  # a token every 10 s
    for _ in range(5):
        limiter.take("ada", now=T0)
    assert limiter.take("ada", now=T0) == pytest.approx(10.0)
    assert limiter.take("ada", now=T0 + 4) == pytest.approx(6.0)  # the wait shrinks as time passes
    assert limiter.take("ada", now=T0 + 9.5) == pytest.approx(0.5)
    assert limiter.take("ada", now=T0 + 10) is None  # exactly when it said
    assert limiter.take("ada", now=T0 + 10) == pytest.approx(10.0)


def test_refused_requests_do_not_spend_tokens():
    limiter = RateLimiter(6)
    for _ in range(5):
        limiter.take("ada", now=T0)
    for _ in range(100):  # hammering while refused doesn't push the next token further away
        assert limiter.take("ada", now=T0 + 1) == pytest.approx(9.0)
    assert limiter.take("ada", now=T0 + 10) is None


def test_an_idle_bucket_refills_only_to_its_capacity():
    limiter = RateLimiter(60)  # capacity 10, a token a second
    for _ in range(10):
        limiter.take("ada", now=T0)
    later = T0 + 3600
    assert [limiter.take("ada", now=later) for _ in range(11)].count(None) == 10


def test_a_steady_stream_gets_the_configured_rate_and_the_first_burst():
    limiter = RateLimiter(30)  # capacity 5, half a token a second
    allowed = sum(limiter.take("ada", now=T0 + second) is None for second in range(600))  # one a second
    assert allowed == 5 + 300 - 1 or allowed == 5 + 300  # the burst, then 30 a minute for ten minutes


def test_keys_have_their_own_buckets():
    limiter = RateLimiter(6)
    for _ in range(5):
        limiter.take("ada", now=T0)
    assert limiter.take("ada", now=T0) is not None
    assert limiter.take("bob", now=T0) is None


def test_zero_means_no_limit():
    limiter = RateLimiter(0)
    assert not limiter.enabled
    assert all(limiter.take("ada", now=T0) is None for _ in range(10_000))


def test_many_other_keys_never_free_a_spent_bucket():
    """However the limiter bounds its memory, forgetting a spent bucket would hand its owner a
    fresh burst: flooding it with new keys (new addresses, say) must not do that."""
    limiter = RateLimiter(6, max_keys=10)
    for _ in range(5):
        limiter.take("ada", now=T0)
    for i in range(500):
        assert limiter.take(f"10.0.{i // 250}.{i % 250}", now=T0 + i * 0.001) is None
    assert limiter.take("ada", now=T0 + 1) == pytest.approx(9.0)
    assert limiter.take("someone new", now=T0 + 1) is None  # and a new key starts with a full bucket


def test_without_now_it_uses_the_monotonic_clock():
    limiter = RateLimiter(1)  # a token a minute: the test can't outlast it
    assert [limiter.take("ada") for _ in range(5)] == [None] * 5
    wait = limiter.take("ada")
    assert wait is not None and 0 < wait <= 60


# --- the per-user and per-address limits of a worker ----------------------------------------------
# Limits read the real clock; at one request a minute nothing refills while a test runs.


def test_a_request_counts_against_its_user_and_its_address():
    limits = Limits(per_user=1, per_address=1)
    assert [limits.check(user="ada", address="10.0.0.1") for _ in range(5)] == [None] * 5
    assert limits.check(user="ada", address="10.0.0.2") is not None  # ada is out, wherever she is
    assert limits.check(user="bob", address="10.0.0.1") is not None  # and so is her address
    assert limits.check(user="bob", address="10.0.0.3") is None


def test_a_refusal_is_a_whole_number_of_seconds_rounded_up():
    limits = Limits(per_user=1, per_address=0)
    for _ in range(5):
        limits.check(user="ada", address=None)
    wait = limits.check(user="ada", address=None)
    assert wait == math.ceil(wait) and 1 <= wait <= 60


def test_no_user_and_no_address_is_never_counted():
    limits = Limits(per_user=1, per_address=1)
    assert all(limits.check(user=None, address=None) is None for _ in range(20))


def test_sign_in_attempts_count_per_address_and_an_unknown_one_is_one_address():
    limits = Limits(per_user=1, per_address=1)
    assert [limits.check_address(None) for _ in range(5)] == [None] * 5
    assert limits.check_address(None) is not None and limits.check_address("unknown") is not None
    assert limits.check_address("10.0.0.9") is None


def test_limits_come_from_the_settings():
    limits = Limits.from_settings(Settings(rate_limit_user=12, rate_limit_address=0))
    assert limits.user.per_minute == 12 and limits.user.enabled and not limits.address.enabled


@pytest.mark.parametrize("wait, shown", [(0.2, 1), (1.0, 1), (7.9, 7), (60.0, 60)])
def test_the_refusal_message_names_the_wait_and_the_settings(wait, shown):
    message = too_many_message(wait)
    assert message.startswith(TOO_MANY) and f"wait {shown} s" in message
    assert "BOT_RATE_LIMIT_USER" in message and "BOT_RATE_LIMIT_ADDRESS" in message


# --- the request-body limit -----------------------------------------------------------------------


class Recorder:
    """An ASGI app that records what it was given."""

    def __init__(self) -> None:
        self.calls: list[dict] = []

    async def __call__(self, scope, receive, send) -> None:
        body, more = b"", True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        self.calls.append({"body": body, "state": dict(scope.get("state", {})), "next": await receive()})
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})


def drive(middleware, *, method="POST", chunks=(b"",), headers=(), scope_type="http"):
    """Run one request through the middleware; returns (status, JSON detail or body)."""
    incoming = [{"type": "http.request", "body": c, "more_body": i < len(chunks) - 1} for i, c in enumerate(chunks)]
    incoming.append({"type": "http.disconnect"})
    sent: list[dict] = []

    async def receive():
        return incoming.pop(0)

    async def send(message):
        sent.append(message)

    scope = {"type": scope_type, "method": method, "headers": list(headers)}
    asyncio.run(middleware(scope, receive, send))
    if not sent:
        return None, None
    status = sent[0]["status"]
    body = b"".join(m.get("body", b"") for m in sent[1:])
    return status, (json.loads(body)["detail"] if status != 200 else body)


def test_a_body_within_the_limit_reaches_the_app_whole_and_in_the_request_state():
    app = Recorder()
    status, _ = drive(BodyLimit(app, max_bytes=1024), chunks=(b'{"question": ', b'"why?"}'))
    assert status == 200
    [call] = app.calls
    assert call["body"] == b'{"question": "why?"}' and call["state"]["body"] == call["body"]
    assert call["next"] == {"type": "http.disconnect"}  # after the replay the real channel answers


def test_a_declared_length_over_the_limit_is_refused_before_reading():
    app = Recorder()
    status, detail = drive(BodyLimit(app, max_bytes=1024), headers=[(b"content-length", b"1025")])
    assert status == 413 and "1,024 bytes" in detail and "BOT_MAX_REQUEST_BYTES" in detail
    assert app.calls == []


def test_a_streamed_body_is_cut_off_once_it_passes_the_limit():
    app = Recorder()
    status, detail = drive(BodyLimit(app, max_bytes=1024), chunks=(b"x" * 600, b"x" * 600, b"x" * 600))
    assert status == 413 and "BOT_MAX_REQUEST_BYTES" in detail and app.calls == []


def test_a_body_of_exactly_the_limit_is_allowed():
    app = Recorder()
    assert drive(BodyLimit(app, max_bytes=1024), chunks=(b"x" * 1024,),
                 headers=[(b"content-length", b"1024")])[0] == 200


def test_a_content_length_that_is_not_a_number_is_a_bad_request():
    app = Recorder()
    status, detail = drive(BodyLimit(app, max_bytes=1024), headers=[(b"content-length", b"lots")])
    assert status == 400 and "Content-Length" in detail and app.calls == []


def test_a_client_that_leaves_mid_body_never_reaches_the_app():
    app = Recorder()
    middleware = BodyLimit(app, max_bytes=1024)
    incoming = [{"type": "http.request", "body": b"half", "more_body": True}, {"type": "http.disconnect"}]

    async def receive():
        return incoming.pop(0)

    async def send(message):
        raise AssertionError(f"nothing is sent to a client that left: {message}")

    asyncio.run(middleware({"type": "http", "method": "POST", "headers": []}, receive, send))
    assert app.calls == []


@pytest.mark.parametrize("method", ["GET", "HEAD", "OPTIONS", "DELETE"])
def test_requests_without_a_body_pass_untouched(method):
    app = Recorder()
    status, _ = drive(BodyLimit(app, max_bytes=1024), method=method, headers=[(b"content-length", b"99999")])
    assert status == 200 and "body" not in app.calls[0]["state"]


# --- a bounded table whose eviction is constant work per request ---------------------------------


def test_a_bucket_allows_a_burst_then_refills_steadily():
    limiter = RateLimiter(60)  # one a second, a burst of 10
    assert [limiter.take("ada", now=0.0) for _ in range(10)] == [None] * 10
    assert limiter.take("ada", now=0.0) == 1.0  # seconds until the next token
    assert limiter.take("ada", now=1.0) is None
    assert limiter.take("bob", now=1.0) is None  # each key has its own bucket


def test_the_table_stays_bounded_and_drops_the_least_recently_used_once_refilled():
    limiter = RateLimiter(60, max_keys=100)  # a burst of 10, refilled in 10 s
    for i in range(100):
        limiter.take(f"k{i}", now=0.0)
    limiter.take("k0", now=20.0)  # k0 is now the most recently used; k1 the least, and full again
    limiter.take("new", now=20.0)
    assert len(limiter) == 100
    assert "k1" not in limiter._buckets and "k0" in limiter._buckets and "new" in limiter._buckets


def test_a_full_table_of_spent_buckets_grows_rather_than_forget_one():
    limiter = RateLimiter(60, max_keys=10)
    for i in range(10):
        for _ in range(10):
            limiter.take(f"k{i}", now=0.0)  # every bucket spent
    limiter.take("new", now=1.0)
    assert len(limiter) == 11 and limiter.take("k0", now=1.0) is None  # k0 kept its count (1 s refilled one)
    assert limiter.take("k0", now=1.0) is not None


def test_limits_combine_user_and_address():
    limits = Limits(per_user=6, per_address=0)
    waits = [limits.check(user="ada", address="10.0.0.7") for _ in range(6)]
    assert waits[:5] == [None] * 5 and waits[5] is not None and waits[5] >= 1
    assert limits.check(user="bob", address="10.0.0.7") is None  # the address has no limit
