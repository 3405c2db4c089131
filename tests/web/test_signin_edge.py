"""The sign-in edge of the real app under uvicorn: failed credential checks limited before any
hashing (and cheap to refuse), an unknown user as slow as a known one, sessions that end on the
server, the sign-in form's CSRF token, trusted hosts, the security headers, when sign-in turns on,
and a readiness check that tells nothing but its state.

CPU is measured with time.process_time around refused requests sent straight to the app in this
process (no HTTP client in the figure); timing is compared as medians of interleaved attempts in
one run, with a generous bound, never against a fixed number of milliseconds."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import re
import statistics
import threading
import time
from contextlib import contextmanager

import httpx
import pytest

from bot.auth.accounts import Accounts
from bot.web.auth import COOKIE
from bot.web.login import CSRF_COOKIE
from bot.web.headers import content_security_policy, inline_script_hashes
from deploy.clients import csrf_token

from ..conftest import free_port
from .web_helpers import web_collection, web_runtime, web_settings  # noqa: F401

pytestmark = pytest.mark.integration

ADA, ADA_PASSWORD = "ada", "ada's long password"


@contextmanager
def serving(app):
    """The app under uvicorn on a free loopback port; yields its base URL."""
    import uvicorn

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                           timeout_graceful_shutdown=1))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        server.should_exit = True
        thread.join(15)


def _app(web_settings, web_runtime, tmp_path, users: dict[str, str] | None = None, **settings):  # noqa: F811
    """A real app over the session's index with its own users file and data dir (its own ledger)."""
    from bot.web.app import create_app

    users_file = tmp_path / "users.json"
    if users:
        accounts = Accounts(users_file)
        for name, password in users.items():
            accounts.add_user(name, password)
    update = {"users_file": users_file, "data_dir": tmp_path, "rate_limit_address": 0, "rate_limit_user": 0}
    return create_app(web_settings.model_copy(update={**update, **settings}), runtime=web_runtime)


def _basic(name: str, password: str) -> dict[str, str]:
    return {"authorization": "Basic " + base64.b64encode(f"{name}:{password}".encode()).decode()}


# --- failed credential checks ---------------------------------------------------------------------


def test_brute_force_is_refused_before_20_attempts_without_hashing(web_settings, web_runtime, tmp_path):  # noqa: F811
    app = _app(web_settings, web_runtime, tmp_path, {ADA: ADA_PASSWORD, "bob": "bob's long password"})
    assert app.state.settings.signin_failures == 10  # the default limit
    with serving(app) as url, httpx.Client(base_url=url, timeout=30) as http:
        assert http.get("api/me", headers=_basic(ADA, ADA_PASSWORD)).status_code == 200  # ada works, and is known
        statuses = []
        for attempt in range(20):
            response = http.get("api/me", headers=_basic(ADA, f"guess number {attempt}"))
            statuses.append(response.status_code)
            if response.status_code == 429:
                refused = response
                break
        print(f"\nattempts before 429: {statuses}")
        assert statuses[-1] == 429 and len(statuses) < 20 and set(statuses[:-1]) == {401}
        assert statuses.count(401) == 10
        assert int(refused.headers["retry-after"]) >= 1 and "BOT_SIGNIN_FAILURES" in refused.json()["detail"]
        # the same limit holds on the form (same address, same name), and for any name from this address
        form = {"username": ADA, "password": "one more guess", "next": "", "csrf": csrf_token(http.get("login").text)}
        assert http.post("login", data=form).status_code == 429
        assert http.get("api/me", headers=_basic("bob", "bob's long password")).status_code == 429
        bad_token = http.get("api/me", headers={"authorization": "Bearer nb_not-a-token"})
        assert bad_token.status_code == 429
        # a credential verified before still works: the people behind one address keep working
        assert http.get("api/me", headers=_basic(ADA, ADA_PASSWORD)).json() == {"user": ADA, "auth": "basic"}

    # CPU per refused attempt, sent straight to the same app in this process
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
             "path": "/api/me", "raw_path": b"/api/me", "root_path": "", "query_string": b"",
             "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 80),
             "headers": [(b"host", b"127.0.0.1"), *[(k.encode(), v.encode()) for k, v in
                                                    _basic(ADA, "still guessing").items()]]}

    async def refused_requests(count: int) -> list[int]:
        statuses = []

        async def receive():
            return {"type": "http.request", "body": b"", "more_body": False}

        for _ in range(count):
            async def send(message):
                if message["type"] == "http.response.start":
                    statuses.append(message["status"])

            await app({**scope, "headers": list(scope["headers"])}, receive, send)
        return statuses

    asyncio.run(refused_requests(20))  # warm
    count = 300
    started = time.process_time()
    statuses = asyncio.run(refused_requests(count))
    cpu_ms = (time.process_time() - started) * 1000 / count
    check_started = time.process_time()
    assert not app.state.accounts.check_password(ADA, "one real check")
    check_ms = (time.process_time() - check_started) * 1000
    print(f"CPU per refused attempt: {cpu_ms:.3f} ms (one password check: {check_ms:.1f} ms)")
    assert statuses == [429] * count
    assert cpu_ms < 1.0


