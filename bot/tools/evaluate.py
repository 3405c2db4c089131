"""Measure retrieval and quoting on a BEIR-format dataset, through the code the chat uses.

    data = load_beir(Path("../shared/eval/scifact"))          # corpus, queries, qrels, rationales
    with open_eval_index(settings, data) as index:            # its own store, keyed by the corpus hash
        result = run(index, data)                             # every query through answer.respond
    report(result, data)["metrics"]["ndcg@10"]

A BEIR folder holds `corpus.jsonl` (`_id`, `title`, `text`, optionally `sentences`),
`queries.jsonl` (`_id`, `text`), `qrels/<split>.tsv` (`query-id`, `corpus-id`,
`score`) and optionally `rationales_<split>.jsonl` (`query_id`, `doc_id`,
`sentences`: indices into the corpus line's `sentences`). The corpus is ingested
as one note per line (note id = `_id`) into an embedded store under
`<data_dir>/eval/`, named by the corpus file's hash (and the model's), so a second run costs nothing.

Metrics (averaged over the split's queries):

    ndcg@10, recall@10, recall@100, mrr@10    the note ranking (top 100 kept in `run`)
    quote_precision@1   "quote hit@1": share of queries with rationales whose first quote comes
                        from a rationale document and contains one of its evidence sentences
                        whole or lies inside one (whitespace-normalised), being at most two
                        sentences and 400 characters
    tight@1             share of queries with rationales whose first quote comes from a
                        rationale document and is mostly evidence: at least half of its
                        characters (whitespace-normalised) lie in that document's gold
                        sentences, or it lies inside one gold sentence. Quote hit@1 rewards
                        length (a gold sentence plus a sentence of preamble still hits);
                        tight@1 does not:

        quote                                   gold sentences        hit@1  tight@1
        "Gold one."                             "Gold one."           yes    yes
        "Preamble here, long. Gold one."        "Gold one."           yes    no
        "Gold one. Gold two."                   both                  yes    yes
        "old one"                               "Gold one."           yes    yes
    latency_ms_p50/p95  the whole answer path per query (embed, search, fusion, quotes, compose)
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable, Iterable
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path


from ..errors import BeirError
from ..index.embedder import Embedder
from ..query.params import DEFAULT_ANSWER_PARAMS
from ..service import Bot
from ..settings import Settings
from .metrics import MAX_QUOTE_CHARS, gold_share, mrr_at, ndcg_at, normalise, percentile, quote_hits_evidence, quote_is_tight, recall_at  # noqa: F401

log = logging.getLogger(__name__)

METRIC_KEYS = (
    "ndcg@10", "recall@10", "recall@100", "mrr@10", "quote_precision@1", "tight@1", "latency_ms_p50",
    "latency_ms_p95",
)
RUN_DEPTH = 100


@dataclass
class BeirData:
    """One split of a BEIR dataset, in memory (the corpus stays on disk: it is ingested)."""

    directory: Path
    split: str
    corpus_path: Path
    queries: dict[str, str]  # only the split's queries, in file order
    qrels: dict[str, dict[str, int]]
    rationales: dict[str, dict[str, list[int]]] = field(default_factory=dict)  # query -> doc -> indices
    sentences: dict[str, list[str]] = field(default_factory=dict)  # rationale doc -> its sentences

    def evidence(self, query_id: str) -> dict[str, list[str]]:
        """The gold evidence sentences of a query, by document."""
        return {
            doc: [self.sentences[doc][i] for i in indices if i < len(self.sentences.get(doc, []))]
            for doc, indices in self.rationales.get(query_id, {}).items()
        }


def find_split(directory: Path, split: str | None) -> str:
    """The split to use: the one given (it must exist), else the only `qrels/*.tsv`."""
    found = sorted(p.stem for p in (directory / "qrels").glob("*.tsv"))
    if split is not None:
        if split not in found:
            raise BeirError(f"no qrels/{split}.tsv in {directory} (found: {', '.join(found) or 'none'})")
        return split
    if not found:
        raise BeirError(f"no qrels/*.tsv in {directory}: is it a BEIR-format folder?")
    if len(found) > 1:
        raise BeirError(f"{directory} has several splits ({', '.join(found)}); choose one with --split")
    return found[0]


def load_beir(directory: Path, split: str | None = None) -> BeirData:
    """Read a BEIR folder's queries, qrels and rationales for one split."""
    directory = Path(directory)
    if not directory.is_dir():
        raise BeirError(f"{directory} is not a folder")
    corpus_path = directory / "corpus.jsonl"
    queries_path = directory / "queries.jsonl"
    for required in (corpus_path, queries_path):
        if not required.is_file():
            raise BeirError(f"{required} is missing: a BEIR folder has corpus.jsonl, queries.jsonl and qrels/")
    split = find_split(directory, split)
    qrels: dict[str, dict[str, int]] = {}
    with open(directory / "qrels" / f"{split}.tsv", encoding="utf-8") as handle:
        for number, line in enumerate(handle):
            parts = line.rstrip("\n").split("\t")
            if len(parts) < 3 or (number == 0 and not parts[2].lstrip("-").isdigit()):
                continue  # the header, or a blank line
            if int(parts[2]) > 0:
                qrels.setdefault(parts[0], {})[parts[1]] = int(parts[2])
    all_queries = {}
    for record in _jsonl(queries_path):
        all_queries[str(record["_id"])] = str(record.get("text", ""))
    missing = [q for q in qrels if q not in all_queries]
    if missing:
        raise BeirError(f"{len(missing)} queries of qrels/{split}.tsv are not in queries.jsonl (e.g. {missing[0]})")
    queries = {q: text for q, text in all_queries.items() if q in qrels}

    rationales: dict[str, dict[str, list[int]]] = {}
    rationale_path = directory / f"rationales_{split}.jsonl"
    if rationale_path.is_file():
        for record in _jsonl(rationale_path):
            query_id, doc_id = str(record["query_id"]), str(record["doc_id"])
            if query_id in queries and record.get("sentences"):
                rationales.setdefault(query_id, {}).setdefault(doc_id, []).extend(int(i) for i in record["sentences"])
    wanted_docs = {doc for docs in rationales.values() for doc in docs}
    sentences: dict[str, list[str]] = {}
    if wanted_docs:
        for record in _jsonl(corpus_path):
            doc_id = str(record.get("_id"))
            if doc_id in wanted_docs:
                sentences[doc_id] = [str(s) for s in record.get("sentences") or []]
    return BeirData(directory, split, corpus_path, queries, qrels, rationales, sentences)


