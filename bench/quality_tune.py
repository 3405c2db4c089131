"""Tune fusion and quote-picking weights on the tuning half of a BEIR split (never the held-out half).

    .venv/bin/python bench/quality_tune.py --beir ../shared/eval/scifact [--grid fusion|quotes|rerank]

The first stage (query vector, dense and BM25 candidates) is computed once per
query; every configuration then re-scores those candidates with the same pure
functions the chat uses (`answer.rank_and_quote`). Prints one line per
configuration on the tuning half, then the chosen one on both halves. The
defaults in `bot.retrieval`, `bot.quotes` and `bot.answer` were set from its output.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.query.params import AnswerParams, DEFAULT_ANSWER_PARAMS  # noqa: E402
from bot.query.evidence import rank_and_quote
from bot.tools.evaluate import QueryResult, held_out, load_beir, metrics, open_eval_index  # noqa: E402
from bot.query.retrieval import Filters, first_stage  # noqa: E402
from bot.settings import Settings  # noqa: E402


def prepare(index, data, n: int = 100):
    snapshot = index.snapshot
    cached = {}
    for query_id, text in data.queries.items():
        vector = index.embedder.encode_query(text)
        cached[query_id] = (text, vector, first_stage(index, snapshot, text, vector, Filters(), n))
    return cached


def results_for(snapshot, cached, params: AnswerParams, query_ids) -> dict[str, QueryResult]:
    out = {}
    for query_id in query_ids:
        text, vector, first = cached[query_id]
        hits, evidence = rank_and_quote(snapshot, text, vector, first, params)
        quotes = [{"doc_id": e.hit.note_id, "text": snapshot.notes[e.hit.row].text[q.start:q.end]}
                  for e in evidence for q in e.quotes]
        out[query_id] = QueryResult([(h.note_id, h.score) for h in hits[:100]], quotes, 0.0)
    return out


def line(name: str, m: dict) -> str:
    return (f"{name:<60} ndcg@10 {m['ndcg@10']:.4f}  r@100 {m['recall@100']:.4f}  "
            f"mrr@10 {m['mrr@10']:.4f}  hit@1 {m['quote_precision@1']:.4f}  tight@1 {m['tight@1']:.4f}")


def grids(kind: str, base: AnswerParams):
    r, q = base.retrieval, base.quotes
    if kind == "fusion":
        for dw, lw, nw, sw, sup in itertools.product((1.0,), (0.6, 0.8, 1.0), (0.0, 0.3, 0.6), (0.0, 0.3, 0.6),
                                                     (0.0, 0.2)):
            yield f"dense {dw} lex {lw} note {nw} sent {sw} support {sup}", replace(
                base, evidence_rerank=False,
                retrieval=replace(r, dense_weight=dw, lexical_weight=lw, note_weight=nw, sentence_weight=sw,
                                  support_weight=sup))
    elif kind == "rerank":
        for k, w in itertools.product((5, 10, 20), (0.0, 0.25, 0.5, 1.0)):
            yield f"rerank top {k} weight {w}", replace(base, notes_considered=k, evidence_weight=w,
                                                         evidence_rerank=w > 0)
    elif kind == "quotes":  # bench/tight_quotes.py sweeps who may share a passage
        for lex, focus, lead, follow in itertools.product((0.5, 0.7, 1.0), (-0.3, -0.6, -0.9), (0.5,), (0.05, 0.5)):
            yield f"lexical {lex} focus {focus} lead_share {lead} follow_share {follow}", replace(
                base, quotes=replace(q, lexical=lex, focus=focus, lead_share=lead, follow_share=follow))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--beir", type=Path, default=Path("../shared/eval/scifact"))
    parser.add_argument("--split", default=None)
    parser.add_argument("--grid", choices=["fusion", "rerank", "quotes"], action="append")
    args = parser.parse_args()
    if not args.beir.is_dir():
        sys.exit(f"no BEIR folder at {args.beir}")
    data = load_beir(args.beir, args.split)
    tune = [q for q in data.queries if not held_out(q)]
    held = [q for q in data.queries if held_out(q)]
    settings = Settings()
    with open_eval_index(settings, data) as index:
        started = time.perf_counter()
        cached = prepare(index, data)
        print(f"first stage for {len(cached)} queries: {time.perf_counter() - started:.1f} s", flush=True)
        snapshot = index.snapshot
        best_name, best_params, best_value = "defaults", DEFAULT_ANSWER_PARAMS, -1.0
        print(line("defaults (tuning half)", metrics(results_for(snapshot, cached, best_params, tune), data, tune)))
        for kind in args.grid or []:
            for name, params in grids(kind, best_params):
                m = metrics(results_for(snapshot, cached, params, tune), data, tune)
                print(line(name, m), flush=True)
                value = m["ndcg@10"] if kind != "quotes" else m["tight@1"]
                if value > best_value:
                    best_name, best_params, best_value = name, params, value
        print(f"\nchosen: {best_name}")
        for label, ids in (("tuning half", tune), ("held-out half", held), ("whole split", list(data.queries))):
            print(line(label, metrics(results_for(snapshot, cached, best_params, ids), data, ids)))


if __name__ == "__main__":
    main()
