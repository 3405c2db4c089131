"""Serve the app with uvicorn: `python app.py`, `bot serve`, `bash scripts/run.sh`.

    serve(Settings())        # blocks until Ctrl-C; returns the exit status

The index starts opening (loading the embedding model, which takes the longest)
before Gradio is imported, so the two overlap; the server listens as soon as
the app is built, and the chat answers once the index is open. A store that
can't be opened for good (locked by another process, say) stops the server
with its message and status 1.
"""

from __future__ import annotations

import errno
import logging
import os
import socket
import sys
import threading
import time

from ..auth.accounts import Accounts
from ..errors import AccountsError, SettingsError
from ..logs import setup_logging
from ..settings import Settings, load_settings
from .runtime import AppRuntime

log = logging.getLogger(__name__)

GRACEFUL_SHUTDOWN_SECONDS = 3


def serve(settings: Settings, *, log_level: str = "info") -> int:
    """Run the app until interrupted; 0 on a clean stop, 1 when the index could not be opened."""
    started = time.perf_counter()
    problem = port_problem(settings.host, settings.port)
    if problem:
        log.error("%s", problem)
        return 1
    problem = login_problem(settings)
    if problem:
        log.error("%s", problem)
        return 1
    runtime = AppRuntime(settings)
    runtime.start()  # the model loads while gradio imports below

    import uvicorn

    from .app import create_app

    app = create_app(settings, runtime=runtime)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        root_path=settings.root_path,
        log_level=log_level,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
        proxy_headers=True,
        access_log=False,
    )
    server = uvicorn.Server(config)

    def stop(message: str) -> None:
        server.should_exit = True

    runtime.on_fatal = stop
    if runtime.fatal:  # failed before we could listen for it
        return 1
    url = f"http://{settings.host}:{settings.port}/"
    where = f"{url} (served as {settings.root_path}/ by your reverse proxy)" if settings.root_path else url
    log.info("app built in %.1f s; listening on %s", time.perf_counter() - started, where)

    def announce() -> None:
        if runtime.wait_ready():
            print(f"\nnotes-bot is ready: {where}  (Ctrl-C to stop)\n", file=sys.stderr, flush=True)

    threading.Thread(target=announce, name="announce", daemon=True).start()
    code = 0
    try:
        server.run()
    except KeyboardInterrupt:  # uvicorn re-raises Ctrl-C once it has shut down cleanly
        pass
    except SystemExit as exc:  # uvicorn could not start (it has logged why)
        code = exc.code if isinstance(exc.code, int) else 1
    finally:
        runtime.close()
    code = code or (1 if runtime.fatal else 0)
    if runtime.busy:
        # Stopped while the index was still being built or updated. Ingest is crash-safe and the
        # next start resumes it; leave now rather than let the interpreter tear torch down under
        # a running thread (which aborts with "terminate called without an active exception").
        log.warning("stopped during an ingest; the next start resumes it")
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code


def login_problem(settings: Settings) -> str | None:
    """Why the app can't start its sign-in (login required, but nobody can sign in), or None."""
    if not settings.login_required:
        return None
    try:
        if Accounts(settings.users_path).has_users():
            return None
    except AccountsError as exc:
        return str(exc)
    why = "BOT_AUTH=required" if settings.auth == "required" else "; ".join(settings.login_reasons)
    return (f"sign-in is required ({why}) but {settings.users_path} has no users: add one with `bot users add NAME` "
            "(or set BOT_USERS_FILE), then start again; to serve without sign-in on purpose, set BOT_AUTH=open")


def port_problem(host: str, port: int) -> str | None:
    """Why the app can't listen on host:port (checked before the slow start), or None."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        return f"cannot listen on {host}:{port}: {exc.strerror or exc} (check BOT_HOST)"
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            reason = "is in use (is the app already running?)" if exc.errno == errno.EADDRINUSE else f": {exc.strerror}"
            return f"cannot listen on {host}:{port}: the port {reason}. Stop the other process or set BOT_PORT."
    return None


def main(argv: list[str] | None = None) -> int:
    """`python app.py`: settings from BOT_* variables and .env."""
    setup_logging(0, False)
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return exc.exit_code
    return serve(settings)
