"""Who may use a shared deployment: users with hashed passwords, their API tokens, and signed
browser sessions, all kept in one JSON file (BOT_USERS_FILE, default `<data dir>/users.json`).

    accounts = Accounts(settings.users_path)
    accounts.add_user("ada", "correct horse battery staple")     # scrypt-hashed, never stored plain
    accounts.check_password("ada", "correct horse battery staple")  # -> True
    token = accounts.create_token("ada", label="notebook")        # shown once: "nb_..."
    accounts.user_for_token(token.secret)                         # -> "ada"
    cookie = accounts.sign_session("ada", hours=12)               # the browser's login cookie
    accounts.session_user(cookie)                                 # -> "ada"
    accounts.end_session(cookie)                                  # signed out (with a ledger)
    accounts.session_user(cookie)                                 # -> None

The file holds, per user, an scrypt hash of the password (`scrypt$n$r$p$salt$hash`) and the
sha256 of each API token (tokens are 256 random bits, so a fast hash is enough), plus the
random key that signs session cookies. It is written atomically (a new file renamed over
the old, mode 0600) under a lock, so `bot users add` is safe while workers read it; workers
notice the change on the next request. A session cookie names the user and a fingerprint
of their password hash: removing the user or changing the password signs them out. Given a
`SignInLedger`, a session can also end alone (`end_session`: signing out), in every process.

Checking a password costs the same whether or not the user exists: an unknown name is checked
against a dummy hash made with the same parameters, so timing doesn't tell who has an account.
"""

from __future__ import annotations

import fcntl
import hashlib
import hmac
import json
import os
import re
import secrets
import tempfile
import threading
from collections import OrderedDict
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from ..errors import AccountsError
from .ledger import SignInLedger
from .passwords import hash_password, token_digest, verify_password
from .sessions import read_session, sign_session

TOKEN_PREFIX = "nb_"
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
MIN_PASSWORD_CHARS = 8
FORMAT = 1


@dataclass(frozen=True)
class NewToken:
    """A token just created: `secret` is shown once and never stored."""

    id: str
    user: str
    label: str
    secret: str


