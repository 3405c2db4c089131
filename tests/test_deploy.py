"""deploy/: the stack script runs the operator's files (systemd units, env file, nginx config) on
loopback and smoke-tests them; the files themselves are consistent with the app's settings."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bot.settings import Settings

from .conftest import ROOT, clean_env

pytestmark = pytest.mark.integration

DEPLOY = ROOT / "deploy"


def require_nginx() -> str:
    found = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    if found is None:
        message = "the stack tests need nginx (apt-get install nginx; scripts/test.sh does it)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message + " (CI must run them)")
        pytest.skip(message)
    return found


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}").exists() and "zombie" not in Path(f"/proc/{pid}/status").read_text().lower()


def test_the_stack_script_brings_it_all_up_smoke_tests_it_and_takes_it_down(tmp_path):
    require_nginx()
    scratch = tmp_path / "stack"
    env = clean_env()
    done = subprocess.run([sys.executable, str(DEPLOY / "stack.py"), "--dir", str(scratch)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=900)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-4000:]
    assert "smoke test passed" in done.stdout
    started = dict(re.findall(r"started (\w+) \(pid (\d+)\)", done.stdout))
    assert set(started) == {"chroma", "ingest", "workers", "nginx"}
    for name in ("chroma", "workers", "nginx"):
        assert f"stopped {name} (pid {started[name]})" in done.stdout
    assert not [pid for pid in map(int, started.values()) if _alive(pid)]
    # nothing of it is left running: no process mentions the scratch directory
    leftovers = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if str(scratch) in cmdline.read_bytes().decode(errors="replace"):
                leftovers.append(cmdline.parent.name)
        except OSError:
            pass
    assert leftovers == []
    for check in ("the API refuses a request without credentials", "the chat answers through the Gradio queue",
                  "a citation's link opens the note", "/docs (Swagger UI served by the app itself)",
                  "the Chroma server refuses a request without its token (401)",
                  "a request for another host name is refused (400)",
                  "a session signed out at one worker is refused by every worker",
                  "readyz: {\"state\":\"ready\""):
        assert check in done.stdout, check


def test_the_units_run_the_bot_with_the_env_file():
    from deploy.stack import read_env, read_unit

    chroma = read_unit(DEPLOY / "systemd" / "notes-bot-chroma.service")
    assert chroma["Service.ExecStart"][0].startswith("/opt/notes-bot/.venv/bin/chroma run --path /var/lib/notes-bot/chroma")
    assert "--host 127.0.0.1 --port 8000" in chroma["Service.ExecStart"][0]  # loopback only: nginx publishes it
    app = read_unit(DEPLOY / "systemd" / "notes-bot.service")
    assert app["Service.EnvironmentFile"] == ["/etc/notes-bot/env"]
    assert app["Service.ExecStart"] == ["/opt/notes-bot/.venv/bin/bot serve --workers 2"]
    assert "notes-bot-chroma.service" in app["Unit.After"][0]
    ingest = read_unit(DEPLOY / "systemd" / "notes-bot-ingest.service")
    assert ingest["Service.Type"] == ["oneshot"] and ingest["Service.ExecStart"][0].endswith("bot ingest --no-progress")
    timer = read_unit(DEPLOY / "systemd" / "notes-bot-ingest.timer")
    assert timer["Timer.OnCalendar"] == ["*:0/15"] and timer["Install.WantedBy"] == ["timers.target"]
    env = read_env(DEPLOY / "env.example")
    unknown = [k for k in env if k.startswith("BOT_") and k[4:].lower() not in Settings.model_fields]
    assert unknown == []
    settings = Settings(**{k[4:].lower(): v for k, v in env.items() if k.startswith("BOT_")})
    assert settings.server_mode and settings.login_required and settings.root_path == "/bot"
    assert settings.chroma_port == 8001 and settings.chroma_token is not None  # through the token-checking proxy
    assert settings.trusted_hosts == ["notes.example.org"]


def test_the_nginx_config_is_valid_nginx(tmp_path):
    nginx = require_nginx()
    site = (DEPLOY / "nginx" / "notes-bot.conf").read_text()
    assert "hash $notes_bot_affinity consistent;" in site and "proxy_buffering off;" in site
    assert "include /etc/notes-bot/chroma-token.map;" in site and "return 401;" in site
    site = site.replace("listen 80;", "listen 127.0.0.1:8999;").replace("listen 8001;", "listen 127.0.0.1:8998;")
    site = site.replace("/etc/notes-bot/chroma-token.map", str(tmp_path / "chroma-token.map"))
    (tmp_path / "chroma-token.map").write_text('"~^' + "0123abcd" * 8 + '$" 1;\n')  # as long as a real one
    (tmp_path / "notes-bot.conf").write_text(site)
    (tmp_path / "nginx.conf").write_text(
        f"pid {tmp_path}/nginx.pid; error_log {tmp_path}/error.log; events {{}}\n"
        f"http {{ access_log off; include {tmp_path}/notes-bot.conf; }}\n")
    checked = subprocess.run([nginx, "-t", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf"),
                              "-e", str(tmp_path / "error.log")], capture_output=True, text=True, timeout=30)
    assert checked.returncode == 0, checked.stderr
    assert "syntax is ok" in checked.stderr


def test_serve_with_several_workers_needs_a_chroma_server(tmp_path):
    env = clean_env()
    env["BOT_DATA_DIR"] = str(tmp_path)
    done = subprocess.run([sys.executable, "-m", "bot", "serve", "--workers", "2"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "BOT_CHROMA_HOST" in done.stderr and "Traceback" not in done.stderr
