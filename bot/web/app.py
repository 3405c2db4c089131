"""The app factory: one FastAPI app with the note pages and the Gradio chat mounted at "/".

    from bot.web.app import create_app
    app = create_app(Settings())          # serve with uvicorn; the lifespan opens the index

    uvicorn --factory bot.web.app:create_app     # settings from BOT_* variables

Routes: `/notes`, `/notes/{id}` (HTML, `bot.web.pages`), `/_static/*` (their
CSS), `/healthz` (200 while the process is up) and `/readyz` (200
`{"state": "ready", "version": N}` while an index version is served, else 503 with
the state alone: no reasons, errors or paths for anyone to read; signed-in users get
those from `/api/status`), the JSON API under `/api` with its docs at `/docs`
(`bot.web.api`), `/login` and `/logout` (`bot.web.login`), and the chat at `/`
(Gradio, with its own `/gradio_api/*`). The Gradio mount must stay last: it takes
every path left over.

In front of all of it, outermost first: `EdgeHeaders` (400 for a Host not in
BOT_ALLOWED_HOSTS; CSP and the other security headers), `BodyLimit` (413 over
BOT_MAX_REQUEST_BYTES), `AccessGate` (who the user is; sign-in when `SignInPolicy`
says), `JsonGuard` (malformed JSON to /api is a 422 with a reason; `bot.web.bodies`).
"""

from __future__ import annotations

import logging
import os
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles

from ..auth.accounts import Accounts
from ..auth.ledger import SignInLedger
from ..settings import Settings
from .api import install_api
from .auth import AccessGate, CredentialChecks, SignInPolicy, gradio_user, open_mode_warning
from .feedback import FeedbackLog
from .headers import EVAL, NO_EVAL, EdgeHeaders
from .limits import BodyLimit, Limits
from .login import login_router
from .index_view import index_page_router
from .pages import notes_router
from .runtime import AppRuntime

log = logging.getLogger(__name__)

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

CHAT_CONCURRENCY = 8  # chats answered at once; each answer is a few tens of ms of CPU
# the pages whose own inline scripts may run: the chat (whose HTML component also needs eval; see
# bot.web.headers) and Swagger UI
SCRIPTED_PAGES = {"/": EVAL, "/docs": NO_EVAL}


def create_app(settings: Settings | None = None, *, runtime: AppRuntime | None = None) -> FastAPI:
    """The whole app. The index opens in the background when the app starts (its lifespan), so the
    server listens at once. Pass a `runtime` (started early, to overlap opening the index with
    building the app) and you close it; without one, the app makes its own and closes it on shutdown."""
    settings = settings or Settings()
    owns_runtime = runtime is None  # whoever creates the runtime closes it
    runtime = runtime or AppRuntime(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        runtime.start()
        try:
            yield
        finally:
            if owns_runtime:
                await run_in_threadpool(runtime.close)

    app = FastAPI(
        title="notes-bot", version=_version(), lifespan=lifespan, docs_url=None, redoc_url=None,
        openapi_url="/openapi.json",
        description="Ask questions of the research notes and read them. Answers quote the notes verbatim, "
        "with numbered citations. Sign in with HTTP basic auth or a bearer token (`bot tokens create`).",
    )
    ledger = SignInLedger(settings.data_dir / "sign-in.sqlite", failures_allowed=settings.signin_failures,
                          window_seconds=settings.signin_window_seconds)
    accounts = Accounts(settings.users_path, ledger=ledger)
    policy = SignInPolicy(settings)
    checks = CredentialChecks(accounts, ledger, settings)
    limits = Limits.from_settings(settings)
    feedback = FeedbackLog(settings.data_dir)
    app.state.settings = settings
    app.state.runtime = runtime
    app.state.accounts = accounts
    app.state.policy = policy
    app.state.feedback = feedback
    warning = open_mode_warning(settings)
    if warning:
        log.warning("%s", warning)
    if settings.login_required and not accounts.has_users():
        log.warning("login is required but %s has no users: add one with `bot users add NAME`", settings.users_path)
    app.include_router(health_router(runtime))
    app.include_router(login_router(settings, accounts, checks, limits))
    install_api(app, runtime, settings, limits, feedback)
    app.include_router(notes_router(runtime, settings, limits), include_in_schema=False)
    app.include_router(index_page_router(runtime, settings), include_in_schema=False)
    app.mount("/_static", StaticFiles(packages=[("bot", "static")]), name="static")
    mount_chat(app, runtime, settings, feedback, limits, policy)
    app.add_middleware(AccessGate, policy=policy, accounts=accounts, checks=checks, root_path=settings.root_path)
    app.add_middleware(BodyLimit, max_bytes=settings.max_request_bytes)
    app.add_middleware(EdgeHeaders, allowed_hosts=settings.trusted_hosts, scripted_pages=SCRIPTED_PAGES,
                       root_path=settings.root_path)
    return app


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("notes-bot")
    except PackageNotFoundError:
        return "0"


def health_router(runtime: AppRuntime):
    from fastapi import APIRouter

    router = APIRouter()

    @router.get("/healthz", tags=["health"], summary="200 while the process is up")
    def healthz() -> dict:
        return {"status": "ok"}

    @router.get("/readyz", tags=["health"], summary="200 while an index version is served, else 503",
                responses={503: {"description": "Not ready: `state` is starting, building or unavailable."}})
    def readyz() -> JSONResponse:
        state, version = runtime.readiness()
        ready = state == "ready"
        return JSONResponse({"state": state, "version": version}, status_code=200 if ready else 503,
                            headers=None if ready else {"Retry-After": "5"})

    return router


def mount_chat(app: FastAPI, runtime: AppRuntime, settings: Settings, feedback: FeedbackLog,
               limits: Limits | None = None, policy: SignInPolicy | None = None) -> None:
    """Build the Gradio chat and mount it at "/" (last: it catches every other path)."""
    import gradio as gr

    from .chat import build_chat, chat_css, theme

    blocks = build_chat(runtime, settings, feedback, limits, policy)
    blocks.queue(default_concurrency_limit=CHAT_CONCURRENCY)
    gr.mount_gradio_app(
        app,
        blocks,
        path="/",
        root_path=settings.root_path or None,
        theme=theme(),
        css=chat_css(),
        ssr_mode=False,
        # Gradio's "Use via API" opened its own client page (nine chat endpoints), not the REST API
        # the README documents: the chat's header links to /docs instead
        footer_links=["settings"],
        run_history=False,
        show_error=False,
        mcp_server=False,
        # the gate has identified the user ("local" while sign-in is off, which it may turn on while
        # the app runs); Gradio's request.username is who signed in
        auth_dependency=gradio_user,
    )
