"""Signed session cookies, with the clock injected: genuine until they expire, never when altered."""

from __future__ import annotations

import hmac
import json

import pytest

from bot.auth.passwords import b64
from bot.auth.sessions import MAX_COOKIE_CHARS, read_session, sign_session

SECRET = "ab" * 32
NOW = 1_800_000_000.0


def _signed(payload: dict, secret: str = SECRET) -> str:
    """A cookie for a payload the bot would never sign, signed as it signs (to test the reader)."""
    body = b64(json.dumps(payload).encode())
    return f"{body}.{b64(hmac.new(bytes.fromhex(secret), body.encode(), 'sha256').digest())}"


def test_a_cookie_names_its_user_generation_and_expiry():
    cookie = sign_session(SECRET, "ada", "g1", hours=12, now=NOW)
    payload = read_session(SECRET, cookie, now=NOW)
    assert payload["u"] == "ada" and payload["g"] == "g1" and payload["e"] == int(NOW + 12 * 3600)
    assert len(payload["n"]) == 32  # 128 random bits, in hex


def test_it_is_good_until_it_expires_and_not_a_second_after():
    cookie = sign_session(SECRET, "ada", "g1", hours=0.5, now=NOW)
    expires = int(NOW + 1800)
    assert read_session(SECRET, cookie, now=NOW + 1) is not None
    assert read_session(SECRET, cookie, now=expires) is not None
    assert read_session(SECRET, cookie, now=expires + 1) is None
    assert read_session(SECRET, cookie, now=NOW + 10 * 86400) is None


def test_a_cookie_from_the_past_or_with_negative_hours_is_expired():
    assert read_session(SECRET, sign_session(SECRET, "ada", "g1", hours=-1, now=NOW), now=NOW) is None
    assert read_session(SECRET, sign_session(SECRET, "ada", "g1", hours=1, now=NOW - 7200), now=NOW) is None


def test_each_cookie_is_different_even_for_the_same_user_and_moment():
    cookies = {sign_session(SECRET, "ada", "g1", hours=1, now=NOW) for _ in range(20)}
    assert len(cookies) == 20


def test_another_key_altered_bodies_and_altered_signatures_are_refused():
    cookie = sign_session(SECRET, "ada", "g1", hours=1, now=NOW)
    body, signature = cookie.rsplit(".", 1)
    assert read_session("cd" * 32, cookie, now=NOW) is None
    other = b64(json.dumps({"u": "bob", "e": int(NOW + 3600), "g": "g1", "n": "x"}).encode())
    assert read_session(SECRET, f"{other}.{signature}", now=NOW) is None  # someone else's name
    flipped = signature[:-2] + ("AA" if signature[-2:] != "AA" else "BB")
    assert read_session(SECRET, f"{body}.{flipped}", now=NOW) is None


@pytest.mark.parametrize("cookie", [
    "", "no-dot", ".", "a.b", "!!!.###", "x" * (MAX_COOKIE_CHARS + 1), "é.é",
])
def test_garbage_is_refused_not_raised(cookie):
    assert read_session(SECRET, cookie, now=NOW) is None


@pytest.mark.parametrize("payload", [
    {"e": NOW + 3600, "g": "g1"},                      # no user
    {"u": "ada", "g": "g1"},                           # no expiry
    {"u": "ada", "e": NOW + 3600},                     # no generation
    {"u": ["ada"], "e": NOW + 3600, "g": "g1"},        # a user that isn't a name
    {"u": "ada", "e": "tomorrow", "g": "g1"},          # an expiry that isn't a time
    ["ada", NOW + 3600, "g1"],                         # not an object
])
def test_a_genuinely_signed_but_malformed_payload_is_refused(payload):
    assert read_session(SECRET, _signed(payload), now=NOW) is None


def test_a_reader_without_now_uses_the_real_clock():
    assert read_session(SECRET, sign_session(SECRET, "ada", "g1", hours=1))["u"] == "ada"
    assert read_session(SECRET, sign_session(SECRET, "ada", "g1", hours=1, now=0.0)) is None


def test_doctests():
    import doctest

    import bot.auth.sessions

    result = doctest.testmod(bot.auth.sessions)
    assert result.failed == 0 and result.attempted > 0