def _jsonl(path: Path) -> Iterable[dict]:
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if line.strip():
                try:
                    yield json.loads(line)
                except json.JSONDecodeError as exc:
                    raise BeirError(f"{path} line {number} is not valid JSON ({exc.msg})") from None


def held_out(query_id: str) -> bool:
    """True for the half of the queries kept back from tuning (a stable hash of the id)."""
    return hashlib.sha256(query_id.encode("utf-8")).digest()[0] % 2 == 1


# --- the index ------------------------------------------------------------------------------------


def corpus_hash(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:16]


def eval_store_path(settings: Settings, corpus_path: Path, model_fingerprint: str) -> Path:
    """Where a corpus's own embedded store lives: `<data_dir>/eval/corpus-<hash>/model-<fp>/chroma`.

    One store per corpus and model, so two models (say, the bundled one and an
    adapted one) can be evaluated by two processes at once.
    """
    return Path(settings.data_dir) / "eval" / f"corpus-{corpus_hash(corpus_path)}" / f"model-{model_fingerprint}" / "chroma"


@contextmanager
def open_eval_index(settings: Settings, data: BeirData, *, progress: bool = True):
    """The corpus's service (ingested into its own store on first use, then reused), closed on exit."""
    embedder = Embedder.load(settings)
    path = eval_store_path(settings, data.corpus_path, embedder.fingerprint)
    with Bot.open(settings, store_path=path, purpose="bot eval", build_from=[data.corpus_path],
                  progress=progress, embedder=embedder) as notes:
        yield notes


# --- running the queries --------------------------------------------------------------------------


@dataclass
class QueryResult:
    ranking: list[tuple[str, float]]  # top RUN_DEPTH notes
    quotes: list[dict]  # {"doc_id", "text"}, best first
    latency_ms: float


