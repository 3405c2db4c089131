"""Faults under load, with figures: a Chroma outage, a killed worker, a killed ingest.

    .venv/bin/python bench/faults.py --data-dir /work/data-team            # SciFact, 30 API users
    .venv/bin/python bench/faults.py --notes seeds --users 10              # quicker, on the seed notes

Starts the whole stack (deploy/stack.py: Chroma server, 2 workers, nginx), keeps N simulated
users asking through /api/ask (1-3 s between questions), and meanwhile:

  1. kills the Chroma server (SIGKILL), waits, starts it again: how fast requests turn into
     503s (and how long a 503 takes), when each worker's /readyz reports it, how long after
     the restart the first answer comes, and that the index (version, notes, chunks) is intact;
  2. kills one worker (SIGKILL): replies that failed afterwards, and when the replacement is ready;
  3. adds notes and kills the ingest mid-way: replies during and after, the version served,
     and how long the next ingest and the workers' switch to its version take.

Figures are wall-clock on a shared machine: read them beside the load average printed.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from load import SCIFACT, make_users, training_claims  # noqa: E402

from deploy.stack import Stack  # noqa: E402


def _ready(url: str) -> httpx.Response | None:
    try:
        return httpx.get(url + "readyz", timeout=10)
    except httpx.HTTPError:
        return None


def _status(url: str, auth: httpx.Auth) -> dict:
    """A worker's (or the proxy's) index status as a signed-in user reads it (/api/status)."""
    return httpx.get(url + "api/status", auth=auth, timeout=10).json()


def _until(condition, seconds: float, step: float = 0.05):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(step)
    return None


def _window(replies, start: float, end: float):
    return [r for r in replies if start <= r.at < end]


def _ms(values) -> str:
    values = sorted(values)
    if not values:
        return "-"
    return f"median {statistics.median(values) * 1000:.0f} ms, max {values[-1] * 1000:.0f} ms"


def chroma_outage(stack: Stack, replies, outage_seconds: float) -> dict:
    workers = [f"http://127.0.0.1:{p}/" for p in stack.worker_ports]
    before = _ready(stack.url).json()
    pids_before = sorted(stack.worker_pids())
    killed = time.monotonic()
    stack.kill_chroma(signal.SIGKILL)
    seen_down = {}
    for url in workers:
        if _until(lambda: (r := _ready(url)) is not None and r.status_code == 503, 60):
            seen_down[url] = time.monotonic() - killed
    time.sleep(max(0.0, outage_seconds - (time.monotonic() - killed)))
    restarting = time.monotonic()
    stack.start_chroma()
    restarted = time.monotonic()
    first_ok = _until(lambda: next((r.at for r in replies if r.at > restarted and r.ok), None), 120)
    time.sleep(3)
    after = _ready(stack.url).json()
    during = _window(replies, killed, restarted)
    refused = [r for r in during if r.status == 503]
    first_503 = min((r.at for r in refused), default=None)
    return {
        "outage_s": round(restarted - killed, 1),
        "chroma_restart_s": round(restarted - restarting, 1),
        "requests_during": len(during),
        "statuses_during": {str(s): sum(1 for r in during if r.status == s) for s in sorted({r.status for r in during})},
        "first_503_after_kill_s": round(first_503 - killed, 2) if first_503 else None,
        "503_latency": _ms([r.seconds for r in refused]),
        "503_with_retry_after": sum(1 for r in refused if r.retry_after),
        "readyz_503_after_s": {u.split(":")[-1].rstrip("/"): round(v, 2) for u, v in seen_down.items()},
        "first_answer_after_restart_s": round(first_ok - restarted, 2) if first_ok else None,
        "index_intact": (before["version"], before["notes"], before["chunks"]) ==
                        (after["version"], after["notes"], after["chunks"]),
        "workers_restarted": sorted(stack.worker_pids()) != pids_before,
    }


def worker_kill(stack: Stack, replies, watch_seconds: float) -> dict:
    victim = stack.worker_pids()[0]
    killed = time.monotonic()
    os.kill(victim, signal.SIGKILL)
    replaced = _until(lambda: len(stack.worker_pids()) == 2 and victim not in stack.worker_pids(), 60, 0.2)
    ready = _until(lambda: all((r := _ready(f"http://127.0.0.1:{p}/")) is not None and r.status_code == 200
                               for p in stack.worker_ports), 600, 0.5)
    ready_at = time.monotonic()
    time.sleep(max(0.0, watch_seconds - (time.monotonic() - killed)))
    after = _window(replies, killed, time.monotonic())
    failed = [r for r in after if not r.ok]
    return {
        "requests_after_kill": len(after),
        "failed_after_kill": len(failed),
        "failures": sorted({f"{r.status} {r.detail[:60]}" for r in failed})[:5],
        "replacement_started": bool(replaced),
        "replacement_ready_s": round(ready_at - killed, 1) if ready else None,
    }


def ingest_kill(stack: Stack, replies, new_notes: int, auth: httpx.Auth) -> dict:
    from bot.index.fingerprint import model_fingerprint
    from bot.settings import Settings
    from bot.index.store import Store

    before = _status(stack.url, auth)
    folder = stack.notes / "lighthouse"
    folder.mkdir(exist_ok=True)
    for i in range(new_notes):
        (folder / f"log-{i:04d}.md").write_text(
            f"# Lighthouse log {i}\n\nThe keeper logged tide {i * 7} and gull count {i * 13}. "
            f"Fog horn sounded {i % 17} times before dawn.\n")
    settings = Settings(chroma_host="127.0.0.1", chroma_port=stack.chroma_port, data_dir=stack.root / "probe")
    store = Store.open(settings, model_fingerprint(settings.embedding_model))
    try:
        started = time.monotonic()
        ingest = stack.ingest(wait=False)
        _until(lambda: any(r.live_from > before["version"] for r in store.note_records()) or ingest.poll() is not None,
               900, 0.2)
        ingest.send_signal(signal.SIGKILL)
        ingest.wait(timeout=30)
        killed = time.monotonic()
        killed_mid_way = ingest.returncode == -signal.SIGKILL and store.version() == before["version"]
        workers = [f"http://127.0.0.1:{p}/" for p in stack.worker_ports]
        polls = {w: _status(w, auth)["polls"] for w in workers}  # every worker checks the server twice more
        _until(lambda: all(_status(w, auth)["polls"] >= polls[w] + 2 for w in workers), 120, 0.2)
        served_after_kill = [_status(w, auth)["version"] for w in workers]
        rerun = time.monotonic()
        stack.ingest(wait=True)
        completed = time.monotonic()
        switched = _until(lambda: all(_ready(f"http://127.0.0.1:{p}/").json()["version"] == before["version"] + 1
                                      for p in stack.worker_ports), 600, 0.5)
        switched_at = time.monotonic()
    finally:
        store.close()
    during = _window(replies, started, switched_at)
    return {
        "killed_after_s": round(killed - started, 1),
        "killed_mid_way": killed_mid_way,
        "version_served_after_kill": served_after_kill,
        "version_before": before["version"],
        "next_ingest_s": round(completed - rerun, 1),
        "workers_on_new_version_after_s": round(switched_at - completed, 1) if switched else None,
        "requests_meanwhile": len(during),
        "failed_meanwhile": sum(1 for r in during if not r.ok),
        "notes_after": _status(stack.url, auth)["notes"],
        "notes_before": before["notes"],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--notes", type=Path, default=SCIFACT / "corpus.jsonl")
    parser.add_argument("--data-dir", type=Path, help="BOT_DATA_DIR (reuse an embedding cache).")
    parser.add_argument("--users", type=int, default=30)
    parser.add_argument("--outage", type=float, default=15.0, help="Seconds the Chroma server stays down.")
    parser.add_argument("--new-notes", type=int, default=600)
    args = parser.parse_args(argv)
    root = Path(tempfile.mkdtemp(prefix="notes-bot-faults-"))
    notes = root / "notes"
    notes.mkdir()
    source = args.notes.resolve()
    if source.is_dir():
        shutil.copytree(source, notes / source.name)
    else:
        (notes / source.name).symlink_to(source)
    settings = {"BOT_RATE_LIMIT_ADDRESS": "0", "BOT_POLL_SECONDS": "2", "BOT_TORCH_THREADS": "1"}
    if args.data_dir:
        settings["BOT_DATA_DIR"] = str(args.data_dir)
    print(f"load average {os.getloadavg()[0]:.1f}; {args.users} API users; notes {source}")
    with Stack(root, notes, workers=2, settings=settings) as stack:
        stack.start()
        credentials = make_users(Path(stack.env["BOT_USERS_FILE"]), args.users, "faults")
        results = asyncio.run(_run(stack, credentials, training_claims(), args))
    shutil.rmtree(root, ignore_errors=True)
    for name, figures in results.items():
        print(f"\n{name}:")
        for key, value in figures.items():
            print(f"  {key}: {value}")
    print(f"\nload average {os.getloadavg()[0]:.1f}")
    return 0


async def _run(stack, credentials, questions, args):
    import random

    from deploy.clients import ask_api

    replies = []
    stop = asyncio.Event()

    async def user(name, password, rng):
        async with httpx.AsyncClient(base_url=stack.url, timeout=60) as http:
            auth = httpx.BasicAuth(name, password)
            await asyncio.sleep(rng.uniform(0, 3))
            while not stop.is_set():
                replies.append(await ask_api(http, rng.choice(questions), auth=auth, timeout=60))
                await asyncio.sleep(rng.uniform(1, 3))

    rng = random.Random(7)
    tasks = [asyncio.create_task(user(n, p, random.Random(rng.random()))) for n, p in credentials]
    results = {}
    try:
        await asyncio.sleep(10)
        results["chroma_outage"] = await asyncio.to_thread(chroma_outage, stack, replies, args.outage)
        await asyncio.sleep(5)
        results["worker_kill"] = await asyncio.to_thread(worker_kill, stack, replies, 15)
        await asyncio.sleep(5)
        results["ingest_kill"] = await asyncio.to_thread(ingest_kill, stack, replies, args.new_notes,
                                                         httpx.BasicAuth(*credentials[0]))
    finally:
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
    results["load"] = {"requests": len(replies), "ok": sum(r.ok for r in replies),
                       "wrong_user": sum(r.wrong_user for r in replies)}
    return results


if __name__ == "__main__":
    sys.exit(main())
