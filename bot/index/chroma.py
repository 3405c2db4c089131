"""Talking to Chroma: the server client with a timeout (and BOT_CHROMA_TOKEN, sent as
`X-Chroma-Token` on every request for the proxy in front of the server to check), and telling
its failures apart.

Chroma's exceptions don't say "unreachable" or "not found" by type, so both are recognised
here, in one place, by type where there is one and by message otherwise.
"""

from __future__ import annotations

from ..errors import StoreUnavailable
from ..settings import Settings

HTTP_TIMEOUT_SECONDS = 10.0
TOKEN_HEADER = "X-Chroma-Token"


def http_client(settings: Settings):
    import chromadb
    from chromadb.config import Settings as ChromaSettings
    from urllib.parse import urlparse

    if settings.chroma_url:
        parsed = urlparse(settings.chroma_url)
        host, port, ssl = parsed.hostname or "localhost", parsed.port or 8000, parsed.scheme == "https"
    else:
        host, port, ssl = settings.chroma_host, settings.chroma_port, False
    location = f"Chroma server at {'https' if ssl else 'http'}://{host}:{port}"
    token = settings.chroma_token.get_secret_value() if settings.chroma_token is not None else ""
    try:
        client = chromadb.HttpClient(
            host=host, port=port, ssl=ssl, headers={TOKEN_HEADER: token} if token else None,
            settings=ChromaSettings(anonymized_telemetry=False),
        )
    except Exception as exc:
        raise StoreUnavailable(f"the notes store ({location}) is unavailable: {short(exc)}") from exc
    _set_http_timeout(client, HTTP_TIMEOUT_SECONDS)
    return client, location


def _set_http_timeout(client, seconds: float) -> None:
    """Chroma's HTTP client waits forever by default; a hung server must not hang the app."""
    import httpx

    session = getattr(getattr(client, "_server", None), "_session", None)
    if isinstance(session, httpx.Client):
        session.timeout = httpx.Timeout(seconds, connect=3.0)


# what the proxy in front of a Chroma server answers when the server is down or slow, and what
# Chroma's client raises for it (a bare Exception with the proxy's page as its text)
PROXY_DOWN = ("502 bad gateway", "503 service temporarily unavailable", "504 gateway time-out")


def is_connection_error(exc: BaseException) -> bool:
    """The server can't be reached: refused, timed out, down behind its proxy, or refusing our token."""
    import httpx

    if isinstance(exc, (httpx.TransportError, ConnectionError, TimeoutError, OSError)):
        return True
    text = str(exc).lower()
    return any(s in text for s in ("could not connect", "connection refused", "connecterror", "timed out",
                                   *PROXY_DOWN)) or is_token_refused(exc)


def is_not_found(exc: BaseException) -> bool:
    text = f"{exc.__class__.__name__} {exc}".lower()
    return "notfound" in text or "does not exist" in text or "not found" in text


def short(exc: BaseException) -> str:
    """An exception as one short line; a proxy's refusal of the token says which setting to fix."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__
    if is_token_refused(exc):
        return ("the server refused this client (401/403 from the proxy in front of it): set BOT_CHROMA_TOKEN to "
                "the token that proxy expects")
    lowered = str(exc).lower()
    for page in PROXY_DOWN:
        if page in lowered:
            return f"the proxy in front of it answered {page.split(' ', 1)[0]} (the server behind it is down or slow)"
    return text[:200]


def is_token_refused(exc: BaseException) -> bool:
    """A 401 or 403 from the token-checking proxy in front of the Chroma server (its page, or the status)."""
    text = str(exc)
    return any(s in text for s in ("401 Authorization Required", "403 Forbidden", "401 Unauthorized")) or \
        getattr(getattr(exc, "response", None), "status_code", None) in (401, 403)


def is_chroma_error(exc: BaseException) -> bool:
    """Chroma's own exceptions (its Rust core, its HTTP client) mean the store failed, not the bot."""
    for cls in type(exc).__mro__:
        if cls.__module__.split(".")[0] in ("chromadb", "chromadb_rust_bindings", "httpx", "httpcore"):
            return True
    return False
