"""The HTTP API: ask, search and read notes as JSON (OpenAPI at /openapi.json, Swagger UI at /docs).

    POST /api/ask              {"question", "history"?, "filters"?}  -> Answer (the same as bot.ask)
    GET  /api/search?q=&k=     ranked notes, each with its best passages
    GET  /api/notes            a page of notes (?offset=&limit=&kind=&tag=&q=)
    GET  /api/notes/{id}       a note with its links, backlinks and related notes
    GET  /api/feedback         your own votes on answers, a page at a time (?after=&limit=; the
                               Link header has the next page);  POST /api/feedback records one
    GET  /api/status           the index: state, version, counts, the reason it isn't ready
    GET  /api/index            the index report: counts, the build's progress, the last ingest, every file
    GET  /api/me               who you are signed in as

    curl -u ada:PASSWORD -H 'Content-Type: application/json' \\
         -d '{"question": "Does warmth training make models less reliable?"}' http://127.0.0.1:7860/api/ask

Every error is JSON `{"detail": "what went wrong and what to do"}`: 422 for input that
can't be used (empty or over-long question, unknown filter, malformed JSON), 404 for an
unknown note, 401 without credentials, 413 for a body over BOT_MAX_REQUEST_BYTES, 429
with Retry-After when rate-limited, 503 with Retry-After while the notes store is down
or the index is still opening (said in words, never with exception text, URLs or paths;
signed-in users read the details from /api/status, and the log has them). Answers come from the answer layer and notes from
`bot.library`, through the app's runtime.
"""

from __future__ import annotations

import json
import logging
from typing import Literal

from fastapi import APIRouter, Depends, FastAPI, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..errors import FilterError, NotReady, QuestionError, StoreError, StoreUnavailable
from ..models import KINDS, Answer, PartialIndex
from ..query.library import NotePage, NoteSummary
from ..query.search import SearchHit
from ..service import with_public_passage_urls, with_public_urls
from ..settings import Settings
from .auth import client_address, current_user
from .bodies import JsonGuard, validation_message
from .feedback import RATINGS, FeedbackLog
from .index_view import index_overview
from .limits import Limits, too_many_message
from .render import as_sentence
from .runtime import AppRuntime

log = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 5
MAX_HISTORY_MESSAGES = 100
MAX_MESSAGE_CHARS = 20_000
MAX_QUERY_CHARS = 500
MAX_NOTE_ID_CHARS = 1000
FEEDBACK_PAGE = 100
MAX_FEEDBACK_PAGE = 1000


