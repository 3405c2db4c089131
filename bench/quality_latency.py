"""`ask` latency, in-process and warm, on a BEIR corpus's index (SciFact: 5,183 notes), with stage times.

    .venv/bin/python bench/quality_latency.py [--beir ../shared/eval/scifact] [--queries 400]

Answers the split's first N queries with `bot.answer.answer_question` (after 20 warm-up
questions) and prints p50/p95 of the whole call and the median of each stage in its
`timings` (embed, dense + lexical = search, fusion, quotes, compose). Run it on a quiet
machine: two shared cores make any busy neighbour show up in p95.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.query.answer import answer_question  # noqa: E402
from bot.tools.evaluate import load_beir, open_eval_index  # noqa: E402
from bot.settings import Settings  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--beir", type=Path, default=ROOT.parent / "shared" / "eval" / "scifact")
    parser.add_argument("--queries", type=int, default=400)
    args = parser.parse_args()
    if not args.beir.is_dir():
        sys.exit(f"no BEIR folder at {args.beir}")
    questions = list(load_beir(args.beir).queries.values())
    with open_eval_index(Settings(), load_beir(args.beir), progress=False) as index:
        for question in questions[:20]:
            answer_question(index, question)
        totals, stages = [], {}
        for question in questions[: args.queries]:
            timings: dict[str, float] = {}
            started = time.perf_counter()
            answer_question(index, question, timings=timings)
            totals.append((time.perf_counter() - started) * 1000)
            for stage, ms in timings.items():
                stages.setdefault(stage, []).append(ms)
        print(f"answer_question on {len(index.snapshot.notes):,} notes, {len(totals)} questions: "
              f"p50 {np.percentile(totals, 50):.1f} ms, p95 {np.percentile(totals, 95):.1f} ms")
        print("stage medians (ms): " + ", ".join(f"{k} {np.median(v):.1f}" for k, v in stages.items()))


if __name__ == "__main__":
    main()
