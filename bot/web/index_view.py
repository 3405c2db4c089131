"""What the index holds and what became of every file: `GET /api/index`, the `/index` page and
the chat's Index panel all show this one dict.

    {"version", "notes", "chunks", "building": {"done", "total", "eta_seconds"} | None,
     "partial": {"notes_indexed", "notes_total"} | None (a first build's partial version served),
     "last_ingest": {"started", "finished", "added", "updated", "removed", "skipped", "failed",
                     "error"} | None,
     "files": [{"path", "status", "reason", "notes", "chunks", "indexed_at", "hash"}, ...]}

Files come failed first, then skipped, then indexed, so the ones that need a person's
attention are on top. The report is the one the last ingest stored beside the index
(`bot.service.Bot.index_report`), so every worker shows the same.
"""

from __future__ import annotations

import html

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from ..settings import Settings
from .auth import signed_in_user
from .render import templates
from .runtime import AppRuntime

SHOWN_IN_PANEL = 20  # the chat's panel lists this many problem files; /index lists them all


def index_overview(runtime: AppRuntime) -> dict:
    """The served version's counts, the running build's progress, the last ingest and every file."""
    bot, library = runtime.bot, runtime.library
    stats = library.stats() if library is not None else {}
    report = bot.index_report() if bot is not None else {"last_ingest": None, "files": []}
    files = sorted(report["files"], key=lambda e: (_RANK.get(e.get("status"), 3), e.get("path", "")))
    return {
        "version": stats.get("version"),
        "notes": stats.get("notes", 0),
        "chunks": stats.get("chunks", 0),
        "building": runtime.building.view(),
        "partial": bot.partial.model_dump() if bot is not None and bot.partial is not None else None,
        "last_ingest": report["last_ingest"],
        "files": files,
    }


_RANK = {"failed": 0, "skipped": 1, "indexed": 2}


def building_line(building: dict | None) -> str:
    """"Building: 120 of 300 texts embedded (40%), about 45 s left." or "" when nothing is built."""
    if not building:
        return ""
    done, total = building["done"], building["total"]
    share = f" ({done / total:.0%})" if total else ""
    eta = building["eta_seconds"]
    left = f", about {eta:.0f} s left" if eta is not None else ""
    return f"Building: {done} of {total} texts embedded{share}{left}."


def panel_markdown(overview: dict) -> str:
    """The chat's Index panel lines about the build and the files (HTML-escaped: paths are data)."""
    lines = []
    if overview["building"]:
        lines.append(building_line(overview["building"]))
    problems = [f for f in overview["files"] if f["status"] != "indexed"]
    counts = {s: sum(f["status"] == s for f in overview["files"]) for s in ("indexed", "skipped", "failed")}
    if overview["files"]:
        lines.append(f"Files: {counts['indexed']} indexed, {counts['skipped']} skipped, {counts['failed']} failed "
                     "([the index report](index)).")
    for entry in problems[:SHOWN_IN_PANEL]:
        lines.append(f"- **{entry['status']}** `{_code(entry['path'])}`: {html.escape(entry['reason'] or '')}")
    if len(problems) > SHOWN_IN_PANEL:
        lines.append(f"- … and {len(problems) - SHOWN_IN_PANEL} more on the index report page.")
    return "\n".join(lines)


def _code(text: str) -> str:
    return text.replace("`", "'")


def index_page_router(runtime: AppRuntime, settings: Settings) -> APIRouter:
    """`GET /index`: the same as `/api/index`, as a page."""
    router = APIRouter()

    @router.get("/index", response_class=HTMLResponse)
    def index_page(request: Request) -> HTMLResponse:
        overview = index_overview(runtime)
        page = templates().get_template("index.html").render(
            root=settings.root_path, user=signed_in_user(request), version=overview["version"],
            overview=overview, building=building_line(overview["building"]), query="",
        )
        return HTMLResponse(page)

    return router
