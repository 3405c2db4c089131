"""Bring the whole team stack up on loopback from the files in deploy/, smoke-test it, take it down.

    .venv/bin/python deploy/stack.py                 # seeds/, 2 workers, nginx at /bot; exit 0 when all is well
    .venv/bin/python deploy/stack.py --keep          # leave it running; prints the PIDs to stop
    .venv/bin/python deploy/stack.py --notes DIR

What runs is what an operator installs: each process is started from the `ExecStart=` of
its systemd unit (deploy/systemd/*.service) with the settings of deploy/env.example, and
nginx from deploy/nginx/notes-bot.conf, with only paths, ports and the Chroma token
rewritten to a scratch directory, free loopback ports and a fresh random token:

    notes-bot-chroma.service   chroma run                      (the index, on loopback only)
    nginx/notes-bot.conf       nginx: the app at /bot/ with sticky sessions, and Chroma behind
                               its token (X-Chroma-Token), which is how everything reaches it
    notes-bot-ingest.service   bot ingest                      (run once, as the timer would)
    notes-bot.service          bot serve --workers 2           (two workers, sign-in required)

The smoke test then signs in and uses the chat, the API and the note pages through nginx.
Everything is stopped by PID at the end (also on Ctrl-C or a failed check).
The `Stack` class is what the tests and the fault benchmark drive.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

DEPLOY = Path(__file__).resolve().parent
ROOT = DEPLOY.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

SMOKE_USER, SMOKE_PASSWORD = "smoke", "smoke-test-password"
START_SECONDS = 300


# --- reading the operator's files -------------------------------------------------------------


def read_unit(path: Path) -> dict[str, list[str]]:
    """A systemd unit as {"Section.Key": [values...]} (keys may repeat)."""
    found: dict[str, list[str]] = {}
    section = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
            continue
        key, _, value = line.partition("=")
        found.setdefault(f"{section}.{key.strip()}", []).append(value.strip())
    return found


def read_env(path: Path) -> dict[str, str]:
    """An EnvironmentFile: KEY=VALUE lines, comments ignored."""
    env = {}
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if line and not line.startswith("#") and "=" in line:
            key, _, value = line.partition("=")
            env[key.strip()] = value.strip()
    return env


def free_port(consecutive: int = 1) -> int:
    """A free loopback port (the first of `consecutive` free ones)."""
    for _ in range(200):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        if port + consecutive >= 65535:
            continue
        if all(_free(port + i) for i in range(1, consecutive)):
            return port
    raise RuntimeError("no free loopback ports")


def _free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


# --- the stack ---------------------------------------------------------------------------------


class Stack:
    """The loopback stack under `root` (a scratch directory), started piece by piece."""

    def __init__(self, root: Path, notes: Path, *, workers: int = 2, settings: dict[str, str] | None = None,
                 log=print) -> None:
        self.root = Path(root)
        self.notes = Path(notes).resolve()
        self.workers = workers
        self.log = log
        self.bin = Path(sys.executable).parent
        taken: set[int] = set()  # a port is free until someone listens: never hand one out twice

        def port(consecutive: int = 1) -> int:
            while True:
                first = free_port(consecutive)
                wanted = set(range(first, first + consecutive))
                if not wanted & taken:
                    taken.update(wanted)
                    return first

        self.chroma_port = port()  # `chroma run` itself, on loopback
        self.chroma_proxy_port = port()  # nginx in front of it, checking the token
        self.chroma_token = secrets.token_hex(32)
        self.worker_port = port(workers)
        self.proxy_port = port()
        self.prefix = "/bot"
        self.url = f"http://127.0.0.1:{self.proxy_port}{self.prefix}/"
        self.processes: dict[str, subprocess.Popen] = {}
        for name in ("var", "etc", "logs", "nginx"):
            (self.root / name).mkdir(parents=True, exist_ok=True)
        self.env = self._environment(settings or {})

    # paths and ports of the operator's files, rewritten for this scratch stack
    def _rewrite(self, text: str) -> str:
        text = text.replace("/opt/notes-bot/.venv/bin/", f"{self.bin}/")
        text = text.replace("/var/lib/notes-bot", str(self.root / "var"))
        text = text.replace("/etc/notes-bot", str(self.root / "etc"))
        return text.replace("/srv/notes", str(self.notes))

    def _environment(self, settings: dict[str, str]) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("BOT_")}
        for key, value in read_env(DEPLOY / "env.example").items():
            env[key] = self._rewrite(value)
        if env.get("BOT_CHROMA_PORT") != "8001" or env.get("BOT_PORT") != "7861" or env.get("BOT_ROOT_PATH") != "/bot":
            raise RuntimeError("deploy/env.example changed its ports or root path; update deploy/stack.py to match")
        if "BOT_CHROMA_TOKEN" not in env:
            raise RuntimeError("deploy/env.example no longer sets BOT_CHROMA_TOKEN; update deploy/stack.py")
        env.update({"BOT_CHROMA_PORT": str(self.chroma_proxy_port), "BOT_PORT": str(self.worker_port),
                    "BOT_CHROMA_TOKEN": self.chroma_token, "BOT_ALLOWED_HOSTS": "127.0.0.1,localhost"})
        # the model's ONNX export is made once per machine: the scratch stack uses this machine's
        from bot.settings import default_model_cache_dir

        env["BOT_MODEL_CACHE_DIR"] = os.environ.get("BOT_MODEL_CACHE_DIR") or str(default_model_cache_dir())
        env.update(settings)
        (self.root / "var" / "app").mkdir(parents=True, exist_ok=True)
        return env

    def command(self, unit: str) -> list[str]:
        """The ExecStart of a unit in deploy/systemd, rewritten for this stack."""
        exec_start = read_unit(DEPLOY / "systemd" / unit)["Service.ExecStart"][0]
        exec_start = self._rewrite(exec_start)
        if unit == "notes-bot-chroma.service":
            if "--port 8000" not in exec_start:
                raise RuntimeError(f"{unit} no longer says --port 8000; update deploy/stack.py")
            exec_start = exec_start.replace("--port 8000", f"--port {self.chroma_port}")
        if unit == "notes-bot.service":
            exec_start = re.sub(r"--workers \d+", f"--workers {self.workers}", exec_start)
        return exec_start.split()

    def _spawn(self, name: str, argv: list[str]) -> subprocess.Popen:
        log = open(self.root / "logs" / f"{name}.log", "ab")
        process = subprocess.Popen(argv, env=self.env, cwd=self.root / "var", stdout=log, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL)
        log.close()
        self.processes[name] = process
        self.log(f"started {name} (pid {process.pid}): {' '.join(argv)}")
        return process

    # --- the pieces ---------------------------------------------------------------------------

    def start_chroma(self) -> None:
        self._spawn("chroma", self.command("notes-bot-chroma.service"))
        _wait_for(f"http://127.0.0.1:{self.chroma_port}/api/v2/heartbeat", self.processes["chroma"], 90,
                  self.root / "logs" / "chroma.log")

    def kill_chroma(self, sig: int = signal.SIGKILL) -> None:
        self._signal("chroma", sig)

    def ingest(self, wait: bool = True) -> subprocess.Popen:
        """One run of notes-bot-ingest.service (the timer's job)."""
        process = self._spawn("ingest", self.command("notes-bot-ingest.service"))
        if wait and process.wait(timeout=1800) != 0:
            raise RuntimeError(f"ingest failed:\n{_tail(self.root / 'logs' / 'ingest.log')}")
        return process

    def add_user(self, name: str, password: str) -> None:
        subprocess.run([str(self.bin / "bot"), "users", "add", name, "--password-stdin"], input=password + "\n",
                       env=self.env, check=True, capture_output=True, text=True)

    def create_token(self, name: str) -> str:
        done = subprocess.run([str(self.bin / "bot"), "tokens", "create", name], env=self.env, check=True,
                              capture_output=True, text=True)
        return done.stdout.strip()

    def start_workers(self) -> None:
        self._spawn("workers", self.command("notes-bot.service"))
        for port in self.worker_ports:
            _wait_for(f"http://127.0.0.1:{port}/readyz", self.processes["workers"], START_SECONDS,
                      self.root / "logs" / "workers.log")

    @property
    def worker_ports(self) -> list[int]:
        return [self.worker_port + i for i in range(self.workers)]

    def worker_pids(self) -> list[int]:
        """The worker processes `bot serve --workers` runs (its children)."""
        supervisor = self.processes["workers"].pid
        try:
            children = Path(f"/proc/{supervisor}/task/{supervisor}/children").read_text().split()
        except OSError:
            return []
        return [int(pid) for pid in children]

    def start_proxy(self) -> None:
        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        if not Path(nginx).exists():
            raise RuntimeError("nginx is not installed (apt-get install nginx; scripts/test.sh does it)")
        prefix = self.root / "nginx"
        site = (DEPLOY / "nginx" / "notes-bot.conf").read_text()
        for needle in ("listen 80;", "server 127.0.0.1:7861 ", "server 127.0.0.1:7862 ", "listen 8001;",
                       "proxy_pass http://127.0.0.1:8000;", "include /etc/notes-bot/chroma-token.map;"):
            if needle not in site:
                raise RuntimeError(f"deploy/nginx/notes-bot.conf no longer has {needle!r}; update deploy/stack.py")
        site = site.replace("listen 80;", f"listen 127.0.0.1:{self.proxy_port};")
        site = site.replace("listen 8001;", f"listen 127.0.0.1:{self.chroma_proxy_port};")
        site = site.replace("proxy_pass http://127.0.0.1:8000;", f"proxy_pass http://127.0.0.1:{self.chroma_port};")
        token_map = self.root / "etc" / "chroma-token.map"
        token_map.write_text(f'"~^{self.chroma_token}$" 1;\n')
        os.chmod(token_map, 0o600)
        site = self._rewrite(site)
        options = re.search(r"    server 127\.0\.0\.1:7861 ([^\n]*)\n", site).group(1)  # kept as the file has them
        servers = "".join(f"    server 127.0.0.1:{port} {options}\n" for port in self.worker_ports)
        site = re.sub(r"(    server 127\.0\.0\.1:786\d [^\n]*\n)+", servers, site)
        (prefix / "notes-bot.conf").write_text(site)
        for temp in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
            (prefix / "tmp" / temp).mkdir(parents=True, exist_ok=True)
            os.chmod(prefix / "tmp" / temp, 0o777)
        (prefix / "nginx.conf").write_text(f"""
worker_processes 1;
daemon off;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    log_format stack '$request_method $request_uri $status $upstream_addr';
    access_log {prefix}/access.log stack;
    client_body_temp_path {prefix}/tmp/body;
    proxy_temp_path {prefix}/tmp/proxy;
    fastcgi_temp_path {prefix}/tmp/fastcgi;
    uwsgi_temp_path {prefix}/tmp/uwsgi;
    scgi_temp_path {prefix}/tmp/scgi;
    include {prefix}/notes-bot.conf;
}}
""")
        self._spawn("nginx", [nginx, "-p", str(prefix), "-c", str(prefix / "nginx.conf"), "-e",
                              str(prefix / "error.log")])
        _wait_for(f"{self.chroma_url}api/v2/heartbeat", self.processes["nginx"], 30, prefix / "error.log",
                  headers={"X-Chroma-Token": self.chroma_token})

    @property
    def chroma_url(self) -> str:
        """Where everything reaches Chroma: nginx, which wants the token."""
        return f"http://127.0.0.1:{self.chroma_proxy_port}/"

    def access_log(self) -> list[tuple[str, str, int, str]]:
        """nginx's log so far: (method, uri, status, the worker that answered)."""
        rows = []
        for line in (self.root / "nginx" / "access.log").read_text().splitlines():
            parts = line.split(" ")
            if len(parts) >= 4:
                rows.append((parts[0], parts[1], int(parts[2]), parts[3]))
        return rows

    def start(self, users: dict[str, str] | None = None) -> None:
        """Everything, in order: Chroma, nginx (in front of Chroma and the workers), one ingest,
        users, the workers."""
        self.start_chroma()
        self.start_proxy()
        self.ingest()
        for name, password in (users or {SMOKE_USER: SMOKE_PASSWORD}).items():
            self.add_user(name, password)
        self.start_workers()
        _wait_for(f"{self.url}readyz", self.processes["nginx"], 60, self.root / "nginx" / "error.log")

    def stop(self) -> None:
        """Stop every process this stack started, by PID, newest first."""
        for name in reversed(list(self.processes)):
            process = self.processes[name]
            if process.poll() is None:
                process.send_signal(signal.SIGQUIT if name == "nginx" else signal.SIGTERM)
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(timeout=10)
                self.log(f"stopped {name} (pid {process.pid})")

    def _signal(self, name: str, sig: int) -> None:
        process = self.processes[name]
        if process.poll() is None:
            process.send_signal(sig)
            process.wait(timeout=30)

    def __enter__(self) -> Stack:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def _wait_for(url: str, process: subprocess.Popen, seconds: float, log_path: Path,
              headers: dict[str, str] | None = None) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url}: the process exited with status {process.returncode}:\n{_tail(log_path)}")
        try:
            if httpx.get(url, timeout=2, headers=headers).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"{url} was not ready within {seconds:.0f} s:\n{_tail(log_path)}")


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


