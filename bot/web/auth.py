"""Sign-in for a shared deployment: one gate in front of every route, and the login page.

    policy = SignInPolicy(settings)
    checks = CredentialChecks(accounts, ledger, settings)
    app.add_middleware(AccessGate, policy=policy, accounts=accounts, checks=checks)
    app.include_router(login_router(settings, accounts, checks, limits))     # bot.web.login

Who a request is, in order:

    Authorization: Basic <user:password>    tools and scripts (checked against the users file)
    Authorization: Bearer nb_...            API tokens from `bot tokens create`
    Cookie nb_session=...                   the browser, after the form at /login

When sign-in is required (`SignInPolicy`: BOT_AUTH=required, or `auto` with a users file, a
Chroma server, an address beyond loopback, BOT_ROOT_PATH, or a request that came through a
proxy), a request without a valid identity gets, on a page a browser navigates to, a redirect
to /login (which comes back to the page after); anywhere else a 401 JSON error. `/healthz`,
`/readyz`, `/login`, `/logout` and the pages' CSS stay open. The user is put in the request's
state (`request.state.user`), which the Gradio chat reads through `auth_dependency` and the API
through `current_user`. Without sign-in, everyone is "local".

Every failed credential check (a wrong password by Basic auth or the form, an unknown token)
counts against the client address and the user name in the host's `SignInLedger`; past
BOT_SIGNIN_FAILURES in BOT_SIGNIN_WINDOW_SECONDS the answer is 429 with Retry-After, before any
password is hashed. A credential verified before is recognised without hashing and never
refused, so the people behind one proxy address keep working while someone there guesses.

Signing out (`POST /logout`, in `bot.web.login` with the form) ends that session in every
worker: its id goes into the ledger.

The chat's Gradio sessions are tied to the user that opened them: a session id seen with
one user is refused (403) for any other, so nobody can read or drive someone else's chat by
sending its session id.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass
from urllib.parse import parse_qs, quote

import anyio
from fastapi import Request

from ..auth.accounts import Accounts
from ..auth.ledger import SignInLedger
from ..errors import AccountsError
from ..settings import Settings, is_loopback

log = logging.getLogger(__name__)

COOKIE = "nb_session"
LOCAL_USER = "local"
OPEN_PATHS = ("/healthz", "/readyz", "/login", "/logout")
OPEN_PREFIXES = ("/_static/",)
REALM = 'Basic realm="notes-bot", charset="UTF-8"'
MAX_SESSIONS = 200_000
PROXY_HEADERS = ("x-forwarded-for", "forwarded")


class SignInPolicy:
    """Whether a request must be signed in (BOT_AUTH). With `auto`, some reasons hold from the start
    (`Settings.login_reasons`) and two can appear while the app runs: a users file (the first
    `bot users add`) and a proxy in front (a request carrying X-Forwarded-For or Forwarded). Once a
    proxy has shown itself, sign-in stays on in this process."""

    def __init__(self, settings: Settings) -> None:
        self.mode = settings.auth
        self.users_path = settings.users_path
        self.from_start = settings.login_required
        self.proxied = False
        self._announced: set[str] = set()

    def required(self, headers: dict[str, str]) -> bool:
        if self.mode == "open":
            if not self.proxied and any(h in headers for h in PROXY_HEADERS):
                self.proxied = True
                log.warning("BOT_AUTH=open, and requests come through a proxy (%s): anyone who reaches the proxy "
                            "can use this app", ", ".join(h for h in PROXY_HEADERS if h in headers))
            return False
        if self.from_start:
            return True
        if not self.proxied and any(h in headers for h in PROXY_HEADERS):
            self.proxied = True
            self._announce("proxy", "requests come through a proxy (X-Forwarded-For or Forwarded): sign-in is "
                           "required from now on (BOT_AUTH=open turns it off)")
        if self.proxied:
            return True
        if self.users_path.exists():
            self._announce("users", f"the users file {self.users_path} appeared: sign-in is required from now on")
            return True
        return False

    def _announce(self, key: str, message: str) -> None:
        if key not in self._announced:
            self._announced.add(key)
            log.warning("%s", message)


def open_mode_warning(settings: Settings) -> str | None:
    """The warning logged at start when BOT_AUTH=open on anything but a bare loopback run, else None."""
    if settings.auth != "open":
        return None
    exposed = [r for r in settings.login_reasons if "users file" not in r]
    if not exposed and is_loopback(settings.host):
        return None
    return (f"BOT_AUTH=open: no sign-in, although {'; '.join(exposed)}. Anyone who can reach the app can use it; "
            "set BOT_AUTH=auto (the default) to require sign-in")


@dataclass(frozen=True)
class Refusal:
    """Why a request is refused: its status, the message, extra headers."""

    status: int
    detail: str
    headers: dict[str, str] | None = None


class CredentialChecks:
    """Passwords and tokens checked with the failure limit in front: a credential seen before passes
    at once; otherwise, past the limit, a refusal before any hashing; a failure is counted."""

    def __init__(self, accounts: Accounts, ledger: SignInLedger, settings: Settings) -> None:
        self.accounts = accounts
        self.ledger = ledger
        self.limit_note = (f"at most {settings.signin_failures} failed sign-ins per "
                           f"{settings.signin_window_seconds:g} s per address and per user name "
                           "(BOT_SIGNIN_FAILURES, BOT_SIGNIN_WINDOW_SECONDS)")

    async def password(self, name: str, password: str, address: str) -> bool | Refusal:
        """True when right; False when wrong (counted); a 429 Refusal when past the limit."""
        if self.accounts.known_password(name, password):
            return True
        keys = [f"address:{address}", f"user:{name}"]
        refusal = self._refusal(keys)
        if refusal is not None:
            return refusal

        def check() -> bool:
            ok = self.accounts.check_password(name, password)
            if not ok:
                self.ledger.failed(keys)
            return ok

        ok = await anyio.to_thread.run_sync(check)
        if not ok:
            log.info("failed sign-in for %r from %s", name[:64], address)
        return ok

    async def token(self, secret: str, address: str) -> str | None | Refusal:
        """The token's user; None when unknown or revoked (counted); a 429 Refusal past the limit."""
        user = self.accounts.user_for_token(secret)
        if user is not None:
            return user
        keys = [f"address:{address}"]
        refusal = self._refusal(keys)
        if refusal is not None:
            return refusal
        await anyio.to_thread.run_sync(self.ledger.failed, keys)
        log.info("unknown or revoked API token from %s", address)
        return None

    def _refusal(self, keys: list[str]) -> Refusal | None:
        wait = self.ledger.wait(keys)
        if wait is None:
            return None
        seconds = max(1, int(wait + 0.999))
        return Refusal(429, f"Too many failed sign-ins: wait {seconds} s and try again ({self.limit_note}).",
                       {"Retry-After": str(seconds)})