def test_an_unknown_user_takes_as_long_as_a_known_one(web_settings, web_runtime, tmp_path):  # noqa: F811
    app = _app(web_settings, web_runtime, tmp_path, {ADA: ADA_PASSWORD}, signin_failures=0)
    known, unknown = [], []
    with serving(app) as url, httpx.Client(base_url=url, timeout=30) as http:
        for attempt in range(24):  # interleaved, so load on the machine falls on both alike
            for name, times in ((ADA, known), ("nobody-here", unknown)):
                started = time.perf_counter()
                response = http.get("api/me", headers=_basic(name, f"wrong password {attempt}"))
                times.append(time.perf_counter() - started)
                assert response.status_code == 401 and response.json()["detail"] == "Wrong user name or password."
    known_ms, unknown_ms = statistics.median(known[4:]) * 1000, statistics.median(unknown[4:]) * 1000
    print(f"\nmedian wrong password: known user {known_ms:.1f} ms, unknown user {unknown_ms:.1f} ms")
    assert 0.6 < unknown_ms / known_ms < 1.67
    assert min(unknown) > 0.5 * statistics.median(known)  # an unknown user never skips the hash


# --- sessions, the form, the headers ------------------------------------------------------------


def test_the_sign_in_form_needs_its_csrf_token(web_settings, web_runtime, tmp_path):  # noqa: F811
    app = _app(web_settings, web_runtime, tmp_path, {ADA: ADA_PASSWORD})
    with serving(app) as url, httpx.Client(base_url=url, timeout=30) as http:
        form = http.get("login")
        token = csrf_token(form.text)
        assert len(token) >= 32 and http.cookies.get(CSRF_COOKIE) == token
        assert "samesite=strict" in form.headers["set-cookie"].lower()
        fields = {"username": ADA, "password": ADA_PASSWORD, "next": ""}
        for data, cookies, why in [
            (fields, None, "no token in the form"),
            ({**fields, "csrf": "x" * 43}, None, "another token"),
            ({**fields, "csrf": token}, {}, "no cookie (a form posted from another site)"),
        ]:
            with httpx.Client(base_url=url, timeout=30, cookies=http.cookies if cookies is None else cookies) as c:
                refused = c.post("login", data=data)
            assert refused.status_code == 403, why
            assert "expired or came from another page" in refused.text and COOKIE not in refused.cookies
        signed_in = http.post("login", data={**fields, "csrf": token})
        assert signed_in.status_code == 303 and http.cookies.get(COOKIE)


