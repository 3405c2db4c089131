"""Signed session cookies: `<payload>.<HMAC-SHA256>`, with the user, an expiry, a generation and an id.

    >>> secret = "00" * 32
    >>> cookie = sign_session(secret, "ada", generation="g1", hours=1)
    >>> read_session(secret, cookie)["u"]
    'ada'
    >>> read_session("11" * 32, cookie) is None       # signed with another key
    True

The generation ties a cookie to the user's state (a fingerprint of their password hash), so
changing the password or removing the user ends every session of theirs. The id (`"n"`, 128
random bits) names this one session, so signing out can end it alone (`SignInLedger.end_session`).
"""

from __future__ import annotations

import hmac
import json
import secrets
import time

from .passwords import b64, unb64

MAX_COOKIE_CHARS = 4096


def sign_session(secret: str, name: str, generation: str, hours: float, *, now: float | None = None) -> str:
    """A cookie value proving `name` signed in, valid for `hours`."""
    now = time.time() if now is None else now
    payload = {"u": name, "e": int(now + hours * 3600), "g": generation, "n": secrets.token_hex(16)}
    body = b64(json.dumps(payload, separators=(",", ":")).encode())
    return f"{body}.{b64(_sign(secret, body))}"


def read_session(secret: str, cookie: str, *, now: float | None = None) -> dict | None:
    """The payload of a genuine, unexpired cookie ({"u", "e", "g", "n"}), else None."""
    if "." not in cookie or len(cookie) > MAX_COOKIE_CHARS:
        return None
    body, signature = cookie.rsplit(".", 1)
    try:
        if not hmac.compare_digest(unb64(signature), _sign(secret, body)):
            return None
        payload = json.loads(unb64(body))
        name, expires, generation = payload["u"], payload["e"], payload["g"]
    except (ValueError, KeyError, TypeError):
        return None
    if not isinstance(name, str) or not isinstance(expires, (int, float)):
        return None
    if expires < (time.time() if now is None else now):
        return None
    return {"u": name, "e": expires, "g": generation, "n": payload.get("n", "")}


def _sign(secret: str, body: str) -> bytes:
    return hmac.new(bytes.fromhex(secret), body.encode("ascii", "replace"), "sha256").digest()