class ApiError(Exception):
    """An error the API answers with its status and message."""

    def __init__(self, status: int, detail: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status, self.detail, self.headers = status, detail, headers


# --- request and response models ------------------------------------------------------------


class Message(BaseModel):
    """One earlier message of the conversation."""

    model_config = ConfigDict(extra="forbid")
    role: Literal["user", "assistant"]
    content: str = Field(max_length=MAX_MESSAGE_CHARS)


class Filters(BaseModel):
    """Answer only from these notes (each list optional; all must hold)."""

    model_config = ConfigDict(extra="forbid")
    kinds: list[Literal["note", "inquiry", "source"]] = Field(default_factory=list, max_length=len(KINDS))
    tags: list[str] = Field(default_factory=list, max_length=50)
    note_ids: list[str] = Field(default_factory=list, max_length=200)


class AskRequest(BaseModel):
    """A question, optionally with the conversation so far and filters."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"question": "Does warmth training make language models less reliable?"}]},
    )
    question: str = Field(description="The question (at most BOT_MAX_QUESTION_CHARS characters, 2,000 by default).")
    history: list[Message] = Field(default_factory=list, max_length=MAX_HISTORY_MESSAGES,
                                   description="Earlier turns, oldest first, for follow-up questions.")
    filters: Filters | None = None


class SearchResults(BaseModel):
    query: str
    version: int
    results: list[SearchHit]


class NoteList(BaseModel):
    total: int
    offset: int
    limit: int
    version: int
    notes: list[NoteSummary]


class Vote(BaseModel):
    """A vote on an answer the API (or the chat) gave."""

    model_config = ConfigDict(extra="forbid")
    rating: Literal["up", "down", "none"]
    answer: Answer


class Recorded(BaseModel):
    id: int


class FeedbackRecord(BaseModel):
    id: int
    created_at: str
    user: str
    rating: str
    question: str
    answer: str
    abstained: bool
    citations: list[dict]
    index_version: int | None = None


class IndexStatus(BaseModel):
    """What the app's index is doing (for signed-in users: the reason and errors included)."""

    model_config = ConfigDict(extra="allow")
    state: Literal["ready", "starting", "building", "unavailable"]
    version: int | None = None
    error: str | None = Field(None, description="Why it is not ready, or why the store is unavailable.")
    polls: int = Field(0, description="With a Chroma server: how many times this worker has checked it.")
    rescans: int = Field(0, description="With an embedded store: rescans of the notes folders since the start.")


class Building(BaseModel):
    done: int
    total: int
    eta_seconds: float | None = Field(None, description="Time left at the rate so far (None until known).")


class LastIngest(BaseModel):
    started: str
    finished: str
    added: int
    updated: int
    removed: int
    skipped: int
    failed: int
    error: str | None = None


class FileEntry(BaseModel):
    path: str
    status: Literal["indexed", "skipped", "failed"]
    reason: str | None = Field(None, description="Why it was skipped or failed (a sentence).")
    notes: int
    chunks: int
    indexed_at: str | None = None
    hash: str | None = None


class IndexReport(BaseModel):
    """The served index and what became of every file; failed and skipped files first."""

    version: int | None
    notes: int
    chunks: int
    building: Building | None
    partial: PartialIndex | None = Field(None, description="While a first build's partial version is served.")
    last_ingest: LastIngest | None
    files: list[FileEntry]


class Me(BaseModel):
    user: str
    auth: str


class ErrorBody(BaseModel):
    detail: str


ERRORS = {
    401: {"model": ErrorBody, "description": "Not signed in (HTTP basic auth, a bearer token, or the session cookie)."},
    422: {"model": ErrorBody, "description": "The input can't be used; the message says why."},
    429: {"model": ErrorBody, "description": "Rate-limited; Retry-After says when to try again."},
    503: {"model": ErrorBody, "description": "The notes store is down or the index is opening; Retry-After says when to retry."},
}


# --- the routes -------------------------------------------------------------------------------


def api_router(runtime: AppRuntime, settings: Settings, limits: Limits, feedback: FeedbackLog) -> APIRouter:
    router = APIRouter(prefix="/api", tags=["api"], responses=ERRORS)

    def limited(request: Request) -> str:
        """Dependency: the caller, once the rate limits let them through."""
        user = current_user(request)
        wait = limits.check(user=user, address=client_address(request))
        if wait is not None:
            raise ApiError(429, too_many_message(wait), {"Retry-After": str(int(wait))})
        return user

    def library():
        if runtime.library is None or not runtime.ready:
            raise ApiError(503, _not_ready(runtime), {"Retry-After": str(RETRY_AFTER_SECONDS)})
        return runtime.library

    @router.post("/ask", response_model=Answer, summary="Answer a question from the notes")
    def ask(body: AskRequest, user: str = Depends(limited)) -> Answer:
        """The answer quotes the notes verbatim; each citation's `url` opens the note at the quote.
        With weak evidence it abstains (`abstained: true`) and lists the nearest notes."""
        filters = body.filters.model_dump() if body.filters else None
        history = [m.model_dump() for m in body.history]
        answer = _read(runtime, lambda: runtime.ask(body.question, history, filters))
        return with_public_urls(answer, settings.public_url)

    @router.get("/search", response_model=SearchResults, summary="Notes matching a query, with their best passages")
    def search(
        q: str = Query(..., min_length=1, max_length=MAX_QUERY_CHARS, description="What to look for."),
        k: int = Query(10, ge=1, le=50, description="How many notes."),
        kind: Literal["note", "inquiry", "source"] | None = Query(None, description="Only notes of this kind."),
        tag: str | None = Query(None, max_length=200, description="Only notes with this tag."),
        user: str = Depends(limited),
    ) -> SearchResults:
        filters = {"kinds": [kind] if kind else [], "tags": [tag] if tag else []}
        results = with_public_passage_urls(_read(runtime, lambda: runtime.search(q, k, filters)), settings.public_url)
        return SearchResults(query=q.strip(), version=library().version, results=results)

    @router.get("/notes", response_model=NoteList, summary="A page of notes")
    def notes(
        offset: int = Query(0, ge=0, le=10_000_000),
        limit: int = Query(50, ge=1, le=200),
        kind: Literal["note", "inquiry", "source"] | None = None,
        tag: str | None = Query(None, max_length=200),
        q: str | None = Query(None, max_length=MAX_QUERY_CHARS, description="Words in titles and text (best first)."),
        user: str = Depends(limited),
    ) -> NoteList:
        lib = library()
        found = lib.find(kind=kind, tag=tag or None, query=(q or "").strip() or None)
        return NoteList(total=len(found), offset=offset, limit=limit, version=lib.version,
                        notes=found[offset:offset + limit])

    @router.get("/notes/{note_id:path}", response_model=NotePage, summary="A note, its links, backlinks and related notes",
                responses={404: {"model": ErrorBody, "description": "No note has this id."}})
    def note(note_id: str = Path(..., max_length=MAX_NOTE_ID_CHARS)) -> NotePage:
        page = library().page(note_id)
        if page is None:
            raise ApiError(404, f"There is no note with the id {note_id[:200]!r}. GET /api/notes lists the notes "
                                "(or search them with ?q=).")
        return page

    @router.get("/feedback", response_model=list[FeedbackRecord],
                summary="Your votes on answers, oldest first, a page at a time")
    def my_feedback(
        request: Request, response: Response,
        after: int = Query(0, ge=0, le=2**63 - 1,
                           description="Only votes with a larger id (the last id of the previous page)."),
        limit: int = Query(FEEDBACK_PAGE, ge=1, le=MAX_FEEDBACK_PAGE, description="At most this many votes."),
    ) -> list[FeedbackRecord]:
        """A page of your votes; when there may be more, the `Link` header (rel="next") has the next page."""
        rows = feedback.all(user=current_user(request), after=after, limit=limit)
        if len(rows) == limit:
            root = request.scope.get("root_path", "") or settings.root_path
            response.headers["Link"] = f'<{root}/api/feedback?after={rows[-1]["id"]}&limit={limit}>; rel="next"'
        return [FeedbackRecord(**{k: row[k] for k in FeedbackRecord.model_fields}) for row in rows]

    @router.post("/feedback", response_model=Recorded, summary="Vote on an answer")
    def vote(body: Vote, request: Request) -> Recorded:
        if body.rating not in RATINGS:  # the model already says so; kept for the message
            raise ApiError(422, f"rating must be one of {', '.join(RATINGS)}")
        version = runtime.library.version if runtime.library is not None else None
        row = feedback.record(rating=body.rating, question=body.answer.question, answer=body.answer,
                              user=current_user(request), session="api", index_version=version)
        return Recorded(id=row)

    @router.get("/status", response_model=IndexStatus, summary="The index: state, version, counts and any error")
    def status() -> dict:
        """What `/readyz` says, and for signed-in users why: the reason it isn't ready, the store's
        error, the last rescan, the served version's counts."""
        return runtime.status()

    @router.get("/index", response_model=IndexReport, summary="The index report: every file, the build's progress")
    def index_report() -> dict:
        """The served version's counts, the running build's progress, the last ingest and every
        file with its status (failed and skipped first, each with its reason)."""
        return index_overview(runtime)

    @router.get("/me", response_model=Me, summary="Who you are signed in as")
    def me(request: Request) -> Me:
        return Me(user=current_user(request), auth=getattr(request.state, "auth", "open"))

    @router.api_route("/{rest:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"], include_in_schema=False)
    def unknown(rest: str, request: Request) -> None:
        raise ApiError(404, f"There is no {request.method} /api/{rest[:200]} in this API: /docs lists the routes "
                            "and their methods.")

    return router