class Accounts:
    """The users file: read on demand (re-read when it changes on disk), written atomically."""

    def __init__(self, path: Path, *, ledger: SignInLedger | None = None) -> None:
        self.path = Path(path)
        self.ledger = ledger
        self._cache_key: tuple | None = None
        self._data: dict = {}
        self._tokens: dict[str, tuple[str, str]] = {}  # sha256 -> (user, token id)
        self._read_lock = threading.Lock()
        # Successful password checks, so HTTP basic auth doesn't pay scrypt on every request.
        # Keyed by an HMAC of (name, password) under a key that lives only in this process.
        self._verified: OrderedDict[bytes, str] = OrderedDict()
        self._process_key = secrets.token_bytes(32)
        self._dummy_hash: str | None = None  # what an unknown user's password is checked against

    # --- reading ------------------------------------------------------------------------------

    def exists(self) -> bool:
        return self.path.exists()

    def _load(self) -> dict:
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            self._cache_key, self._data, self._tokens = None, {}, {}
            return {}
        key = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
        if key == self._cache_key:
            return self._data
        with self._read_lock:
            if key != self._cache_key:
                data = _read(self.path)
                self._tokens = {
                    t["sha256"]: (name, t["id"])
                    for name, user in data["users"].items() for t in user.get("tokens", [])
                }
                self._data, self._cache_key = data, key
        return self._data

    def users(self) -> list[dict]:
        """Every user: name, when added, how many tokens (never a hash)."""
        users = self._load().get("users", {})
        return [
            {"name": name, "created_at": user.get("created_at", ""), "tokens": len(user.get("tokens", []))}
            for name, user in sorted(users.items())
        ]

    def has_users(self) -> bool:
        return bool(self._load().get("users"))

    def check_password(self, name: str, password: str) -> bool:
        """True when `name` exists and `password` is theirs. A wrong password and an unknown user take
        the same time (an unknown one is checked against a dummy hash); a verified one is cached."""
        if not isinstance(password, str) or not isinstance(name, str):
            return False
        if self.known_password(name, password):
            return True
        user = self._load().get("users", {}).get(name)
        if user is None:
            verify_password(password, self._dummy())
            return False
        stored = user["password"]
        if not verify_password(password, stored):
            return False
        self._verified[self._credential_key(name, password)] = stored
        while len(self._verified) > 4096:
            self._verified.popitem(last=False)
        return True

    def known_password(self, name: str, password: str) -> bool:
        """True when this very name and password were verified before and still hold (no hashing)."""
        if not isinstance(password, str) or not isinstance(name, str):
            return False
        user = self._load().get("users", {}).get(name)
        if user is None:
            return False
        return self._verified.get(self._credential_key(name, password)) == user["password"]

    def _credential_key(self, name: str, password: str) -> bytes:
        return hmac.new(self._process_key, f"{name}\0{password}".encode("utf-8", "surrogatepass"), "sha256").digest()

    def _dummy(self) -> str:
        if self._dummy_hash is None:
            self._dummy_hash = hash_password(secrets.token_urlsafe(16))
        return self._dummy_hash

    def user_for_token(self, secret: str) -> str | None:
        """The user an API token belongs to, or None (unknown or revoked)."""
        if not secret.startswith(TOKEN_PREFIX):
            return None
        self._load()
        found = self._tokens.get(token_digest(secret))
        return found[0] if found else None

    def tokens(self, user: str | None = None) -> list[dict]:
        """Tokens (id, user, label, created_at; never the secret), of one user or all."""
        found = []
        for name, record in sorted(self._load().get("users", {}).items()):
            if user is None or name == user:
                for token in record.get("tokens", []):
                    found.append({"id": token["id"], "user": name, "label": token.get("label", ""),
                                  "created_at": token.get("created_at", "")})
        return found

    # --- sessions -----------------------------------------------------------------------------

    def sign_session(self, name: str, hours: float) -> str:
        """A cookie value that proves `name` signed in, valid for `hours`."""
        data = self._load()
        user = data.get("users", {}).get(name)
        if user is None:
            raise AccountsError(f"no user named {name!r}")
        return sign_session(data["secret"], name, _generation(user), hours)

    def session_user(self, cookie: str) -> str | None:
        """The user a session cookie names, if it is genuine, unexpired, not signed out and still theirs."""
        session = self.session(cookie)
        return session["u"] if session else None

    def session(self, cookie: str) -> dict | None:
        """A live session's payload ({"u": user, "e": expiry, "g", "n": its id}), else None."""
        data = self._load()
        if not data or "." not in cookie or len(cookie) > 4096:
            return None
        payload = read_session(data["secret"], cookie)
        if payload is None:
            return None
        user = data.get("users", {}).get(payload["u"])
        if user is None or payload["g"] != _generation(user):
            return None
        if self.ledger is not None and (not payload["n"] or self.ledger.ended(payload["n"])):
            return None
        return payload

    def end_session(self, cookie: str) -> str | None:
        """Sign a session out, for good and in every worker; returns its user (None: it was not live)."""
        session = self.session(cookie)
        if session is None:
            return None
        if self.ledger is None:
            raise AccountsError("ending one session needs the sign-in ledger (Accounts(path, ledger=...))")
        self.ledger.end_session(session["n"], session["e"])
        return session["u"]

    # --- writing ------------------------------------------------------------------------------

    def add_user(self, name: str, password: str, *, replace: bool = False) -> None:
        """Add a user (or, with `replace`, set a new password, which signs them out everywhere)."""
        if not NAME_PATTERN.match(name or ""):
            raise AccountsError(
                f"{name!r} can't be a user name: use 1-64 letters, digits, '.', '_', '@' or '-', starting "
                "with a letter or digit"
            )
        if len(password) < MIN_PASSWORD_CHARS:
            raise AccountsError(f"the password is too short: use at least {MIN_PASSWORD_CHARS} characters")
        hashed = hash_password(password)
        with self._editing() as data:
            users = data["users"]
            if name in users and not replace:
                raise AccountsError(f"there is already a user {name!r}; to set a new password use "
                                    f"`bot users add {name} --replace`")
            record = users.get(name, {"created_at": _now(), "tokens": []})
            record["password"] = hashed
            users[name] = record

    def remove_user(self, name: str) -> None:
        """Remove a user and their tokens; their sessions stop working at once."""
        with self._editing() as data:
            if data["users"].pop(name, None) is None:
                raise AccountsError(f"there is no user {name!r} (`bot users list` shows who there is)")

    def create_token(self, user: str, label: str = "") -> NewToken:
        """A new API token for `user`; its secret is returned once, only its hash is kept."""
        secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
        token_id = secrets.token_hex(4)
        with self._editing() as data:
            record = data["users"].get(user)
            if record is None:
                raise AccountsError(f"there is no user {user!r}: add them first with `bot users add {user}`")
            record.setdefault("tokens", []).append(
                {"id": token_id, "label": label, "sha256": token_digest(secret), "created_at": _now()}
            )
        return NewToken(id=token_id, user=user, label=label, secret=secret)

    def revoke_token(self, token_id: str) -> str:
        """Revoke a token by its id; returns the user it belonged to."""
        with self._editing() as data:
            for name, record in data["users"].items():
                kept = [t for t in record.get("tokens", []) if t["id"] != token_id]
                if len(kept) != len(record.get("tokens", [])):
                    record["tokens"] = kept
                    return name
            # raised inside the edit, so nothing is written
            raise AccountsError(f"there is no token {token_id!r} (`bot tokens list` shows them)")

    @contextmanager
    def _editing(self):
        """Read-modify-write under an exclusive lock; the new file replaces the old in one rename."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        lock_path = self.path.with_name(self.path.name + ".lock")
        with open(lock_path, "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                data = _read(self.path) if self.path.exists() else {
                    "format": FORMAT, "secret": secrets.token_hex(32), "users": {}}
                yield data
                handle, temporary = tempfile.mkstemp(prefix=".users-", dir=self.path.parent)
                try:
                    with os.fdopen(handle, "w", encoding="utf-8") as out:
                        json.dump(data, out, indent=2, sort_keys=True)
                        out.write("\n")
                        out.flush()
                        os.fsync(out.fileno())
                    os.chmod(temporary, 0o600)
                    os.replace(temporary, self.path)
                except BaseException:
                    Path(temporary).unlink(missing_ok=True)
                    raise
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)
        self._cache_key = None


def _read(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise AccountsError(f"the users file {path} can't be read ({exc}); fix or remove it") from exc
    if not isinstance(data, dict) or not isinstance(data.get("users"), dict) or not data.get("secret"):
        raise AccountsError(f"{path} is not a notes-bot users file; move it away and add users again")
    return data


def _generation(user: dict) -> str:
    return hashlib.sha256(user["password"].encode()).hexdigest()[:16]


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
