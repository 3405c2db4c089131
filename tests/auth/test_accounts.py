"""The users file: written atomically under a lock (a failed edit leaves it as it was, concurrent
writers lose nothing, a reader never sees half a file), re-read when another process changes it,
tokens and sessions tied to the file's users. (tests/web/test_auth.py covers the `bot users` and
`bot tokens` commands and the gate in front of the app.)"""

from __future__ import annotations

import json
import subprocess
import sys
import threading

import pytest

from bot.auth.accounts import TOKEN_PREFIX, Accounts
from bot.errors import AccountsError

from ..conftest import clean_env

PASSWORD = "correct horse battery"


@pytest.fixture
def users(tmp_path):
    return tmp_path / "team" / "users.json"


@pytest.fixture
def accounts(users) -> Accounts:
    accounts = Accounts(users)
    accounts.add_user("ada", PASSWORD)
    return accounts


def _leftovers(users) -> list[str]:
    return sorted(p.name for p in users.parent.iterdir() if p.name.startswith(".users-"))


# --- atomic writes --------------------------------------------------------------------------------


def test_the_first_write_creates_the_folder_and_a_private_file(users):
    assert not Accounts(users).exists() and Accounts(users).users() == [] and not Accounts(users).has_users()
    Accounts(users).add_user("ada", PASSWORD)
    data = json.loads(users.read_text())
    assert data["format"] == 1 and len(bytes.fromhex(data["secret"])) == 32 and list(data["users"]) == ["ada"]
    assert users.stat().st_mode & 0o777 == 0o600
    assert _leftovers(users) == []


def test_a_write_replaces_the_file_whole_so_an_open_reader_keeps_the_old_one(accounts, users):
    before = users.stat().st_ino
    with users.open() as old:
        accounts.create_token("ada", "ci")
        assert users.stat().st_ino != before  # a new file renamed over the old
        assert json.loads(old.read())["users"]["ada"]["tokens"] == []  # the old one, whole
    assert len(json.loads(users.read_text())["users"]["ada"]["tokens"]) == 1
    assert _leftovers(users) == []


@pytest.mark.parametrize("edit", [
    lambda a: a.add_user("ada", "another password"),       # exists, no --replace
    lambda a: a.add_user("bad name!", PASSWORD),
    lambda a: a.add_user("bob", "short"),
    lambda a: a.remove_user("nobody"),
    lambda a: a.create_token("nobody"),
    lambda a: a.revoke_token("feedbeef"),
])
def test_an_edit_that_is_refused_leaves_the_file_as_it_was(accounts, users, edit):
    before, inode = users.read_bytes(), users.stat().st_ino
    with pytest.raises(AccountsError):
        edit(accounts)
    assert users.read_bytes() == before and users.stat().st_ino == inode
    assert _leftovers(users) == []


def test_writers_in_several_processes_lose_nothing(users):
    script = ("import sys; from pathlib import Path; from bot.auth.accounts import Accounts; "
              "a = Accounts(Path(sys.argv[1])); a.add_user(sys.argv[2], 'a long password'); "
              "[a.create_token(sys.argv[2], str(i)) for i in range(5)]")
    writers = [subprocess.Popen([sys.executable, "-c", script, str(users), f"user{i}"], env=clean_env())
               for i in range(6)]
    assert [w.wait(timeout=120) for w in writers] == [0] * 6
    found = Accounts(users)
    assert [u["name"] for u in found.users()] == [f"user{i}" for i in range(6)]
    assert all(u["tokens"] == 5 for u in found.users())
    assert all(found.check_password(f"user{i}", "a long password") for i in range(6))
    assert _leftovers(users) == []


def test_a_reader_never_sees_half_a_file(accounts, users):
    problems: list[str] = []
    stop = threading.Event()

    def read_all_the_time():
        while not stop.is_set():
            try:
                json.loads(users.read_text())
            except (ValueError, FileNotFoundError) as exc:
                problems.append(repr(exc))

    reader = threading.Thread(target=read_all_the_time)
    reader.start()
    try:
        for i in range(40):
            accounts.create_token("ada", label="x" * (i * 500))  # the file grows with every write
    finally:
        stop.set()
        reader.join()
    assert problems == []


