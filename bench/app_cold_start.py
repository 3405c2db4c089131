"""Cold start and answer latency through the browser UI, measured with the real app and Chromium.

    .venv/bin/python bench/app_cold_start.py                      # the seeds and SciFact, 3 runs each
    .venv/bin/python bench/app_cold_start.py --collections seeds --runs 5

For each collection (`seeds`: the 25 seed notes; `scifact`: the 5,183 SciFact abstracts as notes)
the index is built first in a data dir of its own under `<data dir>/bench/cold-start/` (not
timed; SciFact reuses the embedding cache of earlier runs). Then each run starts
`python app.py` on that existing index and measures, from the moment the process is spawned:
  listening   the chat page first loads
  answered    the first question's complete answer is on the page (the issue 6 target: <= 15 s)
then asks --questions more questions in the same page and reports the time from pressing
Enter to the complete answer on the page. Chromium is started before the clock starts.
Figures are wall-clock on a shared machine: read them beside the load average and the CPU time
the app used to get there (which other processes can't inflate much).
Writes bench/results/cold_start.json and .md.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
QUESTIONS = [
    "Do LLM therapists respond to emotions like low-quality human therapists?",
    "Does warmth training make language models less reliable?",
    "Can emotion rewards make language models genuinely empathic?",
    "Do base models already contain hidden reasoning ability?",
    "Why can't chatbots detect when users are ambivalent about change?",
    "Does extended thinking help or hurt model reasoning?",
    "Do LLMs use moral language more than humans?",
    "Can scalar rewards capture all the information in agent feedback?",
    "Does preference optimization harm conversational understanding?",
    "Can AI systems learn social norms without embodied experience?",
    "Do harder training environments always produce better empathy?",
]
DONE = "s => { const b = [...document.querySelectorAll(s)]; return b.length && /Sources:|None of the notes/.test(b[b.length-1].innerText); }"
BOT = "#nb-chat [data-testid='bot']"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ask(page, question: str, answers_before: int) -> float:
    page.fill("#nb-question textarea", question)
    started = time.perf_counter()
    page.press("#nb-question textarea", "Enter")
    page.wait_for_function(
        "([s, n]) => { const b = document.querySelectorAll(s); return b.length > n && "
        "/Sources:|None of the notes/.test(b[b.length-1].innerText); }",
        arg=[BOT, answers_before], timeout=120_000, polling=10,
    )
    return time.perf_counter() - started


def one_run(context, env: dict, questions: int, asked: list[str] = QUESTIONS) -> dict:
    port = free_port()
    env = {**env, "BOT_PORT": str(port)}
    url = f"http://127.0.0.1:{port}/"
    log = open(Path(env["BOT_DATA_DIR"]) / "bench-app.log", "wb")
    page = context.new_page()
    spawned = time.perf_counter()
    process = subprocess.Popen([sys.executable, str(ROOT / "app.py")], cwd=ROOT, env=env, stdout=log,
                               stderr=subprocess.STDOUT)
    try:
        while True:
            try:
                page.goto(url, timeout=60_000)
                page.wait_for_selector("#nb-question textarea", timeout=60_000)
                break
            except Exception:
                if process.poll() is not None:
                    raise RuntimeError("the app exited; see bench-app.log")
                time.sleep(0.05)
        listening = time.perf_counter() - spawned
        ask(page, asked[0], 0)
        answered = time.perf_counter() - spawned
        cpu = cpu_seconds(process.pid)
        latencies = [ask(page, q, i + 1) for i, q in enumerate(asked[1:questions + 1])]
    finally:
        page.close()
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()
    return {"listening_s": round(listening, 2), "first_answer_s": round(answered, 2),
            "app_cpu_s_to_first_answer": round(cpu, 2), "load_average": round(os.getloadavg()[0], 2),
            "ui_answer_s": [round(x, 3) for x in latencies]}


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the app process (all its threads) has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def collection(name: str, settings_data_dir: Path) -> tuple[str, list[str], Path]:
    """(notes path, questions, data dir) of a named collection."""
    data_dir = settings_data_dir / "bench" / "cold-start" / name
    if name == "seeds":
        return str(ROOT / "seeds"), QUESTIONS, data_dir
    sys.path.insert(0, str(ROOT / "bench"))
    from common import SCIFACT

    claims = [json.loads(line)["text"] for line in (SCIFACT / "queries.jsonl").read_text().splitlines()[:40]]
    return str(SCIFACT / "corpus.jsonl"), claims, data_dir


def warm_cache(data_dir: Path, settings_data_dir: Path) -> None:
    """Copy the embedding cache of earlier runs, so building the index here re-embeds nothing."""
    from common import copy_sqlite

    for source in (settings_data_dir / "cache").glob("embeddings-*.sqlite"):
        target = data_dir / "cache" / source.name
        if not target.exists():
            copy_sqlite(source, target)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--collections", nargs="+", choices=["seeds", "scifact"], default=["seeds", "scifact"])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--questions", type=int, default=10, help="answers timed after the first, per run")
    args = parser.parse_args(argv)
    from playwright.sync_api import sync_playwright

    sys.path.insert(0, str(ROOT))
    sys.path.insert(0, str(ROOT / "bench"))
    from common import RESULTS, machine, markdown_table, write_result

    from bot.settings import Settings

    base_dir = Path(Settings().data_dir)
    before = machine()
    summaries = {}
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            tempfile.mkdtemp(), executable_path="/usr/bin/chromium", headless=True, args=FLAGS)
        for name in args.collections:
            notes, questions, data_dir = collection(name, base_dir)
            env = {k: v for k, v in os.environ.items() if not k.startswith("BOT_")}
            env.update({"BOT_DATA_DIR": str(data_dir), "BOT_NOTES_DIR": notes, "BOT_RESCAN_SECONDS": "0",
                        "HF_HUB_OFFLINE": "1", "ANONYMIZED_TELEMETRY": "False", "GRADIO_ANALYTICS_ENABLED": "False"})
            data_dir.mkdir(parents=True, exist_ok=True)
            if not (data_dir / "chroma").exists():
                warm_cache(data_dir, base_dir)
                print(f"{name}: building the index first (not timed)...", file=sys.stderr)
                subprocess.run([sys.executable, "-m", "bot", "ingest"], cwd=ROOT, env=env, check=True)
            runs = [one_run(context, env, args.questions, questions) for _ in range(args.runs)]
            latencies = sorted(x for r in runs for x in r["ui_answer_s"])
            summaries[name] = {
                "notes": notes, "runs": runs,
                "first_answer_s_median": statistics.median(r["first_answer_s"] for r in runs),
                "listening_s_median": statistics.median(r["listening_s"] for r in runs),
                "app_cpu_s_median": statistics.median(r["app_cpu_s_to_first_answer"] for r in runs),
                "ui_answer_s_p50": round(statistics.median(latencies), 3) if latencies else None,
                "ui_answer_s_max": max(latencies) if latencies else None,
            }
            print(f"{name}: first answer {summaries[name]['first_answer_s_median']:.1f} s (median of {args.runs})",
                  file=sys.stderr)
        context.close()
    result = {"machine": before, "collections": summaries,
              "targets": {"first_answer<=15s": all(s["first_answer_s_median"] <= 15 for s in summaries.values())}}
    table = markdown_table(
        ["collection", "page loads", "first answer on the page", "app CPU until then", "later answers, p50 / max",
         "runs"],
        [[name, f"{s['listening_s_median']:.1f} s", f"**{s['first_answer_s_median']:.1f} s**",
          f"{s['app_cpu_s_median']:.1f} s", f"{s['ui_answer_s_p50']:.2f} s / {s['ui_answer_s_max']:.2f} s"
          if s["ui_answer_s_p50"] is not None else "-", len(s["runs"])] for name, s in summaries.items()],
    )
    markdown = (f"Cold start: from spawning `python app.py` (existing index) to the first complete answer in "
                f"Chromium; medians of the runs; load average {before['load_average'][0]}.\n\n{table}\n")
    write_result("cold_start", result, markdown, RESULTS)
    print(markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
