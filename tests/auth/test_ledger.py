"""The sign-in ledger: failed checks counted in a sliding window shared by every process of a host,
and signed-out sessions refused everywhere. The clock is injected: time moves, nothing sleeps."""

from __future__ import annotations

import pytest

from bot.auth.accounts import Accounts
from bot.auth.ledger import SignInLedger


START = 1_000_000.0


class Clock:
    def __init__(self, now: float = START) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_the_limit_counts_failures_in_a_sliding_window(tmp_path):
    clock = Clock()
    ledger = SignInLedger(tmp_path / "sign-in.sqlite", failures_allowed=3, window_seconds=60, clock=clock)
    keys = ["address:10.0.0.7", "user:ada"]
    for second in (0, 10, 20):
        assert ledger.wait(keys) is None
        clock.now = START + second
        ledger.failed(keys)
    assert ledger.wait(keys) == pytest.approx(60 - 20)  # the first failure (at 0) leaves the window at 60
    clock.now = START + 59.9
    assert ledger.wait(keys) == pytest.approx(0.1)
    clock.now = START + 60.0
    assert ledger.wait(keys) is None  # one failure has left the window: one more try
    ledger.failed(keys)
    assert ledger.wait(keys) == pytest.approx(10)  # now the one at 10 s must leave first


def test_each_key_counts_on_its_own_and_any_key_over_the_limit_refuses(tmp_path):
    clock = Clock()
    ledger = SignInLedger(tmp_path / "sign-in.sqlite", failures_allowed=2, window_seconds=60, clock=clock)
    ledger.failed(["address:10.0.0.7", "user:ada"])
    ledger.failed(["address:10.0.0.8", "user:ada"])
    assert ledger.wait(["address:10.0.0.9", "user:ada"]) is not None  # ada's name, from a third address
    assert ledger.wait(["address:10.0.0.7", "user:bob"]) is None  # that address has one failure
    ledger.failed(["address:10.0.0.7", "user:bob"])
    assert ledger.wait(["address:10.0.0.7", "user:carol"]) is not None  # now the address is over


def test_processes_share_the_count_and_old_rows_are_deleted(tmp_path):
    clock = Clock()
    path = tmp_path / "sign-in.sqlite"
    one = SignInLedger(path, failures_allowed=2, window_seconds=60, clock=clock)
    two = SignInLedger(path, failures_allowed=2, window_seconds=60, clock=clock)  # another worker
    one.failed(["user:ada"])
    two.failed(["user:ada"])
    assert one.wait(["user:ada"]) is not None and two.wait(["user:ada"]) is not None
    clock.now += 61
    one.failed(["user:bob"])
    rows = one._db.execute("SELECT key FROM failures").fetchall()
    assert rows == [("user:bob",)]  # ada's expired failures are gone


def test_zero_means_no_limit(tmp_path):
    ledger = SignInLedger(tmp_path / "sign-in.sqlite", failures_allowed=0)
    for _ in range(50):
        ledger.failed(["user:ada"])
    assert ledger.wait(["user:ada"]) is None


def test_a_signed_out_session_ends_in_every_process_and_only_that_one(tmp_path):
    ledger_path = tmp_path / "sign-in.sqlite"
    worker_a = Accounts(tmp_path / "users.json", ledger=SignInLedger(ledger_path))
    worker_b = Accounts(tmp_path / "users.json", ledger=SignInLedger(ledger_path))
    worker_a.add_user("ada", "correct horse battery")
    first = worker_a.sign_session("ada", hours=1)
    second = worker_a.sign_session("ada", hours=1)  # the same second, another browser
    assert worker_b.session_user(first) == worker_b.session_user(second) == "ada"
    assert worker_b.end_session(first) == "ada"  # signed out at the other worker
    assert worker_a.session_user(first) is None and worker_b.session_user(first) is None
    assert worker_a.session_user(second) == "ada"  # the other session goes on
    assert worker_a.end_session(first) is None  # already over


def test_ended_sessions_are_forgotten_once_they_would_have_expired(tmp_path):
    clock = Clock()
    ledger = SignInLedger(tmp_path / "sign-in.sqlite", clock=clock)
    ledger.end_session("a" * 32, expires=clock.now + 10)
    assert ledger.ended("a" * 32)
    clock.now += 11
    ledger.end_session("b" * 32, expires=clock.now + 10)
    assert not ledger.ended("a" * 32) and ledger.ended("b" * 32)


def test_an_unknown_user_costs_a_password_check_too(tmp_path):
    """Both paths run scrypt once: the unknown one against a dummy hash (timing is compared over HTTP
    in tests/web/test_signin_edge.py; here, that the dummy is a real scrypt hash of the same cost)."""
    accounts = Accounts(tmp_path / "users.json")
    accounts.add_user("ada", "correct horse battery")
    assert not accounts.check_password("nobody", "correct horse battery")
    stored = accounts._load()["users"]["ada"]["password"]
    assert accounts._dummy().split("$")[:4] == stored.split("$")[:4]  # scheme, n, r, p
    assert not accounts.known_password("ada", "correct horse battery")
    assert accounts.check_password("ada", "correct horse battery")
    assert accounts.known_password("ada", "correct horse battery")  # verified once: no hashing next time
    accounts.add_user("ada", "a brand new password", replace=True)
    assert not accounts.known_password("ada", "correct horse battery")  # a new password forgets it