def run(notes: Bot, data: BeirData, params=None, *, progress: bool = True,
        on_query: Callable[[str, QueryResult], None] | None = None) -> dict[str, QueryResult]:
    """Every query of the split through `Bot.respond` (the chat's read path), timed."""
    params = params or DEFAULT_ANSWER_PARAMS
    snapshot = notes.snapshot
    results: dict[str, QueryResult] = {}
    bar = _bar(len(data.queries), progress)
    candidates = max(notes.settings.candidates, RUN_DEPTH)
    if data.queries:  # warm up: the first call pays for lazy loading, not the question
        notes.respond(next(iter(data.queries.values())) or "warm up", params=params, candidates=candidates)
    try:
        for query_id, text in data.queries.items():
            started = time.perf_counter()
            response = notes.respond(text, params=params, candidates=candidates)
            latency = (time.perf_counter() - started) * 1000
            ranking = [(h.note_id, round(h.score, 6)) for h in response.hits[:RUN_DEPTH]]
            quotes = []
            for item in response.evidence:
                note = snapshot.notes[item.hit.row]
                quotes.extend({"doc_id": note.id, "text": note.text[q.start:q.end]} for q in item.quotes)
            results[query_id] = QueryResult(ranking, quotes, latency)
            if on_query is not None:
                on_query(query_id, results[query_id])
            if bar is not None:
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    return results


def _bar(total: int, enabled: bool):
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=total, desc="queries", unit="q", dynamic_ncols=True, leave=False)


def metrics(results: dict[str, QueryResult], data: BeirData, query_ids: Iterable[str] | None = None) -> dict:
    """The metrics over `query_ids` (default: every query of the split); queries never run count as 0."""
    ids = list(data.queries) if query_ids is None else [q for q in query_ids if q in data.queries]
    if not ids:
        return {key: None for key in METRIC_KEYS}
    totals = {"ndcg@10": 0.0, "recall@10": 0.0, "recall@100": 0.0, "mrr@10": 0.0}
    quoted, quote_right, quote_tight = 0, 0, 0
    for query_id in ids:
        result = results.get(query_id)
        ranking = [doc for doc, _ in result.ranking] if result else []
        relevant = data.qrels[query_id]
        totals["ndcg@10"] += ndcg_at(ranking, relevant, 10)
        totals["recall@10"] += recall_at(ranking, relevant, 10)
        totals["recall@100"] += recall_at(ranking, relevant, 100)
        totals["mrr@10"] += mrr_at(ranking, relevant, 10)
        evidence = data.evidence(query_id)
        if evidence:
            quoted += 1
            if result and result.quotes and quote_hits_evidence(result.quotes[0], evidence):
                quote_right += 1
            if result and result.quotes and quote_is_tight(result.quotes[0], evidence, data.sentences):
                quote_tight += 1
    latencies = [results[q].latency_ms for q in ids if q in results]
    out = {key: round(value / len(ids), 4) for key, value in totals.items()}
    out["quote_precision@1"] = round(quote_right / quoted, 4) if quoted else None
    out["tight@1"] = round(quote_tight / quoted, 4) if quoted else None
    out["latency_ms_p50"] = round(percentile(latencies, 50), 2)
    out["latency_ms_p95"] = round(percentile(latencies, 95), 2)
    return {key: out[key] for key in METRIC_KEYS}


def report(results: dict[str, QueryResult], data: BeirData) -> dict:
    """The JSON the `eval` command writes: metrics, the top-100 run and the quotes per query."""
    return {
        "metrics": metrics(results, data),
        "run": {q: [[doc, score] for doc, score in r.ranking] for q, r in results.items()},
        "quotes": {q: r.quotes for q, r in results.items()},
    }


def metrics_table(rows: dict[str, dict]) -> str:
    """A plain-text table: one row per named set of metrics."""
    header = ["", *METRIC_KEYS]
    lines = [header]
    for name, values in rows.items():
        lines.append([name] + ["-" if values.get(k) is None else f"{values[k]:.4g}" if "latency" in k
                               else f"{values[k]:.4f}" for k in METRIC_KEYS])
    widths = [max(len(str(line[i])) for line in lines) for i in range(len(header))]
    return "\n".join("  ".join(str(cell).rjust(w) if i else str(cell).ljust(w)
                               for i, (cell, w) in enumerate(zip(line, widths))) for line in lines)


def evaluate(directory: Path, split: str | None = None, settings: Settings | None = None, *,
             params=None, progress: bool = True) -> tuple[dict, BeirData]:
    """Load, ingest (once), run every query and score it: the `bot eval` command as a function."""
    settings = settings or Settings()
    data = load_beir(directory, split)
    with open_eval_index(settings, data, progress=progress) as notes:
        results = run(notes, data, params, progress=progress)
    return report(results, data), data

