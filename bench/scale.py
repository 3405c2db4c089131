"""Scale: query latency, memory, disk, index time and HNSW recall as the collection grows.

    .venv/bin/python bench/scale.py                       # 5k, 50k and 300k chunks
    .venv/bin/python bench/scale.py --sizes 5000 50000    # some of them

Each size is an index of its own under `<data dir>/bench/scale/`, made from the SciFact
index (built by `bot eval` or bench/latency.py on first use): the corpus replicated with new
note ids until it has that many chunks. Embedding 300k chunks would take hours on two
cores, so the replicas are **index-only with stored vectors**: each replica's chunk and note
vectors are the originals nudged by seeded Gaussian noise (median cosine to the original
about 0.9) and renormalised, so no two replicas share a vector and the approximate index has
real work to do; texts, sentences and their vectors are the originals'. Writing them goes
through `Store` (Chroma upserts, then a commit), timed as the index time. The index is kept
for later runs (warm runs only measure).

Each size is measured in a fresh process (memory figures are that process's own):
  open        opening the store and the snapshot (the first time: read from Chroma and cached)
  memory      resident memory after opening and after the questions
  ask         `bot.answer.respond` p50/p95 over SciFact training claims
  dense       Chroma's query alone, p50/p95
  recall@10   the top 10 of Chroma's HNSW against exact search (numpy over every chunk vector),
              asking for 10 neighbours (the search then explores the collection's ef_search of
              128 candidates) and for more (hnswlib explores max(ef_search, k) candidates: asking
              for k and keeping the first 10 widens the search); "as the bot asks" is the k
              `bot.store.search_breadth` gives for the collection's size
Writes bench/results/scale.json, scale.md and scale.png.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from common import RESULTS, SCIFACT, disk_mb, fmt, machine, markdown_table, peak_rss_mb, percentiles, rss_mb, write_result

from bot.settings import Settings

SIZES = (5_000, 50_000, 300_000)
NOISE_COSINE = 0.9  # a replica's vector against its original, about
K_GRID = (10, 50, 100, 200, 400, 800)
RECALL_QUERIES = 300
ASK_QUERIES = 400
FORMAT = 1  # bump when the way replicas are made changes


# --- building a size -----------------------------------------------------------------------------


def scale_dir(settings: Settings, size: int) -> Path:
    return Path(settings.data_dir) / "bench" / "scale" / f"chunks-{size}-f{FORMAT}"


def _perturb(vectors: np.ndarray, seed: int) -> np.ndarray:
    """Unit vectors at a cosine of about NOISE_COSINE to the given ones, reproducibly."""
    rng = np.random.default_rng(seed)
    noise = rng.standard_normal(vectors.shape).astype(np.float32)
    noise /= np.linalg.norm(noise, axis=1, keepdims=True)
    # v·(v + a·n)/|v + a·n| ≈ 1/sqrt(1 + a²) for n ⟂ v (nearly so in 384 dimensions)
    a = float(np.sqrt(1 / NOISE_COSINE**2 - 1))
    moved = vectors + a * noise
    return (moved / np.linalg.norm(moved, axis=1, keepdims=True)).astype(np.float32)


def read_base(store) -> tuple[list, dict]:
    """The base index's note records (key, vector, document, metadata) and chunk records by note key."""
    notes = []
    for ids, metadatas, documents, embeddings in store._pages(store.notes(), include=["metadatas", "documents",
                                                                                       "embeddings"]):
        notes.extend(zip(ids, embeddings, documents, metadatas))
    notes.sort(key=lambda record: record[0])
    chunks: dict[str, list] = {}
    for chunk_id, meta, text, vector in store.iter_chunks(include_embeddings=True):
        chunks.setdefault(meta["note_key"], []).append((chunk_id, vector, text, meta))
    return notes, chunks


def build_size(settings: Settings, size: int, base_store, embedder_fingerprint: str) -> dict:
    """Write the replicated index of `size` chunks (if it isn't there yet); returns how it was made."""
    from bot.index.records import FOREVER, note_key
    from bot.index.store import Store

    directory = scale_dir(settings, size)
    marker = directory / "built.json"
    if marker.exists():
        return json.loads(marker.read_text())
    if directory.exists():
        import shutil

        shutil.rmtree(directory)  # a build that was interrupted: start again
    notes, chunks = read_base(base_store)
    started = time.perf_counter()
    written_chunks = written_notes = 0
    replica = 0
    with Store.open(settings, embedder_fingerprint, path=directory / "chroma", purpose="bench scale") as store:
        store.chunks(create=True)
        while written_chunks < size:
            batch_notes, batch_chunks = [], []
            for key, vector, document, meta in notes:
                if written_chunks + len(batch_chunks) >= size:
                    break
                note = json.loads(document)
                note_id = note["id"] if replica == 0 else f"{note['id']}-r{replica}"
                new_key = note_key(note_id, meta["hash"], 1)
                if replica:
                    note["id"], note["title"] = note_id, f"{note['title']} (replica {replica})"
                batch_notes.append((new_key, vector, json.dumps(note),
                                    {**meta, "note_id": note_id, "live_from": 1, "live_until": FOREVER}))
                for chunk_id, chunk_vector, text, chunk_meta in chunks.get(key, []):
                    number = chunk_id.rsplit("#", 1)[1]
                    batch_chunks.append((f"{new_key}#{number}", chunk_vector, text,
                                         {**chunk_meta, "note_key": new_key, "note_id": note_id}))
                if len(batch_chunks) >= 2000:
                    written_chunks, written_notes = _write(store, batch_notes, batch_chunks, replica,
                                                           written_chunks, written_notes)
                    batch_notes, batch_chunks = [], []
            if batch_chunks:
                written_chunks, written_notes = _write(store, batch_notes, batch_chunks, replica,
                                                       written_chunks, written_notes)
            print(f"  replica {replica}: {written_chunks:,} chunks so far", file=sys.stderr)
            replica += 1
        store.commit(1, notes=written_notes, chunks=written_chunks)
    built = {"chunks": written_chunks, "notes": written_notes, "replicas": replica,
             "index_seconds": round(time.perf_counter() - started, 1), "stored_vectors": True}
    marker.write_text(json.dumps(built))
    return built


