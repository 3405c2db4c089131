"""What the browser tests share: the app started as a subprocess on a free loopback port with its
own data dir (stopped by PID), and Debian's Chromium driven by Playwright with a fresh profile.

In CI (`CI=true`) a missing browser or Playwright is a failure, never a skip.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from ..conftest import ROOT, free_port

ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
APP_START_SECONDS = 300  # a cold start builds the index (the model is loaded in a new process)


def chromium_path() -> str | None:
    found = os.environ.get("BOT_TEST_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    return found if Path(found).exists() else None


def require_browser() -> str:
    """Chromium's path; skips (fails in CI) when Playwright or Chromium is missing."""
    problems = []
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        problems.append("the playwright package is not installed (bash scripts/setup.sh test)")
    path = chromium_path()
    if path is None:
        problems.append("Debian's chromium is not installed (apt-get install chromium; scripts/test.sh does it)")
    if problems:
        message = "browser tests need " + " and ".join(problems)
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message + " (CI must run them)")
        pytest.skip(message)
    return path


class RunningApp:
    """`python app.py` in a subprocess; `url` is where it listens."""

    def __init__(self, notes: Path, data_dir: Path, *, root_path: str = "", log_path: Path,
                 extra_env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.data_dir = data_dir
        self.log_path = log_path
        env = {k: v for k, v in os.environ.items() if not k.startswith("BOT_")}
        env.update({
            "BOT_NOTES_DIR": str(notes), "BOT_DATA_DIR": str(data_dir), "BOT_PORT": str(self.port),
            "BOT_HOST": "127.0.0.1", "BOT_RESCAN_SECONDS": "0", "BOT_ROOT_PATH": root_path,
            "HF_HUB_OFFLINE": "1", "ANONYMIZED_TELEMETRY": "False", "GRADIO_ANALYTICS_ENABLED": "False",
        })
        env.update(extra_env or {})  # e.g. BOT_LLM_URL
        self._log = open(log_path, "wb")
        self.process = subprocess.Popen([sys.executable, str(ROOT / "app.py")], cwd=ROOT, env=env,
                                        stdout=self._log, stderr=subprocess.STDOUT)

    def wait_ready(self, seconds: float = APP_START_SECONDS) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the app exited with status {self.process.returncode}:\n{self.log_tail()}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.3)
        raise RuntimeError(f"the app was not ready within {seconds:.0f} s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 40) -> str:
        self._log.flush()
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        """Ctrl-C, as a person would; killed if it does not stop in time."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self._log.close()


@contextmanager
def running_app(notes: Path, data_dir: Path, *, root_path: str = "", name: str = "app",
                extra_env: dict[str, str] | None = None):
    ARTIFACTS.mkdir(exist_ok=True)
    app = RunningApp(notes, data_dir, root_path=root_path, log_path=ARTIFACTS / f"{name}.log", extra_env=extra_env)
    try:
        app.wait_ready()
        yield app
    finally:
        app.stop()


@contextmanager
def chromium(executable: str):
    """A fresh Chromium profile; yields the Playwright browser context."""
    from playwright.sync_api import sync_playwright

    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    try:
        with sync_playwright() as playwright:
            context = playwright.chromium.launch_persistent_context(
                profile, executable_path=executable, headless=True, args=CHROMIUM_FLAGS,
                viewport={"width": 1400, "height": 900},
            )
            try:
                yield context
            finally:
                context.close()
    finally:
        shutil.rmtree(profile, ignore_errors=True)