def _read(runtime: AppRuntime, call):
    """Run an answer-layer call, turning its errors into the API's (a 503 says what happened in words;
    the exception's text, which may name hosts or paths, goes to the log only)."""
    try:
        return call()
    except QuestionError as exc:
        raise ApiError(422, as_sentence(str(exc))) from None
    except FilterError as exc:
        raise ApiError(422, f"That filter can't be used: {exc}.") from None
    except NotReady:
        raise ApiError(503, runtime.public_reason(), {"Retry-After": str(RETRY_AFTER_SECONDS)}) from None
    except StoreUnavailable:
        message = UNREACHABLE if runtime.settings.server_mode else "The notes store is unavailable; try again shortly."
        raise ApiError(503, message, {"Retry-After": str(RETRY_AFTER_SECONDS)}) from None
    except StoreError as exc:
        log.warning("the notes store failed a read: %s", exc)
        raise ApiError(503, "The notes store could not answer just now; try again in a few seconds.",
                       {"Retry-After": str(RETRY_AFTER_SECONDS)}) from None


UNREACHABLE = "The index server is unreachable; retrying. Try again in a few seconds."


def _not_ready(runtime: AppRuntime) -> str:
    return runtime.public_reason()


# --- installing it: docs, errors, JSON checks --------------------------------------------------


def install_api(app: FastAPI, runtime: AppRuntime, settings: Settings, limits: Limits, feedback: FeedbackLog) -> None:
    """Add the API, its docs (Swagger UI served from this app, no CDN) and its error handling."""
    from fastapi.staticfiles import StaticFiles

    app.include_router(api_router(runtime, settings, limits, feedback))
    app.mount("/_docs_static", StaticFiles(packages=[("fastapi_offline", "static")]), name="docs-static")

    @app.get("/docs", include_in_schema=False)
    def docs(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "") or settings.root_path
        return get_swagger_ui_html(
            openapi_url=f"{root}/openapi.json", title="notes-bot API",
            swagger_js_url=f"{root}/_docs_static/swagger-ui-bundle.js",
            swagger_css_url=f"{root}/_docs_static/swagger-ui.css",
            swagger_favicon_url=f"{root}/_docs_static/favicon.png",
        )

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse({"detail": exc.detail}, status_code=exc.status, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": validation_message(exc.errors())}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, str) else json.dumps(exc.detail)
        if exc.status_code == 400 and detail == "There was an error parsing the body":
            detail = "The body is not valid JSON (UTF-8 encoded)."
        return JSONResponse({"detail": detail}, status_code=exc.status_code, headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def failed(request: Request, exc: Exception) -> JSONResponse:  # never a bare 500 page
        log.error("%s %s failed", request.method, request.url.path, exc_info=exc)
        return JSONResponse({"detail": "Something went wrong on the server; it was logged. Try again."},
                            status_code=500)

    app.add_middleware(JsonGuard)
