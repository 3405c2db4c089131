"""`bot serve --workers N`: N app processes on ports PORT..PORT+N-1, kept running.

    run_workers(settings, 2)      # workers on 7860 and 7861; Ctrl-C (or SIGTERM) stops both

Each worker is a whole app (`bot serve` on its own port) reading the same Chroma server,
so any of them can answer anyone; a reverse proxy in front balances them with sticky
sessions (the Gradio chat keeps a session's state in its worker's memory), as in
deploy/nginx/notes-bot.conf. A worker that dies is started again (waiting longer after
each quick failure); the others keep serving meanwhile. Workers need a Chroma server:
an embedded store belongs to one process.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time

from ..settings import Settings
from .server import login_problem, port_problem

log = logging.getLogger(__name__)

STOP_SECONDS = 15
MAX_BACKOFF_SECONDS = 30.0
HEALTHY_SECONDS = 60.0  # a worker up this long is restarted without waiting


def run_workers(settings: Settings, count: int) -> int:
    """Run `count` workers until interrupted; 0 on a clean stop, 1 or 2 when they can't start."""
    if not settings.server_mode:
        log.error("several workers share one index only through a Chroma server: set BOT_CHROMA_HOST and "
                  "BOT_CHROMA_PORT (or BOT_CHROMA_URL), or run one worker (an embedded store belongs to one process)")
        return 2
    problem = login_problem(settings)
    if problem:  # every worker would stop at once with it
        log.error("%s", problem)
        return 1
    ports = [settings.port + i for i in range(count)]
    for port in ports:
        problem = port_problem(settings.host, port)
        if problem:
            log.error("%s", problem)
            return 1
    stopping = False

    def stop(signum, frame) -> None:
        nonlocal stopping
        stopping = True

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    workers: dict[int, subprocess.Popen] = {}
    started_at: dict[int, float] = {}
    backoff: dict[int, float] = {port: 1.0 for port in ports}
    due: dict[int, float] = {port: 0.0 for port in ports}
    try:
        while not stopping:
            now = time.monotonic()
            for port in ports:
                process = workers.get(port)
                if process is not None and process.poll() is None:
                    continue
                if process is not None:  # it died: note it, and when to start it again
                    workers.pop(port)
                    lived = now - started_at[port]
                    backoff[port] = 1.0 if lived > HEALTHY_SECONDS else min(MAX_BACKOFF_SECONDS, backoff[port] * 2)
                    due[port] = now + backoff[port]
                    log.warning("worker on port %d (pid %d) exited with status %s after %.0f s; restarting in %.0f s",
                                port, process.pid, process.returncode, lived, backoff[port])
                    continue
                if now >= due[port]:
                    workers[port] = _start(settings, port)
                    started_at[port] = now
                    log.info("worker on http://%s:%d started (pid %d)", settings.host, port, workers[port].pid)
            time.sleep(0.2)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        _stop_all(list(workers.values()))
    return 0


def _start(settings: Settings, port: int) -> subprocess.Popen:
    env = dict(os.environ)
    env.update({"BOT_HOST": settings.host, "BOT_PORT": str(port), "BOT_ROOT_PATH": settings.root_path,
                "BOT_NOTES_DIR": settings.notes_dir})
    return subprocess.Popen([sys.executable, "-m", "bot", "serve"], env=env)


def _stop_all(processes: list[subprocess.Popen]) -> None:
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_SECONDS
    for process in processes:
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            log.warning("worker pid %d did not stop in %d s; killing it", process.pid, STOP_SECONDS)
            process.kill()
            process.wait(timeout=10)
