"""The metrics `bot eval` reports, as pure functions (rankings, quotes and gold evidence in; numbers out).

    ndcg@10, recall@10, recall@100, mrr@10   the note ranking
    quote hit@1 (`quote_hits_evidence`)      the first quote contains a gold sentence whole, or lies inside one
    tight@1 (`quote_is_tight`)               at least half of the first quote's characters are gold sentences,
                                             or the quote lies inside one
"""

from __future__ import annotations

import math

import numpy as np

from ..notes.sentences import split_sentences

MAX_QUOTE_CHARS = 400


def ndcg_at(ranking: list[str], relevant: dict[str, int], k: int = 10) -> float:
    """nDCG@k with linear gains (as BEIR's pytrec_eval computes it).

        >>> round(ndcg_at(["b", "a"], {"a": 1}), 4)     # the one relevant doc at rank 2
        0.6309
    """
    dcg = sum(relevant.get(doc, 0) / math.log2(rank + 2) for rank, doc in enumerate(ranking[:k]))
    ideal = sorted(relevant.values(), reverse=True)[:k]
    idcg = sum(gain / math.log2(rank + 2) for rank, gain in enumerate(ideal))
    return dcg / idcg if idcg > 0 else 0.0


def recall_at(ranking: list[str], relevant: dict[str, int], k: int) -> float:
    if not relevant:
        return 0.0
    return len(set(ranking[:k]) & set(relevant)) / len(relevant)


def mrr_at(ranking: list[str], relevant: dict[str, int], k: int = 10) -> float:
    for rank, doc in enumerate(ranking[:k], start=1):
        if relevant.get(doc, 0) > 0:
            return 1.0 / rank
    return 0.0


def normalise(text: str) -> str:
    return " ".join(text.split())


def quote_hits_evidence(quote: dict, evidence: dict[str, list[str]]) -> bool:
    """The quote comes from an evidence document and contains, or lies inside, one evidence sentence.

        >>> quote_hits_evidence({"doc_id": "d", "text": "A b.  C d."}, {"d": ["C d."]})
        True
    """
    text = normalise(quote["text"])
    if not text or len(quote["text"]) > MAX_QUOTE_CHARS or len(split_sentences(quote["text"])) > 2:
        return False
    for sentence in evidence.get(quote["doc_id"], []):
        gold = normalise(sentence)
        if gold and (gold in text or text in gold):
            return True
    return False


def gold_share(quote: dict, evidence: dict[str, list[str]], sentences: dict[str, list[str]] | None = None) -> float:
    """The share of the quote's characters (whitespace-normalised) that lie in gold sentences
    of its document; 1.0 when the quote lies inside one gold sentence.

    With the document's sentences (`sentences[doc_id]`, of which the gold ones are part), the
    quote is placed in the document, so a gold sentence cut by the quote counts for the part
    quoted; without them (or when the quote isn't found there), only gold sentences the quote
    holds whole count.

        >>> gold_share({"doc_id": "d", "text": "Aa bb. Gold one."}, {"d": ["Gold one."]})
        0.5625
        >>> gold_share({"doc_id": "d", "text": "bb. Gold one."}, {"d": ["Gold one."]}, {"d": ["Aa bb.", "Gold one."]})
        0.6923
    """
    text = normalise(quote["text"])
    golds = [g for g in (normalise(s) for s in evidence.get(quote["doc_id"], [])) if g]
    if not text or not golds:
        return 0.0
    if any(text in gold for gold in golds):
        return 1.0
    covered = np.zeros(len(text), dtype=bool)
    placed = _place_in_document(text, golds, (sentences or {}).get(quote["doc_id"], []))
    if placed is not None:
        start, gold_spans = placed
        for a, b in gold_spans:
            lo, hi = max(a - start, 0), min(b - start, len(text))
            if hi > lo:
                covered[lo:hi] = True
    else:
        for gold in golds:
            at = text.find(gold)
            while at >= 0:
                covered[at:at + len(gold)] = True
                at = text.find(gold, at + 1)
    # The space between two gold sentences is part of the evidence, not filler.
    gaps = np.flatnonzero(~covered[1:-1]) + 1
    for i in gaps:
        if text[i] == " " and covered[i - 1] and covered[i + 1]:
            covered[i] = True
    return round(float(covered.mean()), 4)


def _place_in_document(text: str, golds: list[str], sentences: list[str]):
    """Where the normalised quote starts in the document's joined sentences, and the gold spans."""
    parts = [normalise(s) for s in sentences]
    if not parts:
        return None
    document, spans, at = "", [], 0
    wanted = set(golds)
    for part in parts:
        if part in wanted:
            spans.append((at, at + len(part)))
        document += part + " "
        at += len(part) + 1
    start = document.find(text)
    return None if start < 0 else (start, spans)


def quote_is_tight(quote: dict, evidence: dict[str, list[str]], sentences: dict[str, list[str]] | None = None) -> bool:
    """At least half of the quote is gold sentences of its document, or it lies inside one.

        >>> quote_is_tight({"doc_id": "d", "text": "A long preamble sentence. Gold one."}, {"d": ["Gold one."]})
        False
    """
    return gold_share(quote, evidence, sentences) >= 0.5


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values, dtype=np.float64), q)) if values else 0.0
