"""Every error the bot raises on purpose, in one hierarchy; the CLI and the API map it, never a traceback.

    BotError                        exit 1   HTTP 500   something went wrong; the message says what
    ├── InputError                  exit 2   HTTP 422   what was asked can't be used as given
    │   ├── QuestionError                               an empty or over-long question
    │   ├── FilterError                                 a filter that isn't one
    │   ├── SettingsError                               a BOT_* setting with a bad value
    │   ├── AccountsError                               a users-file operation that can't be done
    │   ├── BeirError                                   a folder that isn't a BEIR dataset
    │   └── PathNotFound                                a path named to `bot ingest` doesn't exist
    ├── NoteFormatError             exit 1   HTTP 422   a file that can't be read as notes (ingest skips it)
    │   └── NoteReadError                               an I/O error reading it (ingest reports it failed)
    ├── IngestFailed                exit 1   HTTP 500   ingest finished, but some files failed
    ├── EmbeddingModelError         exit 1   HTTP 503   the embedding model could not be loaded
    ├── StoreError                  exit 1   HTTP 503   the notes store needs attention
    │   ├── StoreUnavailable                            a Chroma server down, a broken directory
    │   ├── StoreLocked                                 another process owns the embedded store
    │   ├── IndexSchemaError                            built by an older version: `bot ingest --rebuild`
    │   └── IndexMissing                                nothing committed yet: run `bot ingest`
    ├── NotReady                    exit 1   HTTP 503   the app's index is not open (yet)
    └── LLMError                    exit 1   HTTP 502   the configured LLM failed (the answer falls back)

Layers raise these; `exit_code` and `http_status` are read only at the edges (`bot.cli`,
`bot.web.api`), so one table decides what a user sees for every kind of failure.

    >>> QuestionError("the question is empty").exit_code, QuestionError("x").http_status
    (2, 422)
"""

from __future__ import annotations


class BotError(Exception):
    """Base class: the message names the problem and, where there is one, the fix."""

    exit_code = 1
    http_status = 500


class InputError(BotError):
    """What was asked can't be used as given (the caller can fix it)."""

    exit_code = 2
    http_status = 422


class QuestionError(InputError, ValueError):
    """The question can't be asked as given (empty, too long); the message says why."""


class FilterError(InputError, ValueError):
    """Filters that can't be applied (unknown kind, wrong shape); the message says why."""


class SettingsError(InputError):
    """A setting has a value the bot can't use; the message names the variable and the fix."""


class AccountsError(InputError, ValueError):
    """A users-file operation that can't be done as asked; the message says why and what to do."""


class BeirError(InputError, ValueError):
    """The folder is not a usable BEIR dataset (the message says what is missing)."""


class NoteFormatError(BotError, ValueError):
    """A file that cannot be read as a note (the message says why)."""

    http_status = 422


class NoteReadError(NoteFormatError):
    """A file that failed unexpectedly (an I/O error while reading it): reported as failed, not skipped."""


class PathNotFound(InputError):
    """A path named on the command line does not exist."""


class IngestFailed(BotError):
    """Ingest finished, but some files failed (not merely skipped); the report names them."""


class EmbeddingModelError(BotError, RuntimeError):
    """The embedding model could not be loaded."""

    http_status = 503


class StoreError(BotError, RuntimeError):
    """Something about the notes store needs attention (the message says what)."""

    http_status = 503


class StoreUnavailable(StoreError):
    """The store cannot be reached (a Chroma server down, a broken directory)."""


class StoreLocked(StoreError):
    """Another process owns the embedded store."""


class IndexSchemaError(StoreError):
    """The index was built by an older version of the bot."""


class IndexMissing(StoreError):
    """No index has been committed in this store yet."""

    def __init__(self, name: str, location: str) -> None:
        super().__init__(
            f"no index named {name} in {location} yet. Build it: `bot ingest` "
            "(or start the app, which builds it from BOT_NOTES_DIR)."
        )


class NotReady(BotError, RuntimeError):
    """The index is not open (yet, or any more); the message says why."""

    http_status = 503


class LLMError(BotError):
    """The configured LLM could not give an answer; `kind` says how it failed.

    Kinds: unreachable, unauthorized, model_not_found, timeout, server_error, malformed.
    The message says it in words and never holds the API key.
    """

    http_status = 502

    def __init__(self, kind: str, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.status = status

    def __repr__(self) -> str:
        return f"LLMError(kind={self.kind!r}, message={self.message!r})"
