"""Clients that speak the app's protocols, as a browser or a tool would: sign in, the JSON API,
and the Gradio chat's own queue protocol (join an event, read its server-sent events).

Used by the stack smoke test (deploy/stack.py), the load and fault benchmarks (bench/) and
the tests. Every reply is checked against the question that was sent, so a response that
went to the wrong user (or the wrong session) is counted, never missed.

    async with httpx.AsyncClient(base_url="http://127.0.0.1:8080/bot") as http:
        await sign_in(http, "ada", "password")
        chat = await GradioChat.connect(http)
        reply = await chat.ask("Does warmth training make models less reliable?")
        reply.ok, reply.status, reply.seconds, reply.wrong_user
"""

from __future__ import annotations

import json
import re
import time
import uuid
from dataclasses import dataclass

import httpx

# What the chat's answer opens with when it answered (or abstained, or had nothing new): the
# composer's own phrases, plus the "N notes address this:" heading.
ANSWERED_HEADINGS = ("addresses this", "address this")


@dataclass
class Reply:
    """One request's outcome."""

    kind: str  # "api" or "chat"
    status: int  # HTTP status (the join's, for the chat); 0 when the connection failed
    seconds: float
    ok: bool = False
    wrong_user: bool = False  # the reply answered another question than the one asked
    detail: str = ""
    at: float = 0.0  # time.monotonic() when the request was sent
    retry_after: str | None = None


async def sign_in(http: httpx.AsyncClient, user: str, password: str) -> None:
    """Sign in through the form, as a browser does (the form's CSRF token with it); the client keeps
    the session cookie."""
    form = await http.get("login")
    token = csrf_token(form.text)
    response = await http.post("login", data={"username": user, "password": password, "next": "", "csrf": token})
    if response.status_code != 303 or "nb_session" not in http.cookies:
        raise RuntimeError(f"sign-in as {user} failed: {response.status_code} {response.text[:200]}")


def csrf_token(login_page: str) -> str:
    """The CSRF token in the sign-in form's hidden field ("" when the page has none)."""
    found = re.search(r'name="csrf" value="([^"]+)"', login_page)
    return found.group(1) if found else ""


async def ask_api(http: httpx.AsyncClient, question: str, auth: httpx.Auth | None = None,
                  timeout: float = 60.0) -> Reply:
    """POST /api/ask; ok when the Answer is for this very question and is an answer or an abstention."""
    started, at = time.perf_counter(), time.monotonic()
    try:
        response = await http.post("api/ask", json={"question": question}, auth=auth or httpx.USE_CLIENT_DEFAULT,
                                    timeout=timeout)
    except httpx.HTTPError as exc:
        return Reply("api", 0, time.perf_counter() - started, detail=f"{exc.__class__.__name__}: {exc}", at=at)
    seconds = time.perf_counter() - started
    if response.status_code != 200:
        return Reply("api", response.status_code, seconds, detail=response.text[:300], at=at,
                     retry_after=response.headers.get("retry-after"))
    answer = response.json()
    wrong = answer.get("question") != question.strip()
    ok = not wrong and (answer.get("abstained") or bool(answer.get("citations")))
    return Reply("api", 200, seconds, ok=ok, wrong_user=wrong, detail="" if ok else answer.get("answer", "")[:200],
                 at=at)


