"""Request bodies the API reads as JSON: a guard in front that refuses, with a reason, what
FastAPI's JSON parsing would choke on (not UTF-8, not JSON, nested too deeply), and FastAPI's
validation errors said as sentences.

    app.add_middleware(JsonGuard)                           # a bad POST body to /api/*: 422, why
    json_problem(b'{"question": ')                          # -> 'The body is not valid JSON: ...'
    validation_message(exc.errors())                        # -> 'Invalid request: question: ...'
"""

from __future__ import annotations

import json

MAX_JSON_DEPTH = 32


class JsonGuard:
    """ASGI middleware: a POST to /api/* whose body FastAPI's JSON parsing would choke on (not
    UTF-8, not JSON, nested too deeply) is refused with a 422 that says what it is."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        path, root = scope.get("path", ""), scope.get("root_path", "")
        if root and path.startswith(root):
            path = path[len(root):]
        body = scope.get("state", {}).get("body")
        if not path.startswith("/api/") or body is None:  # BodyLimit has read every POST body
            await self.app(scope, receive, send)
            return
        problem = json_problem(body)
        if problem is None:
            await self.app(scope, receive, send)
            return
        payload = json.dumps({"detail": problem}).encode()
        await send({"type": "http.response.start", "status": 422,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]})
        await send({"type": "http.response.body", "body": payload})


def json_problem(body: bytes) -> str | None:
    """Why a request body can't be read as JSON (None when it can)."""
    if not body:
        return "The request has no body: send a JSON object (Content-Type: application/json)."
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        return f"The body is not valid UTF-8 (byte {exc.start}); send JSON encoded as UTF-8."
    try:
        value = json.loads(text)
    except RecursionError:
        return f"The JSON is nested too deeply (at most {MAX_JSON_DEPTH} levels)."
    except ValueError as exc:
        return f"The body is not valid JSON: {exc}."
    if _depth(value) > MAX_JSON_DEPTH:
        return f"The JSON is nested too deeply (at most {MAX_JSON_DEPTH} levels)."
    return None


def _depth(value, level: int = 1) -> int:
    if level > MAX_JSON_DEPTH:
        return level
    if isinstance(value, dict):
        return max([level] + [_depth(v, level + 1) for v in value.values()])
    if isinstance(value, list):
        return max([level] + [_depth(v, level + 1) for v in value])
    return level


def validation_message(errors) -> str:
    """FastAPI's validation errors as one readable sentence per problem."""
    parts = []
    for error in list(errors)[:5]:
        where = ".".join(str(p) for p in error.get("loc", ()) if p not in ("body",)) or "body"
        message = error.get("msg", "is not valid")
        if error.get("type") == "json_invalid":
            message = f"is not valid JSON ({error.get('ctx', {}).get('error', '')})"
        parts.append(f"{where}: {message}")
    return "Invalid request: " + "; ".join(parts) + "."