# --- reading what is there ------------------------------------------------------------------------


def test_changes_by_another_writer_are_seen_on_the_next_read(accounts, users):
    other = Accounts(users)
    assert accounts.check_password("ada", PASSWORD)  # remembered by this reader
    other.add_user("ada", "a brand new password", replace=True)
    assert not accounts.check_password("ada", PASSWORD)  # the remembered check is not trusted
    assert accounts.check_password("ada", "a brand new password")
    other.add_user("bob", PASSWORD)
    assert [u["name"] for u in accounts.users()] == ["ada", "bob"]


@pytest.mark.parametrize("content, message", [
    ("{ not json", "can't be read"),
    ("[]", "not a notes-bot users file"),
    ('{"users": {}}', "not a notes-bot users file"),   # no signing key
    ('{"secret": "ab", "users": []}', "not a notes-bot users file"),
])
def test_a_damaged_file_is_named_and_never_overwritten(users, content, message):
    users.parent.mkdir(parents=True)
    users.write_text(content)
    with pytest.raises(AccountsError, match=message):
        Accounts(users).users()
    with pytest.raises(AccountsError, match=message):
        Accounts(users).add_user("ada", PASSWORD)  # an edit must not replace what it can't read
    assert users.read_text() == content


def test_check_password_refuses_unknown_users_and_non_text(accounts):
    assert not accounts.check_password("bob", PASSWORD)
    assert not accounts.check_password("ada", None)  # a JSON body can carry anything
    assert not accounts.check_password("ada", PASSWORD.upper())


# --- tokens ---------------------------------------------------------------------------------------


def test_tokens_are_shown_once_stored_hashed_and_listed_without_the_secret(accounts, users):
    first = accounts.create_token("ada", label="notebook")
    second = accounts.create_token("ada", label="ci")
    assert first.secret.startswith(TOKEN_PREFIX) and first.secret != second.secret and first.id != second.id
    assert first.secret not in users.read_text() and second.secret not in users.read_text()
    listed = accounts.tokens("ada")
    assert [(t["id"], t["label"]) for t in listed] == [(first.id, "notebook"), (second.id, "ci")]
    assert all(set(t) == {"id", "user", "label", "created_at"} for t in listed)
    assert accounts.tokens("nobody") == [] and accounts.users()[0]["tokens"] == 2


@pytest.mark.parametrize("secret", ["", "nb_", "nb_not-a-token", "Bearer nb_x", "x" * 100])
def test_an_unknown_token_belongs_to_nobody(accounts, secret):
    accounts.create_token("ada")
    assert accounts.user_for_token(secret) is None


def test_a_token_ends_with_its_revocation_or_its_user(accounts):
    kept, revoked = accounts.create_token("ada"), accounts.create_token("ada")
    assert accounts.revoke_token(revoked.id) == "ada"
    assert accounts.user_for_token(revoked.secret) is None and accounts.user_for_token(kept.secret) == "ada"
    accounts.remove_user("ada")
    assert accounts.user_for_token(kept.secret) is None and accounts.tokens() == []


# --- sessions -------------------------------------------------------------------------------------


def test_a_session_is_signed_with_the_files_key_for_a_user_it_holds(accounts, users):
    cookie = accounts.sign_session("ada", hours=1)
    assert accounts.session_user(cookie) == "ada" and Accounts(users).session_user(cookie) == "ada"
    with pytest.raises(AccountsError, match="no user named 'bob'"):
        accounts.sign_session("bob", hours=1)


def test_a_new_token_or_another_user_keeps_the_session(accounts):
    cookie = accounts.sign_session("ada", hours=1)
    accounts.create_token("ada")
    accounts.add_user("bob", PASSWORD)
    assert accounts.session_user(cookie) == "ada"  # only ada's password or removal ends it


@pytest.mark.parametrize("cookie", ["", "nodot", "a.b", "x." + "y" * 5000])
def test_a_cookie_that_isnt_one_names_nobody(accounts, cookie):
    assert accounts.session_user(cookie) is None


def test_without_a_users_file_no_cookie_names_anyone(users):
    assert Accounts(users).session_user("a.b") is None
