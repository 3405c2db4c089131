"""Thumbs up/down on answers, kept in SQLite in the data dir (`<data_dir>/feedback.sqlite`).

    log = FeedbackLog(settings.data_dir)
    log.record(rating="up", question=question, answer=answer, user="local", session="s1")   # -> row id
    log.all()[-1]["rating"], log.all()[-1]["citations"][0]["note_id"]
    # ('up', 'do-reasoning-scaffolds-reshape-which-empathy-skills-models-develop')
    log.all(user="ada", after=120, limit=100)     # a page: ada's next 100 votes after id 120

Every vote is its own row, committed before `record` returns (WAL, so several
app workers may write at once); a vote withdrawn in the UI is recorded as
`"none"`, so the latest row per (session, answer) is the standing verdict.
The user is "local" until the app has logins.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from datetime import datetime, timezone
from pathlib import Path

from ..models import Answer

RATINGS = ("up", "down", "none")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS feedback (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at TEXT NOT NULL,
    user TEXT NOT NULL,
    session TEXT NOT NULL,
    answer_key TEXT NOT NULL,
    rating TEXT NOT NULL,
    question TEXT NOT NULL,
    answer TEXT NOT NULL,
    citations TEXT NOT NULL,
    abstained INTEGER NOT NULL,
    index_version INTEGER,
    filters TEXT
)
"""


class FeedbackLog:
    """Append-only votes on answers, in one SQLite file."""

    def __init__(self, data_dir: Path) -> None:
        self.path = Path(data_dir) / "feedback.sqlite"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        with self._connect() as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute(_SCHEMA)
            db.execute("CREATE INDEX IF NOT EXISTS feedback_user_id ON feedback (user, id)")

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(str(self.path), timeout=30)

    def record(
        self,
        *,
        rating: str,
        question: str,
        answer: Answer,
        user: str = "local",
        session: str = "",
        answer_key: str = "",
        index_version: int | None = None,
        filters: dict | None = None,
    ) -> int:
        """Store one vote with the question, the answer and its citations; returns its row id."""
        if rating not in RATINGS:
            raise ValueError(f"rating must be one of {', '.join(RATINGS)}, not {rating!r}")
        row = (
            datetime.now(timezone.utc).isoformat(timespec="seconds"),
            user,
            session,
            answer_key,
            rating,
            question,
            answer.answer,
            json.dumps([c.model_dump() for c in answer.citations], ensure_ascii=False),
            int(answer.abstained),
            index_version,
            json.dumps(filters or {}, ensure_ascii=False),
        )
        with self._lock:
            db = self._connect()
            try:
                with db:
                    cursor = db.execute(
                        "INSERT INTO feedback (created_at, user, session, answer_key, rating, question, answer, "
                        "citations, abstained, index_version, filters) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                        row,
                    )
                return int(cursor.lastrowid)
            finally:
                db.close()

    def all(self, user: str | None = None, *, after: int = 0, limit: int | None = None) -> list[dict]:
        """Votes oldest first (only `user`'s when given): those with an id above `after`, at most
        `limit` of them (a page; the next starts after the last id)."""
        where, params = ["id > ?"], [after]
        if user:
            where.append("user = ?")
            params.append(user)
        query = f"SELECT * FROM feedback WHERE {' AND '.join(where)} ORDER BY id"
        if limit is not None:
            query += " LIMIT ?"
            params.append(limit)
        db = self._connect()
        db.row_factory = sqlite3.Row
        try:
            rows = db.execute(query, params).fetchall()
        finally:
            db.close()
        result = []
        for row in rows:
            item = dict(row)
            item["citations"] = json.loads(item["citations"])
            item["filters"] = json.loads(item["filters"] or "{}")
            item["abstained"] = bool(item["abstained"])
            result.append(item)
        return result