def test_signing_out_ends_that_session_on_the_server_even_in_the_same_second(web_settings, web_runtime,  # noqa: F811
                                                                            tmp_path):
    """Two app instances stand for two workers: they share only the users file and the data dir."""
    worker_a = _app(web_settings, web_runtime, tmp_path, {ADA: ADA_PASSWORD})
    worker_b = _app(web_settings, web_runtime, tmp_path)
    with serving(worker_a) as url_a, serving(worker_b) as url_b:
        def sign_in() -> str:
            with httpx.Client(base_url=url_a, timeout=30) as http:
                token = csrf_token(http.get("login").text)
                http.post("login", data={"username": ADA, "password": ADA_PASSWORD, "next": "", "csrf": token})
                return http.cookies[COOKIE]

        first, second = sign_in(), sign_in()
        assert httpx.get(url_b + "logout", cookies={COOKIE: first}).status_code == 405  # never by a GET
        out = httpx.post(url_b + "logout", cookies={COOKIE: first})  # worker B signs it out
        assert out.status_code == 303 and out.headers["location"] == "/login"
        assert f'{COOKIE}=""' in out.headers["set-cookie"]
        for url in (url_a, url_b):
            revoked = httpx.get(url + "api/me", cookies={COOKIE: first})
            assert revoked.status_code == 401 and "ended or expired" in revoked.json()["detail"]
            assert httpx.get(url + "api/me", cookies={COOKIE: second}).json()["user"] == ADA  # the other goes on
        head = httpx.head(url_a + "logout")
        assert head.status_code == 405 and head.headers["allow"] == "POST"


def test_only_the_allowed_host_names_are_answered(web_settings, web_runtime, tmp_path):  # noqa: F811
    default = _app(web_settings, web_runtime, tmp_path, allowed_hosts="")
    assert default.state.settings.trusted_hosts == ["127.0.0.1", "localhost"]
    with serving(default) as url:
        port = url.rsplit(":", 1)[1].strip("/")
        for host in (f"127.0.0.1:{port}", f"localhost:{port}", "LOCALHOST"):
            assert httpx.get(url + "healthz", headers={"host": host}).status_code == 200, host
        for host in ("evil.example", f"evil.example:{port}", "127.0.0.1.evil.example", "10.0.0.5"):
            refused = httpx.get(url + "healthz", headers={"host": host})
            assert refused.status_code == 400 and "BOT_ALLOWED_HOSTS" in refused.json()["detail"], host
    named = _app(web_settings, web_runtime, tmp_path, allowed_hosts="notes.example.org")
    with serving(named) as url:
        assert httpx.get(url + "healthz", headers={"host": "notes.example.org"}).status_code == 200
        assert httpx.get(url + "healthz").status_code == 400  # 127.0.0.1 is not in the list any more


def test_every_response_carries_the_security_headers(web_settings, web_runtime, tmp_path):  # noqa: F811
    app = _app(web_settings, web_runtime, tmp_path, {ADA: ADA_PASSWORD})
    with serving(app) as url, httpx.Client(base_url=url, timeout=30, headers=_basic(ADA, ADA_PASSWORD)) as http:
        responses = {path: http.get(path) for path in ("", "notes", "login", "docs", "api/notes?limit=1",
                                                       "no/such/page", "readyz")}
        responses["401"] = httpx.get(url + "api/me")
        for path, response in responses.items():
            policy = response.headers["content-security-policy"]
            assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy, path
            assert "object-src 'none'" in policy, path
            assert ("'unsafe-eval'" in policy) == (path == ""), path  # the chat's HTML component evals
            assert response.headers["x-frame-options"] == "DENY", path
            assert response.headers["referrer-policy"] == "same-origin", path
        # the chat page's own inline scripts run, by hash; no other page may run an inline script
        page = responses[""]
        hashes = inline_script_hashes(page.content)
        assert len(hashes) >= 3 and all(f"'sha256-{h}'" in page.headers["content-security-policy"] for h in hashes)
        scripts = re.findall(r"script-src ([^;]*)", page.headers["content-security-policy"])[0]
        assert "'unsafe-inline'" not in scripts
        for path in ("notes", "login"):
            assert re.findall(r"script-src ([^;]*)", responses[path].headers["content-security-policy"]) == ["'self'"]
        assert len(inline_script_hashes(responses["docs"].content)) == 1
        assert inline_script_hashes(responses["docs"].content)[0] in responses["docs"].headers["content-security-policy"]


def test_an_inline_scripts_hash_is_the_one_a_browser_computes():
    page = b'<script>alert(1)</script><script src="x.js"></script><script type="application/json">{}</script>' \
           b'<SCRIPT type="module">\r\nrun()\r\n</SCRIPT>'
    # the first and the last (CRLF read as LF), as `printf '\nrun()\n' | openssl dgst -sha256 -binary | base64`
    assert inline_script_hashes(page) == ["bhHHL3z2vDgxUt0W3dWQOrprscmda2Y5pLsLg4GF+pI=",
                                          "X8AAKgaI44zC2JgsZRJ4adpbl777tdE6qoD0mpUQwV4="]
    assert content_security_policy(["abc"]).startswith("default-src 'self'; script-src 'self' 'sha256-abc';")


