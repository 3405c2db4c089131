"""Load: simulated users asking varied SciFact training claims through /api/ask and the Gradio chat.

    # the whole stack (Chroma server, 2 workers, nginx) on SciFact, 60 s per run, 50/100/200 users:
    .venv/bin/python bench/load.py --data-dir /work/data-team --users 50 100 200 --seconds 60

    # against a stack already running (users created beforehand, all with one password):
    .venv/bin/python bench/load.py --url http://127.0.0.1:8080/bot/ --user-prefix load --password PW

Each simulated user signs in (the chat: the login form, then Gradio's queue protocol in its
own browser-tab session, a new tab every 5 questions; the API: HTTP basic auth), then asks a
random training claim, waits 1-3 s, and asks again, until the run's time is up. Every reply
is checked against its own question (the chat: the session's whole transcript), so a reply
meant for someone else counts as a wrong-user response. Reported per run: requests,
throughput, latency percentiles (the chat: from sending the question to the last streamed
block), errors by kind, wrong-user replies, and the load average.

The load generator shares the machine with what it measures (on 2 cores, it costs the app
CPU); figures on a busy shared machine are noisy: read them beside the load average.
Per-address rate limits are switched off for these runs (all users come from 127.0.0.1).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import sys
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from deploy.clients import GradioChat, Reply, ask_api, sign_in  # noqa: E402

SCIFACT = (ROOT.parent / "shared" / "eval" / "scifact").resolve()
QUESTIONS_PER_TAB = 5


@dataclass
class LoadResult:
    mode: str
    users: int
    seconds: float
    requests: int = 0
    ok: int = 0
    errors: dict = field(default_factory=dict)
    wrong_user: int = 0
    throughput: float = 0.0  # ok replies per second
    p50_ms: float = 0.0
    p95_ms: float = 0.0
    p99_ms: float = 0.0
    max_ms: float = 0.0
    loadavg: tuple = ()
    stack_cpu_ms_per_ok: float | None = None  # CPU the stack's processes used per good reply (noise-robust)

    def line(self) -> str:
        errors = sum(self.errors.values())
        kinds = ", ".join(f"{k}: {v}" for k, v in sorted(self.errors.items())) or "-"
        return (f"{self.mode:4} {self.users:4d} users  {self.requests:6d} req  {self.throughput:6.1f} ok/s  "
                f"p50 {self.p50_ms:7.0f} ms  p95 {self.p95_ms:7.0f} ms  p99 {self.p99_ms:7.0f} ms  "
                f"errors {errors} ({kinds})  wrong-user {self.wrong_user}  load {self.loadavg[0]:.1f}"
                + (f"  stack CPU {self.stack_cpu_ms_per_ok:.0f} ms/reply" if self.stack_cpu_ms_per_ok else ""))


def training_claims(scifact: Path = SCIFACT) -> list[str]:
    """SciFact's training claims (the queries with training qrels)."""
    train = {line.split("\t")[0] for line in (scifact / "qrels" / "train.tsv").read_text().splitlines()[1:]}
    claims = []
    with open(scifact / "queries.jsonl", encoding="utf-8") as handle:
        for line in handle:
            query = json.loads(line)
            if query["_id"] in train:
                claims.append(query["text"])
    return claims


async def _user(base_url: str, mode: str, name: str, password: str, questions: list[str], deadline: float,
                counted_from: float, replies: list[Reply], rng: random.Random, think: tuple[float, float],
                timeout: float) -> None:
    limits = httpx.Limits(max_connections=4, max_keepalive_connections=4)
    async with httpx.AsyncClient(base_url=base_url, timeout=timeout, limits=limits) as http:
        await asyncio.sleep(rng.uniform(0, think[1]))  # users arrive over the first seconds
        if mode == "chat":
            await sign_in(http, name, password)
            chat = await GradioChat.connect(http)
        auth = httpx.BasicAuth(name, password)
        asked = 0
        while time.monotonic() < deadline:
            question = rng.choice(questions)
            if mode == "chat":
                if asked and asked % QUESTIONS_PER_TAB == 0:
                    chat.new_session()
                reply = await chat.ask(question, timeout=timeout)
            else:
                reply = await ask_api(http, question, auth=auth, timeout=timeout)
            asked += 1
            if time.monotonic() >= counted_from:
                replies.append(reply)
            await asyncio.sleep(rng.uniform(*think))


async def run_load(base_url: str, mode: str, credentials: list[tuple[str, str]], questions: list[str], *,
                   seconds: float, warmup: float = 5.0, think: tuple[float, float] = (1.0, 3.0),
                   timeout: float = 60.0, seed: int = 1) -> tuple[LoadResult, list[Reply]]:
    """Run len(credentials) users for warmup + seconds; replies in the last `seconds` are counted."""
    start = time.monotonic()
    counted_from = start + warmup
    deadline = counted_from + seconds
    replies: list[Reply] = []
    rng = random.Random(seed)
    tasks = [
        _user(base_url, mode, name, password, questions, deadline, counted_from, replies,
              random.Random(rng.random()), think, timeout)
        for name, password in credentials
    ]
    outcomes = await asyncio.gather(*tasks, return_exceptions=True)
    failures = [o for o in outcomes if isinstance(o, BaseException)]
    result = summarize(mode, len(credentials), seconds, replies)
    for failure in failures:  # a user that could not even sign in is an error too
        result.errors[f"user failed: {failure.__class__.__name__}"] = result.errors.get(
            f"user failed: {failure.__class__.__name__}", 0) + 1
    return result, replies


