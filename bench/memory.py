"""Memory per worker: proportional set size (PSS) of the team stack's workers, 1 and 2 per host,
with the served index's arrays memory-mapped (shared) or read into each worker (private).

    .venv/bin/python bench/memory.py                          # SciFact, then its 300k-chunk replica
    .venv/bin/python bench/memory.py --chunks 0               # SciFact only
    .venv/bin/python bench/memory.py --corpus seeds --chunks 0
    .venv/bin/python bench/memory.py --skip-base               # a kept stack that holds the replicas

The real stack of deploy/stack.py (a `chroma run` server behind nginx with its token, `bot
ingest`, `bot serve --workers N`), under `<data dir>/bench/memory/` (kept: a second run reuses
the index). For each (sharing, workers) pair the workers are started afresh with
BOT_SHARE_INDEX_MEMORY on or off, each answers the same questions through POST /api/ask on its
own port, then every worker's PSS, RSS and private memory are read from
/proc/<pid>/smaps_rollup. PSS divides a page shared by k processes among them, so the sum of
the workers' PSS is what they cost the host together; RSS counts shared pages once per process.
"What the 2nd worker adds" is (PSS of 2 workers) - (PSS of 1 worker), over the 1 worker's PSS.

The scale point replicates the corpus as JSON Lines notes with new ids (the same texts) until
it has `--chunks` chunks: their vectors come from the embedding cache, so building it costs
Chroma's writes, not the encoder; nothing is asked of its ranking here (bench/scale.py
measures that), only how much memory a worker serving that many chunks holds.
Writes bench/results/memory.json and memory.md; the points of an earlier run that this one did
not measure (another label) are kept there, each with the date it was measured, so SciFact and
the scale point may come from two runs (`--skip-base` on a kept stack whose notes already hold
the replicas: its first point would be the scale point again).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import time
from pathlib import Path

import httpx
from common import RESULTS, ROOT, SCIFACT, fmt, machine, markdown_table, write_result

from bot.settings import Settings
import deploy.stack
from deploy.clients import ask_api
from deploy.stack import Stack

USER, PASSWORD = "memory", "memory-bench-password"
CONFIGS = ((False, 1), (False, 2), (True, 1), (True, 2))  # (share_index_memory, workers)


def smaps(pid: int) -> dict[str, float]:
    """PSS, RSS and private memory of a process, in MB (from /proc/<pid>/smaps_rollup)."""
    fields = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[2] == "kB":
            fields[parts[0].rstrip(":")] = int(parts[1]) / 1024
    return {"pss_mb": round(fields["Pss"], 1), "rss_mb": round(fields["Rss"], 1),
            "private_mb": round(fields.get("Private_Clean", 0) + fields.get("Private_Dirty", 0), 1)}


def questions(corpus: str, count: int) -> list[str]:
    if corpus == "scifact":
        lines = (SCIFACT / "queries.jsonl").read_text().splitlines()
        return [json.loads(line)["text"] for line in lines[:count]]
    base = ["What signal does RLVER use as its reward?", "Does warmth training make models less reliable?",
            "How do models learn empathy from feedback?", "What is reward hacking?"]
    return (base * count)[:count]


def prepare_notes(root: Path, corpus: str) -> Path:
    notes = root / "notes"
    notes.mkdir(parents=True, exist_ok=True)
    if corpus == "scifact":
        target = notes / "scifact.jsonl"
        if not target.exists():
            target.write_bytes((SCIFACT / "corpus.jsonl").read_bytes())
    else:
        for page in (ROOT / "seeds").glob("*.txt"):
            (notes / page.name).write_bytes(page.read_bytes())
    return notes


def add_replicas(notes: Path, corpus: str, chunks_now: int, target: int) -> int:
    """JSON Lines copies of the corpus with new ids, enough to reach about `target` chunks."""
    if chunks_now <= 0 or chunks_now >= target:
        return 0
    copies = -(-(target - chunks_now) // chunks_now)
    if corpus == "scifact":
        records = [json.loads(line) for line in (notes / "scifact.jsonl").read_text().splitlines() if line.strip()]
    else:
        records = [{"_id": p.stem, "title": p.stem, "text": p.read_text(encoding="utf-8")} for p in sorted(notes.glob("*.txt"))]
    for copy in range(1, copies + 1):
        path = notes / f"replica-{copy:03d}.jsonl"
        if path.exists():
            continue
        with open(path, "w", encoding="utf-8") as handle:
            for record in records:
                handle.write(json.dumps({"_id": f"{record['_id']}-r{copy}", "title": record.get("title", ""),
                                         "text": record["text"]}) + "\n")
    return copies


def index_counts(stack: Stack) -> dict:
    response = httpx.get(f"http://127.0.0.1:{stack.worker_ports[0]}/api/status", auth=(USER, PASSWORD), timeout=30)
    response.raise_for_status()
    return response.json()


async def ask_all(ports: list[int], asked: list[str]) -> int:
    answered = 0
    for port in ports:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}/", auth=(USER, PASSWORD)) as http:
            for question in asked:
                reply = await ask_api(http, question, timeout=120)
                answered += reply.ok
    return answered


def measure(stack: Stack, shared: bool, workers: int, asked: list[str]) -> dict:
    stack.workers = workers
    stack.env["BOT_SHARE_INDEX_MEMORY"] = "true" if shared else "false"
    started = time.perf_counter()
    try:
        stack.start_workers()
    except RuntimeError as exc:  # a worker that died starting (once: CPython 3.11's "AST constructor
        print(f"a worker failed to start; starting again: {str(exc)[-300:]}")  # recursion depth mismatch")
        stack.processes.pop("workers", None)
        started = time.perf_counter()
        stack.start_workers()
    ready = time.perf_counter() - started
    answered = asyncio.run(ask_all(stack.worker_ports, asked))
    # `bot serve --workers 1` serves in its own process; with more, its children are the workers
    pids = stack.worker_pids() if workers > 1 else [stack.processes["workers"].pid]
    per_worker = [smaps(pid) for pid in pids]
    process = stack.processes.pop("workers")
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=60)
    return {
        "shared": shared, "workers": workers, "ready_seconds": round(ready, 1),
        "answered": answered, "asked": len(asked) * workers, "per_worker": per_worker,
        "pss_total_mb": round(sum(w["pss_mb"] for w in per_worker), 1),
        "rss_total_mb": round(sum(w["rss_mb"] for w in per_worker), 1),
    }


def run_point(stack: Stack, label: str, asked: list[str], log) -> dict:
    counts = index_counts_once(stack)
    rows = []
    for shared, workers in CONFIGS:
        row = measure(stack, shared, workers, asked)
        log(f"{label}: shared={shared} workers={workers}: PSS {row['pss_total_mb']} MB "
            f"(per worker {[w['pss_mb'] for w in row['per_worker']]}), answered {row['answered']}/{row['asked']}")
        rows.append(row)
    point = {"label": label, **counts, "configs": rows}
    for shared in (False, True):
        one = next(r for r in rows if r["shared"] == shared and r["workers"] == 1)["pss_total_mb"]
        two = next(r for r in rows if r["shared"] == shared and r["workers"] == 2)["pss_total_mb"]
        point["second_worker_adds" + ("_shared" if shared else "_private")] = round((two - one) / one, 3)
    return point


def index_counts_once(stack: Stack) -> dict:
    """Notes and chunks of the committed index, read by one worker started for it."""
    stack.workers = 1
    stack.start_workers()
    try:
        status = index_counts(stack)
    finally:
        process = stack.processes.pop("workers")
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
    return {"notes": status.get("notes"), "chunks": status.get("chunks")}


def earlier_points(points: list[dict]) -> list[dict]:
    """The points of the last memory.json whose labels this run did not measure."""
    try:
        earlier = json.loads((RESULTS / "memory.json").read_text()).get("points", [])
    except (OSError, ValueError):
        return []
    labels = {p["label"] for p in points}
    return [p for p in earlier if p["label"] not in labels]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", choices=("scifact", "seeds"), default="scifact" if SCIFACT.exists() else "seeds")
    parser.add_argument("--chunks", type=int, default=300_000, help="the scale point (0: none)")
    parser.add_argument("--questions", type=int, default=20, help="questions each worker answers before measuring")
    parser.add_argument("--skip-base", action="store_true",
                        help="measure only the scale point (a kept stack whose notes already hold the replicas)")
    parser.add_argument("--precision", choices=("fp32", "int8"),
                        help="BOT_EMBEDDING_PRECISION for a new index (a kept one keeps its own)")
    args = parser.parse_args(argv)
    if args.corpus == "scifact" and not SCIFACT.exists():
        print(f"skipped: SciFact is not at {SCIFACT}")
        return 0
    deploy.stack.START_SECONDS = 3600  # the first start at 300k chunks builds the snapshot from Chroma
    root = Path(Settings().data_dir) / "bench" / "memory" / args.corpus
    notes = prepare_notes(root, args.corpus)
    asked = questions(args.corpus, args.questions)
    settings = {"BOT_RATE_LIMIT_USER": "0", "BOT_RATE_LIMIT_ADDRESS": "0"}
    if args.precision:
        settings["BOT_EMBEDDING_PRECISION"] = args.precision
    stack = Stack(root / "stack", notes, workers=2, settings=settings)
    points = []
    try:
        stack.start_chroma()
        stack.start_proxy()
        started = time.perf_counter()
        stack.ingest()
        print(f"ingested {args.corpus} in {time.perf_counter() - started:.0f} s")
        if not (stack.root / "etc" / "users.json").exists():  # a kept stack has its user already
            stack.add_user(USER, PASSWORD)
        if args.skip_base:
            chunks_now = 0  # the replicas are there already
        else:
            points.append(run_point(stack, args.corpus, asked, print))
            chunks_now = int(points[0]["chunks"] or 0)
        if args.chunks:
            add_replicas(notes, args.corpus, chunks_now, args.chunks)
            started = time.perf_counter()
            stack.ingest()
            print(f"ingested the replicas in {time.perf_counter() - started:.0f} s")
            points.append(run_point(stack, f"{args.corpus} x replicas", asked, print))
    finally:
        stack.stop()
    measured = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    for point in points:
        point["measured"] = measured
    points = earlier_points(points) + points
    rows = []
    for point in points:
        for config in point["configs"]:
            rows.append([point["label"], f"{point['chunks']:,}" if point["chunks"] else "?",
                         "mapped (shared)" if config["shared"] else "read in (private)", config["workers"],
                         " / ".join(fmt(w["pss_mb"], 0) for w in config["per_worker"]),
                         fmt(config["pss_total_mb"], 0), fmt(config["rss_total_mb"], 0),
                         f"{config['answered']}/{config['asked']}"])
    table = markdown_table(["index", "chunks", "snapshot arrays", "workers", "PSS per worker MB", "PSS total MB",
                            "RSS total MB", "answered"], rows)
    lines = [table, ""]
    for point in points:
        lines.append(f"- {point['label']} ({point['chunks']:,} chunks, measured {point.get('measured', '?')}): "
                     f"the 2nd worker adds "
                     f"{100 * point['second_worker_adds_private']:.0f}% of the first's memory with private arrays, "
                     f"{100 * point['second_worker_adds_shared']:.0f}% with mapped ones.")
    markdown = "\n".join(lines) + "\n\nPSS from /proc/<pid>/smaps_rollup after each worker answered the same questions.\n"
    write_result("memory", {"machine": machine(), "corpus": args.corpus, "points": points}, markdown)
    print(markdown)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