# --- when sign-in is required -------------------------------------------------------------------


def test_sign_in_turns_on_behind_a_proxy_and_with_the_first_user_without_a_restart(web_settings, web_runtime,  # noqa: F811
                                                                                   tmp_path):
    proxied = _app(web_settings, web_runtime, tmp_path / "a")
    with serving(proxied) as url:
        assert httpx.get(url + "api/me").json() == {"user": "local", "auth": "open"}  # a bare local run
        assert httpx.get(url + "api/me", headers={"x-forwarded-for": "10.0.0.7"}).status_code == 401
        assert httpx.get(url + "api/me").status_code == 401  # a proxy has shown itself: it stays on
    forwarded = _app(web_settings, web_runtime, tmp_path / "b")
    with serving(forwarded) as url:
        assert httpx.get(url + "api/me", headers={"forwarded": "for=10.0.0.7"}).status_code == 401
    local = _app(web_settings, web_runtime, tmp_path / "c")
    with serving(local) as url:
        assert httpx.get(url + "api/me").status_code == 200
        Accounts(tmp_path / "c" / "users.json").add_user(ADA, ADA_PASSWORD)  # `bot users add ada`
        assert httpx.get(url + "api/me").status_code == 401
        assert httpx.get(url + "api/me", headers=_basic(ADA, ADA_PASSWORD)).json() == {"user": ADA, "auth": "basic"}
    opened = _app(web_settings, web_runtime, tmp_path / "d", auth="open")
    with serving(opened) as url:
        assert httpx.get(url + "api/me", headers={"x-forwarded-for": "10.0.0.7"}).status_code == 200  # by name


def test_open_by_name_is_a_warning_unless_a_bare_local_run(web_settings, web_runtime, tmp_path, caplog):  # noqa: F811
    from bot.settings import Settings
    from bot.web.auth import open_mode_warning

    assert open_mode_warning(Settings(data_dir=tmp_path, auth="open")) is None
    assert "BOT_ROOT_PATH=/bot" in open_mode_warning(Settings(data_dir=tmp_path, auth="open", root_path="/bot"))
    assert "0.0.0.0" in open_mode_warning(Settings(data_dir=tmp_path, auth="open", host="0.0.0.0"))
    assert Settings(data_dir=tmp_path, root_path="/bot").login_required  # auto: a proxy prefix means login
    assert not Settings(data_dir=tmp_path, root_path="/bot", auth="open").login_required
    with caplog.at_level(logging.WARNING, logger="bot.web.app"):
        _app(web_settings, web_runtime, tmp_path, auth="open", chroma_host="127.0.0.1")
    assert any("BOT_AUTH=open" in r.getMessage() and "Chroma server" in r.getMessage() for r in caplog.records)


# --- readiness tells its state and nothing else ---------------------------------------------------


def test_readyz_is_the_state_and_version_alone(web_settings, web_runtime, tmp_path):  # noqa: F811
    app = _app(web_settings, web_runtime, tmp_path, {ADA: ADA_PASSWORD})
    with serving(app) as url:
        ready = httpx.get(url + "readyz")
        assert ready.status_code == 200
        assert ready.json() == {"state": "ready", "version": web_runtime.library.version}
        assert httpx.get(url + "api/status").status_code == 401  # the details are for signed-in users
        status = httpx.get(url + "api/status", headers=_basic(ADA, ADA_PASSWORD)).json()
        assert status["state"] == "ready" and status["notes"] == 27 and "collection" in status


