"""The sign-in page and signing out.

    app.include_router(login_router(settings, accounts, checks, limits))

    GET  /login     the form, with a CSRF token: a random value in an HttpOnly, SameSite=Strict
                    cookie and the same value in a hidden field; a POST must bring both, equal
                    (403 otherwise), so another site can't sign a browser in to its own account
    POST /login     the check (through `CredentialChecks`: failures counted, 429 past the limit),
                    then the session cookie and a redirect back to the page that asked
    POST /logout    ends the session on the server (its id goes into the sign-in ledger, so every
                    worker refuses the cookie from then on) and forgets the cookie; a GET is 405
                    (a link or an image can't sign anyone out), and it is registered here so the
                    chat mounted at "/" doesn't answer it
"""

from __future__ import annotations

import hmac
import logging
import secrets
from urllib.parse import urlsplit

import anyio
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from ..auth.accounts import Accounts
from ..settings import Settings
from .auth import COOKIE, CredentialChecks, Refusal, client_address
from .limits import Limits, too_many_message

log = logging.getLogger(__name__)

CSRF_COOKIE = "nb_csrf"
CSRF_FIELD = "csrf"


def login_router(settings: Settings, accounts: Accounts, checks: CredentialChecks, limits: Limits) -> APIRouter:
    """`/login` (the form, with its CSRF token) and `/logout` (POST only: it ends the session)."""
    from .render import templates

    router = APIRouter(include_in_schema=False)
    root = settings.root_path

    def page(request: Request, next_url: str, message: str = "", status: int = 200, user: str = "",
             headers: dict[str, str] | None = None) -> HTMLResponse:
        token = _csrf_cookie(request) or secrets.token_urlsafe(32)
        html = templates().get_template("login.html").render(
            root=root, next_url=next_url, message=message, username=user, user="", version=None, query="",
            csrf_field=CSRF_FIELD, csrf=token)
        response = HTMLResponse(html, status_code=status, headers={"Cache-Control": "no-store", **(headers or {})})
        response.set_cookie(CSRF_COOKIE, token, path=root or "/", httponly=True, samesite="strict",
                            secure=request.url.scheme == "https")
        return response

    @router.get("/login", response_class=HTMLResponse)
    def login_form(request: Request, next: str = "") -> HTMLResponse:  # noqa: A002
        return page(request, _safe_next(next, root))

    @router.post("/login")
    async def login(request: Request) -> Response:
        form = await request.form()
        name = str(form.get("username", "")).strip()
        password = str(form.get("password", ""))
        next_url = _safe_next(str(form.get("next", "")), root)
        address = client_address(request)
        expected, sent = _csrf_cookie(request), str(form.get(CSRF_FIELD, ""))
        if not expected or not sent or not hmac.compare_digest(expected.encode(), sent.encode()):
            log.info("sign-in form without a matching CSRF token from %s", address)
            return page(request, next_url, "The sign-in form had expired or came from another page: sign in again "
                        "here.", status=403, user=name)
        wait = limits.check_address(address)
        if wait is not None:
            return page(request, next_url, too_many_message(wait), status=429, user=name,
                        headers={"Retry-After": str(int(wait))})
        if not accounts.has_users():
            return page(request, next_url, "No users yet: an administrator adds them with `bot users add NAME`.",
                        status=503, user=name)
        ok = bool(name) and await checks.password(name, password, address)
        if isinstance(ok, Refusal):
            return page(request, next_url, ok.detail, status=429, user=name, headers=ok.headers)
        if not ok:
            return page(request, next_url, "Wrong user name or password.", status=401, user=name)
        response = RedirectResponse(next_url, status_code=303)
        response.set_cookie(
            COOKIE, accounts.sign_session(name, settings.session_hours), max_age=int(settings.session_hours * 3600),
            path=root or "/", httponly=True, samesite="lax", secure=request.url.scheme == "https",
        )
        log.info("%s signed in from %s", name, address)
        return response

    @router.post("/logout")
    async def logout(request: Request) -> Response:
        cookie = request.cookies.get(COOKIE)
        if cookie:
            user = await anyio.to_thread.run_sync(accounts.end_session, cookie)
            if user:
                log.info("%s signed out from %s", user, client_address(request))
        response = RedirectResponse(f"{root}/login", status_code=303)
        response.delete_cookie(COOKIE, path=root or "/")
        return response

    # registered, so the chat mounted at "/" doesn't answer a GET here with its page
    @router.api_route("/logout", methods=["GET", "HEAD", "PUT", "PATCH", "DELETE"])
    def logout_by_get() -> Response:
        return JSONResponse({"detail": "Sign out with a POST to /logout (the Sign out button does)."},
                            status_code=405, headers={"Allow": "POST"})

    return router


def _safe_next(target: str, root: str) -> str:
    """Only a path on this site (never another host) may be the page to return to."""
    home = f"{root}/"
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return home
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or (root and not target.startswith(root + "/") and target != root):
        return home
    return target


def _csrf_cookie(request: Request) -> str | None:
    value = request.cookies.get(CSRF_COOKIE, "")
    return value if 20 <= len(value) <= 100 else None
