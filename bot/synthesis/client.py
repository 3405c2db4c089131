"""A client for any OpenAI-compatible chat-completions API, with one hard deadline.

    >>> client = LLMClient("http://127.0.0.1:11434/v1", model="gemma3:270m", timeout=30)
    >>> "".join(client.stream([{"role": "user", "content": "Say hi."}]))   # doctest: +SKIP
    'Hi!'
    >>> client.complete(messages).text                                      # doctest: +SKIP

The timeout covers the whole call: connecting, waiting for the first byte, and reading the last
token of a stream; a server that streams forever is cut off at the deadline like one that never
answers. Every failure is one `LLMError`, whose message names the problem and the fix and never
contains the API key:

    kind             when
    unreachable      no connection (refused, unknown host, TLS failure, connection dropped)
    unauthorized     HTTP 401/403: the API key was refused, or none was sent
    model_not_found  HTTP 404: no such model (or BOT_LLM_URL is not the API's base URL)
    timeout          no complete answer within the timeout
    server_error     any other HTTP error, or an error reported inside the stream
    malformed        a successful response that is not a chat completion
"""

from __future__ import annotations

import json
import logging
import queue
import re
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Literal

import httpx
from pydantic import SecretStr

from ..errors import LLMError

log = logging.getLogger(__name__)

LLMErrorKind = Literal["unreachable", "unauthorized", "model_not_found", "timeout", "server_error", "malformed"]

# A chat answer is a few KB; these caps stop a broken server from filling memory before the deadline.
MAX_RESPONSE_BYTES = 4_000_000
MAX_LINE_BYTES = 1_000_000
# How much of a server's own error message is quoted in ours.
ERROR_SNIPPET_CHARS = 200


class _TooLong(Exception):
    """A response past the caps: no chat answer is that long."""


@dataclass(frozen=True)
class Completion:
    """A whole answer: its text and why the LLM stopped (`stop`, `length` at max_tokens, ...)."""

    text: str
    finish_reason: str | None


