"""Ingest throughput: ingest next to raw `model.encode` of the very texts it encodes.

    .venv/bin/python bench/ingest_throughput.py                 # a cold sample + the full corpus, warm
    .venv/bin/python bench/ingest_throughput.py --cold          # the full corpus cold too (~25 min here)
    .venv/bin/python bench/ingest_throughput.py --sample 300 --corpus notes.jsonl

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
    args = parser.parse_args(argv)
    if not args.corpus.exists():
        print(f"no corpus at {args.corpus}: pass --corpus", file=sys.stderr)
        return 2

    settings = Settings()
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
        "full_cold": full_cold, "unchanged_share_of_full_cold": unchanged_share,
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
                f"{table}\n\n{reingest}\n")
    write_result("ingest", result, markdown, args.results)
    print(markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