class AccessGate:
    """ASGI middleware: identifies the user of every request and refuses the unidentified."""

    def __init__(self, app, *, policy: SignInPolicy, accounts: Accounts, checks: CredentialChecks,
                 root_path: str = "") -> None:
        self.app = app
        self.policy = policy
        self.accounts = accounts
        self.checks = checks
        self.root_path = root_path
        self._owners: OrderedDict[str, str] = OrderedDict()  # Gradio session id -> user
        self._owners_lock = threading.Lock()

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        path = _app_path(scope)
        state = scope.setdefault("state", {})
        headers = _headers(scope)
        if not self.policy.required(headers):
            state["user"], state["auth"] = LOCAL_USER, "open"
            await self.app(scope, receive, send)
            return
        if path in OPEN_PATHS or path.startswith(OPEN_PREFIXES):
            state["auth"] = "required"
            await self.app(scope, receive, send)
            return
        try:
            found = await self.identify(headers, _address(scope))
        except AccountsError as exc:
            log.error("%s", exc)
            await _json(send, 503, "Sign-in is unavailable: the users file can't be read (the server's log says "
                        "why).", {"Retry-After": "30"})
            return
        if isinstance(found, Refusal):
            await self.refuse(scope, send, path, headers, found)
            return
        user, method = found
        state["user"], state["auth"] = user, method
        if path.startswith("/gradio_api/") and not await self.session_is_theirs(scope, path, user):
            await _json(send, 403, "This chat session belongs to another user. Reload the page to start your own.")
            return
        await self.app(scope, receive, send)

    async def identify(self, headers: dict[str, str], address: str) -> tuple[str, str] | Refusal:
        """(user, how) or why not."""
        authorization = headers.get("authorization", "")
        if authorization:
            scheme, _, value = authorization.partition(" ")
            scheme = scheme.lower()
            if scheme == "bearer":
                user = await self.checks.token(value.strip(), address)
                if user is None:
                    return Refusal(401, "That API token is unknown or revoked (`bot tokens list`).")
                return user if isinstance(user, Refusal) else (user, "token")
            if scheme == "basic":
                name, password = _basic(value)
                if name is None:
                    return Refusal(401, "The Authorization header is not valid HTTP basic auth (user:password).")
                ok = await self.checks.password(name, password, address)
                if isinstance(ok, Refusal):
                    return ok
                return (name, "basic") if ok else Refusal(401, "Wrong user name or password.")
            return Refusal(401, "Use HTTP basic auth or a bearer token from `bot tokens create`.")
        cookie = _cookie(headers.get("cookie", ""), COOKIE)
        if cookie:
            user = self.accounts.session_user(cookie)
            if user:
                return user, "session"
            return Refusal(401, "Your sign-in has ended or expired; sign in again.")
        return Refusal(401, "Sign in first: this notes-bot requires a login (HTTP basic auth or a bearer token for "
                       "the API).")

    async def refuse(self, scope, send, path: str, headers: dict[str, str], refusal: Refusal) -> None:
        root = scope.get("root_path", "") or self.root_path
        wants_page = (
            refusal.status == 401 and scope["type"] == "http" and scope["method"] in ("GET", "HEAD")
            and "text/html" in headers.get("accept", "") and not path.startswith(("/api/", "/gradio_api/"))
        )
        if wants_page:
            target = path + (("?" + scope["query_string"].decode("latin-1")) if scope.get("query_string") else "")
            location = f"{root}/login?next={quote(root + target, safe='')}"
            await _send(send, 303, b"", [(b"location", location.encode("latin-1"))])
            return
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 4429 if refusal.status == 429 else 4401})
            return
        extra = dict(refusal.headers or {})
        if refusal.status == 401 and (path.startswith("/api/") or path in ("/openapi.json", "/docs")):
            extra["WWW-Authenticate"] = REALM
        await _json(send, refusal.status, refusal.detail, extra)

    async def session_is_theirs(self, scope, path: str, user: str) -> bool:
        """Bind each Gradio session id to the first user who uses it; refuse it to anyone else."""
        ids = set()
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        ids.update(query.get("session_hash", []))
        parts = path.split("/")
        for marker in ("heartbeat", "stream"):
            if marker in parts and parts.index(marker) + 1 < len(parts):
                ids.add(parts[parts.index(marker) + 1])
        body = scope.get("state", {}).get("body")
        if body:
            try:
                value = json.loads(body)
                if isinstance(value, dict) and isinstance(value.get("session_hash"), str):
                    ids.add(value["session_hash"])
            except ValueError:
                pass
        with self._owners_lock:
            for session in ids:
                owner = self._owners.get(session)
                if owner is None:
                    self._owners[session] = user
                    if len(self._owners) > MAX_SESSIONS:
                        self._owners.popitem(last=False)
                elif owner != user:
                    log.warning("user %s was refused the chat session of another user", user)
                    return False
                else:
                    self._owners.move_to_end(session)
        return True