# --- the smoke test ----------------------------------------------------------------------------


async def smoke(stack: Stack, question: str, log=print) -> None:
    """Sign in and use everything through the proxy; raises AssertionError at the first failure."""
    from deploy.clients import GradioChat, ask_api, sign_in

    def ok(what: str) -> None:
        log(f"  ok  {what}")

    async with httpx.AsyncClient(base_url=stack.url, timeout=60) as http:
        ready = await http.get("readyz")
        assert ready.status_code == 200 and ready.json() == {"state": "ready", "version": ready.json()["version"]}
        assert ready.json()["version"] >= 1, ready.text
        ok(f"readyz: {ready.text} (the state and version, nothing else)")
        assert (await http.get("healthz")).status_code == 200
        ok("healthz")
        status = (await http.get("api/status", auth=httpx.BasicAuth(SMOKE_USER, SMOKE_PASSWORD))).json()
        assert status["notes"] > 0 and status["collection"], status
        ok(f"api/status (signed in): index version {status['version']}, {status['notes']} notes, collection "
           f"{status['collection']}")
        async with httpx.AsyncClient(base_url=stack.chroma_url, timeout=10) as chroma:
            refused = await chroma.get("api/v2/heartbeat")
            wrong = await chroma.get("api/v2/heartbeat", headers={"X-Chroma-Token": "0" * 64})
            allowed = await chroma.get("api/v2/heartbeat", headers={"X-Chroma-Token": stack.chroma_token})
        assert refused.status_code == 401 and wrong.status_code == 401 and allowed.status_code == 200, \
            (refused.status_code, wrong.status_code, allowed.status_code)
        ok("the Chroma server refuses a request without its token (401) and answers one with it")
        refused = await http.post("api/ask", json={"question": question})
        assert refused.status_code == 401 and "www-authenticate" in refused.headers, refused.text
        ok("the API refuses a request without credentials (401)")
        page = await http.get("", headers={"accept": "text/html"})
        assert page.status_code == 303 and page.headers["location"].startswith(f"{stack.prefix}/login"), page.headers
        ok("the chat page sends a browser without a session to the sign-in page")
        reply = await ask_api(http, question, auth=httpx.BasicAuth(SMOKE_USER, SMOKE_PASSWORD))
        assert reply.ok, reply
        ok(f"POST /api/ask with HTTP basic auth answers the question ({reply.seconds * 1000:.0f} ms)")
        token = stack.create_token(SMOKE_USER)
        found = await http.get("api/search", params={"q": question, "k": 3}, headers={"authorization": f"Bearer {token}"})
        assert found.status_code == 200 and found.json()["results"], found.text
        ok("GET /api/search with a bearer token from `bot tokens create`")

        await sign_in(http, SMOKE_USER, SMOKE_PASSWORD)
        page = await http.get("", headers={"accept": "text/html"})
        assert page.status_code == 200 and "'sha256-" in page.headers["content-security-policy"], page.headers
        assert page.headers["x-frame-options"] == "DENY" and page.headers["referrer-policy"] == "same-origin"
        ok("signed in through /login (with the form's CSRF token); the chat page loads, with its CSP")
        stranger = await http.get("healthz", headers={"host": "evil.example"})
        assert stranger.status_code == 400, stranger.status_code
        ok("a request for another host name is refused (400)")
        await signed_out_everywhere(stack)
        ok("a session signed out at one worker is refused by every worker (in the same second as its sign-in)")
        chat = await GradioChat.connect(http)
        for attempt in ("first", "follow-up"):
            reply = await chat.ask(question if attempt == "first" else "and why is that?")
            assert reply.ok, reply
            ok(f"the chat answers through the Gradio queue ({attempt} question, {reply.seconds * 1000:.0f} ms)")
        answer = (await http.post("api/ask", json={"question": question})).json()
        if answer["citations"]:
            link = answer["citations"][0]["url"].lstrip("/")
            note = await http.get(link, headers={"accept": "text/html"})
            assert note.status_code == 200 and '<mark id="hl">' in note.text, note.status_code
            ok("a citation's link opens the note with the passage highlighted (the session cookie opens it)")
        docs = await http.get("docs")
        assert docs.status_code == 200 and "_docs_static/swagger-ui-bundle.js" in docs.text
        assert (await http.get("_docs_static/swagger-ui-bundle.js")).status_code == 200
        ok("/docs (Swagger UI served by the app itself)")


