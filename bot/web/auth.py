"""Sign-in for a shared deployment: one gate in front of every route, and the login page.

    app.add_middleware(AccessGate, settings=settings, accounts=accounts)
    app.include_router(login_router(settings, accounts, limits))

Who a request is, in order:

    Authorization: Basic <user:password>    tools and scripts (checked against the users file)
    Authorization: Bearer nb_...            API tokens from `bot tokens create`
    Cookie nb_session=...                   the browser, after the form at /login

When login is required (`Settings.login_required`: a Chroma server, a users file, or an
address beyond loopback), a request without a valid identity gets, on a page a browser
navigates to, a redirect to /login (which comes back to the page after); anywhere else a
401 JSON error. `/healthz`, `/readyz`, `/login`, `/logout` and the pages' CSS stay open.
The user is put in the request's state (`request.state.user`), which the Gradio chat reads
through `auth_dependency` and the API through `current_user`. Without login, everyone is
"local".

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
from urllib.parse import parse_qs, quote, urlsplit

import anyio
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from ..settings import Settings
from ..auth.accounts import Accounts
from ..errors import AccountsError
from .limits import Limits, too_many_message

log = logging.getLogger(__name__)

COOKIE = "nb_session"
LOCAL_USER = "local"
OPEN_PATHS = ("/healthz", "/readyz", "/login", "/logout")
OPEN_PREFIXES = ("/_static/",)
REALM = 'Basic realm="notes-bot", charset="UTF-8"'
MAX_SESSIONS = 200_000


class AccessGate:
    """ASGI middleware: identifies the user of every request and refuses the unidentified."""

    def __init__(self, app, *, settings: Settings, accounts: Accounts) -> None:
        self.app = app
        self.settings = settings
        self.accounts = accounts
        self.required = settings.login_required
        self._owners: OrderedDict[str, str] = OrderedDict()  # Gradio session id -> user
        self._owners_lock = threading.Lock()

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        path = _app_path(scope)
        state = scope.setdefault("state", {})
        if not self.required:
            state["user"], state["auth"] = LOCAL_USER, "open"
            await self.app(scope, receive, send)
            return
        if path in OPEN_PATHS or path.startswith(OPEN_PREFIXES):
            await self.app(scope, receive, send)
            return
        headers = _headers(scope)
        try:
            user, method, problem = await self.identify(headers)
        except AccountsError as exc:
            log.error("%s", exc)
            await _json(send, 503, f"Sign-in is unavailable: {exc}", {"Retry-After": "30"})
            return
        if user is None:
            await self.refuse(scope, send, path, headers, problem)
            return
        state["user"], state["auth"] = user, method
        if path.startswith("/gradio_api/") and not await self.session_is_theirs(scope, path, user):
            await _json(send, 403, "This chat session belongs to another user. Reload the page to start your own.")
            return
        await self.app(scope, receive, send)

    async def identify(self, headers: dict[str, str]) -> tuple[str | None, str, str]:
        """(user or None, how, why not)."""
        authorization = headers.get("authorization", "")
        if authorization:
            scheme, _, value = authorization.partition(" ")
            scheme = scheme.lower()
            if scheme == "bearer":
                user = self.accounts.user_for_token(value.strip())
                return user, "token", "" if user else "That API token is unknown or revoked (`bot tokens list`)."
            if scheme == "basic":
                name, password = _basic(value)
                if name is None:
                    return None, "basic", "The Authorization header is not valid HTTP basic auth (user:password)."
                ok = await anyio.to_thread.run_sync(self.accounts.check_password, name, password)
                return (name, "basic", "") if ok else (None, "basic", "Wrong user name or password.")
            return None, scheme, "Use HTTP basic auth or a bearer token from `bot tokens create`."
        cookie = _cookie(headers.get("cookie", ""), COOKIE)
        if cookie:
            user = self.accounts.session_user(cookie)
            if user:
                return user, "session", ""
            return None, "session", "Your sign-in has expired; sign in again."
        return None, "", "Sign in first: this notes-bot requires a login (HTTP basic auth or a bearer token for the API)."

    async def refuse(self, scope, send, path: str, headers: dict[str, str], problem: str) -> None:
        root = scope.get("root_path", "") or self.settings.root_path
        wants_page = (
            scope["type"] == "http" and scope["method"] in ("GET", "HEAD")
            and "text/html" in headers.get("accept", "") and not path.startswith(("/api/", "/gradio_api/"))
        )
        if wants_page:
            target = path + (("?" + scope["query_string"].decode("latin-1")) if scope.get("query_string") else "")
            location = f"{root}/login?next={quote(root + target, safe='')}"
            await _send(send, 303, b"", [(b"location", location.encode("latin-1"))])
            return
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 4401})
            return
        extra = {"WWW-Authenticate": REALM} if path.startswith("/api/") or path in ("/openapi.json", "/docs") else {}
        await _json(send, 401, problem, extra)

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


def gradio_user(request: Request) -> str | None:
    """Gradio's `auth_dependency`: the gate has already refused anyone unidentified."""
    return getattr(request.state, "user", None)


