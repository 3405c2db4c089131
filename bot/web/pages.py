"""The note pages: plain HTML from Jinja2 templates, fast and linkable, no script.

    GET /notes                        all notes; ?kind=&tag=&q= filter and search
    GET /notes/{id}                   one note, every section; ?hl=START-END#hl highlights a quoted passage
    GET /notes/{id}?hl=662-871#hl     (what a citation in an answer links to)

Ids are looked up in the served snapshot through `bot.library.Library`, never
used as paths. An unknown id is a friendly 404 with a search box; while the
index is not open the pages answer 503 with the reason.
"""

from __future__ import annotations

from fastapi import APIRouter, Request

from .auth import client_address, current_user, signed_in_user
from fastapi.responses import HTMLResponse

from ..models import KINDS
from ..settings import Settings
from .limits import Limits, too_many_message
from .render import note_links, note_sections_html, parse_highlight, templates
from .runtime import AppRuntime

MAX_QUERY_CHARS = 500


def notes_router(runtime: AppRuntime, settings: Settings, limits: Limits | None = None) -> APIRouter:
    """The `/notes` routes, reading through the runtime's library. The list (and its search) counts
    against `limits`, as a question does: it reads every note."""
    router = APIRouter()
    root = settings.root_path

    def render(name: str, status: int = 200, headers: dict | None = None, request: Request | None = None,
               **context) -> HTMLResponse:
        user = signed_in_user(request) if request is not None else ""
        html = templates().get_template(name).render(root=root, user=user, **context)
        return HTMLResponse(html, status_code=status, headers=headers)

    def unavailable(request: Request) -> HTMLResponse:
        return render("unavailable.html", status=503, headers={"Retry-After": "5"}, request=request,
                      reason=runtime.public_reason(), version=None)

    @router.get("/notes", response_class=HTMLResponse)
    def list_notes(request: Request, kind: str = "", tag: str = "", q: str = "") -> HTMLResponse:
        library = runtime.library
        if library is None or not runtime.ready:
            return unavailable(request)
        wait = limits.check(user=current_user(request), address=client_address(request)) if limits else None
        if wait is not None:
            return render("unavailable.html", status=429, headers={"Retry-After": str(int(wait))}, request=request,
                          reason=too_many_message(wait), version=None)
        kind = kind if kind in KINDS else ""
        query = q.strip()[:MAX_QUERY_CHARS]
        notes = library.find(kind=kind or None, tag=tag or None, query=query or None)
        return render("notes.html", request=request, notes=notes, kind=kind, tag=tag, query=query,
                      kinds=library.kinds(), tags=library.tags(), version=library.version)

    @router.get("/notes/{note_id:path}", response_class=HTMLResponse)
    def show_note(request: Request, note_id: str, hl: str | None = None) -> HTMLResponse:
        library = runtime.library
        if library is None or not runtime.ready:
            return unavailable(request)
        page = library.page(note_id)
        if page is None:
            guess = " ".join(note_id.replace("-", " ").replace("_", " ").split())[:100]
            return render("not_found.html", status=404, request=request, missing=note_id[:200], guess=guess,
                          query="", version=library.version)
        note = page.note
        highlight = parse_highlight(hl, len(note.text))
        parts = note_sections_html(note, note_links(note, root, page.sources), highlight)
        return render("note.html", request=request, note=note, page=page, parts=parts, version=page.version,
                      show_description=_description_adds(note), query="",
                      highlight_missing=bool(hl) and highlight is None)

    return router


def _description_adds(note) -> bool:
    """Show the description above the body unless the body already opens with it (seed pages and
    Markdown notes do), or the note is a source (its text is its summary)."""
    if not note.description or note.kind == "source":
        return False
    return not " ".join(note.text.split()).startswith(" ".join(note.description.split()))