async def signed_out_everywhere(stack: Stack) -> None:
    """Sign in (through the proxy), sign out at the last worker directly, at once; every worker
    then refuses that cookie, while another session of the same user goes on."""
    from deploy.clients import sign_in

    async def session() -> str:
        async with httpx.AsyncClient(base_url=stack.url, timeout=60) as browser:
            await sign_in(browser, SMOKE_USER, SMOKE_PASSWORD)
            return browser.cookies["nb_session"]

    doomed, other = await session(), await session()
    workers = [f"http://127.0.0.1:{port}/" for port in stack.worker_ports]
    # a client of its own: the sign-out's Set-Cookie must not touch the caller's cookies
    async with httpx.AsyncClient(timeout=60) as direct:
        out = await direct.post(workers[-1] + "logout", headers={"cookie": f"nb_session={doomed}"})
        assert out.status_code == 303, out.status_code
        for worker in workers:
            refused = await direct.get(worker + "api/me", headers={"cookie": f"nb_session={doomed}"})
            assert refused.status_code == 401, (worker, refused.status_code)
            kept = await direct.get(worker + "api/me", headers={"cookie": f"nb_session={other}"})
            assert kept.status_code == 200 and kept.json()["user"] == SMOKE_USER, (worker, kept.status_code)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--notes", type=Path, default=ROOT / "seeds", help="Notes to ingest (default seeds/).")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--keep", action="store_true", help="Leave the stack running after the smoke test.")
    parser.add_argument("--dir", type=Path, help="Scratch directory (default: a new temporary one).")
    parser.add_argument("--question", default="Does warmth training make language models less reliable?")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    root = args.dir or Path(tempfile.mkdtemp(prefix="notes-bot-stack-"))
    stack = Stack(root, args.notes, workers=args.workers)
    started = time.perf_counter()
    try:
        stack.start()
        print(f"stack up in {time.perf_counter() - started:.0f} s: {stack.url} (workers on ports "
              f"{', '.join(map(str, stack.worker_ports))}, Chroma on {stack.chroma_port} behind nginx on "
              f"{stack.chroma_proxy_port} with its token; logs in {root / 'logs'})")
        asyncio.run(smoke(stack, args.question))
        print("smoke test passed")
        if args.keep:
            pids = " ".join(str(p.pid) for p in stack.processes.values() if p.poll() is None)
            print(f"left running; stop it with: kill {pids}")
            stack.processes.clear()
        return 0
    except (AssertionError, RuntimeError, subprocess.CalledProcessError) as exc:
        print(f"FAILED: {exc!r}", file=sys.stderr)
        return 1
    finally:
        stack.stop()
        if not args.keep and args.dir is None:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
