"""What the workers of one host share about sign-in, in one SQLite file (`<data dir>/sign-in.sqlite`):
failed credential checks, to refuse brute force before any password is hashed, and sessions that
were ended (signed out) before their time.

    ledger = SignInLedger(settings.data_dir / "sign-in.sqlite", failures_allowed=10, window_seconds=300)
    ledger.wait(["address:10.0.0.7", "user:ada"])     # None: go ahead and check the password
    ledger.failed(["address:10.0.0.7", "user:ada"])   # after a wrong password
    ledger.wait(["address:10.0.0.7", "user:ada"])     # after 10 of those: seconds until the next try
    ledger.end_session("3f2a...", expires=1767225600) # a sign-out; every worker refuses it from now on
    ledger.ended("3f2a...")                           # -> True

Counting in one file instead of in each process means an attacker gets the configured number
of tries per window however many workers the proxy spreads them over, and a signed-out
cookie stops working in every worker at once (a row is visible to every process the moment it
is committed; there is nothing to expire or poll). Rows older than the window, and ended
sessions past their expiry, are deleted as new ones are written, so the file stays small.
The clock is injected, so tests move time instead of sleeping.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path

_SCHEMA = """
CREATE TABLE IF NOT EXISTS failures (key TEXT NOT NULL, at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS failures_key_at ON failures (key, at);
CREATE INDEX IF NOT EXISTS failures_at ON failures (at);
CREATE TABLE IF NOT EXISTS ended_sessions (id TEXT PRIMARY KEY, expires REAL NOT NULL) WITHOUT ROWID;
"""
MAX_KEY_CHARS = 200


class SignInLedger:
    """Failed sign-ins per key in a sliding window, and ended sessions, shared through SQLite."""

    def __init__(self, path: Path, *, failures_allowed: int = 10, window_seconds: float = 300.0,
                 clock: Callable[[], float] = time.time) -> None:
        self.path = Path(path)
        self.failures_allowed = failures_allowed
        self.window = window_seconds
        self.clock = clock
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(self.path), timeout=10, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")  # WAL: a crash may lose the last rows, never corrupt
        self._db.executescript(_SCHEMA)

    @property
    def enabled(self) -> bool:
        return self.failures_allowed > 0

    # --- failed credential checks --------------------------------------------------------------

    def wait(self, keys: Iterable[str]) -> float | None:
        """None when another attempt under these keys may be checked; else the seconds until one may."""
        if not self.enabled:
            return None
        keys = [k[:MAX_KEY_CHARS] for k in keys]
        now = self.clock()
        marks = ",".join("?" * len(keys))
        with self._lock:
            rows = self._db.execute(
                f"SELECT key, at FROM failures WHERE key IN ({marks}) AND at > ? ORDER BY at",
                (*keys, now - self.window)).fetchall()
        times: dict[str, list[float]] = {}
        for key, at in rows:
            times.setdefault(key, []).append(at)
        waits = [
            # the attempt that makes room is the one `failures_allowed` back from the newest
            ats[len(ats) - self.failures_allowed] + self.window - now
            for ats in times.values() if len(ats) >= self.failures_allowed
        ]
        return max(0.001, max(waits)) if waits else None

    def failed(self, keys: Iterable[str]) -> None:
        """Count one failed check against each key (and forget failures older than the window)."""
        if not self.enabled:
            return
        now = self.clock()
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.executemany("INSERT INTO failures (key, at) VALUES (?, ?)",
                                     [(k[:MAX_KEY_CHARS], now) for k in keys])
                self._db.execute("DELETE FROM failures WHERE at <= ?", (now - self.window,))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    # --- ended sessions ------------------------------------------------------------------------

    def end_session(self, session_id: str, expires: float) -> None:
        """Refuse this session from now on, in every process (kept until the cookie would expire anyway)."""
        now = self.clock()
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.execute("INSERT OR REPLACE INTO ended_sessions (id, expires) VALUES (?, ?)",
                                 (session_id[:MAX_KEY_CHARS], expires))
                self._db.execute("DELETE FROM ended_sessions WHERE expires < ?", (now,))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def ended(self, session_id: str) -> bool:
        """True when this session was signed out."""
        with self._lock:
            row = self._db.execute("SELECT 1 FROM ended_sessions WHERE id = ?",
                                   (session_id[:MAX_KEY_CHARS],)).fetchone()
        return row is not None

    def close(self) -> None:
        with self._lock:
            self._db.close()
