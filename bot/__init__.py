"""Ask questions of your research notes; every answer is quoted verbatim, with numbered citations.

    >>> import bot
    >>> answer = bot.ask("Does warmth training make models less reliable?")   # doctest: +SKIP
    >>> answer.citations[0].quote                                             # doctest: +SKIP
    'Persona training for warmth raised error rates in medical reasoning, ...'

    >>> with bot.Bot.open(bot.Settings()) as notes:                          # doctest: +SKIP
    ...     notes.ask("And what about empathy rewards?", history=[...])

The packages, one a stage; imports flow one way (checked by import-linter, see pyproject.toml):

    notes ─▶ index ─▶ query ─▶ synthesis ─▶ service ─▶ cli, web, tools

The names below are loaded on first use, so `import bot.notes` stays light.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

_EXPORTS = {
    "NOT_ADDRESSED": "bot.query.compose",
    "Answer": "bot.models",
    "Bot": "bot.service",
    "BotError": "bot.errors",
    "Chunk": "bot.models",
    "Citation": "bot.models",
    "FilterError": "bot.errors",
    "IndexSchemaError": "bot.errors",
    "IngestReport": "bot.index.ingest",
    "Note": "bot.models",
    "NoteRef": "bot.models",
    "QuestionError": "bot.errors",
    "QuoteLink": "bot.models",
    "Settings": "bot.settings",
    "StoreError": "bot.errors",
    "StoreLocked": "bot.errors",
    "StoreUnavailable": "bot.errors",
    "ask": "bot.service",
    "ingest": "bot.index.ingest",
}
__all__ = [
    "NOT_ADDRESSED", "Answer", "Bot", "BotError", "Chunk", "Citation", "FilterError", "IndexSchemaError",
    "IngestReport", "Note", "NoteRef", "QuestionError", "QuoteLink", "Settings", "StoreError", "StoreLocked",
    "StoreUnavailable", "ask", "ingest",
]

if TYPE_CHECKING:  # for readers and type checkers; at run time __getattr__ loads them
    from .errors import BotError, FilterError, IndexSchemaError, QuestionError, StoreError, StoreLocked, StoreUnavailable
    from .index.ingest import IngestReport
    from .models import Answer, Chunk, Citation, Note, NoteRef, QuoteLink
    from .query.compose import NOT_ADDRESSED
    from .index.ingest import ingest
    from .service import Bot, ask
    from .settings import Settings


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'bot' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value
