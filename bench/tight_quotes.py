"""Tight quotes: quote hit@1, tight@1 and nDCG@10 for quote-picking settings, on SciFact's tuning half.

    BOT_DATA_DIR=... nice .venv/bin/python bench/tight_quotes.py --beir ../shared/eval/scifact \
        [--split train] [--cache /tmp/first_stage.pkl] [--sweep] [--show 20]

The first stage (query vector, dense and BM25 candidates) is computed once per claim (and
kept in `--cache` between runs); every setting then re-scores those candidates with the
chat's own pure functions (`evidence.rank_and_quote`), so only the quote parameters vary.
`--sweep` prints one line per setting on the tuning half (the claims `held_out` leaves in).
Always prints the before/after table (whole split and held-out half) and, with `--show`,
the first quotes before and after for that many claims whose first quote changed.
"""

from __future__ import annotations

import argparse
import itertools
import pickle
import sys
import time
from dataclasses import replace
from pathlib import Path

from common import ROOT, SCIFACT  # noqa: F401  (sets sys.path and the offline environment)

from bot.query.evidence import rank_and_quote  # noqa: E402
from bot.query.params import DEFAULT_ANSWER_PARAMS, AnswerParams  # noqa: E402
from bot.query.quotes import QuoteParams  # noqa: E402
from bot.query.retrieval import Filters, first_stage  # noqa: E402
from bot.settings import Settings  # noqa: E402
from bot.tools.evaluate import QueryResult, held_out, load_beir, metrics, open_eval_index  # noqa: E402

# The picker before tight quotes: any neighbour joins (pair_cost 0), any sentence may lead.
BEFORE = QuoteParams(lexical=0.7, context=0.0, focus=-0.6, chunk=0.03, temperature=0.1, pair_cost=0.0,
                     lead_share=0.0, follow_share=0.0, follow_share_question=0.0)
KEYS = ("quote_precision@1", "tight@1", "ndcg@10")
LABELS = {"quote_precision@1": "quote hit@1", "tight@1": "tight@1", "ndcg@10": "nDCG@10"}


def prepare(index, data, cache: Path | None, n: int = 100):
    if cache is not None and cache.is_file():
        with open(cache, "rb") as handle:
            stored = pickle.load(handle)
        if set(stored) == set(data.queries):
            return stored
    snapshot = index.snapshot
    prepared = {}
    for query_id, text in data.queries.items():
        vector = index.embedder.encode_query(text)
        prepared[query_id] = (text, vector, first_stage(index, snapshot, text, vector, Filters(), n))
    if cache is not None:
        with open(cache, "wb") as handle:
            pickle.dump(prepared, handle)
    return prepared


def results_for(snapshot, prepared, params: AnswerParams, query_ids) -> dict[str, QueryResult]:
    out = {}
    for query_id in query_ids:
        text, vector, first = prepared[query_id]
        hits, evidence = rank_and_quote(snapshot, text, vector, first, params)
        quotes = [{"doc_id": e.hit.note_id, "text": snapshot.notes[e.hit.row].text[q.start:q.end]}
                  for e in evidence for q in e.quotes]
        out[query_id] = QueryResult([(h.note_id, h.score) for h in hits[:100]], quotes, 0.0)
    return out


def settings_to_try():
    """Pair costs, and how much of the question a sentence must carry to lead a quote."""
    for pair_cost, lead, follow in itertools.product((0.0, 0.1), (0.0, 0.3, 0.5, 1.0),
                                                     (0.0, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7)):
        yield _describe(QuoteParams(pair_cost=pair_cost, lead_share=lead, follow_share=follow)), QuoteParams(
            pair_cost=pair_cost, lead_share=lead, follow_share=follow)


