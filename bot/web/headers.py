"""The app's edge: which host names it answers to, and the security headers on every response.

    app.add_middleware(EdgeHeaders, allowed_hosts=settings.trusted_hosts,
                       scripted_pages={"/": EVAL, "/docs": NO_EVAL})

A request whose `Host` is not one of BOT_ALLOWED_HOSTS (default: BOT_HOST, localhost,
127.0.0.1) gets 400 before anything else runs: DNS rebinding and stray virtual hosts can't
reach the app. Every response carries

    Content-Security-Policy   default-src 'self'; script-src 'self' + the page's own inline scripts
                              by hash (+ 'unsafe-eval' on the chat's page alone); style-src 'self'
                              'unsafe-inline'; img-src 'self' data: blob:;
                              font-src 'self' data:; connect-src 'self'; object-src 'none';
                              base-uri 'self'; form-action 'self'; frame-ancestors 'none'
    X-Frame-Options           DENY
    Referrer-Policy           same-origin
    X-Content-Type-Options    nosniff

Why these: the Gradio chat's page starts with a few inline scripts (its config as escaped JSON,
and small bootstrap snippets; one of them holds the page's URL, so they differ per request).
Rather than allow every inline script ('unsafe-inline'), the HTML of the pages expected to carry
scripts (the chat and the API docs) is read as it goes out and each inline script's SHA-256 is
put in that response's policy: exactly the scripts the server sent run, and nothing injected
later in the browser does (an `onerror=` attribute, a `javascript:` link, a `<script>` added to
the DOM). Every other page (notes, sign-in) is allowed no inline script at all. The chat's page
also needs 'unsafe-eval': Gradio 6's HTML component (the page's header and sources panel)
compiles its `html_template` with Handlebars and evaluates the result as a JavaScript template
literal through `Function(...)`, and runs its `js_on_load` the same way; without eval they
render nothing. That lets the page's own scripts turn strings into code; it still lets in no
script the server didn't send, which is what stops injected markup. Styles need
'unsafe-inline': Gradio's components set `style` attributes and insert `<style>` elements as
they render; a style can't run code. Fonts and icons come as `data:` URIs; the chat's streamed
answers (server-sent events) and its API calls go to the app itself ('self').
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import logging
import re

log = logging.getLogger(__name__)

INLINE_SCRIPT = re.compile(rb"<script\b([^>]*)>(.*?)</script\s*>", re.IGNORECASE | re.DOTALL)
HAS_SRC = re.compile(rb"\bsrc\s*=", re.IGNORECASE)
MAX_HTML_BYTES = 8 * 1024 * 1024  # a page larger than this is sent without script hashes (none is)

POLICY = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self' 'unsafe-inline'",
    "img-src": "'self' data: blob:",
    "font-src": "'self' data:",
    "connect-src": "'self'",
    "media-src": "'self' blob:",
    "worker-src": "'self' blob:",
    "object-src": "'none'",
    "base-uri": "'self'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
}
STATIC_HEADERS = [
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
    (b"x-content-type-options", b"nosniff"),
]


EVAL, NO_EVAL = True, False  # whether a scripted page may turn strings into code (see above)


def content_security_policy(script_hashes: list[str] = (), *, allow_eval: bool = False) -> str:
    """The policy, with these inline scripts (base64 SHA-256 digests) allowed to run."""
    policy = dict(POLICY)
    if allow_eval:
        policy["script-src"] += " 'unsafe-eval'"
    if script_hashes:
        policy["script-src"] += "".join(f" 'sha256-{h}'" for h in dict.fromkeys(script_hashes))
    return "; ".join(f"{k} {v}" for k, v in policy.items())


def inline_script_hashes(html: bytes) -> list[str]:
    """The base64 SHA-256 of each inline `<script>` of a page, as a browser computes it (over the
    script's text, line endings normalised to LF)."""
    hashes = []
    for match in INLINE_SCRIPT.finditer(html):
        attributes, body = match.group(1), match.group(2)
        if HAS_SRC.search(attributes) or _is_data_block(attributes):
            continue
        body = body.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        hashes.append(base64.b64encode(hashlib.sha256(body).digest()).decode("ascii"))
    return hashes


def _is_data_block(attributes: bytes) -> bool:
    """A `<script type="application/json">` (or any non-JavaScript type) never runs."""
    found = re.search(rb"\btype\s*=\s*[\"']?([^\"'\s>]+)", attributes, re.IGNORECASE)
    if not found:
        return False
    kind = found.group(1).lower()
    return kind not in (b"module", b"text/javascript", b"application/javascript")


def host_name(value: str) -> str:
    """A Host header's name, lower case, without the port (IPv6 without its brackets)."""
    value = value.strip().lower()
    if value.startswith("["):
        return value[1:value.find("]")] if "]" in value else value
    return value.rsplit(":", 1)[0] if value.count(":") == 1 else value


class EdgeHeaders:
    """ASGI middleware, outermost: the Host check (400), then the security headers on every response."""

    def __init__(self, app, *, allowed_hosts: list[str], scripted_pages: dict[str, bool] | None = None,
                 root_path: str = "") -> None:
        self.app = app
        self.any_host = "*" in allowed_hosts
        self.allowed = {host_name(h) for h in allowed_hosts if h != "*"}
        self.scripted = dict(scripted_pages or {})  # path -> may it eval
        self.root_path = root_path
        self.plain_policy = content_security_policy().encode()
        self._refused_hosts: set[str] = set()

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        host = ""
        for key, value in scope.get("headers", []):
            if key == b"host":
                host = value.decode("latin-1")
                break
        if not self.any_host and host_name(host) not in self.allowed:
            await self._refuse_host(scope, send, host)
            return
        if scope["type"] == "websocket":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "") or "/"
        root = scope.get("root_path", "") or self.root_path
        if root and path.startswith(root):
            path = path[len(root):] or "/"
        if scope["method"] == "GET" and path in self.scripted:
            await self.app(scope, receive, self._hashing(send, self.scripted[path]))
        else:
            await self.app(scope, receive, self._plain(send))

    def _plain(self, send):
        async def sending(message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": self._with_headers(message.get("headers", []), self.plain_policy)}
            await send(message)

        return sending

    def _hashing(self, send, allow_eval: bool):
        """Hold an HTML response until its body is whole, then send it with its scripts' hashes."""
        start: dict | None = None
        chunks: list[bytes] = []
        size = 0

        async def sending(message) -> None:
            nonlocal start, size
            if message["type"] == "http.response.start":
                headers = dict((k.lower(), v) for k, v in message.get("headers", []))
                if b"text/html" not in headers.get(b"content-type", b""):
                    message = {**message, "headers": self._with_headers(message.get("headers", []),
                                                                        self.plain_policy)}
                    await send(message)
                    return
                start = message
                return
            if start is None or message["type"] != "http.response.body":
                await send(message)
                return
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if message.get("more_body", False) and size <= MAX_HTML_BYTES:
                return
            body = b"".join(chunks)
            chunks.clear()
            headers = start.get("headers", [])
            encoding = dict((k.lower(), v) for k, v in headers).get(b"content-encoding", b"").lower()
            hashes = inline_script_hashes(_decoded(body, encoding)) if size <= MAX_HTML_BYTES else []
            policy = content_security_policy(hashes, allow_eval=allow_eval).encode()
            first = {**start, "headers": self._with_headers(headers, policy)}
            start = None
            await send(first)
            await send({"type": "http.response.body", "body": body, "more_body": message.get("more_body", False)})

        return sending

    @staticmethod
    def _with_headers(headers, policy: bytes) -> list:
        kept = [(k, v) for k, v in headers if k.lower() not in (
            b"content-security-policy", b"x-frame-options", b"referrer-policy", b"x-content-type-options")]
        return kept + [(b"content-security-policy", policy)] + STATIC_HEADERS

    async def _refuse_host(self, scope, send, host: str) -> None:
        name = host_name(host)[:100]
        if name not in self._refused_hosts and len(self._refused_hosts) < 100:
            self._refused_hosts.add(name)
            log.warning("refused a request for host %r: add it to BOT_ALLOWED_HOSTS if the app should answer "
                        "to it", name)
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 4400})
            return
        body = json.dumps({"detail": f"This server does not answer to the host name {name!r}. Its operator lists "
                                     "the names it answers to in BOT_ALLOWED_HOSTS."}).encode()
        await send({"type": "http.response.start", "status": 400, "headers": [
            (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
            (b"content-security-policy", self.plain_policy), *STATIC_HEADERS]})
        await send({"type": "http.response.body", "body": body})


def _decoded(body: bytes, encoding: bytes) -> bytes:
    """The page's bytes before any Content-Encoding (the hashes are of the text the browser runs)."""
    try:
        if encoding == b"gzip":
            return gzip.decompress(body)
        if encoding == b"br":
            import brotli

            return brotli.decompress(body)
    except Exception as exc:  # a page we can't decode gets no inline scripts; the browser test would show it
        log.warning("could not decode a %s page to hash its scripts: %s", encoding.decode(), exc)
        return b""
    return body
