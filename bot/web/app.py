"""The app factory: one FastAPI app with the note pages and the Gradio chat mounted at "/".

    from bot.web.app import create_app
    app = create_app(Settings())          # serve with uvicorn; the lifespan opens the index

    uvicorn --factory bot.web.app:create_app     # settings from BOT_* variables

Routes: `/notes`, `/notes/{id}` (HTML, `bot.web.pages`), `/_static/*` (their
CSS), `/healthz` (200 while the process is up) and `/readyz` (200 with the
index's version and counts once questions can be answered, else 503 with the
reason), and the chat at `/` (Gradio, with its own `/gradio_api/*`). More
routers (an HTTP API, say) are added with `app.include_router(...)` before the
Gradio mount, which must stay last because it takes every path left over.
"""

from __future__ import annotations

import logging
import os
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles

from ..settings import Settings
from .feedback import FeedbackLog
from .pages import notes_router
from .runtime import AppRuntime

log = logging.getLogger(__name__)

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

CHAT_CONCURRENCY = 8  # chats answered at once; each answer is a few tens of ms of CPU


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

    app = FastAPI(title="notes-bot", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.settings = settings
    app.state.runtime = runtime
    app.include_router(health_router(runtime))
    app.include_router(notes_router(runtime, settings))
    app.mount("/_static", StaticFiles(packages=[("bot", "static")]), name="static")
    mount_chat(app, runtime, settings)
    return app


def health_router(runtime: AppRuntime):
    from fastapi import APIRouter

    router = APIRouter()

    @router.get("/healthz")
    def healthz() -> dict:
        return {"status": "ok"}

    @router.get("/readyz")
    def readyz() -> JSONResponse:
        status = runtime.status()
        ready = status["state"] == "ready"
        return JSONResponse(status, status_code=200 if ready else 503,
                            headers=None if ready else {"Retry-After": "5"})

    return router


def mount_chat(app: FastAPI, runtime: AppRuntime, settings: Settings) -> None:
    """Build the Gradio chat and mount it at "/" (last: it catches every other path)."""
    import gradio as gr

    from .chat import build_chat, chat_css, theme

    blocks = build_chat(runtime, settings, FeedbackLog(settings.data_dir))
    blocks.queue(default_concurrency_limit=CHAT_CONCURRENCY)
    gr.mount_gradio_app(
        app,
        blocks,
        path="/",
        root_path=settings.root_path or None,
        theme=theme(),
        css=chat_css(),
        ssr_mode=False,
        footer_links=["api", "settings"],
        run_history=False,
        show_error=False,
        mcp_server=False,
    )
