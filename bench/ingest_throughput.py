"""Ingest throughput: ingest next to raw `model.encode` of the very texts it encodes.

    .venv/bin/python bench/ingest_throughput.py                 # a cold sample + the full corpus, warm
    .venv/bin/python bench/ingest_throughput.py --cold          # the full corpus cold too (~25 min here)
    .venv/bin/python bench/ingest_throughput.py --sample 300 --corpus notes.jsonl
    .venv/bin/python bench/ingest_throughput.py --precision-only   # fp32 vs int8 only (~10 min here)

fp32 against int8 (issue 14), always run first: the same cold sample ingested by a fresh `bot ingest`
process into a fresh data dir for each precision, in the order fp32, int8, int8, fp32 (fair under a
changing load): whole-process wall time (start-up included), ingest texts/s, the encoder's share of
the pipeline's wall time, and the ratio to raw int8 encode of the same texts; then the question's
embedding (`encode_query`, SciFact claims, the two alternating) p50/p95 for each.

Three measurements, each into a fresh store:

  sample, cold      the first --sample notes with an empty embedding cache: everything ingest does
                    (parse, chunk, encode chunks and quotable sentences, write Chroma, commit),
                    beside the raw encoder (`Embedder.encode_batch`: onnxruntime, or torch's
                    `model.encode` with BOT_EMBEDDING_BACKEND=torch) on the same texts with the same
                    batch size, timed before and after the ingest (their mean is the yardstick,
                    so drift cancels).
                    `ratio` = ingest texts/s / raw texts/s: everything but the encoder is overhead.
                    Then an unchanged re-ingest and one with 1% of the notes changed.
  full, warm cache  the whole corpus with the embedding cache of earlier runs (`bot eval` fills
                    it): the pipeline's cost besides the encoder, at full size; then an unchanged
                    re-ingest and a 1% changed one (the changed texts are embedded for real).
  full, cold        (--cold) the whole corpus with an empty cache: the figure the README quotes.

The full cold time, when not measured, is estimated as the warm full ingest plus the pipeline's
texts at the sample's ingest rate (said so in the table). Writes bench/results/ingest.json and .md.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

from common import RESULTS, SCIFACT, copy_sqlite, fmt, machine, markdown_table, write_result

from bot.notes.chunks import embedding_text, segment_note
from bot.index.embedder import Embedder
from bot.index.cache import EmbeddingCache
from bot.index.ingest import ingest
from bot.notes.files import read_notes
from bot.notes.collection import build_notes
from bot.settings import Settings
from bot.index.store import Store

DEFAULT_CORPUS = SCIFACT / "corpus.jsonl"
PRECISION_ORDER = ("fp32", "int8", "int8", "fp32")


def bot_ingest_process(corpus: Path, precision: str, data_dir: Path) -> dict:
    """`bot ingest --json` in a fresh process on a fresh data dir: its wall time and its report."""
    import os
    import subprocess

    env = {k: v for k, v in os.environ.items() if not k.startswith("BOT_") or k in ("BOT_MODEL_CACHE_DIR",
                                                                                    "BOT_ENCODER_THREADS")}
    env.update(BOT_DATA_DIR=str(data_dir), BOT_EMBEDDING_PRECISION=precision, BOT_ENV_FILE="",
               HF_HUB_OFFLINE="1", ANONYMIZED_TELEMETRY="False")
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "bot", "ingest", "--json", "--no-progress", str(corpus)],
                          env=env, capture_output=True, text=True, check=True)
    wall = time.perf_counter() - started
    report = json.loads(done.stdout)
    return {"precision": precision, "process_wall_s": round(wall, 2), "ingest_s": report["seconds"],
            "texts": report["embedded_texts"], "texts_per_s": round(report["embedded_texts"] / report["seconds"], 2),
            "encoder_share": round(report["encode_seconds"] / report["write_seconds"], 4),
            "notes": report["notes"], "chunks": report["chunks"]}


def compare_precisions(lines: list[str], sample: int, settings: Settings, work: Path) -> dict:
    """fp32 vs int8 on the same cold sample, each in its own `bot ingest` process (see the docstring)."""
    import statistics

    corpus = work / "precision" / "corpus.jsonl"
    corpus.parent.mkdir(parents=True)
    corpus.write_text("\n".join(lines[:sample]) + "\n", encoding="utf-8")
    # loaded first: both exports exist before any timed process (the int8 one is made once per machine)
    embedders = {p: Embedder.load(settings.model_copy(update={"embedding_precision": p}), use_cache=False)
                 for p in ("fp32", "int8")}
    runs = []
    for number, precision in enumerate(PRECISION_ORDER):
        print(f"  bot ingest, {precision} (run {number + 1} of {len(PRECISION_ORDER)})...", file=sys.stderr)
        runs.append(bot_ingest_process(corpus, precision, work / f"data-{number}"))
    texts = pipeline_texts(corpus, settings, embedders["int8"])
    raw = raw_encode_seconds(embedders["int8"], texts, settings.embed_batch_size)
    claims = [json.loads(line)["text"] for line in (SCIFACT / "queries.jsonl").read_text().splitlines()[:200]]
    latency: dict[str, list[float]] = {"fp32": [], "int8": []}
    for claim in claims:
        for precision in ("fp32", "int8"):
            began = time.perf_counter()
            embedders[precision].encode_query(claim)
            latency[precision].append((time.perf_counter() - began) * 1000)

    def summary(precision: str) -> dict:
        mine = [r for r in runs if r["precision"] == precision]
        mean = lambda key: round(statistics.mean(r[key] for r in mine), 3)  # noqa: E731
        ms = sorted(latency[precision])
        return {"process_wall_s": mean("process_wall_s"), "ingest_s": mean("ingest_s"),
                "texts_per_s": mean("texts_per_s"), "encoder_share": mean("encoder_share"),
                "query_ms_p50": round(ms[len(ms) // 2], 2), "query_ms_p95": round(ms[int(len(ms) * 0.95)], 2)}

    result = {"sample_notes": sample, "order": list(PRECISION_ORDER), "runs": runs,
              "fp32": summary("fp32"), "int8": summary("int8"),
              "raw_int8_texts": len(texts), "raw_int8_texts_per_s": round(len(texts) / raw, 2),
              "query_claims": len(claims)}
    result["int8"]["ratio_to_raw_int8_encode"] = round(result["int8"]["texts_per_s"] / result["raw_int8_texts_per_s"], 3)
    result["speedup_process_wall"] = round(result["fp32"]["process_wall_s"] / result["int8"]["process_wall_s"], 3)
    result["speedup_texts_per_s"] = round(result["int8"]["texts_per_s"] / result["fp32"]["texts_per_s"], 3)
    return result


def precision_markdown(result: dict) -> str:
    rows = [[p, fmt(result[p]["process_wall_s"], 2), fmt(result[p]["ingest_s"], 2), fmt(result[p]["texts_per_s"]),
             f"{result[p]['encoder_share']:.3f}", fmt(result[p]["query_ms_p50"], 2), fmt(result[p]["query_ms_p95"], 2)]
            for p in ("fp32", "int8")]
    table = markdown_table(["precision", "`bot ingest` process wall s", "ingest s", "texts/s", "encoder share",
                            "question embedding p50 ms", "p95 ms"], rows)
    return (f"fp32 vs int8 on a cold sample of {result['sample_notes']} SciFact notes, one fresh `bot ingest` "
            f"process and data dir per run, order {', '.join(result['order'])} (means of two runs each):\n\n"
            f"{table}\n\nint8 is **{result['speedup_process_wall']}x** faster for the whole process "
            f"(start-up included) and {result['speedup_texts_per_s']}x in ingest texts/s; int8 ingest runs at "
            f"**{result['int8']['ratio_to_raw_int8_encode']}** of raw int8 encode of the same texts "
            f"({result['raw_int8_texts_per_s']} texts/s). Question embedding over {result['query_claims']} "
            f"SciFact claims, alternating.\n")


def pipeline_texts(corpus: Path, settings: Settings, embedder: Embedder) -> list[str]:
    """Exactly the texts ingest encodes: chunk texts (title + chunk) and quotable sentences."""
    parsed, _, _ = read_notes([corpus], settings)
    texts: list[str] = []
    for note in build_notes(parsed):
        segments = segment_note(note, embedder.count_tokens, chunk_tokens=settings.chunk_tokens,
                                overlap_tokens=settings.chunk_overlap_tokens, window=embedder.max_tokens)
        texts += [embedding_text(c) for c in segments.chunks]
        texts += [note.text[s:e] for (s, e), q in zip(segments.sentences, segments.quotable) if q]
    return texts


def raw_encode_seconds(embedder: Embedder, texts: list[str], batch_size: int) -> float:
    """The bare encoder ingest uses (onnxruntime, or torch's model.encode), same texts, same batch size."""
    embedder.batch_size = batch_size
    started = time.perf_counter()
    embedder.encode_batch(texts)
    return time.perf_counter() - started


def change_one_percent(lines: list[str]) -> list[str]:
    """Every hundredth note gets one more sentence."""
    changed = list(lines)
    for i in range(0, len(changed), 100):
        record = json.loads(changed[i])
        record["text"] += " This sentence was added for the benchmark."
        changed[i] = json.dumps(record)
    return changed


def timed_ingest(corpus: Path, settings: Settings, store: Store, embedder: Embedder, progress: bool = False):
    started = time.perf_counter()
    report = ingest([corpus], settings, store, embedder, progress=progress)
    return report, time.perf_counter() - started


def run_phase(name: str, lines: list[str], settings: Settings, embedder: Embedder, cache_path: Path | None,
              work: Path, *, yardstick: bool) -> dict:
    """Ingest `lines` into a fresh store (cache at `cache_path`, or a fresh one), then re-ingest."""
    folder = work / name
    corpus = folder / "notes" / "corpus.jsonl"
    corpus.parent.mkdir(parents=True)
    corpus.write_text("\n".join(lines) + "\n", encoding="utf-8")
    if cache_path is not None and cache_path.exists():  # a copy: what this run embeds stays out of it
        copy_sqlite(cache_path, folder / "cache.sqlite")
    embedder.cache = EmbeddingCache(folder / "cache.sqlite")
    texts = pipeline_texts(corpus, settings, embedder) if yardstick else []
    raw = []
    if yardstick:
        raw.append(raw_encode_seconds(embedder, texts, settings.embed_batch_size))
    with Store.open(settings, embedder.fingerprint, path=folder / "chroma", purpose="bench ingest") as store:
        full, full_s = timed_ingest(corpus, settings, store, embedder, progress=True)
        if yardstick:
            raw.append(raw_encode_seconds(embedder, texts, settings.embed_batch_size))
        unchanged, unchanged_s = timed_ingest(corpus, settings, store, embedder)
        corpus.write_text("\n".join(change_one_percent(lines)) + "\n", encoding="utf-8")
        changed, changed_s = timed_ingest(corpus, settings, store, embedder)
    result = {
        "notes": full.notes, "chunks": full.chunks, "texts_encoded": full.embedded_texts,
        "seconds": round(full_s, 2), "notes_per_s": round(full.notes / full_s, 2),
        "chunks_per_s": round(full.chunks / full_s, 2),
        "unchanged_reingest_s": round(unchanged_s, 2), "unchanged_share": round(unchanged_s / full_s, 4),
        "changed_1pct_notes": len(changed.updated), "changed_1pct_texts_encoded": changed.embedded_texts,
        "changed_1pct_reingest_s": round(changed_s, 2),
    }
    if yardstick:
        raw_s = sum(raw) / len(raw)
        result.update({
            "pipeline_texts": len(texts),
            "ingest_texts_per_s": round(full.embedded_texts / full_s, 2),
            "raw_encode_s": [round(r, 2) for r in raw],
            "raw_texts_per_s": round(len(texts) / raw_s, 2),
            "ratio_to_raw_encode": round((full.embedded_texts / full_s) / (len(texts) / raw_s), 3),
        })
    shutil.rmtree(folder, ignore_errors=True)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--sample", type=int, default=300, help="notes in the cold sample")
    parser.add_argument("--cold", action="store_true", help="also ingest the whole corpus with an empty cache")
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--precision-only", action="store_true", help="only fp32 vs int8 on the cold sample")
    args = parser.parse_args(argv)
    if not args.corpus.exists():
        print(f"skipped: no corpus at {args.corpus} (SciFact is read from ../shared/eval/scifact; pass --corpus)",
              file=sys.stderr)
        return 2
    if args.precision_only:
        return precision_only(args)

    settings = Settings()
    precision_work = Path(tempfile.mkdtemp(prefix="bench-precision-"))
    try:
        lines = [line for line in args.corpus.read_text(encoding="utf-8").splitlines() if line.strip()]
        precision = compare_precisions(lines, args.sample, settings, precision_work)
    finally:
        shutil.rmtree(precision_work, ignore_errors=True)
    embedder = Embedder.load(settings)
    lines = [line for line in args.corpus.read_text(encoding="utf-8").splitlines() if line.strip()]
    main_cache = Path(settings.data_dir) / "cache" / f"embeddings-{embedder.fingerprint}.sqlite"
    work = Path(tempfile.mkdtemp(prefix="bench-ingest-"))
    before = machine()
    try:
        embedder.encode_batch(["warm up"] * 8)
        print(f"cold sample of {args.sample} notes...", file=sys.stderr)
        sample = run_phase("sample", lines[: args.sample], settings, embedder, None, work, yardstick=True)
        print("the whole corpus with the embedding cache warm...", file=sys.stderr)
        warm = run_phase("warm", lines, settings, embedder, main_cache, work, yardstick=False)
        cold = None
        if args.cold:
            print("the whole corpus cold...", file=sys.stderr)
            cold = run_phase("cold", lines, settings, embedder, None, work, yardstick=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    if cold is None:
        # the encoder's share at the sample's measured ingest rate, plus everything else as measured warm
        texts_full = sample["pipeline_texts"] * len(lines) / max(1, args.sample)
        estimated = warm["seconds"] + texts_full / sample["ingest_texts_per_s"]
        full_cold = {"seconds": round(estimated, 1), "measured": False,
                     "notes_per_s": round(warm["notes"] / estimated, 2), "chunks_per_s": round(warm["chunks"] / estimated, 2)}
    else:
        full_cold = {**cold, "measured": True}
    unchanged_share = round(warm["unchanged_reingest_s"] / full_cold["seconds"], 4)
    result = {
        "machine": before, "load_average_after": machine()["load_average"], "corpus": str(args.corpus),
        "batch_size": settings.embed_batch_size, "encoder": embedder.backend, "sample_cold": sample, "full_warm_cache": warm,
        "full_cold": full_cold, "unchanged_share_of_full_cold": unchanged_share, "precision": precision,
        "targets": {"ratio>=0.85": sample["ratio_to_raw_encode"] >= 0.85, "unchanged<=5%": unchanged_share <= 0.05},
    }
    how = "measured" if full_cold["measured"] else "estimated: warm ingest + the texts at the sample's ingest rate"
    table = markdown_table(
        ["", "notes", "chunks", "texts encoded", "seconds", "notes/s", "chunks/s", "texts/s", "raw encode texts/s",
         "ratio to raw"],
        [[f"sample, cold ({args.sample} notes)", fmt(sample["notes"]), fmt(sample["chunks"]),
          fmt(sample["texts_encoded"]), fmt(sample["seconds"]), fmt(sample["notes_per_s"]), fmt(sample["chunks_per_s"]),
          fmt(sample["ingest_texts_per_s"]), fmt(sample["raw_texts_per_s"]), f"**{sample['ratio_to_raw_encode']:.3f}**"],
         ["full corpus, embedding cache warm", fmt(warm["notes"]), fmt(warm["chunks"]), fmt(warm["texts_encoded"]),
          fmt(warm["seconds"]), fmt(warm["notes_per_s"]), fmt(warm["chunks_per_s"]), "-", "-", "-"],
         [f"full corpus, cold ({how})", fmt(warm["notes"]), fmt(warm["chunks"]), "-", fmt(full_cold["seconds"]),
          fmt(full_cold["notes_per_s"]), fmt(full_cold["chunks_per_s"]),
          fmt(full_cold.get("ingest_texts_per_s")), fmt(full_cold.get("raw_texts_per_s")),
          fmt(full_cold.get("ratio_to_raw_encode"), 3)]],
    )
    reingest = markdown_table(
        ["re-ingest", "sample", "full corpus"],
        [["unchanged", f"{sample['unchanged_reingest_s']:.2f} s", f"{warm['unchanged_reingest_s']:.2f} s "
          f"({unchanged_share:.1%} of the full cold ingest)"],
         ["1% of notes changed", f"{sample['changed_1pct_reingest_s']:.2f} s ({sample['changed_1pct_notes']} notes)",
          f"{warm['changed_1pct_reingest_s']:.2f} s ({warm['changed_1pct_notes']} notes, "
          f"{warm['changed_1pct_texts_encoded']} texts embedded)"]],
    )
    markdown = (f"Ingest (encoder {embedder.backend}, batch size {settings.embed_batch_size}, "
                f"{settings.encoder_threads} threads); load "
                f"average {before['load_average'][0]} before, {result['load_average_after'][0]} after.\n\n"
                f"{table}\n\n{reingest}\n\n{precision_markdown(precision)}")
    write_result("ingest", result, markdown, args.results)
    print(markdown)
    return 0


def precision_only(args) -> int:
    """Only fp32 vs int8; merged into bench/results/ingest.json/.md beside the phases run before."""
    settings = Settings()
    work = Path(tempfile.mkdtemp(prefix="bench-precision-"))
    before = machine()
    try:
        lines = [line for line in args.corpus.read_text(encoding="utf-8").splitlines() if line.strip()]
        precision = compare_precisions(lines, args.sample, settings, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    precision.update(machine=before, load_average_after=machine()["load_average"])
    path = args.results / "ingest.json"
    result = json.loads(path.read_text()) if path.exists() else {}
    result.pop("benchmark", None)
    result["precision"] = precision
    old = (args.results / "ingest.md").read_text() if (args.results / "ingest.md").exists() else ""
    old = old.split("\n## fp32 vs int8")[0].rstrip()
    markdown = (f"{old}\n\n## fp32 vs int8\n\nLoad average {before['load_average'][0]} before, "
                f"{precision['load_average_after'][0]} after.\n\n{precision_markdown(precision)}")
    write_result("ingest", result, markdown, args.results)
    print(markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
