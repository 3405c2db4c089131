"""Query latency and quality side by side, on the SciFact index: ours, the plain pipeline, BM25
alone, and the floor (the query embedding itself).

    .venv/bin/python bench/latency.py [--beir ../shared/eval/scifact] [--queries 0] [--repeat 1]

Every training claim is asked of every system in turn (the order rotates from one claim to
the next), warm and in-process, so the figures are ratios taken on the same machine at the
same moment:

    floor      the question's embedding alone, as the bot computes it (onnxruntime on the ONNX
               export of the bundled model): what no answer can undercut
    torch      the same embedding by sentence-transformers' `model.encode([question])` (torch),
               the floor most pipelines have
    BM25 alone bm25s over the same chunks, best chunk per note (no embedding, no quotes)
    plain      what most tutorials build: embed the question (the same embedder as ours), Chroma
               top-30 chunks, the notes in the order of their best chunk, the top chunk shown as
               the "quote"
    ours       `bot.answer.respond`, the chat's whole read path (embed, dense + BM25, fusion,
               per-note ranking, quotes, the composed answer), with its stage times

Quality comes from the very same calls (nDCG@10, recall@100, quote precision@1 as `bot eval`
computes them), on the whole split and on the held-out half. Writes
bench/results/latency.json, latency.md and latency.png.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from common import RESULTS, SCIFACT, fmt, machine, markdown_table, percentiles, write_result

from bot.query.answer import respond
from bot.tools.evaluate import QueryResult, RUN_DEPTH, held_out, load_beir, metrics, open_eval_index
from bot.settings import Settings
from bot.index.records import key_note_id

PLAIN_TOP_K = 30  # chunks a tutorial pipeline fetches (enough to rank 10 distinct notes)
SYSTEMS = ("floor", "torch", "bm25", "plain", "ours")
LABELS = {
    "floor": "query embedding alone (the floor)",
    "torch": "query embedding by torch (model.encode)",
    "bm25": "BM25 alone",
    "plain": "plain pipeline (Chroma top-k chunks)",
    "ours": "ours (hybrid, per-note ranking, quotes, answer)",
}
STAGES = ("embed", "dense", "lexical", "fusion", "quotes", "compose")


def floor(index, question: str) -> QueryResult:
    index.embedder.encode_query(question)
    return QueryResult([], [], 0.0)


def torch_embedding(index, question: str) -> QueryResult:
    index.embedder.model.encode([question], normalize_embeddings=True, convert_to_numpy=True,
                                show_progress_bar=False)
    return QueryResult([], [], 0.0)


def bm25_alone(index, question: str) -> QueryResult:
    snapshot = index.snapshot
    rows, scores = snapshot.lexical.search(question, RUN_DEPTH * 3)
    ranking: dict[str, float] = {}
    for row, score in zip(rows, scores):
        ranking.setdefault(snapshot.notes[int(snapshot.chunk_note[row])].id, float(score))
    return QueryResult(list(ranking.items())[:RUN_DEPTH], [], 0.0)


def plain_pipeline(index, question: str) -> QueryResult:
    vector = index.embedder.encode_query(question)
    got = index.store.chunks().query(query_embeddings=[vector], n_results=PLAIN_TOP_K,
                                     include=["documents", "distances"])
    ranking: dict[str, float] = {}
    for chunk_id, distance in zip(got["ids"][0], got["distances"][0]):
        ranking.setdefault(key_note_id(chunk_id.rsplit("#", 1)[0]), 1.0 - distance)
    top = got["ids"][0][0] if got["ids"][0] else None
    quotes = [{"doc_id": key_note_id(top.rsplit("#", 1)[0]), "text": got["documents"][0][0]}] if top else []
    return QueryResult(list(ranking.items()), quotes, 0.0)


def ours(index, question: str, timings: dict) -> QueryResult:
    response = respond(index, question, timings=timings)
    snapshot = index.snapshot
    quotes = [{"doc_id": snapshot.notes[e.hit.row].id, "text": snapshot.notes[e.hit.row].text[q.start:q.end]}
              for e in response.evidence for q in e.quotes]
    return QueryResult([(h.note_id, h.score) for h in response.hits[:RUN_DEPTH]], quotes, 0.0)


def measure(index, questions: dict[str, str], repeat: int = 1, warmup: int = 20, progress: bool = True):
    """Per system: {query_id: QueryResult} and latencies (ms); ours's stage times (ms) per query."""
    calls = {
        "floor": lambda q, t: floor(index, q),
        "torch": lambda q, t: torch_embedding(index, q),
        "bm25": lambda q, t: bm25_alone(index, q),
        "plain": lambda q, t: plain_pipeline(index, q),
        "ours": lambda q, t: ours(index, q, t),
    }
    for question in list(questions.values())[:warmup]:
        for name in SYSTEMS:
            calls[name](question, {})
    results = {name: {} for name in SYSTEMS}
    latencies = {name: [] for name in SYSTEMS}
    stages = {stage: [] for stage in STAGES}
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(questions) * repeat, desc="queries", unit="q", leave=False, file=sys.stderr,
                   mininterval=5)
    turn = 0
    for _ in range(repeat):
        for query_id, question in questions.items():
            order = SYSTEMS[turn % len(SYSTEMS):] + SYSTEMS[:turn % len(SYSTEMS)]
            turn += 1
            for name in order:
                timings: dict[str, float] = {}
                started = time.perf_counter()
                result = calls[name](question, timings)
                result.latency_ms = (time.perf_counter() - started) * 1000
                latencies[name].append(result.latency_ms)
                results[name][query_id] = result
                if name == "ours":
                    for stage in STAGES:
                        stages[stage].append(timings.get(stage, 0.0))
            if bar is not None:
                bar.update(1)
    if bar is not None:
        bar.close()
    return results, latencies, stages


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--beir", type=Path, default=SCIFACT)
    parser.add_argument("--queries", type=int, default=0, help="only the first N training claims (0: all)")
    parser.add_argument("--repeat", type=int, default=1, help="ask every claim this many times")
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if not (args.beir / "corpus.jsonl").exists():
        print(f"no BEIR folder at {args.beir}: pass --beir", file=sys.stderr)
        return 2

    data = load_beir(args.beir, "train" if (args.beir / "qrels" / "train.tsv").exists() else None)
    questions = dict(list(data.queries.items())[: args.queries or None])
    settings = Settings()
    before = machine()
    started = time.perf_counter()
    with open_eval_index(settings, data) as index:
        opened = time.perf_counter() - started
        print(f"index of {len(index.snapshot.notes):,} notes, {len(index.snapshot.chunk_ids):,} chunks ready in "
              f"{opened:.0f} s; {len(questions)} questions x {len(SYSTEMS)} systems", file=sys.stderr)
        results, latencies, stages = measure(index, questions, args.repeat)
        notes, chunks = len(index.snapshot.notes), len(index.snapshot.chunk_ids)
        backend = index.embedder.backend

    held = [q for q in questions if held_out(q)]
    scoped = data.__class__(**{**data.__dict__, "queries": questions})
    systems = {}
    for name in SYSTEMS:
        quality = {"whole": metrics(results[name], scoped), "held_out": metrics(results[name], scoped, held)}
        if name in ("floor", "torch"):
            quality = None
        systems[name] = {"label": LABELS[name], "latency_ms": percentiles(latencies[name]), "quality": quality}
    stage_ms = {stage: percentiles(values, (50, 95)) for stage, values in stages.items()}
    floor_ms, ours_ms = systems["floor"]["latency_ms"], systems["ours"]["latency_ms"]
    torch_ms = systems["torch"]["latency_ms"]
    ratios = {f"ours_{p}_over_floor_{p}": round(ours_ms[p] / floor_ms[p], 2) for p in ("p50", "p95", "p99")}
    ratios.update({f"ours_{p}_over_torch_embedding_{p}": round(ours_ms[p] / torch_ms[p], 2) for p in ("p50", "p95")})
    result = {
        "machine": before,
        "load_average_after": machine()["load_average"],
        "embedding_backend": backend,
        "corpus": {"notes": notes, "chunks": chunks, "queries": len(questions), "held_out": len(held),
                   "repeat": args.repeat, "split": data.split},
        "systems": systems,
        "ours_stages_ms": stage_ms,
        "ratios": ratios,
        "targets": {"ours_p95_ms<=50": ours_ms["p95"] <= 50, "ours_p95<=3x_floor": ratios["ours_p95_over_floor_p95"] <= 3},
    }
    table = markdown_table(
        ["system", "p50 ms", "p95 ms", "p99 ms", "nDCG@10", "recall@100", "quote precision@1"],
        [[LABELS[name], fmt(s["latency_ms"]["p50"]), fmt(s["latency_ms"]["p95"]), fmt(s["latency_ms"]["p99"]),
          *(("-", "-", "-") if s["quality"] is None else (
              _pair(s["quality"], "ndcg@10"), _pair(s["quality"], "recall@100"),
              _pair(s["quality"], "quote_precision@1")))]
         for name, s in systems.items()],
    )
    stage_table = markdown_table(["stage of ours", *STAGES], [
        ["p50 ms", *(fmt(stage_ms[s]["p50"], 2) for s in STAGES)],
        ["p95 ms", *(fmt(stage_ms[s]["p95"], 2) for s in STAGES)],
    ])
    markdown = (
        f"Query latency on SciFact ({notes:,} notes, {chunks:,} chunks), {len(questions)} training claims "
        f"x {args.repeat}, warm, in-process; quality cells: whole split / held-out half ({len(held)} claims).\n\n"
        f"{table}\n\n{stage_table}\n\n"
        f"ours p95 = {ratios['ours_p95_over_floor_p95']}x the query embedding's p95 "
        f"(p50: {ratios['ours_p50_over_floor_p50']}x), {ratios['ours_p95_over_torch_embedding_p95']}x torch's "
        f"embedding alone. The bot embeds with {backend}. Load average {before['load_average'][0]} before, "
        f"{result['load_average_after'][0]} after.\n"
    )
    write_result("latency", result, markdown, args.results)
    plot(result, args.results / "latency.png")
    print(markdown)
    return 0


