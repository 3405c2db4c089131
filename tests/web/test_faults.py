"""Faults on the whole stack (Chroma server, two workers, nginx), checked for correctness, never timing:
a killed Chroma server means quick 503s and a /readyz that says so, then answers again after its
restart with nothing lost and no worker restarted; a killed worker leaves the other serving; a
killed ingest leaves the last complete version served, and the next ingest completes it.
A snapshot read while ingests commit and collect is whole or refused, never half."""

from __future__ import annotations

import shutil
import signal
import threading
import time
from pathlib import Path

import httpx
import pytest

from ..conftest import SEEDS
from ..test_deploy import require_nginx

pytestmark = pytest.mark.integration

USER, PASSWORD = "faults", "faults-password"
AUTH = httpx.BasicAuth(USER, PASSWORD)
QUESTION = "Do LLM therapists respond to emotions like low-quality human therapists?"
THERAPY_NOTE = "do-llm-therapists-respond-to-emotions-like-low-quality-human-therapists"
NO_HANG_SECONDS = 30.0  # a request that takes longer than this is a hang


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    require_nginx()
    from deploy.stack import Stack

    root = tmp_path_factory.mktemp("faults-stack")
    notes = root / "notes"
    shutil.copytree(SEEDS, notes)
    settings = {"BOT_POLL_SECONDS": "1", "BOT_RATE_LIMIT_ADDRESS": "0", "BOT_RATE_LIMIT_USER": "0"}
    with Stack(root, notes, workers=2, settings=settings, log=lambda _: None) as stack:
        stack.start(users={USER: PASSWORD})
        yield stack
    shutil.rmtree(root, ignore_errors=True)


def _ready(url: str) -> httpx.Response:
    return httpx.get(url + "readyz", timeout=NO_HANG_SECONDS)


def _status(url: str) -> dict:
    """What a signed-in user reads of a worker's index: state, version, counts, error, polls."""
    return httpx.get(url + "api/status", auth=AUTH, timeout=NO_HANG_SECONDS).json()


def _worker_urls(stack) -> list[str]:
    return [f"http://127.0.0.1:{port}/" for port in stack.worker_ports]


def _wait(condition, seconds: float, what: str):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"not within {seconds:.0f} s: {what}")


