"""The index report: what became of every file, and how the last ingest went.

    {"last_ingest": {"started", "finished", "added", "updated", "removed", "skipped",
                     "failed", "error"},
     "files": [{"path", "status", "reason", "notes", "chunks", "indexed_at", "hash"}, ...]}

`status` is `indexed`, `skipped` (a file the bot won't read as notes: binary, not UTF-8,
empty, too large, broken front matter, an unknown suffix) or `failed` (the unexpected: a
parser error, an I/O error mid-read). The report is one JSON file per store beside the
data dir (`reports/<store name>.json`), replaced atomically, so every worker of a host and
`GET /api/index` read the same thing; a file whose notes are unchanged keeps its earlier
`indexed_at`, and files outside the paths of a run keep their entries.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path

from ..notes.files import Skipped
from ..notes.formats import ParsedFile
from ..settings import Settings

log = logging.getLogger(__name__)

STATUSES = ("failed", "skipped", "indexed")  # the order a person wants to read them in


def report_path(settings: Settings, store_name: str) -> Path:
    """Where the report of the store `store_name` lives."""
    return Path(settings.data_dir) / "reports" / f"{store_name}.json"


def read_report(path: Path) -> dict:
    """The stored report, or an empty one (never built, or unreadable: logged)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {"last_ingest": None, "files": []}
    except (OSError, ValueError) as exc:
        log.warning("the index report %s could not be read (%s); it is rebuilt by the next ingest", path, exc)
        return {"last_ingest": None, "files": []}
    data.setdefault("last_ingest", None)
    data.setdefault("files", [])
    return data


def write_report(path: Path, report: dict) -> None:
    """Replace the report atomically: a reader sees the old one or the new one, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            json.dump(report, out, indent=1)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def save_report(path: Path, report: dict) -> None:
    """`write_report`, logging a failure: the index is committed either way, the report is beside it."""
    try:
        write_report(path, report)
    except OSError as exc:
        log.warning("could not write the index report %s: %s", path, exc)


def last_ingest(started: str, finished: str, *, added: int = 0, updated: int = 0, removed: int = 0,
                skipped: int = 0, failed: int = 0, error: str | None = None) -> dict:
    """The `last_ingest` entry of the report."""
    return {"started": started, "finished": finished, "added": added, "updated": updated,
            "removed": removed, "skipped": skipped, "failed": failed, "error": error}


def file_entries(
    parsed: Iterable[ParsedFile],
    skipped: Iterable[Skipped],
    chunks_by_path: dict[str, int],
    hashes_by_path: dict[str, list[str]],
    previous: list[dict],
    in_scope: Callable[[str], bool],
    now: str,
) -> list[dict]:
    """One entry a file: this run's files, and the earlier entries of files outside its paths."""
    earlier = {entry["path"]: entry for entry in previous}
    entries: dict[str, dict] = {
        path: entry for path, entry in earlier.items() if not in_scope(path)
    }
    for item in parsed:
        path = str(Path(item.path).resolve())
        digest = _hash(sorted(hashes_by_path.get(item.path, [])))
        before = earlier.get(path)
        unchanged = before is not None and before.get("status") == "indexed" and before.get("hash") == digest
        entries[path] = {
            "path": path,
            "status": "indexed",
            "reason": None,
            "notes": len(item.notes),
            "chunks": chunks_by_path.get(item.path, chunks_by_path.get(path, 0)),
            "indexed_at": before["indexed_at"] if unchanged else now,
            "hash": digest,
        }
    for item in skipped:
        path = str(Path(item.path).resolve())
        entries[path] = {
            "path": path,
            "status": "failed" if item.failed else "skipped",
            "reason": item.reason,
            "notes": 0,
            "chunks": 0,
            "indexed_at": None,
            "hash": None,
        }
    return sorted(entries.values(), key=lambda e: e["path"])


def problems_first(files: list[dict]) -> list[dict]:
    """Failed files, then skipped, then indexed; by path within each."""
    rank = {status: i for i, status in enumerate(STATUSES)}
    return sorted(files, key=lambda e: (rank.get(e.get("status"), len(rank)), e.get("path", "")))


def _hash(parts: Iterable[str]) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode())
        digest.update(b"\n")
    return digest.hexdigest()[:16]