def _pair(quality: dict, key: str) -> str:
    a, b = quality["whole"][key], quality["held_out"][key]
    return "-" if a is None else f"{a:.3f} / {b:.3f}"


def plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 3.8), gridspec_kw={"width_ratios": [3, 1]})
    names = list(result["systems"])
    y = range(len(names))
    for offset, (p, colour) in enumerate([("p50", "#4c72b0"), ("p95", "#dd8452"), ("p99", "#c44e52")]):
        values = [result["systems"][n]["latency_ms"][p] for n in names]
        left.barh([i + (offset - 1) * 0.27 for i in y], values, height=0.27, label=p, color=colour)
    left.set_yticks(list(y), [LABELS[n].split(" (")[0] for n in names])
    left.invert_yaxis()
    left.set_xlabel("ms per question (warm, in-process)")
    left.set_title(f"Query latency, SciFact ({result['corpus']['notes']:,} notes)")
    left.legend(loc="lower right")
    stages = result["ours_stages_ms"]
    bottom = 0.0
    for stage, colour in zip(STAGES, ["#4c72b0", "#55a868", "#8172b3", "#ccb974", "#64b5cd", "#937860"]):
        value = stages[stage]["p50"] or 0.0
        right.bar(["ours, p50 by stage"], [value], bottom=bottom, label=f"{stage} {value:.1f} ms", color=colour)
        bottom += value
    right.axhline(result["systems"]["floor"]["latency_ms"]["p50"], color="black", linestyle="--", linewidth=1,
                  label="floor p50 (embedding)")
    right.set_ylabel("ms")
    right.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1.0))
    right.set_title("Where ours spends its time")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())