class Asker(threading.Thread):
    """Keeps asking through the proxy, recording (status, seconds, Retry-After) of each request."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.results: list[tuple[float, int, float, str | None]] = []
        self.details_503: list[str] = []  # what a refusal says
        self.stop = threading.Event()

    def run(self) -> None:
        with httpx.Client(base_url=self.url, auth=AUTH, timeout=NO_HANG_SECONDS) as http:
            while not self.stop.is_set():
                started = time.monotonic()
                try:
                    response = http.post("api/ask", json={"question": QUESTION})
                    status, retry = response.status_code, response.headers.get("retry-after")
                    if status == 503:
                        self.details_503.append(response.json()["detail"])
                except httpx.TimeoutException:
                    status, retry = -1, None  # a hang
                except httpx.TransportError:
                    status, retry = 0, None
                self.results.append((started, status, time.monotonic() - started, retry))
                time.sleep(0.05)


def test_a_chroma_outage_is_503_at_once_and_the_app_recovers_by_itself(stack):
    before = _status(stack.url)
    workers_before = sorted(stack.worker_pids())
    asker = Asker(stack.url)
    asker.start()
    try:
        _wait(lambda: any(s == 200 for _, s, _, _ in asker.results), 60, "a first answer")
        killed_at = time.monotonic()
        stack.kill_chroma(signal.SIGKILL)
        for url in _worker_urls(stack):
            down = _wait(lambda: (r := _ready(url)).status_code == 503 and r, 30, f"{url}readyz reporting the outage")
            assert down.json() == {"state": "unavailable", "version": before["version"]}  # nothing else
            assert down.headers["retry-after"]
            assert "unavailable" in _status(url)["error"]  # the reason is for signed-in users
        _wait(lambda: sum(1 for t, s, _, _ in asker.results if t > killed_at and s == 503) >= 5, 60, "503s")
        stack.start_chroma()
        restarted_at = time.monotonic()
        _wait(lambda: any(t > restarted_at and s == 200 for t, s, _, _ in asker.results), 60, "answers again")
    finally:
        asker.stop.set()
        asker.join(timeout=60)
    during = [(s, secs, retry) for t, s, secs, retry in asker.results if killed_at < t < restarted_at]
    assert during and all(s in (200, 503) for s, _, _ in during), during  # never a 500, never a hang
    refused = [(secs, retry) for s, secs, retry in during if s == 503]
    assert refused and all(retry for _, retry in refused)
    assert asker.details_503 and all("unreachable" in d and "http" not in d and str(stack.chroma_port) not in d
                                     for d in asker.details_503), asker.details_503[:3]
    assert all(secs < NO_HANG_SECONDS for secs, _ in refused)
    after = _status(stack.url)
    assert (after["version"], after["notes"], after["chunks"]) == (before["version"], before["notes"], before["chunks"])
    assert sorted(stack.worker_pids()) == workers_before  # no worker was restarted
    for url in _worker_urls(stack):
        _wait(lambda: _ready(url).status_code == 200, 30, f"{url} ready again")
        answer = httpx.post(url + "api/ask", json={"question": QUESTION}, auth=AUTH, timeout=NO_HANG_SECONDS).json()
        assert THERAPY_NOTE in {c["note_id"] for c in answer["citations"]}  # nothing ingested before was lost


def test_killing_one_worker_leaves_the_other_serving(stack):
    import os

    from bot.auth.accounts import Accounts

    accounts = Accounts(Path(stack.env["BOT_USERS_FILE"]))
    people = [(f"person{i}", f"password-{i}-long") for i in range(8)]
    for name, password in people:  # different credentials hash onto both workers
        if name not in {u["name"] for u in accounts.users()}:
            accounts.add_user(name, password)
    victim, survivor = stack.worker_pids()
    os.kill(victim, signal.SIGKILL)
    statuses = []
    for name, password in people * 2:  # the dead worker's users move to the other one
        response = httpx.post(stack.url + "api/ask", json={"question": QUESTION}, auth=(name, password),
                              timeout=NO_HANG_SECONDS)
        statuses.append(response.status_code)
    assert statuses == [200] * len(people) * 2
    assert survivor in stack.worker_pids()
    # `bot serve --workers` starts a new one in the dead one's place
    _wait(lambda: len(stack.worker_pids()) == 2 and victim not in stack.worker_pids(), 30, "a replacement worker")
    for url in _worker_urls(stack):
        _wait(lambda: _up(url) and httpx.get(url + "readyz", timeout=5).status_code == 200, 300, f"{url} ready")


def _up(url: str) -> bool:
    try:
        httpx.get(url + "healthz", timeout=2)
        return True
    except httpx.TransportError:
        return False


NEW_NOTES = 300  # more than one of ingest's write batches (256 chunks), so there is a "mid-way"


def _write_new_notes(folder: Path) -> None:
    folder.mkdir(exist_ok=True)
    for i in range(NEW_NOTES):
        sentences = " ".join(
            f"Observation {i}-{j} of the lighthouse keeper's log notes tide {i * 7 + j} and gull count {j * 13 + i}."
            for j in range(2))
        (folder / f"log-{i:03d}.md").write_text(f"# Lighthouse log {i}\n\n{sentences}\n", encoding="utf-8")


def _store(stack):
    from bot.index.fingerprint import model_fingerprint
    from bot.index.int8 import precision_fingerprint
    from bot.settings import Settings
    from bot.index.store import Store

    settings = Settings(chroma_host="127.0.0.1", chroma_port=stack.chroma_port, data_dir=stack.root / "probe")
    return Store.open(settings, precision_fingerprint(model_fingerprint(settings.embedding_model), settings.embedding_precision))


def test_a_killed_ingest_leaves_the_last_version_served_and_the_next_one_completes(stack):
    before = _status(stack.url)
    _write_new_notes(stack.notes / "lighthouse")
    store = _store(stack)
    try:
        ingest = stack.ingest(wait=False)
        _wait(lambda: "ingest_started" in store.metadata() or ingest.poll() is not None, 120, "the ingest to start")
        # the first batch's records are written (not yet committed): kill it while it embeds the next
        pending_seen = _wait(lambda: any(r.live_from > before["version"] for r in store.note_records())
                             or ingest.poll() is not None, 300, "the ingest to write records")
        ingest.send_signal(signal.SIGKILL)
        ingest.wait(timeout=30)
        assert ingest.returncode == -signal.SIGKILL, "the ingest finished before it could be killed"
        assert pending_seen and store.version() == before["version"]  # killed mid-way: nothing committed
        # each worker has checked the server twice since the kill (the first check may have begun before it)
        polls = {url: _status(url)["polls"] for url in _worker_urls(stack)}
        for url in _worker_urls(stack):
            _wait(lambda: _status(url)["polls"] >= polls[url] + 2, 60, f"{url} checking the server twice")
            ready = _status(url)
            assert (ready["version"], ready["notes"]) == (before["version"], before["notes"])
            answer = httpx.post(url + "api/ask", json={"question": QUESTION}, auth=AUTH, timeout=NO_HANG_SECONDS)
            assert answer.status_code == 200 and THERAPY_NOTE in {c["note_id"] for c in answer.json()["citations"]}
        stack.ingest(wait=True)  # the next run completes it
        assert store.version() == before["version"] + 1
    finally:
        store.close()
    for url in _worker_urls(stack):
        ready = _wait(lambda: (r := _status(url))["version"] == before["version"] + 1 and r, 120,
                      f"{url} picking up the new version")
        assert ready["notes"] == before["notes"] + NEW_NOTES
    found = httpx.get(stack.url + "api/search", params={"q": "lighthouse keeper tide 77 gull count", "k": 1},
                      auth=AUTH, timeout=NO_HANG_SECONDS).json()
    assert found["results"][0]["note"]["title"].startswith("Lighthouse log")


def test_a_snapshot_read_during_ingests_is_whole_or_refused(stack):
    """Workers read a version while `bot ingest` commits newer ones and deletes old records; every
    snapshot they get must hold each note's chunks exactly as a quiet read of that content does."""
    from bot.index.snapshot import build_snapshot
    from bot.errors import StoreError

    store = _store(stack)
    page = stack.notes / "churn.md"
    variants = [f"# Churn\n\n{'Alpha sentence about tides. ' * 40 * (k + 1)}\n" for k in range(3)]

    def chunk_counts(snapshot):
        counts: dict[str, int] = {}
        for row in snapshot.chunk_note:
            note = snapshot.notes[int(row)]
            counts[note.content_hash] = counts.get(note.content_hash, 0) + 1
        return counts

    reference: dict[str, int] = {}
    try:
        for text in variants:  # quiet reads: how many chunks each content has
            page.write_text(text)
            stack.ingest(wait=True)
            reference.update(chunk_counts(build_snapshot(store, store.version(), 384)))
        stop = threading.Event()
        problems: list[str] = []
        outcomes = {"whole": 0, "refused": 0}

        def churn():
            k = 0
            while not stop.is_set():
                page.write_text(variants[k % 3])
                k += 1
                stack.ingest(wait=True)

        writer = threading.Thread(target=churn, daemon=True)
        writer.start()
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline and outcomes["whole"] + outcomes["refused"] < 25:
            try:
                snapshot = build_snapshot(store, store.version(), 384)
            except StoreError as exc:
                assert "changed while it was being read" in str(exc)
                outcomes["refused"] += 1
                continue
            outcomes["whole"] += 1
            for content_hash, count in chunk_counts(snapshot).items():
                if content_hash in reference and count != reference[content_hash]:
                    problems.append(f"{count} chunks instead of {reference[content_hash]}")
        stop.set()
        writer.join(timeout=300)
    finally:
        store.close()
        page.unlink(missing_ok=True)
    assert problems == []
    assert outcomes["whole"] > 0