def current_user(request: Request) -> str:
    """The signed-in user of a request (set by the gate; "local" when login is off)."""
    return getattr(request.state, "user", None) or LOCAL_USER


def signed_in_user(request) -> str:
    """Who signed in, for a page's "Sign out" button; "" when sign-in is off (everyone is "local")."""
    state = getattr(request, "state", None)
    user, auth = getattr(state, "user", None), getattr(state, "auth", "open")
    return user if user and auth != "open" else ""


def gradio_user(request: Request) -> str | None:
    """Gradio's `auth_dependency`: the gate has already refused anyone unidentified."""
    return getattr(request.state, "user", None)


def client_address(request) -> str:
    client = getattr(request, "client", None)
    return getattr(client, "host", None) or "unknown"


# --- helpers -----------------------------------------------------------------------------------


def _app_path(scope) -> str:
    path = scope.get("path", "") or "/"
    root = scope.get("root_path", "")
    if root and path.startswith(root):
        path = path[len(root):] or "/"
    return path


def _address(scope) -> str:
    client = scope.get("client")
    return client[0] if client else "unknown"


def _headers(scope) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}


def _basic(value: str) -> tuple[str | None, str]:
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return None, ""
    name, sep, password = decoded.partition(":")
    return (name, password) if sep else (None, "")


def _cookie(header: str, name: str) -> str | None:
    for part in header.split(";"):
        key, _, value = part.strip().partition("=")
        if key == name and value:
            return value.strip('"')
    return None


async def _send(send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": headers + [(b"content-length", str(len(body)).encode()), (b"cache-control", b"no-store")]})
    await send({"type": "http.response.body", "body": body})


async def _json(send, status: int, message: str, headers: dict[str, str] | None = None) -> None:
    body = json.dumps({"detail": message}).encode()
    extra = [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    await _send(send, status, body, [(b"content-type", b"application/json")] + extra)