def client_address(request) -> str:
    client = getattr(request, "client", None)
    return getattr(client, "host", None) or "unknown"


# --- the login page ----------------------------------------------------------------------------


def login_router(settings: Settings, accounts: Accounts, limits: Limits) -> APIRouter:
    """`/login` (form) and `/logout`."""
    from .render import templates

    router = APIRouter(include_in_schema=False)
    root = settings.root_path

    def page(next_url: str, message: str = "", status: int = 200, user: str = "") -> HTMLResponse:
        html = templates().get_template("login.html").render(
            root=root, next_url=next_url, message=message, username=user, user="", version=None, query="")
        return HTMLResponse(html, status_code=status, headers={"Cache-Control": "no-store"})

    @router.get("/login", response_class=HTMLResponse)
    def login_form(request: Request, next: str = "") -> HTMLResponse:  # noqa: A002
        return page(_safe_next(next, root))

    @router.post("/login")
    async def login(request: Request) -> Response:
        form = await request.form()
        name = str(form.get("username", "")).strip()
        password = str(form.get("password", ""))
        next_url = _safe_next(str(form.get("next", "")), root)
        wait = limits.check_address(client_address(request))
        if wait is not None:
            return page(next_url, too_many_message(wait), status=429, user=name)
        if not accounts.has_users():
            return page(next_url, "No users yet: an administrator adds them with `bot users add NAME`.",
                        status=503, user=name)
        ok = bool(name) and await anyio.to_thread.run_sync(accounts.check_password, name, password)
        if not ok:
            log.info("failed sign-in for %r from %s", name[:64], client_address(request))
            return page(next_url, "Wrong user name or password.", status=401, user=name)
        response = RedirectResponse(next_url, status_code=303)
        response.set_cookie(
            COOKIE, accounts.sign_session(name, settings.session_hours), max_age=int(settings.session_hours * 3600),
            path=root or "/", httponly=True, samesite="lax", secure=request.url.scheme == "https",
        )
        log.info("%s signed in from %s", name, client_address(request))
        return response

    @router.api_route("/logout", methods=["GET", "POST"])
    def logout() -> Response:
        response = RedirectResponse(f"{root}/login", status_code=303)
        response.delete_cookie(COOKIE, path=root or "/")
        return response

    return router


# --- helpers -----------------------------------------------------------------------------------


def _app_path(scope) -> str:
    path = scope.get("path", "") or "/"
    root = scope.get("root_path", "")
    if root and path.startswith(root):
        path = path[len(root):] or "/"
    return path


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


def _safe_next(target: str, root: str) -> str:
    """Only a path on this site (never another host) may be the page to return to."""
    home = f"{root}/"
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return home
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or (root and not target.startswith(root + "/") and target != root):
        return home
    return target


async def _send(send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": headers + [(b"content-length", str(len(body)).encode()), (b"cache-control", b"no-store")]})
    await send({"type": "http.response.body", "body": body})


async def _json(send, status: int, message: str, headers: dict[str, str] | None = None) -> None:
    body = json.dumps({"detail": message}).encode()
    extra = [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    await _send(send, status, body, [(b"content-type", b"application/json")] + extra)
