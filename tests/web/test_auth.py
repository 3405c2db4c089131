"""Sign-in: the users file (hashes, tokens, sessions), `bot users`/`bot tokens`, and the gate in front
of the real app: nothing but health opens without credentials, the session cookie opens the note
pages, and one user can never use another's chat session or read their feedback."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid

import pytest
from fastapi.testclient import TestClient

from bot.auth.accounts import Accounts
from bot.errors import AccountsError
from bot.auth.passwords import hash_password, verify_password
from bot.web.auth import COOKIE

from ..conftest import ROOT, clean_env
from .web_helpers import THINK_NOTE, web_collection, web_runtime, web_settings  # noqa: F401

QUESTION = "Do LLM therapists respond to emotions like low-quality human therapists?"


# --- the users file ------------------------------------------------------------------------------


def test_passwords_are_stored_as_scrypt_hashes_and_checked(tmp_path):
    accounts = Accounts(tmp_path / "users.json")
    accounts.add_user("ada", "correct horse battery")
    stored = json.loads((tmp_path / "users.json").read_text())
    assert "correct horse battery" not in (tmp_path / "users.json").read_text()
    assert stored["users"]["ada"]["password"].startswith("scrypt$16384$8$1$")
    assert oct((tmp_path / "users.json").stat().st_mode & 0o777) == "0o600"
    assert accounts.check_password("ada", "correct horse battery")
    assert not accounts.check_password("ada", "correct horse batterY")
    assert not accounts.check_password("bob", "correct horse battery")
    assert verify_password("x" * 8, hash_password("x" * 8)) and not verify_password("y" * 8, hash_password("x" * 8))
    assert not verify_password("anything", "not-a-hash")


def test_bad_names_short_passwords_and_duplicates_are_refused_with_the_fix(tmp_path):
    accounts = Accounts(tmp_path / "users.json")
    with pytest.raises(AccountsError, match="at least 8"):
        accounts.add_user("ada", "short")
    with pytest.raises(AccountsError, match="can't be a user name"):
        accounts.add_user("../etc", "long enough password")
    accounts.add_user("ada", "first password")
    with pytest.raises(AccountsError, match="--replace"):
        accounts.add_user("ada", "second password")
    with pytest.raises(AccountsError, match="bot users list"):
        accounts.remove_user("nobody")


def test_tokens_are_stored_hashed_and_can_be_revoked(tmp_path):
    accounts = Accounts(tmp_path / "users.json")
    accounts.add_user("ada", "correct horse battery")
    token = accounts.create_token("ada", label="notebook")
    assert token.secret.startswith("nb_") and token.secret not in (tmp_path / "users.json").read_text()
    assert accounts.user_for_token(token.secret) == "ada"
    assert accounts.tokens() == [{"id": token.id, "user": "ada", "label": "notebook",
                                  "created_at": accounts.tokens()[0]["created_at"]}]
    assert accounts.revoke_token(token.id) == "ada"
    assert accounts.user_for_token(token.secret) is None
    with pytest.raises(AccountsError, match="bot users add"):
        accounts.create_token("nobody")


def test_a_session_ends_with_its_time_a_new_password_or_the_user(tmp_path):
    accounts = Accounts(tmp_path / "users.json")
    accounts.add_user("ada", "correct horse battery")
    accounts.add_user("bob", "another good password")
    cookie = accounts.sign_session("ada", hours=1)
    assert accounts.session_user(cookie) == "ada"
    body, signature = cookie.rsplit(".", 1)
    forged = body.replace(body[5], "A" if body[5] != "A" else "B") + "." + signature
    assert accounts.session_user(forged) is None  # tampered
    assert accounts.session_user(accounts.sign_session("ada", hours=-1)) is None  # expired
    bobs = accounts.sign_session("bob", hours=1)
    accounts.add_user("ada", "a brand new password", replace=True)
    assert accounts.session_user(cookie) is None  # password changed: signed out
    accounts.remove_user("bob")
    assert accounts.session_user(bobs) is None  # removed: signed out
    other = Accounts(tmp_path / "other.json")
    other.add_user("ada", "correct horse battery")
    assert other.session_user(accounts.sign_session("ada", hours=1)) is None  # another file's key


def test_a_second_process_sees_changes_to_the_file(tmp_path):
    reader, writer = Accounts(tmp_path / "users.json"), Accounts(tmp_path / "users.json")
    assert not reader.has_users()
    writer.add_user("ada", "correct horse battery")
    assert reader.check_password("ada", "correct horse battery")
    writer.remove_user("ada")
    assert not reader.check_password("ada", "correct horse battery")


def _bot(*args, env, stdin=None):
    return subprocess.run([sys.executable, "-m", "bot", *args], input=stdin, env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


def test_the_users_and_tokens_commands(tmp_path):
    env = clean_env()
    env["BOT_DATA_DIR"] = str(tmp_path)
    added = _bot("users", "add", "ada", "--password-stdin", env=env, stdin="correct horse battery\n")
    assert added.returncode == 0 and f"added ada in {tmp_path / 'users.json'}" in added.stdout
    again = _bot("users", "add", "ada", "--password-stdin", env=env, stdin="correct horse battery\n")
    assert again.returncode == 2 and "--replace" in again.stderr and "Traceback" not in again.stderr
    listed = json.loads(_bot("users", "list", "--json", env=env).stdout)
    assert [u["name"] for u in listed] == ["ada"]
    created = _bot("tokens", "create", "ada", "--label", "ci", env=env)
    secret = created.stdout.strip()
    assert created.returncode == 0 and secret.startswith("nb_") and "bot tokens revoke" in created.stderr
    tokens = json.loads(_bot("tokens", "list", "--json", env=env).stdout)
    assert [(t["user"], t["label"]) for t in tokens] == [("ada", "ci")] and secret not in json.dumps(tokens)
    assert Accounts(tmp_path / "users.json").user_for_token(secret) == "ada"
    revoked = _bot("tokens", "revoke", tokens[0]["id"], env=env)
    assert revoked.returncode == 0 and Accounts(tmp_path / "users.json").user_for_token(secret) is None
    removed = _bot("users", "remove", "ada", env=env)
    assert removed.returncode == 0 and json.loads(_bot("users", "list", "--json", env=env).stdout) == []


def test_the_rule_for_when_login_is_required(tmp_path):
    from bot.settings import Settings

    open_local = Settings(data_dir=tmp_path)
    assert not open_local.login_required
    assert Settings(data_dir=tmp_path, chroma_host="127.0.0.1").login_required
    assert Settings(data_dir=tmp_path, host="0.0.0.0").login_required
    assert Settings(data_dir=tmp_path, auth="required").login_required
    Accounts(open_local.users_path).add_user("ada", "correct horse battery")
    assert Settings(data_dir=tmp_path).login_required  # a users file turns it on


def test_serve_refuses_to_start_when_login_is_required_but_nobody_can_sign_in(tmp_path):
    from ..conftest import free_port

    env = clean_env()
    env.update({"BOT_DATA_DIR": str(tmp_path), "BOT_AUTH": "required", "BOT_PORT": str(free_port())})
    done = subprocess.run([sys.executable, "-m", "bot", "serve"], env=env, cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 1 and "bot users add NAME" in done.stderr and "Traceback" not in done.stderr


# --- the gate, in front of the real app ----------------------------------------------------------


@pytest.fixture(scope="module")
def guarded(web_runtime, web_settings, tmp_path_factory):  # noqa: F811
    """The real app over the web collection with a users file: login required."""
    from bot.web.app import create_app

    users = tmp_path_factory.mktemp("users") / "users.json"
    accounts = Accounts(users)
    accounts.add_user("ada", "ada's password")
    accounts.add_user("bob", "bob's password")
    settings = web_settings.model_copy(update={"users_file": users, "rate_limit_user": 0, "rate_limit_address": 0,
                                               "signin_failures": 0, "data_dir": users.parent})
    assert settings.login_required
    with TestClient(create_app(settings, runtime=web_runtime)) as client:
        client.accounts = accounts
        yield client


def login_form(client: TestClient, **fields) -> dict[str, str]:
    """The sign-in form's fields as a browser sends them: what the page holds (its CSRF token; the
    client keeps the matching cookie) plus `fields`."""
    from deploy.clients import csrf_token

    return {"next": "", "csrf": csrf_token(client.get("/login").text), **fields}


def _signed_in(client: TestClient, user: str, password: str) -> dict[str, str]:
    client.cookies.clear()
    response = client.post("/login", data=login_form(client, username=user, password=password, next="/notes"),
                           follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/notes"
    cookie = response.cookies.get(COOKIE) or client.cookies.get(COOKIE)
    client.cookies.clear()
    return {COOKIE: cookie}


PROTECTED = [
    ("GET", "/"), ("GET", "/notes"), (("GET", f"/notes/{THINK_NOTE}")), ("GET", "/notes/no-such-note"),
    ("GET", "/_static/../notes"), ("GET", "/docs"), ("GET", "/openapi.json"), ("GET", "/_docs_static/swagger-ui.css"),
    ("POST", "/api/ask"), ("GET", "/api/search?q=empathy"), ("GET", "/api/notes"), ("GET", f"/api/notes/{THINK_NOTE}"),
    ("GET", "/api/feedback"), ("POST", "/api/feedback"), ("GET", "/api/me"), ("GET", "/config"),
    ("GET", "/gradio_api/info"), ("POST", "/gradio_api/queue/join"), ("GET", "/gradio_api/queue/data?session_hash=x"),
    ("GET", "/theme.css"), ("GET", "/gradio_api/heartbeat/abc"), ("GET", "/anything/else"),
]


@pytest.mark.integration
@pytest.mark.parametrize("method,path", PROTECTED)
def test_without_credentials_every_route_but_health_is_refused(guarded, method, path):
    guarded.cookies.clear()
    response = guarded.request(method, path, json={} if method == "POST" else None, follow_redirects=False)
    assert response.status_code == 401, (path, response.status_code, response.text[:200])
    assert response.json()["detail"].startswith("Sign in first")
    bad = guarded.request(method, path, json={} if method == "POST" else None, follow_redirects=False,
                          auth=("ada", "wrong password"))
    assert bad.status_code == 401 and bad.json()["detail"] == "Wrong user name or password."


@pytest.mark.integration
def test_health_and_sign_in_stay_open(guarded):
    guarded.cookies.clear()
    assert guarded.get("/healthz").status_code == 200
    assert guarded.get("/readyz").status_code == 200
    assert guarded.get("/login").status_code == 200 and 'name="password"' in guarded.get("/login").text
    assert guarded.get("/_static/notes.css").status_code == 200


@pytest.mark.integration
def test_a_browser_is_sent_to_sign_in_and_back(guarded):
    guarded.cookies.clear()
    page = guarded.get(f"/notes/{THINK_NOTE}?hl=1-5", headers={"accept": "text/html"}, follow_redirects=False)
    assert page.status_code == 303
    assert page.headers["location"] == f"/login?next=%2Fnotes%2F{THINK_NOTE}%3Fhl%3D1-5"
    wrong = guarded.post("/login", data=login_form(guarded, username="ada", password="nope", next="/"),
                         follow_redirects=False)
    assert wrong.status_code == 401 and "Wrong user name or password." in wrong.text and COOKIE not in wrong.cookies
    offsite = guarded.post("/login", data=login_form(guarded, username="ada", password="ada's password",
                                                     next="https://evil.example/"), follow_redirects=False)
    assert offsite.status_code == 303 and offsite.headers["location"] == "/"  # never another host
    cookie = offsite.cookies.get(COOKIE)
    assert "httponly" in offsite.headers["set-cookie"].lower() and "samesite=lax" in offsite.headers["set-cookie"].lower()
    guarded.cookies.clear()
    note = guarded.get(f"/notes/{THINK_NOTE}", cookies={COOKIE: cookie})
    assert note.status_code == 200 and "Sign out (ada)" in note.text  # the chat's cookie opens the note pages


@pytest.mark.integration
def test_each_way_of_signing_in_reaches_the_api(guarded):
    token = guarded.accounts.create_token("bob", "test")
    cookies = _signed_in(guarded, "ada", "ada's password")
    assert guarded.get("/api/me", cookies=cookies).json() == {"user": "ada", "auth": "session"}
    assert guarded.get("/api/me", auth=("ada", "ada's password")).json() == {"user": "ada", "auth": "basic"}
    assert guarded.get("/api/me", headers={"authorization": f"Bearer {token.secret}"}).json() == \
        {"user": "bob", "auth": "token"}
    guarded.accounts.revoke_token(token.id)
    revoked = guarded.get("/api/me", headers={"authorization": f"Bearer {token.secret}"})
    assert revoked.status_code == 401 and "revoked" in revoked.json()["detail"]
    assert guarded.get("/logout", cookies=cookies, follow_redirects=False).status_code == 405  # never by a link
    logout = guarded.post("/logout", cookies=cookies, follow_redirects=False)
    assert logout.status_code == 303 and f'{COOKIE}=""' in logout.headers["set-cookie"]
    assert guarded.get("/api/me", cookies=cookies).status_code == 401  # that session is over


@pytest.mark.integration
def test_one_user_can_never_use_or_read_another_users_chat_session(guarded):
    config = guarded.get("/config", auth=("ada", "ada's password")).json()
    ask = next(d for d in config["dependencies"] if d.get("api_name") == "ask")
    session = uuid.uuid4().hex[:11]
    body = {"data": [QUESTION, None, [], []], "event_data": None, "fn_index": ask["id"],
            "trigger_id": ask["targets"][0][0], "session_hash": session}
    ada = _signed_in(guarded, "ada", "ada's password")
    bob = _signed_in(guarded, "bob", "bob's password")
    assert guarded.post("/gradio_api/queue/join", json=body, cookies=ada).status_code == 200
    with guarded.stream("GET", "/gradio_api/queue/data", params={"session_hash": session}, cookies=ada) as stream:
        for line in stream.iter_lines():
            if '"process_completed"' in line:
                transcript = json.loads(line[5:])["output"]["data"][0]
                break
    assert QUESTION in json.dumps(transcript)
    # bob, signed in, sends ada's session id: refused, whichever route he tries
    for response in (
        guarded.get("/gradio_api/queue/data", params={"session_hash": session}, cookies=bob),
        guarded.post("/gradio_api/queue/join", json={**body, "data": ["what did she ask?", None, [], []]}, cookies=bob),
        guarded.get(f"/gradio_api/heartbeat/{session}", cookies=bob),
        guarded.post("/gradio_api/cancel", json={"session_hash": session, "fn_index": ask["id"], "event_id": "x"},
                     cookies=bob),
    ):
        assert response.status_code == 403 and "another user" in response.json()["detail"]
    # bob's own session works
    mine = {**body, "session_hash": uuid.uuid4().hex[:11]}
    assert guarded.post("/gradio_api/queue/join", json=mine, cookies=bob).status_code == 200


@pytest.mark.integration
def test_feedback_carries_the_user_and_nobody_reads_anyone_elses(guarded):
    answer = guarded.post("/api/ask", json={"question": QUESTION}, auth=("ada", "ada's password")).json()
    recorded = guarded.post("/api/feedback", json={"rating": "up", "answer": answer}, auth=("ada", "ada's password"))
    assert recorded.status_code == 200
    mine = guarded.get("/api/feedback", auth=("ada", "ada's password")).json()
    assert [(r["user"], r["rating"], r["question"]) for r in mine][-1] == ("ada", "up", QUESTION)
    theirs = guarded.get("/api/feedback", auth=("bob", "bob's password")).json()
    assert all(r["user"] == "bob" for r in theirs) and recorded.json()["id"] not in {r["id"] for r in theirs}


@pytest.mark.integration
def test_rate_limits_answer_429_with_retry_after(web_runtime, web_settings, tmp_path):  # noqa: F811
    from bot.web.app import create_app

    users = tmp_path / "users.json"
    Accounts(users).add_user("ada", "ada's password")
    settings = web_settings.model_copy(update={"users_file": users, "rate_limit_user": 6, "rate_limit_address": 0})
    with TestClient(create_app(settings, runtime=web_runtime)) as client:
        statuses = [client.get("/api/search", params={"q": "empathy"}, auth=("ada", "ada's password"))
                    for _ in range(8)]
    codes = [r.status_code for r in statuses]
    assert codes[:5] == [200] * 5 and 429 in codes  # a burst of 5 (the bucket), then refused
    refused = statuses[codes.index(429)]
    assert int(refused.headers["retry-after"]) >= 1 and "BOT_RATE_LIMIT_USER" in refused.json()["detail"]


@pytest.mark.integration
def test_the_chat_refuses_too_many_questions_with_a_notice_that_the_load_client_counts_as_429(
        web_runtime, web_settings):  # noqa: F811
    """Over the per-user limit the chat keeps its transcript and says why in the notice; the load
    client (deploy/clients.py) reads that as a refusal, never as a reply meant for someone else."""
    import asyncio
    import threading
    import time

    import httpx
    import uvicorn

    from bot.web.app import create_app
    from deploy.clients import GradioChat

    from ..conftest import free_port

    settings = web_settings.model_copy(update={"rate_limit_user": 6, "rate_limit_address": 0})
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(settings, runtime=web_runtime), host="127.0.0.1", port=port,
                                           log_level="warning", timeout_graceful_shutdown=1))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()

    async def ask_eight_times():
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}/", timeout=60) as http:
            chat = await GradioChat.connect(http)
            return [await chat.ask(QUESTION) for _ in range(8)], chat.turns

    try:
        deadline = time.monotonic() + 60
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        replies, turns = asyncio.run(ask_eight_times())
    finally:
        server.should_exit = True
        thread.join(15)
    statuses = [r.status for r in replies]
    assert statuses[:5] == [200] * 5 and 429 in statuses, statuses  # a burst of 5 (the bucket), then refused
    assert not any(r.wrong_user for r in replies)
    assert all(r.ok for r in replies if r.status == 200) and turns == statuses.count(200)
    refused = replies[statuses.index(429)]
    assert refused.detail.startswith("Too many requests") and "BOT_RATE_LIMIT_USER" in refused.detail


@pytest.mark.integration
def test_sign_in_attempts_are_rate_limited_per_address(web_runtime, web_settings, tmp_path):  # noqa: F811
    from bot.web.app import create_app

    users = tmp_path / "users.json"
    Accounts(users).add_user("ada", "ada's password")
    settings = web_settings.model_copy(update={"users_file": users, "rate_limit_address": 6, "data_dir": tmp_path})
    with TestClient(create_app(settings, runtime=web_runtime)) as client:
        form = login_form(client, username="ada")
        codes = [client.post("/login", data={**form, "password": f"guess {i}"}).status_code for i in range(8)]
    assert codes[:5] == [401] * 5 and codes[-1] == 429