def test_the_chroma_server_is_reached_only_through_its_token(stack):
    """Workers and `bot ingest` reach Chroma through nginx with BOT_CHROMA_TOKEN; without it, or with
    another, nothing gets through, and the bot says which setting to fix."""
    from bot.errors import StoreUnavailable
    from bot.index.fingerprint import model_fingerprint
    from bot.index.int8 import precision_fingerprint
    from bot.index.store import Store
    from bot.settings import Settings

    assert stack.env["BOT_CHROMA_PORT"] == str(stack.chroma_proxy_port)  # what the workers were given
    assert httpx.get(stack.chroma_url + "api/v2/heartbeat").status_code == 401
    assert httpx.get(stack.chroma_url + "api/v2/collections").status_code == 401
    for token in (None, "0" * 64):
        settings = Settings(chroma_host="127.0.0.1", chroma_port=stack.chroma_proxy_port, chroma_token=token,
                            data_dir=stack.root / "probe")
        with pytest.raises(StoreUnavailable, match="BOT_CHROMA_TOKEN"):
            Store.open(settings, precision_fingerprint(model_fingerprint(settings.embedding_model), settings.embedding_precision))
    settings = Settings(chroma_host="127.0.0.1", chroma_port=stack.chroma_proxy_port,
                        chroma_token=stack.chroma_token, data_dir=stack.root / "probe")
    with Store.open(settings, precision_fingerprint(model_fingerprint(settings.embedding_model), settings.embedding_precision)) as store:
        assert store.version() >= 1
    for log in ("workers.log", "ingest.log", "chroma.log"):
        assert stack.chroma_token not in (stack.root / "logs" / log).read_text()  # never logged
