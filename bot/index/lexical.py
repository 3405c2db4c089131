"""BM25 over chunks (bm25s), with the tokenizer that query-term weighting shares.

    >>> index = LexicalIndex.build(["Warmth training hurts reliability", "Scaffolds shape empathy"])
    >>> rows, scores = index.search("does warmth training hurt?", k=1)
    >>> int(rows[0])
    0
"""

from __future__ import annotations

import json
import logging
import re
from functools import lru_cache
from pathlib import Path

import numpy as np

_TOKEN = re.compile(r"(?u)\b\w\w+\b")


def _bm25s():
    import bm25s

    logging.getLogger("bm25s").setLevel(logging.WARNING)  # it sets itself to DEBUG on import
    return bm25s


@lru_cache(maxsize=1)
def _stemmer():
    import Stemmer

    return Stemmer.Stemmer("english")


@lru_cache(maxsize=1)
def _stopwords() -> frozenset[str]:
    from bm25s.stopwords import STOPWORDS_EN

    return frozenset(STOPWORDS_EN)


def tokenize(text: str) -> list[str]:
    """Lowercased, stop words dropped, Snowball-stemmed word tokens."""
    stop = _stopwords()
    words = [w for w in _TOKEN.findall(text.lower()) if w not in stop]
    return _stemmer().stemWords(words) if words else []


class LexicalIndex:
    """A BM25 index over a list of texts (row i = text i), and each term's IDF."""

    def __init__(self, model, vocab: dict[str, int], idf: np.ndarray, size: int) -> None:
        self.model = model
        self.vocab = vocab
        self.idf = idf
        self.size = size

    @classmethod
    def build(cls, texts: list[str], *, k1: float = 1.2, b: float = 0.75) -> LexicalIndex:
        bm25s = _bm25s()
        tokens = [tokenize(t) or ["\u2205"] for t in texts]  # bm25s needs a token in every row
        model = bm25s.BM25(k1=k1, b=b, method="lucene")
        model.index(tokens, show_progress=False)
        vocab = dict(model.vocab_dict)
        df = np.zeros(len(vocab), dtype=np.float32)
        for row in tokens:
            for token in set(row):
                df[vocab[token]] += 1
        n = max(1, len(texts))
        idf = np.log(1 + (n - df + 0.5) / (df + 0.5)).astype(np.float32)
        return cls(model, vocab, idf, len(texts))

    def weights(self, tokens: list[str]) -> dict[str, float]:
        """IDF of each known token (unknown tokens weigh like the rarest)."""
        top = float(self.idf.max()) if len(self.idf) else 1.0
        return {t: (float(self.idf[self.vocab[t]]) if t in self.vocab else top) for t in tokens}

    def scores(self, query: str, mask: np.ndarray | None = None) -> np.ndarray:
        """BM25 score of every row for the query (zeros where `mask` is False)."""
        tokens = [t for t in tokenize(query) if t in self.vocab]
        if not tokens or self.size == 0:
            return np.zeros(self.size, dtype=np.float32)
        scores = np.asarray(self.model.get_scores(tokens), dtype=np.float32)
        if mask is not None:
            scores = np.where(mask, scores, 0.0)
        return scores

    def search(self, query: str, k: int, mask: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Rows and scores of the best `k` rows with a positive score, best first."""
        scores = self.scores(query, mask)
        k = min(k, int(np.count_nonzero(scores)))
        if k <= 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top], kind="stable")]
        return top, scores[top]

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.model.save(str(directory / "bm25"), show_progress=False)
        np.save(directory / "idf.npy", self.idf)
        (directory / "lexical.json").write_text(json.dumps({"size": self.size}))

    @classmethod
    def load(cls, directory: Path, *, mmap: bool = False) -> LexicalIndex:
        """The saved index; `mmap` maps its score matrix read-only instead of reading it in."""
        model = _bm25s().BM25.load(str(directory / "bm25"), show_progress=False, verbosity=0, mmap=mmap)
        size = json.loads((directory / "lexical.json").read_text())["size"]
        idf = np.load(directory / "idf.npy", mmap_mode="r" if mmap else None)
        return cls(model, dict(model.vocab_dict), idf, size)



# --- term tables: which terms each sentence (or title) holds, as ids -----------------------------


def term_table(texts: list[str], terms: dict[str, int]) -> tuple[np.ndarray, np.ndarray]:
    """Each text's distinct terms as ids, CSR-style: row i holds `ids[ptr[i]:ptr[i + 1]]`.

    Terms not yet in `terms` are added to it. Tokenizing every sentence once, when a snapshot is
    built, spares every question from tokenizing the sentences it scores.

        >>> terms = {}
        >>> ptr, ids = term_table(["Warmth training hurts.", "Training"], terms)
        >>> ptr.tolist(), sorted(terms)
        ([0, 3, 4], ['hurt', 'train', 'warmth'])
    """
    ptr = np.zeros(len(texts) + 1, dtype=np.int64)
    ids: list[int] = []
    for row, text in enumerate(texts):
        distinct = dict.fromkeys(tokenize(text))
        for term in distinct:
            ids.append(terms.setdefault(term, len(terms)))
        ptr[row + 1] = len(ids)
    return ptr, np.asarray(ids, dtype=np.int32)


def query_ids(terms: dict[str, int], weights: dict[str, float]) -> tuple[np.ndarray, np.ndarray]:
    """The query's known terms as sorted ids and their weights (unknown terms can match nothing)."""
    known = sorted((terms[t], w) for t, w in weights.items() if t in terms)
    return (np.asarray([i for i, _ in known], dtype=np.int32), np.asarray([w for _, w in known], dtype=np.float64))


def row_sums(ptr: np.ndarray, ids: np.ndarray, rows: np.ndarray, qids: np.ndarray, qweights: np.ndarray) -> np.ndarray:
    """For each of `rows` of a term table: the summed weight of the query terms the row holds.

        >>> ptr, ids = np.array([0, 2, 3]), np.array([4, 7, 7])
        >>> row_sums(ptr, ids, np.array([0, 1]), np.array([7]), np.array([2.0])).tolist()
        [2.0, 2.0]
    """
    rows = np.asarray(rows, dtype=np.int64)
    positions, bounds = range_positions(ptr[rows], ptr[rows + 1] - ptr[rows])
    if len(positions) == 0 or len(qids) == 0:
        return np.zeros(len(rows), dtype=np.float64)
    found = ids[positions]
    at = np.minimum(np.searchsorted(qids, found), len(qids) - 1)
    values = np.where(qids[at] == found, qweights[at], 0.0)
    cumulative = np.concatenate([[0.0], np.cumsum(values)])
    return cumulative[bounds[1:]] - cumulative[bounds[:-1]]


def range_positions(starts: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The positions of several ranges laid end to end, and where each range begins among them.

        >>> positions, bounds = range_positions(np.array([5, 0]), np.array([2, 3]))
        >>> positions.tolist(), bounds.tolist()
        ([5, 6, 0, 1, 2], [0, 2, 5])
    """
    lengths = np.asarray(lengths, dtype=np.int64)
    bounds = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    positions = np.arange(int(bounds[-1])) - np.repeat(bounds[:-1], lengths) + np.repeat(starts, lengths)
    return positions.astype(np.int64), bounds
