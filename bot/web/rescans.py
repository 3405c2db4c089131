"""What the app's runtime remembers about its rescans."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class IngestStatus:
    """The last rescan: when, what it did, or what went wrong."""

    finished_at: float
    summary: str = ""
    changed: bool = False
    error: str | None = None