def summarize(mode: str, users: int, seconds: float, replies: list[Reply]) -> LoadResult:
    result = LoadResult(mode=mode, users=users, seconds=seconds, loadavg=os.getloadavg())
    result.requests = len(replies)
    result.ok = sum(r.ok for r in replies)
    result.wrong_user = sum(r.wrong_user for r in replies)
    errors = Counter(f"HTTP {r.status}" if r.status not in (0, 200) else ("connection" if r.status == 0 else "bad reply")
                     for r in replies if not r.ok)
    result.errors = dict(errors)
    result.throughput = result.ok / seconds if seconds else 0.0
    latencies = sorted(r.seconds * 1000 for r in replies)
    if latencies:
        result.p50_ms = _percentile(latencies, 50)
        result.p95_ms = _percentile(latencies, 95)
        result.p99_ms = _percentile(latencies, 99)
        result.max_ms = latencies[-1]
    return result


def _percentile(sorted_values: list[float], p: float) -> float:
    if len(sorted_values) == 1:
        return sorted_values[0]
    return statistics.quantiles(sorted_values, n=100, method="inclusive")[int(p) - 1]


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time these processes have used so far."""
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def make_users(users_file: Path, count: int, prefix: str = "load", password: str = "load-test-password") -> list[tuple[str, str]]:
    """`count` users in the stack's users file (one per simulated user, so per-user limits apply as in life)."""
    from bot.auth.accounts import Accounts

    accounts = Accounts(users_file)
    existing = {u["name"] for u in accounts.users()}
    names = [f"{prefix}{i:03d}" for i in range(count)]
    for name in names:
        if name not in existing:
            accounts.add_user(name, password)
    return [(name, password) for name in names]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, nargs="+", default=[50, 100, 200])
    parser.add_argument("--mode", nargs="+", choices=["api", "chat"], default=["api", "chat"])
    parser.add_argument("--seconds", type=float, default=60.0, help="Measured time per run.")
    parser.add_argument("--warmup", type=float, default=10.0, help="Seconds before counting starts.")
    parser.add_argument("--url", help="An already running stack (its /bot/ URL); default: start one.")
    parser.add_argument("--user-prefix", default="load")
    parser.add_argument("--password", default="load-test-password")
    parser.add_argument("--users-file", type=Path, help="With --url: the stack's users file, to create users in.")
    parser.add_argument("--notes", type=Path, default=SCIFACT / "corpus.jsonl", help="Notes for a started stack.")
    parser.add_argument("--data-dir", type=Path, help="BOT_DATA_DIR for a started stack (reuse an embedding cache).")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--json", type=Path, help="Also write the results here.")
    args = parser.parse_args(argv)

    questions = training_claims()
    print(f"{len(questions)} SciFact training claims; {os.cpu_count()} cores; load average {os.getloadavg()[0]:.1f}")
    results = []
    stack = None
    try:
        if args.url:
            base_url = args.url
            users_file = args.users_file
        else:
            from deploy.stack import Stack

            settings = {"BOT_RATE_LIMIT_ADDRESS": "0"}
            if args.data_dir:
                settings["BOT_DATA_DIR"] = str(args.data_dir)
            stack = Stack(Path(tempfile.mkdtemp(prefix="notes-bot-load-")), args.notes, workers=args.workers,
                          settings=settings)
            started = time.perf_counter()
            stack.start()
            print(f"stack up in {time.perf_counter() - started:.0f} s at {stack.url}")
            base_url = stack.url
            users_file = Path(stack.env["BOT_USERS_FILE"])
        most = max(args.users)
        credentials = (make_users(users_file, most, args.user_prefix, args.password) if users_file else
                       [(f"{args.user_prefix}{i:03d}", args.password) for i in range(most)])
        for mode in args.mode:
            for count in args.users:
                pids = (stack.worker_pids() + [stack.processes[n].pid for n in ("chroma", "nginx")]) if stack else []
                before = cpu_seconds(pids)
                result, _ = asyncio.run(run_load(base_url, mode, credentials[:count], questions,
                                                 seconds=args.seconds, warmup=args.warmup))
                if pids and result.ok:  # over the whole run, warm-up included: an upper bound
                    result.stack_cpu_ms_per_ok = (cpu_seconds(pids) - before) * 1000 / (
                        result.ok * (args.seconds + args.warmup) / args.seconds)
                results.append(result)
                print(result.line(), flush=True)
    finally:
        if stack is not None:
            stack.stop()
            import shutil

            shutil.rmtree(stack.root, ignore_errors=True)
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in results], indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
