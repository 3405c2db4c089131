"""fp32 against int8 on the whole SciFact corpus, cold, in one run: ingest speed and answer quality.

    .venv/bin/python bench/precision_cold.py            # ~25 min here: two cold ingests + two evals
    .venv/bin/python bench/precision_cold.py --order int8 fp32

For each precision, in the order given (fp32 first by default), on an empty data dir and embedding
cache: `ingest` of the whole corpus in this process (the model loaded and warmed before the clock
starts), sampling the texts done over time (the plot); then every training claim through the
chat's read path (`bot.tools.evaluate.run`) on that index: nDCG@10, quote hit@1 and tight@1 on
the whole split and on its held-out half. The two ingests run one after the other on the same
machine, so their ratio is the figure to read (the load average before and after each is kept).

Writes bench/results/precision_cold.json, .md and .png.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

from common import RESULTS, SCIFACT, fmt, machine, markdown_table, write_result

from bot.index.embedder import Embedder
from bot.index.ingest import ingest
from bot.index.store import Store
from bot.service import Bot
from bot.settings import Settings
from bot.tools.evaluate import eval_store_path, held_out, load_beir, metrics, run

QUALITY_KEYS = ("ndcg@10", "quote_precision@1", "tight@1")


def cold_run(precision: str, data, work: Path) -> dict:
    """A cold ingest of the corpus at `precision`, then every claim asked of it."""
    settings = Settings(data_dir=work / precision, embedding_precision=precision)
    embedder = Embedder.load(settings)
    embedder.encode_batch(["warm up"] * 8)  # the session's first run pays for its set-up
    path = eval_store_path(settings, data.corpus_path, embedder.fingerprint)
    samples: list[tuple[float, int]] = [(0.0, 0)]
    load_before = machine()["load_average"]
    cpu_before = resource.getrusage(resource.RUSAGE_SELF)
    started = time.perf_counter()
    with Store.open(settings, embedder.fingerprint, path=path, purpose="bench precision") as store:
        report = ingest([data.corpus_path], settings, store, embedder, progress=True,
                        on_progress=lambda done, total: samples.append((time.perf_counter() - started, done)))
    wall = time.perf_counter() - started
    cpu_after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
    load_after = machine()["load_average"]
    with Bot.open(settings, store_path=path, embedder=embedder, build_if_missing=False, progress=False,
                  purpose="bench precision") as notes:
        results = run(notes, data, progress=True)
    held = [q for q in data.queries if held_out(q)]
    whole, half = metrics(results, data), metrics(results, data, held)
    return {
        "precision": precision, "fingerprint": embedder.fingerprint,
        "notes": report.notes, "chunks": report.chunks, "texts": report.embedded_texts,
        "ingest_s": round(wall, 1), "ingest_cpu_s": round(cpu, 1), "texts_per_s": round(report.embedded_texts / wall, 2),
        "encoder_share": round(report.encode_seconds / report.write_seconds, 4),
        "load_before": load_before, "load_after": load_after,
        "quality": {"whole": {k: whole[k] for k in QUALITY_KEYS}, "held_out": {k: half[k] for k in QUALITY_KEYS},
                    "queries": len(data.queries), "held_out_queries": len(held),
                    "ask_ms_p50": whole["latency_ms_p50"], "ask_ms_p95": whole["latency_ms_p95"]},
        "samples": [[round(t, 2), done] for t, done in samples],
    }


def plot(runs: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
    for precision, result in runs.items():
        times = [t for t, _ in result["samples"]]
        done = [d for _, d in result["samples"]]
        axes[0].plot(times, done, label=f"{precision} ({result['ingest_s']:.0f} s)")
        # texts/s over a sliding minute: the rate a person watching the bar sees
        rates, at = [], []
        for i, (t, d) in enumerate(result["samples"]):
            j = i
            while j > 0 and t - result["samples"][j - 1][0] <= 60:
                j -= 1
            if t - result["samples"][j][0] > 0:
                at.append(t)
                rates.append((d - result["samples"][j][1]) / (t - result["samples"][j][0]))
        axes[1].plot(at, rates, label=precision)
    axes[0].set_title("Texts encoded and stored")
    axes[0].set_ylabel("texts")
    axes[1].set_title("texts/s (last minute)")
    axes[1].set_ylabel("texts/s")
    for axis in axes:
        axis.set_xlabel("seconds since the ingest began")
        axis.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--beir", type=Path, default=SCIFACT)
    parser.add_argument("--order", nargs="+", default=["fp32", "int8"], choices=["fp32", "int8"])
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if not (args.beir / "corpus.jsonl").exists():
        print(f"skipped: SciFact is not at {args.beir}", file=sys.stderr)
        return 0
    data = load_beir(args.beir, "train")
    work = Path(tempfile.mkdtemp(prefix="bench-precision-cold-"))
    before = machine()
    runs: dict[str, dict] = {}
    try:
        for precision in args.order:
            print(f"{precision}: cold ingest of the whole corpus, then {len(data.queries)} claims...", file=sys.stderr)
            runs[precision] = cold_run(precision, data, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    result = {"machine": before, "load_average_after": machine()["load_average"], "order": args.order, "runs": runs}
    if {"fp32", "int8"} <= runs.keys():
        fp32, int8 = runs["fp32"], runs["int8"]
        result["speedup"] = round(fp32["ingest_s"] / int8["ingest_s"], 3)
        result["speedup_cpu"] = round(fp32["ingest_cpu_s"] / int8["ingest_cpu_s"], 3)
        result["differences"] = {part: {k: round(int8["quality"][part][k] - fp32["quality"][part][k], 4)
                                        for k in QUALITY_KEYS} for part in ("whole", "held_out")}
    plot(runs, args.results / "precision_cold.png")
    rows = [[p, fmt(r["notes"]), fmt(r["texts"]), fmt(r["ingest_s"]), fmt(r["ingest_cpu_s"]), fmt(r["texts_per_s"]), f"{r['encoder_share']:.3f}",
             f"{r['load_before'][0]} / {r['load_after'][0]}"] for p, r in runs.items()]
    speed = markdown_table(["precision", "notes", "texts encoded", "cold ingest s", "CPU s", "texts/s", "encoder share",
                            "load before / after"], rows)
    quality_rows = []
    for p, r in runs.items():
        q = r["quality"]
        quality_rows.append([p, *(f"{q['whole'][k]:.4f}" for k in QUALITY_KEYS),
                             *(f"{q['held_out'][k]:.4f}" for k in QUALITY_KEYS),
                             fmt(q["ask_ms_p50"], 1), fmt(q["ask_ms_p95"], 1)])
    quality = markdown_table(["precision", "nDCG@10", "hit@1", "tight@1", "held-out nDCG@10", "held-out hit@1",
                              "held-out tight@1", "ask p50 ms", "ask p95 ms"], quality_rows)
    lines = [f"Cold ingest of the whole SciFact corpus, one after the other in one run (order {', '.join(args.order)}), "
             f"each into an empty data dir and embedding cache; then the {len(data.queries)} training claims "
             "(held-out half: `bot.tools.evaluate.held_out`) through the chat's read path.", "", speed, "", quality, ""]
    if "speedup" in result:
        d = result["differences"]["whole"]
        lines.append(f"int8 ingests the corpus **{result['speedup']}x** as fast as fp32 in wall time, "
                     f"{result['speedup_cpu']}x in CPU time (the process's, all threads: less sensitive to a "
                     "neighbour's load than wall time). int8 minus fp32, whole split: "
                     f"nDCG@10 {d['ndcg@10']:+.4f}, hit@1 {d['quote_precision@1']:+.4f}, tight@1 {d['tight@1']:+.4f} "
                     "(the default rule: within 0.005, 0.01 and 0.01).")
    lines.append("\n![texts/s over time, fp32 vs int8](precision_cold.png)\n")
    markdown = "\n".join(lines)
    write_result("precision_cold", result, markdown, args.results)
    print(markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
