"""Ask questions of your research notes; every answer is quoted verbatim, with numbered citations.

    >>> import bot
    >>> answer = bot.ask("Does warmth training make models less reliable?")   # doctest: +SKIP
    >>> answer.citations[0].quote                                             # doctest: +SKIP
    'Persona training for warmth raised error rates in medical reasoning, ...'

The pipeline, one module a stage:

    notes ─▶ chunks ─▶ embeddings ─▶ store/ingest ─▶ index ─▶ retrieval ─▶ quotes/answer ─▶ web
"""

from .answer import NOT_ADDRESSED, QuestionError, ask
from .ingest import IngestReport, ingest
from .models import Answer, Chunk, Citation, Note, NoteRef
from .retrieval import FilterError
from .settings import Settings
from .store import IndexSchemaError, StoreError, StoreLocked, StoreUnavailable

__all__ = [
    "NOT_ADDRESSED",
    "Answer",
    "Chunk",
    "Citation",
    "FilterError",
    "IndexSchemaError",
    "IngestReport",
    "Note",
    "NoteRef",
    "QuestionError",
    "Settings",
    "StoreError",
    "StoreLocked",
    "StoreUnavailable",
    "ask",
    "ingest",
]