def _write(store, notes, chunks, replica, written_chunks, written_notes):
    def vectors(rows, salt):
        matrix = np.asarray([r[1] for r in rows], dtype=np.float32)
        return matrix if replica == 0 else _perturb(matrix, seed=replica * 1_000_003 + salt)

    store.add_chunks([c[0] for c in chunks], vectors(chunks, written_chunks), [c[2] for c in chunks],
                     [c[3] for c in chunks])
    store.add_notes([n[0] for n in notes], vectors(notes, 7 + written_notes), [n[2] for n in notes],
                    [n[3] for n in notes])
    return written_chunks + len(chunks), written_notes + len(notes)


# --- measuring a size (in its own process) ------------------------------------------------------------


def measure_size(settings: Settings, size: int, questions: list[str]) -> dict:
    from bot.query.answer import respond
    from bot.index.embedder import Embedder
    from bot.index.served import Index
    from bot.index.snapshot import cache_root, load_snapshot
    from bot.index.store import Store, search_breadth

    directory = scale_dir(settings, size)
    embedder = Embedder.load(settings)
    embedder.encode_query("warm up")
    baseline_rss = rss_mb()
    started = time.perf_counter()
    store = Store.open(settings, embedder.fingerprint, path=directory / "chroma", purpose="bench scale")
    snapshot = load_snapshot(store, store.version(), embedder.dimension, cache_root(settings))
    index = Index(settings, store, embedder, snapshot)
    open_seconds = time.perf_counter() - started
    chunk_count = len(snapshot.chunk_ids)
    vectors_by_query = [embedder.encode_query(q) for q in questions]
    for question in questions[:20]:
        respond(index, question)
    rss_open = rss_mb()

    ask_ms, dense_ms = [], []
    for question, vector in zip(questions[:ASK_QUERIES], vectors_by_query):
        began = time.perf_counter()
        respond(index, question)
        ask_ms.append((time.perf_counter() - began) * 1000)
        began = time.perf_counter()
        store.query(vector, 10)
        dense_ms.append((time.perf_counter() - began) * 1000)
    rss_after = rss_mb()

    # exact search over every chunk vector, against Chroma's HNSW asked for several numbers of neighbours
    ids, pages = [], []
    for page_ids, _, _, embeddings in store._pages(store.chunks(), include=["embeddings"]):
        ids.extend(page_ids)
        pages.append(np.asarray(embeddings, dtype=np.float32))
    matrix = np.concatenate(pages)
    ids = np.asarray(ids)
    probe = np.asarray(vectors_by_query[:RECALL_QUERIES], dtype=np.float32)
    exact = [set(ids[np.argpartition(-(matrix @ q), 10)[:10]]) for q in probe]
    del matrix
    chosen = search_breadth(chunk_count)
    recall = {}
    for k in sorted(set(K_GRID) | {chosen}):
        found = [set(store.query(q, k)[0][:10]) for q in probe]
        recall[str(k)] = round(float(np.mean([len(f & e) / 10 for f, e in zip(found, exact)])), 4)
    index.close()
    return {
        "size": size,
        "chunks": chunk_count,
        "notes": len(snapshot.notes),
        "sentences": int(len(snapshot.sentence_note)),
        "open_s": round(open_seconds, 2),
        "rss_mb_model_only": baseline_rss,
        "rss_mb_open": rss_open,
        "rss_mb_after_questions": rss_after,
        "peak_rss_mb": peak_rss_mb(),
        "index_mb_in_memory": round(rss_after - baseline_rss, 1),
        "disk_mb": disk_mb(directory),
        "ask_ms": percentiles(ask_ms),
        "dense_query_ms": percentiles(dense_ms),
        "recall@10_by_k": recall,
        "collection_ef_search": 128,
        "k_chosen": chosen,
        "recall@10_chosen": recall[str(chosen)],
        "questions": len(ask_ms),
        "load_average": machine()["load_average"],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    parser.add_argument("--beir", type=Path, default=SCIFACT)
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--measure", type=int, help=argparse.SUPPRESS)  # internal: one size, this process
    args = parser.parse_args(argv)
    if not (args.beir / "corpus.jsonl").exists():
        print(f"no BEIR folder at {args.beir}: pass --beir", file=sys.stderr)
        return 2
    from bot.tools.evaluate import load_beir

    settings = Settings()
    data = load_beir(args.beir, "train" if (args.beir / "qrels" / "train.tsv").exists() else None)
    questions = list(data.queries.values())
    if args.measure:
        print(json.dumps(measure_size(settings, args.measure, questions)))
        return 0

    from bot.tools.evaluate import open_eval_index

    built = {}
    with open_eval_index(settings, data) as base:  # the SciFact index, built on first use
        for size in args.sizes:
            print(f"size {size:,}: building (first run only)...", file=sys.stderr)
            built[size] = build_size(settings, size, base.store, base.embedder.fingerprint)
    rows = []
    for size in args.sizes:
        print(f"size {size:,}: measuring in a fresh process...", file=sys.stderr)
        done = subprocess.run([sys.executable, __file__, "--measure", str(size), "--beir", str(args.beir)],
                              capture_output=True, text=True)
        if done.returncode != 0:
            print(done.stderr[-3000:], file=sys.stderr)
            return 1
        rows.append({**json.loads(done.stdout.strip().splitlines()[-1]), "built": built[size]})
        print(f"  {rows[-1]['chunks']:,} chunks: ask p95 {rows[-1]['ask_ms']['p95']} ms, "
              f"recall@10 {rows[-1]['recall@10_chosen']}", file=sys.stderr)

    per_100k = None
    if len(rows) >= 2:
        small, large = rows[0], rows[-1]
        per_100k = round((large["index_mb_in_memory"] - small["index_mb_in_memory"])
                         / ((large["chunks"] - small["chunks"]) / 100_000), 1)
    largest = rows[-1]
    result = {"machine": machine(), "sizes": rows, "memory_mb_per_100k_chunks": per_100k,
              "targets": {"ask_p95_ms<=150_at_largest": largest["ask_ms"]["p95"] <= 150,
                          "recall@10>=0.99": all(r["recall@10_chosen"] >= 0.99 for r in rows)}}
    table = markdown_table(
        ["chunks", "notes", "index time (stored vectors)", "open", "ask p50 / p95 ms", "Chroma query for 10, p50 / p95 ms",
         "memory (index)", "disk", "recall@10 asking for 10", "k the bot asks for", "recall@10 as the bot asks"],
        [[f"{r['chunks']:,}", f"{r['notes']:,}", f"{r['built']['index_seconds']:.0f} s", f"{r['open_s']:.1f} s",
          f"{fmt(r['ask_ms']['p50'])} / {fmt(r['ask_ms']['p95'])}",
          f"{fmt(r['dense_query_ms']['p50'], 2)} / {fmt(r['dense_query_ms']['p95'], 2)}",
          f"{r['index_mb_in_memory']:,.0f} MB", f"{r['disk_mb']:,.0f} MB", f"{r['recall@10_by_k']['10']:.3f}",
          r["k_chosen"], f"{r['recall@10_chosen']:.3f}"] for r in rows],
    )
    markdown = (f"{table}\n\nReplicas of SciFact with stored, perturbed vectors (index-only: nothing re-embedded). "
                f"Memory per 100k chunks: {per_100k} MB (the index's share of resident memory, from the "
                f"smallest to the largest size). Memory is the measuring process's resident set after "
                f"opening minus the model alone.\n")
    write_result("scale", result, markdown, args.results)
    plot(result, args.results / "scale.png")
    print(markdown)
    return 0


def plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = result["sizes"]
    x = [r["chunks"] for r in rows]
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    axes[0].plot(x, [r["ask_ms"]["p50"] for r in rows], "o-", label="ask p50")
    axes[0].plot(x, [r["ask_ms"]["p95"] for r in rows], "o-", label="ask p95")
    axes[0].plot(x, [r["dense_query_ms"]["p95"] for r in rows], "o--", label="Chroma query p95")
    axes[0].axhline(150, color="grey", linestyle=":", label="target p95 150 ms")
    axes[0].set_ylabel("ms")
    axes[0].set_title("Latency")
    axes[1].plot(x, [r["index_mb_in_memory"] for r in rows], "o-", label="resident (index)")
    axes[1].plot(x, [r["disk_mb"] for r in rows], "o-", label="disk")
    axes[1].set_ylabel("MB")
    axes[1].set_title("Memory and disk")
    for k in ("10", "100"):
        axes[2].plot(x, [r["recall@10_by_k"].get(k) for r in rows], "o-", label=f"asking for {k}")
    axes[2].plot(x, [r["recall@10_chosen"] for r in rows], "k*--", label="as the bot asks")
    axes[2].axhline(0.99, color="grey", linestyle=":", label="0.99")
    axes[2].set_title("HNSW recall@10 vs exact")
    for axis in axes:
        axis.set_xscale("log")
        axis.set_xlabel("chunks")
        axis.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())