class LLMClient:
    """POSTs chat messages to `{base_url}/chat/completions`. Thread-safe; one per process is enough.

    The deadline is enforced by doing the HTTP exchange in a short-lived worker thread while the
    caller waits on a queue until the deadline: httpx's own timeouts bound each read, not the whole
    call, so a server trickling bytes could otherwise hold the caller forever. The worker notices a
    cancelled call at its next chunk, or when its own read timeout (at most the timeout) expires.
    """

    def __init__(
        self,
        base_url: str,
        *,
        model: str = "",
        api_key: SecretStr | str | None = None,
        timeout: float = 30.0,
        temperature: float = 0.2,
        max_tokens: int = 400,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.timeout = float(timeout)
        self.temperature = temperature
        self.max_tokens = max_tokens
        key = api_key.get_secret_value() if isinstance(api_key, SecretStr) else api_key
        self._key = key or None
        self._http = httpx.Client(timeout=httpx.Timeout(self.timeout), follow_redirects=False)

    @classmethod
    def from_settings(cls, settings) -> LLMClient:
        """The client BOT_LLM_* describe (BOT_LLM_URL must be set)."""
        if not settings.llm_url:
            raise ValueError("BOT_LLM_URL is not set: answer synthesis is off")
        return cls(
            settings.llm_url,
            model=settings.llm_model,
            api_key=settings.llm_api_key,
            timeout=settings.llm_timeout_seconds,
            temperature=settings.llm_temperature,
            max_tokens=settings.llm_max_tokens,
        )

    @property
    def endpoint(self) -> str:
        return f"{self.base_url}/chat/completions"

    def __repr__(self) -> str:
        return f"LLMClient({_display_url(self.base_url)!r}, model={self.model!r}, timeout={self.timeout:g})"

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> LLMClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # --- the public calls -----------------------------------------------------------------

    def stream(self, messages: Sequence[dict]) -> Iterator[str]:
        """The answer's text as it arrives (server-sent events). Raises `LLMError`."""
        for kind, value in self._events(messages, stream=True):
            if kind == "delta":
                yield value

    def stream_batches(self, messages: Sequence[dict]) -> Iterator[tuple[str, bool]]:
        """(text, last): everything that has arrived since the previous batch, and whether the answer
        is complete with it: a reader that works per piece (checking sentences) does it once a burst,
        not once a token. Raises `LLMError`."""
        for batch in self._event_batches(messages, stream=True):
            yield "".join(value for kind, value in batch if kind == "delta"), batch[-1][0] == "end"

    def complete(self, messages: Sequence[dict], *, stream: bool = False) -> Completion:
        """The whole answer, asked for in one response (or streamed and joined). Raises `LLMError`."""
        parts: list[str] = []
        finish_reason = None
        for kind, value in self._events(messages, stream=stream):
            if kind == "delta":
                parts.append(value)
            else:
                finish_reason = value
        return Completion("".join(parts), finish_reason)

    # --- the deadline ---------------------------------------------------------------------------

    def _events(self, messages: Sequence[dict], *, stream: bool) -> Iterator[tuple[str, str | None]]:
        """("delta", text)... then ("end", finish_reason), all before the deadline."""
        for batch in self._event_batches(messages, stream=stream):
            yield from batch

    def _event_batches(self, messages: Sequence[dict], *, stream: bool) -> Iterator[list[tuple[str, str | None]]]:
        """The events in lists: each the next event and every one already queued behind it."""
        deadline = time.monotonic() + self.timeout
        payload = self._payload(messages, stream)
        events: queue.SimpleQueue = queue.SimpleQueue()
        cancelled = threading.Event()
        log.debug("POST %s model=%r messages=%d stream=%s", _display_url(self.endpoint), self.model,
                  len(payload["messages"]), stream)
        worker = threading.Thread(target=self._exchange, args=(payload, stream, deadline, events, cancelled),
                                  name="llm-request", daemon=True)
        worker.start()
        try:
            while True:
                remaining = deadline - time.monotonic()
                try:
                    if remaining <= 0:
                        raise queue.Empty
                    kind, value = events.get(timeout=remaining)
                except queue.Empty:
                    raise self._error("timeout") from None
                batch = [(kind, value)]
                while kind not in ("error", "end"):
                    try:
                        kind, value = events.get_nowait()
                    except queue.Empty:
                        break
                    batch.append((kind, value))
                if kind == "error":
                    log.debug("LLM call failed: %s", value)
                    raise value
                yield batch
                if kind == "end":
                    return
        finally:
            cancelled.set()

    def _payload(self, messages: Sequence[dict], stream: bool) -> dict:
        payload = {
            "messages": [{"role": m["role"], "content": m["content"]} for m in messages],
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
            "stream": stream,
        }
        if self.model:
            payload["model"] = self.model
        return payload

    # --- the worker thread: one HTTP exchange ------------------------------------------------

    def _exchange(self, payload: dict, stream: bool, deadline: float, events: queue.SimpleQueue,
                  cancelled: threading.Event) -> None:
        headers = {"Accept": "text/event-stream" if stream else "application/json"}
        if self._key:
            headers["Authorization"] = f"Bearer {self._key}"
        budget = max(0.05, deadline - time.monotonic())
        try:
            with self._http.stream("POST", self.endpoint, json=payload, headers=headers,
                                   timeout=httpx.Timeout(budget)) as response:
                if response.status_code >= 300:
                    body = _read_capped(response, 16_000, cancelled, truncate=True)
                    events.put(("error", self._status_error(response.status_code, body)))
                    return
                is_json = "json" in response.headers.get("content-type", "")
                if stream and not is_json:
                    for event in self._sse(response, cancelled):
                        events.put(event)
                        if cancelled.is_set():
                            return
                else:  # asked not to stream, or the server ignored `stream` and sent one JSON body
                    body = _read_capped(response, MAX_RESPONSE_BYTES, cancelled)
                    if body is None:
                        return
                    text, finish_reason = self._parse_completion(body)
                    events.put(("delta", text))
                    events.put(("end", finish_reason))
        except LLMError as exc:
            events.put(("error", exc))
        except _TooLong as exc:
            events.put(("error", self._error("malformed", str(exc))))
        except httpx.TimeoutException:
            events.put(("error", self._error("timeout")))
        except httpx.ConnectError as exc:
            events.put(("error", self._error("unreachable", _connect_reason(exc))))
        except (httpx.ReadError, httpx.RemoteProtocolError, httpx.WriteError, httpx.CloseError):
            events.put(("error", self._error("unreachable", "the connection broke before the answer was complete")))
        except httpx.HTTPError as exc:  # anything else httpx reports, in words
            events.put(("error", self._error("unreachable", exc.__class__.__name__)))
        except Exception as exc:  # never let the worker die silently: the caller would wait for the deadline
            events.put(("error", self._error("malformed", exc.__class__.__name__)))

    def _sse(self, response: httpx.Response, cancelled: threading.Event) -> Iterator[tuple[str, str | None]]:
        """Server-sent events: `data: {json chunk}` lines, then `data: [DONE]`."""
        finish_reason = None
        for line in _lines(response, cancelled):
            if not line.startswith("data:"):
                continue  # blank separators, `event:`, `id:`, `: comments` (keep-alives)
            data = line[5:].strip()
            if data == "[DONE]":
                yield ("end", finish_reason)
                return
            try:
                chunk = json.loads(data)
            except ValueError:
                raise self._error("malformed", "a stream event that is not JSON") from None
            if not isinstance(chunk, dict):
                raise self._error("malformed", "a stream event that is not a JSON object")
            if "error" in chunk:
                raise self._error("server_error", "an error inside the stream: "
                                  + self._scrub(_error_text(chunk)))
            choices = chunk.get("choices")
            if not isinstance(choices, list):
                raise self._error("malformed", "a stream event without `choices`")
            if not choices:
                continue  # e.g. a final usage-only chunk
            choice = choices[0] if isinstance(choices[0], dict) else {}
            delta = choice.get("delta") or {}
            content = delta.get("content") if isinstance(delta, dict) else None
            if content is not None and not isinstance(content, str):
                raise self._error("malformed", "a stream event whose content is not text")
            if content:
                yield ("delta", content)
            finish_reason = choice.get("finish_reason") or finish_reason
        if cancelled.is_set():
            return
        if finish_reason is None:
            raise self._error("malformed", "the stream ended before the answer was complete (no [DONE])")
        yield ("end", finish_reason)  # some servers end with a finish_reason and no [DONE]

    def _parse_completion(self, body: bytes) -> tuple[str, str | None]:
        try:
            data = json.loads(body)
        except ValueError:
            raise self._error("malformed", "a response that is not JSON") from None
        if isinstance(data, dict) and "error" in data:
            raise self._error("server_error", self._scrub(_error_text(data)))
        try:
            choice = data["choices"][0]
            content = choice["message"]["content"]
        except (KeyError, IndexError, TypeError):
            raise self._error("malformed", "JSON without choices[0].message.content") from None
        if not isinstance(content, str):
            raise self._error("malformed", "an answer whose content is not text")
        return content, choice.get("finish_reason")

    # --- errors in words ---------------------------------------------------------------------

    def _status_error(self, status: int, body: bytes | None) -> LLMError:
        if status in (401, 403):
            # Not even the server's words: OpenAI's 401 message quotes part of the key.
            return self._error("unauthorized", status=status)
        detail = ""
        if body:
            try:
                detail = _error_text(json.loads(body))
            except ValueError:
                detail = body.decode("utf-8", "replace")
            detail = self._scrub(" ".join(detail.split()))[:ERROR_SNIPPET_CHARS]
        if status == 404:
            return self._error("model_not_found", detail, status=status)
        return self._error("server_error", detail, status=status)

    def _error(self, kind: LLMErrorKind, detail: str = "", *, status: int | None = None) -> LLMError:
        where = f"the LLM at {_display_url(self.base_url)}"
        model = repr(self.model) if self.model else "(none named: BOT_LLM_MODEL is unset)"
        message = {
            "unreachable": f"could not reach {where} ({detail}); check BOT_LLM_URL and that the server is running",
            "unauthorized": (
                f"{where} refused the API key (HTTP {status}); check BOT_LLM_API_KEY" if self._key else
                f"{where} wants an API key (HTTP {status}); set BOT_LLM_API_KEY"
            ),
            "model_not_found": (
                f"{where} has no model {model} (HTTP 404{': ' + detail if detail else ''}); check BOT_LLM_MODEL, "
                "and that BOT_LLM_URL is the API's base URL (often ending in /v1)"
            ),
            "timeout": f"{where} did not finish its answer within {self.timeout:g} s (BOT_LLM_TIMEOUT_SECONDS)",
            "server_error": f"{where} failed" + (f" with HTTP {status}" if status else "")
            + (f": {detail}" if detail else ""),
            "malformed": f"{where} sent something that is not a chat completion: {detail}",
        }[kind]
        return LLMError(kind, self._scrub(message), status=status)

    def _scrub(self, text: str) -> str:
        """The text with the API key, should a server echo it, replaced."""
        return text.replace(self._key, "[the API key]") if self._key else text


def _read_capped(response: httpx.Response, limit: int, cancelled: threading.Event,
                 *, truncate: bool = False) -> bytes | None:
    """The body, up to `limit` bytes (more is an error, or cut when `truncate`); None when cancelled."""
    body = bytearray()
    for chunk in response.iter_bytes():
        if cancelled.is_set():
            return None
        body += chunk
        if len(body) > limit:
            if truncate:
                return bytes(body[:limit])
            raise _TooLong("a response longer than any answer")
    return bytes(body)


def _lines(response: httpx.Response, cancelled: threading.Event) -> Iterator[str]:
    """Lines of a streamed body, each capped, the whole capped, stopping when cancelled."""
    buffer = b""
    total = 0
    for chunk in response.iter_bytes():
        if cancelled.is_set():
            return
        total += len(chunk)
        if total > MAX_RESPONSE_BYTES:
            raise _TooLong("a stream longer than any answer")
        buffer += chunk
        *complete, buffer = re.split(rb"\r\n|\n|\r", buffer)
        for line in complete:
            yield line.decode("utf-8", "replace")
        if len(buffer) > MAX_LINE_BYTES:
            raise _TooLong("a stream line longer than any answer")
    if buffer:
        yield buffer.decode("utf-8", "replace")


def _error_text(data) -> str:
    """The message inside an OpenAI-style error body: {"error": {"message": ...}} or {"error": "..."}."""
    if isinstance(data, dict):
        error = data.get("error", data)
        if isinstance(error, dict):
            return str(error.get("message") or error.get("detail") or error)
        return str(error)
    return str(data)


def _connect_reason(exc: httpx.ConnectError) -> str:
    text = str(exc).lower()
    if "refused" in text:
        return "connection refused"
    if "name or service" in text or "nodename" in text or "getaddrinfo" in text or "resolution" in text:
        return "unknown host"
    if "ssl" in text or "certificate" in text:
        return "TLS failed"
    return "no connection"


def _display_url(url: str) -> str:
    """The URL without credentials or query string, fit for messages and logs."""
    url = re.sub(r"//[^/@]*@", "//", url)
    return url.split("?", 1)[0]