class GradioChat:
    """One browser tab's chat session over Gradio's queue protocol."""

    def __init__(self, http: httpx.AsyncClient, fn_index: int, trigger_id: int) -> None:
        self.http = http
        self.fn_index = fn_index
        self.trigger_id = trigger_id
        self.session_hash = uuid.uuid4().hex[:11]
        self.turns = 0

    @classmethod
    async def connect(cls, http: httpx.AsyncClient) -> GradioChat:
        """Read the page's config (as the browser does on load) and find the question box's event."""
        response = await http.get("config")
        response.raise_for_status()
        for dependency in response.json()["dependencies"]:
            if dependency.get("api_name") == "ask":
                return cls(http, dependency["id"], dependency["targets"][0][0])
        raise RuntimeError("the chat page has no 'ask' event")

    def new_session(self) -> None:
        """Start afresh, as a new browser tab would."""
        self.session_hash = uuid.uuid4().hex[:11]
        self.turns = 0

    async def ask(self, question: str, timeout: float = 60.0) -> Reply:
        """Send a question and read the streamed answer to its end; ok when the final chat shows
        this session's turns, the last being this question with an answer or an abstention."""
        started, at = time.perf_counter(), time.monotonic()
        body = {"data": [question, None, [], []], "event_data": None, "fn_index": self.fn_index,
                "trigger_id": self.trigger_id, "session_hash": self.session_hash}
        try:
            joined = await self.http.post("gradio_api/queue/join", json=body, timeout=timeout)
            if joined.status_code != 200:
                return Reply("chat", joined.status_code, time.perf_counter() - started, detail=joined.text[:300], at=at)
            event_id = joined.json()["event_id"]
            final = await self._read_until_done(event_id, timeout)
        except (httpx.HTTPError, ValueError, KeyError) as exc:
            return Reply("chat", 0, time.perf_counter() - started, detail=f"{exc.__class__.__name__}: {exc}", at=at)
        seconds = time.perf_counter() - started
        if final is None or not final.get("success", False):
            return Reply("chat", 200, seconds, detail=f"the event failed: {json.dumps(final)[:300]}", at=at)
        status, ok, wrong, detail = self.judge(final["output"]["data"], question)
        return Reply("chat", status, seconds, ok=ok, wrong_user=wrong, detail=detail, at=at)

    def judge(self, outputs: list, question: str) -> tuple[int, bool, bool, str]:
        """(status, ok, wrong_user, detail) of the ask event's final outputs (chat, state, sources,
        notice, box): ok when the chat shows this session's turns, the last being this question
        with an answer or an abstention. A question refused by the rate limit leaves the chat as
        it was and says so in the notice: that is a 429, not a reply for someone else."""
        from bot.query.compose import NOT_ADDRESSED, NOTHING_NEW, TOPIC_ONLY
        from bot.web.limits import TOO_MANY
        from bot.web.render import question_markdown

        messages = outputs[0] or []
        notice = outputs[3] if len(outputs) > 3 else ""
        notice = notice.get("value", "") if isinstance(notice, dict) else str(notice or "")
        if notice.startswith(TOO_MANY) and len(messages) == 2 * self.turns:
            return 429, False, False, notice[:300]
        self.turns += 1
        texts = [_text(m) for m in messages]
        wrong = len(messages) != 2 * self.turns or texts[-2] != question_markdown(question.strip())
        markers = ANSWERED_HEADINGS + (NOT_ADDRESSED, NOTHING_NEW, TOPIC_ONLY)
        ok = not wrong and any(marker in texts[-1] for marker in markers)
        return 200, ok, wrong, "" if ok else (texts[-1][:200] if texts else "an empty chat")

    async def _read_until_done(self, event_id: str, timeout: float) -> dict | None:
        async with self.http.stream("GET", "gradio_api/queue/data", params={"session_hash": self.session_hash},
                                    timeout=timeout) as stream:
            if stream.status_code != 200:
                raise httpx.HTTPStatusError(f"queue/data answered {stream.status_code}", request=stream.request,
                                            response=stream)
            async for line in stream.aiter_lines():
                if not line.startswith("data:"):
                    continue
                message = json.loads(line[5:])
                if message.get("event_id") not in (None, event_id):
                    continue
                if message.get("msg") == "process_completed":
                    return message
                if message.get("msg") in ("close_stream", "unexpected_error"):
                    return {"success": False, "msg": message}
        return None


def _text(message: dict) -> str:
    content = message.get("content")
    if isinstance(content, list):
        return "".join(part.get("text", "") for part in content if isinstance(part, dict))
    return str(content or "")
