"""Ingest throughput: a full ingest of a corpus next to raw `model.encode` of the same texts.

    .venv/bin/python bench/ingest_throughput.py [--corpus ../shared/eval/scifact/corpus.jsonl] [--limit N]

Runs in a fresh data dir (an empty embedding cache: a cold ingest), then times
an unchanged re-ingest and a re-ingest with 1% of the notes changed, and
writes bench/results/ingest_throughput.json. Everything but the encoder is
overhead: the ratio `ingest texts/s ÷ raw encode texts/s` says how much.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.chunks import embedding_text, segment_note  # noqa: E402
from bot.embeddings import Embedder  # noqa: E402
from bot.ingest import ingest, read_notes  # noqa: E402
from bot.notes import build_notes  # noqa: E402
from bot.settings import Settings  # noqa: E402
from bot.store import Store  # noqa: E402

DEFAULT_CORPUS = ROOT.parent / "shared" / "eval" / "scifact" / "corpus.jsonl"


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--limit", type=int, default=0, help="only the first N notes (0: all)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "ingest_throughput.json")
    args = parser.parse_args()
    if not args.corpus.exists():
        sys.exit(f"no corpus at {args.corpus}: pass --corpus")

    work = Path(tempfile.mkdtemp(prefix="bench-ingest-"))
    corpus = work / "notes" / "corpus.jsonl"
    corpus.parent.mkdir(parents=True)
    lines = args.corpus.read_text(encoding="utf-8").splitlines()
    if args.limit:
        lines = lines[: args.limit]
    corpus.write_text("\n".join(lines) + "\n", encoding="utf-8")

    settings = Settings(data_dir=work / "data", notes_dir=str(corpus.parent))
    embedder = Embedder.load(settings)
    texts = pipeline_texts(corpus, settings, embedder)

    with Store.open(settings, embedder.fingerprint, purpose="bench") as store:
        started = time.perf_counter()
        full = ingest([corpus], settings, store, embedder, progress=True)
        full_seconds = time.perf_counter() - started

        started = time.perf_counter()
        unchanged = ingest([corpus], settings, store, embedder, progress=False)
        unchanged_seconds = time.perf_counter() - started

        changed_lines = list(lines)
        step = max(1, len(lines) // max(1, len(lines) // 100))
        for i in range(0, len(changed_lines), step):
            record = json.loads(changed_lines[i])
            record["text"] += " This sentence was added for the benchmark."
            changed_lines[i] = json.dumps(record)
        corpus.write_text("\n".join(changed_lines) + "\n", encoding="utf-8")
        started = time.perf_counter()
        changed = ingest([corpus], settings, store, embedder, progress=False)
        changed_seconds = time.perf_counter() - started

    started = time.perf_counter()
    embedder.model.encode(texts, batch_size=settings.embed_batch_size, normalize_embeddings=True,
                          show_progress_bar=True)
    raw_seconds = time.perf_counter() - started

    result = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, torch threads {settings.torch_threads}",
        "corpus": str(args.corpus),
        "notes": full.notes,
        "chunks": full.chunks,
        "texts_encoded": full.embedded_texts,
        "pipeline_texts": len(texts),
        "full_ingest_s": round(full_seconds, 1),
        "notes_per_s": round(full.notes / full_seconds, 2),
        "chunks_per_s": round(full.chunks / full_seconds, 2),
        "ingest_texts_per_s": round(full.embedded_texts / full_seconds, 2),
        "raw_encode_s": round(raw_seconds, 1),
        "raw_texts_per_s": round(len(texts) / raw_seconds, 2),
        "ratio_to_raw_encode": round((full.embedded_texts / full_seconds) / (len(texts) / raw_seconds), 3),
        "unchanged_reingest_s": round(unchanged_seconds, 2),
        "unchanged_share_of_full": round(unchanged_seconds / full_seconds, 4),
        "changed_1pct_notes": len(changed.updated),
        "changed_1pct_reingest_s": round(changed_seconds, 2),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    width = max(len(k) for k in result)
    for key, value in result.items():
        print(f"{key:<{width}}  {value}")


if __name__ == "__main__":
    main()