def line(name: str, m: dict) -> str:
    return f"{name:<100} " + "  ".join(f"{LABELS[k]} {m[k]:.4f}" for k in KEYS)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--beir", type=Path, default=SCIFACT)
    parser.add_argument("--split", default="train")
    parser.add_argument("--cache", type=Path, help="keep the first stage here between runs (a pickle)")
    parser.add_argument("--sweep", action="store_true", help="try every setting on the tuning half")
    parser.add_argument("--show", type=int, default=0, help="print this many changed first quotes")
    args = parser.parse_args()
    if not args.beir.is_dir():
        sys.exit(f"no BEIR folder at {args.beir}")
    data = load_beir(args.beir, args.split)
    everything = list(data.queries)
    tune = [q for q in everything if not held_out(q)]
    held = [q for q in everything if held_out(q)]
    with open_eval_index(Settings(), data, progress=False) as index:
        started = time.perf_counter()
        prepared = prepare(index, data, args.cache)
        print(f"first stage for {len(prepared)} claims: {time.perf_counter() - started:.1f} s", file=sys.stderr)
        snapshot = index.snapshot
        base = DEFAULT_ANSWER_PARAMS
        if args.sweep:
            for name, quotes in settings_to_try():
                m = metrics(results_for(snapshot, prepared, replace(base, quotes=quotes), tune), data, tune)
                print(line(name, m), flush=True)
        before = results_for(snapshot, prepared, replace(base, quotes=BEFORE), everything)
        after = results_for(snapshot, prepared, base, everything)
        # SciFact's claims are statements; a question gets `follow_share_question` instead.
        as_question = replace(base, quotes=replace(base.quotes, follow_share=base.quotes.follow_share_question))
        asked = results_for(snapshot, prepared, as_question, everything)
        # The most pairing can buy: never a second sentence.
        alone = results_for(snapshot, prepared, replace(base, quotes=replace(base.quotes, pair_cost=1.0)), everything)
        rationale = [q for q in everything if data.evidence(q)]
        print(f"\nSciFact {data.split}: {len(everything)} claims, {len(rationale)} with rationales "
              f"({sum(held_out(q) for q in rationale)} of them in the held-out half)\n")
        print("| picker | " + " | ".join(f"{LABELS[k]} whole | {LABELS[k]} held-out" for k in KEYS) + " |")
        print("|---|" + "---|---|" * len(KEYS))
        rows = ((f"before ({_describe(BEFORE)})", before), (f"after ({_describe(base.quotes)})", after),
                ("after, had each claim been asked as a question", asked),
                ("one sentence only (pair_cost 1)", alone))
        for name, results in rows:
            whole, half = metrics(results, data), metrics(results, data, held)
            print(f"| {name} | " + " | ".join(f"{whole[k]:.4f} | {half[k]:.4f}" for k in KEYS) + " |")
        from_gold = [q for q in rationale if after[q].quotes and after[q].quotes[0]["doc_id"] in data.evidence(q)]
        print(f"\nThe first quote comes from a rationale document for {len(from_gold)} of {len(rationale)} claims "
              f"({len(from_gold) / len(rationale):.3f}), a bound on tight@1 for this ranking.")
        if args.show:
            shown = 0
            for query_id in rationale:
                old, new = before[query_id].quotes[:1], after[query_id].quotes[:1]
                if old == new or not old or not new:
                    continue
                gold = data.evidence(query_id).get(new[0]["doc_id"], [])
                print(f"\nclaim {query_id}: {data.queries[query_id]}")
                print(f"  before [{old[0]['doc_id']}]: {old[0]['text']}")
                print(f"  after  [{new[0]['doc_id']}]: {new[0]['text']}")
                print(f"  gold: {' | '.join(gold) or '(not a rationale document)'}")
                shown += 1
                if shown >= args.show:
                    break


def _describe(params: QuoteParams) -> str:
    return (f"pair_cost {params.pair_cost}, lead_share {params.lead_share}, follow_share {params.follow_share}, "
            f"follow_share_question {params.follow_share_question}")


if __name__ == "__main__":
    main()