def test_an_unreachable_index_server_is_said_in_words_and_readyz_says_only_unavailable(tmp_path):
    from bot.settings import Settings
    from bot.web.app import create_app
    from bot.web.runtime import AppRuntime

    dead = free_port()  # nothing listens here
    Accounts(tmp_path / "users.json").add_user(ADA, ADA_PASSWORD)
    settings = Settings(data_dir=tmp_path, chroma_host="127.0.0.1", chroma_port=dead, rescan_seconds=0,
                        users_file=tmp_path / "users.json")
    runtime = AppRuntime(settings, progress=False)
    with serving(create_app(settings, runtime=runtime)) as url:
        deadline = time.monotonic() + 120
        while runtime.readiness()[0] != "unavailable" and time.monotonic() < deadline:
            time.sleep(0.1)
        ready = httpx.get(url + "readyz")
        assert ready.status_code == 503 and ready.json() == {"state": "unavailable", "version": None}
        asked = httpx.post(url + "api/ask", json={"question": "What raises the tides?"},
                           headers=_basic(ADA, ADA_PASSWORD))
        detail = asked.json()["detail"]
        assert asked.status_code == 503 and asked.headers["retry-after"]
        assert "index server is unreachable; retrying" in detail.lower()
        for leak in (str(dead), "127.0.0.1", "http", "Error", "/", str(tmp_path)):
            assert leak not in detail, leak
        status = httpx.get(url + "api/status", headers=_basic(ADA, ADA_PASSWORD)).json()
        assert status["state"] == "unavailable" and str(dead) in status["error"]  # signed in: the details
    runtime.close()


def test_readyz_says_building_while_the_first_index_is_built(tmp_path, seeds_copy):
    """Starting, then building (no version yet), then ready with the version: seen by polling the
    runtime's own readiness, which is what /readyz returns."""
    from bot.settings import Settings
    from bot.web.runtime import AppRuntime

    runtime = AppRuntime(Settings(notes_dir=str(seeds_copy), data_dir=tmp_path / "data", rescan_seconds=0),
                         progress=False)
    seen = []
    runtime.start()
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            state = runtime.readiness()
            if not seen or seen[-1] != state:
                seen.append(state)
            if state[0] == "ready":
                break
            time.sleep(0.005)
    finally:
        runtime.close()
    assert seen[0] == ("starting", None) and ("building", None) in seen, seen
    assert seen[-1][0] == "ready" and seen[-1][1] >= 1, seen
    assert {s for s, _ in seen} <= {"starting", "building", "ready"}, seen


def test_feedback_is_listed_a_page_at_a_time(web_settings, web_runtime, tmp_path):  # noqa: F811
    app = _app(web_settings, web_runtime, tmp_path, {ADA: ADA_PASSWORD})
    from bot.models import Answer

    answer = Answer(question="q", answer="a", citations=[], abstained=True)
    feedback = app.state.feedback
    ids = [feedback.record(rating="up", question=f"q{i}", answer=answer, user=ADA) for i in range(7)]
    feedback.record(rating="up", question="theirs", answer=answer, user="bob")
    with serving(app) as url, httpx.Client(base_url=url, headers=_basic(ADA, ADA_PASSWORD)) as http:
        pages, link = [], "api/feedback?limit=3"
        while link:
            response = http.get(link)
            pages.append([r["id"] for r in response.json()])
            found = re.match(r"<([^>]+)>; rel=\"next\"", response.headers.get("link", ""))
            link = found.group(1).lstrip("/") if found else None
        assert pages == [ids[0:3], ids[3:6], ids[6:7]]
        assert http.get("api/feedback", params={"limit": 5000}).status_code == 422  # a page has a bound
    assert json.dumps(pages)  # plain ids


def test_listing_and_searching_the_notes_count_against_the_rate_limits(web_settings, web_runtime,  # noqa: F811
                                                                      tmp_path):
    app = _app(web_settings, web_runtime, tmp_path, {ADA: ADA_PASSWORD}, rate_limit_user=6)
    with serving(app) as url, httpx.Client(base_url=url, headers=_basic(ADA, ADA_PASSWORD), timeout=30) as http:
        api = [http.get("api/notes", params={"q": "empathy"}).status_code for _ in range(6)]
        page = http.get("notes", params={"q": "warmth"})
    assert api[:5] == [200] * 5 and api[5] == 429  # a burst of 5 (the bucket), then refused
    assert page.status_code == 429 and int(page.headers["retry-after"]) >= 1 and "Too many requests" in page.text
