"""A scripted OpenAI-compatible server for the synthesis tests: real HTTP on a loopback port.

It speaks `POST /v1/chat/completions` (also `/chat/completions`) as OpenAI does: a JSON
`chat.completion`, or with `"stream": true` server-sent events of `chat.completion.chunk`s over
chunked transfer encoding, ending with `data: [DONE]`. What it answers is scripted per request:

    POST /_script   [behaviour, ...]   replaces the queue; each chat request takes the next one
    GET  /_requests                    every request received: method, path, headers, JSON body
    POST /_reset                       empties both

    behaviour                          answer
    {"reply": "text", "chunk": 12}     the text (streamed in pieces of `chunk` characters)
    {"reply": ..., "pace": 0.05}       a streamed piece every 0.05 s (an LLM writing as it goes)
    {"sleep": 5, "reply": ...}         the same after 5 s without a byte (a slow server)
    {"status": 500, "error": "msg"}    that status with an OpenAI-style error body
    {"malformed": true}                200 with a body that is no chat completion (HTML; in a stream,
                                       an event that is not JSON)
    {"forever": true}                  a stream (or a body) that never ends: a piece every 0.1 s
    {"reply": ..., "no_done": true}    a stream that just stops, with no finish_reason or [DONE]
    {"reply": ..., "ignore_stream": 1} one JSON body even when a stream was asked for

Independently of the script: with SCRIPTED_LLM_API_KEY set, a request without
`Authorization: Bearer <that key>` gets 401 (its message echoing the key it got, as OpenAI's
does); with SCRIPTED_LLM_MODELS set (comma-separated), another model gets 404. A chat request with
nothing scripted gets 500 "nothing scripted", so a test that forgot to script fails loudly.

Run: `python tests/synthesis/llm_server.py` (binds a free port and prints `listening on http://...`), or in
tests through `ScriptedLLM`, which starts it as a subprocess and stops it by PID.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx

STOP = threading.Event()


class State:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.script: deque[dict] = deque()
        self.requests: list[dict] = []


STATE = State()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "ScriptedLLM/1.0"

    def log_message(self, format, *args) -> None:  # quiet: the tests read /_requests instead
        pass

    # --- routing ------------------------------------------------------------------------------

    def do_GET(self) -> None:
        if self.path == "/_requests":
            with STATE.lock:
                self._json(200, STATE.requests)
        else:
            self._json(404, {"error": {"message": f"no route {self.path}", "type": "not_found"}})

    def do_POST(self) -> None:
        body = self._body()
        if self.path == "/_script":
            with STATE.lock:
                STATE.script = deque(json.loads(body))
            self._json(200, {"scripted": len(STATE.script)})
            return
        if self.path == "/_reset":
            with STATE.lock:
                STATE.script.clear()
                STATE.requests.clear()
            self._json(200, {})
            return
        try:
            request = json.loads(body) if body else None
        except ValueError:
            request = {"unparsed": body.decode("utf-8", "replace")}
        with STATE.lock:
            STATE.requests.append({"method": "POST", "path": self.path, "headers": dict(self.headers.items()),
                                   "body": request})
        if self.path not in ("/v1/chat/completions", "/chat/completions"):
            self._json(404, {"error": {"message": f"no route {self.path}", "type": "not_found"}})
            return
        try:
            self._chat(request if isinstance(request, dict) else {})
        except OSError:  # the client gave up first (a deadline): nothing to answer
            self.close_connection = True

    # --- the chat endpoint ------------------------------------------------------------------

    def _chat(self, request: dict) -> None:
        key = os.environ.get("SCRIPTED_LLM_API_KEY")
        if key:
            given = self.headers.get("Authorization", "")
            if given != f"Bearer {key}":
                sent = given.removeprefix("Bearer ")
                self._json(401, {"error": {"message": f"Incorrect API key provided: {sent}.",
                                           "type": "invalid_request_error", "code": "invalid_api_key"}})
                return
        models = [m for m in os.environ.get("SCRIPTED_LLM_MODELS", "").split(",") if m]
        model = request.get("model", "")
        if models and model not in models:
            self._json(404, {"error": {"message": f"The model `{model}` does not exist or you do not have "
                                       "access to it.", "type": "invalid_request_error", "code": "model_not_found"}})
            return
        with STATE.lock:
            behaviour = STATE.script.popleft() if STATE.script else None
        if behaviour is None:
            self._json(500, {"error": {"message": "nothing scripted", "type": "server_error"}})
            return
        if behaviour.get("sleep") and STOP.wait(behaviour["sleep"]):
            return
        if "status" in behaviour:
            self._json(behaviour["status"], {"error": {"message": behaviour.get("error", "scripted failure"),
                                                       "type": "server_error"}})
            return
        stream = bool(request.get("stream")) and not behaviour.get("ignore_stream")
        if behaviour.get("malformed"):
            if stream:
                self._start_stream()
                self._send_event('{"id": "chatcmpl-1", "choices": [{"delta": {"content": "Hal')
                self._end_stream()
            else:
                self._raw(200, "text/html", b"<html><body>502 Bad Gateway</body></html>")
            return
        if behaviour.get("forever"):
            self._forever(stream, model)
            return
        text = behaviour.get("reply", "")
        if stream:
            self._stream_reply(text, model, int(behaviour.get("chunk", 12)), bool(behaviour.get("no_done")),
                               float(behaviour.get("pace", 0)))
        else:
            self._json(200, {
                "id": "chatcmpl-1", "object": "chat.completion", "created": int(time.time()), "model": model,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                             "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
            })

    def _stream_reply(self, text: str, model: str, chunk: int, no_done: bool, pace: float = 0.0) -> None:
        self._start_stream()
        self._send_event(json.dumps(_chunk(model, {"role": "assistant", "content": ""}, None)))
        for start in range(0, len(text), max(1, chunk)):
            if pace and STOP.wait(pace):
                return
            self._send_event(json.dumps(_chunk(model, {"content": text[start:start + chunk]}, None)))
        if not no_done:
            self._send_event(json.dumps(_chunk(model, {}, "stop")))
            self._send_event("[DONE]")
        self._end_stream()

    def _forever(self, stream: bool, model: str) -> None:
        try:
            if stream:
                self._start_stream()
                while not STOP.wait(0.1):
                    self._send_event(json.dumps(_chunk(model, {"content": "and on "}, None)))
            else:
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(10**9))
                self.end_headers()
                self.wfile.write(b'{"choices": [{"message": {"content": "')
                while not STOP.wait(0.1):
                    self.wfile.write(b"and on ")
                    self.wfile.flush()
        except OSError:  # the client hung up: what a deadline does
            self.close_connection = True

    # --- HTTP details -------------------------------------------------------------------------

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _json(self, status: int, data) -> None:
        self._raw(status, "application/json", json.dumps(data).encode())

    def _raw(self, status: int, content_type: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _start_stream(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

    def _send_event(self, data: str) -> None:
        payload = f"data: {data}\n\n".encode()
        self.wfile.write(b"%x\r\n%s\r\n" % (len(payload), payload))
        self.wfile.flush()

    def _end_stream(self) -> None:
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()


def _chunk(model: str, delta: dict, finish_reason: str | None) -> dict:
    return {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": int(time.time()), "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}]}


class Server(ThreadingHTTPServer):
    def handle_error(self, request, client_address) -> None:
        """A client that hangs up (a deadline, or a keep-alive connection closed) is no error."""
        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            return
        super().handle_error(request, client_address)


def serve(port: int = 0) -> None:
    server = Server(("127.0.0.1", port), Handler)
    server.daemon_threads = True

    def stop(*_):
        STOP.set()
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(f"listening on http://127.0.0.1:{server.server_address[1]}", flush=True)
    server.serve_forever(poll_interval=0.1)
    server.server_close()


class ScriptedLLM:
    """The scripted server as a subprocess on a free loopback port, for fixtures.

        with ScriptedLLM(api_key="sk-test", models=["notes-model"]) as llm:
            llm.script({"reply": "Warmth training cut reliability [1]."})
            LLMClient(llm.url, model="notes-model", api_key="sk-test").complete(messages)
            llm.requests()[-1]["headers"]["Authorization"]   # 'Bearer sk-test'
    """

    def __init__(self, *, api_key: str | None = None, models: list[str] | None = None) -> None:
        self.api_key = api_key
        self.models = models or []
        self.process: subprocess.Popen | None = None
        self.base = ""

    def start(self) -> ScriptedLLM:
        env = dict(os.environ, SCRIPTED_LLM_MODELS=",".join(self.models))
        env.pop("SCRIPTED_LLM_API_KEY", None)
        if self.api_key:
            env["SCRIPTED_LLM_API_KEY"] = self.api_key
        self.process = subprocess.Popen([sys.executable, __file__], stdout=subprocess.PIPE, text=True, env=env)
        line = self.process.stdout.readline().strip()
        if not line.startswith("listening on "):
            self.stop()
            raise RuntimeError(f"the scripted LLM server did not start: {line!r}")
        self.base = line.removeprefix("listening on ")
        return self

    @property
    def url(self) -> str:
        """The base URL a client is given (BOT_LLM_URL)."""
        return f"{self.base}/v1"

    def script(self, *behaviours: dict) -> None:
        httpx.post(f"{self.base}/_script", json=list(behaviours), timeout=5).raise_for_status()

    def requests(self) -> list[dict]:
        return httpx.get(f"{self.base}/_requests", timeout=5).json()

    def reset(self) -> None:
        httpx.post(f"{self.base}/_reset", timeout=5).raise_for_status()

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process.stdout.close()
        self.process = None

    def __enter__(self) -> ScriptedLLM:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


if __name__ == "__main__":
    serve(int(sys.argv[1]) if len(sys.argv) > 1 else 0)
