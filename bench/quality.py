"""The answer-quality table: BM25 alone, dense alone, RRF, weighted fusion and ours, from one run.

    .venv/bin/python bench/quality.py --beir ../shared/eval/scifact \
        [--adapted DATA_DIR/models/adapted-...] [--json bench-results.json]

Every system runs every query of the split through `bot.evaluate.run` (the chat's
read path, timed per query, warm, in-process) on the corpus's own index; an
adapted model (`bot adapt`) gets an index of its own. Prints a Markdown table
with each figure on the whole split and on the held-out half (queries never
used for tuning: `bot.evaluate.held_out`).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.query.params import DEFAULT_ANSWER_PARAMS  # noqa: E402
from bot.tools.evaluate import held_out, load_beir, metrics, open_eval_index, run  # noqa: E402
from bot.settings import Settings  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def systems(adapted: bool):
    base = DEFAULT_ANSWER_PARAMS
    plain = replace(base, evidence_rerank=False)
    yield "BM25 alone", "bundled", replace(plain, retrieval=replace(base.retrieval, fusion="lexical"))
    yield "dense alone", "bundled", replace(plain, retrieval=replace(base.retrieval, fusion="dense"))
    yield "RRF (k=60)", "bundled", replace(plain, retrieval=replace(base.retrieval, fusion="rrf"))
    yield "weighted z-fusion", "bundled", plain
    yield "ours (weighted + evidence re-rank)", "bundled", base
    if adapted:
        yield "dense alone, adapted model", "adapted", replace(plain, retrieval=replace(base.retrieval, fusion="dense"))
        yield "ours, adapted model", "adapted", base


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--beir", type=Path, default=ROOT.parent / "shared" / "eval" / "scifact")
    parser.add_argument("--split", default=None)
    parser.add_argument("--adapted", type=Path, help="a model folder made by `bot adapt`")
    parser.add_argument("--json", type=Path, help="also write every figure here")
    args = parser.parse_args()
    if not args.beir.is_dir():
        sys.exit(f"no BEIR folder at {args.beir}")
    data = load_beir(args.beir, args.split)
    held = [q for q in data.queries if held_out(q)]
    settings = Settings()
    models = {"bundled": settings}
    if args.adapted:
        models["adapted"] = settings.model_copy(update={"embedding_model": str(args.adapted)})
    rows = []
    for model_name, model_settings in models.items():
        wanted = [(name, params) for name, m, params in systems(bool(args.adapted)) if m == model_name]
        started = time.perf_counter()
        with open_eval_index(model_settings, data) as index:
            print(f"{model_name} model: index ready in {time.perf_counter() - started:.0f} s "
                  f"({len(index.snapshot.notes)} notes)", file=sys.stderr)
            for name, params in wanted:
                results = run(index, data, params)
                rows.append({"system": name, "model": model_name,
                             "whole": metrics(results, data), "held_out": metrics(results, data, held)})
                whole = rows[-1]["whole"]
                print(f"  {name}: ndcg@10 {whole['ndcg@10']:.4f} qp@1 {whole['quote_precision@1']:.4f} "
                      f"p95 {whole['latency_ms_p95']:.1f} ms", file=sys.stderr)
    keys = ["ndcg@10", "recall@10", "recall@100", "mrr@10", "quote_precision@1", "tight@1", "latency_ms_p50",
            "latency_ms_p95"]
    print(f"SciFact {data.split}: {len(data.queries)} queries (held-out half: {len(held)}); "
          "each cell: whole split / held-out half\n")
    print("| system | " + " | ".join(keys) + " |")
    print("|---|" + "---|" * len(keys))
    for row in rows:
        cells = []
        for key in keys:
            a, b = row["whole"][key], row["held_out"][key]
            fmt = "{:.1f}" if "latency" in key else "{:.3f}"
            cells.append(f"{fmt.format(a)} / {fmt.format(b)}")
        print(f"| {row['system']} | " + " | ".join(cells) + " |")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
