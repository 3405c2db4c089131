"""Pick the passages of a note that best answer a question (pure functions).

A passage is one sentence, or two adjacent sentences of one paragraph, at most
`MAX_QUOTE_CHARS` long, and always an exact span of the note's text. Sentences
are scored from vectors computed at ingest (never per query):

    score = cos(question, sentence)
          + lexical  * IDF-weighted share of the question's key terms the sentence holds
          + context  * the better neighbour's cosine (evidence rarely stands alone)
          + focus    * cos(sentence, the note as a whole) (negative by default: the sentence that
                       answers this question, not the one restating what the whole note is about)
          + chunk    * 1 if the sentence is in the note's best-matching chunk

then each sentence is offered alone and with its next neighbour, and the passage
most likely to hold the answer wins (`pick_quotes`), so two halves of one finding
stay together and a passage carries the context a reader needs. Nothing depends
on where a sentence sits in the note.

    >>> q = np.array([1.0, 0.0]); vectors = np.array([[0.2, 0.98], [0.9, 0.43]])
    >>> text = "Cats sleep a lot.\\nWarmth training hurts reliability."
    >>> picks = pick_quotes(text, [(0, 17, True), (18, 52, True)], vectors, q, {"warmth": 1.0})
    >>> text[picks[0].start:picks[0].end]
    'Warmth training hurts reliability.'
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from functools import lru_cache

import numpy as np

from ..index.lexical import tokenize

MAX_QUOTE_CHARS = 400
_CLAUSE = re.compile(r"[;:,]\s+|\s+[—–]\s+|\)\s+")


@dataclass(frozen=True)
class QuoteParams:
    lexical: float = 0.7
    context: float = 0.0  # neighbours count through the passage choice instead (see pick_quotes)
    focus: float = -0.6  # negative: the sentence that answers *this* question beats the note's summary
    chunk: float = 0.03
    temperature: float = 0.1  # sentence scores → chances of being the evidence (softmax)
    pair_cost: float = 0.0  # what a second sentence must add to the passage's chance to join it


DEFAULT_QUOTE_PARAMS = QuoteParams()


@dataclass(frozen=True)
class Quote:
    start: int
    end: int
    score: float  # the passage's best sentence score
    similarity: float  # that sentence's cosine to the question


@lru_cache(maxsize=262_144)
def sentence_terms(sentence: str) -> frozenset[str]:
    """The stemmed terms of a sentence (memoised: notes are quoted again and again)."""
    return frozenset(tokenize(sentence))


def sentence_scores(
    text: str,
    spans: list[tuple[int, int, bool]],
    vectors: np.ndarray,
    query_vector: np.ndarray,
    query_weights: dict[str, float],
    best_chunk: tuple[int, int] | None = None,
    params: QuoteParams = DEFAULT_QUOTE_PARAMS,
    note_vector: np.ndarray | None = None,
    lexical: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(score, cosine) of every sentence; unquotable sentences score -inf.

    `lexical`, when given, is each sentence's share of the question's term weight, worked out
    beforehand (`answer.note_evidence` takes it from the snapshot's term table); else it is
    computed here from the text."""
    if not spans:
        return np.zeros(0), np.zeros(0)
    vectors = np.asarray(vectors, dtype=np.float32)
    cosine = (vectors @ query_vector).astype(np.float64)
    if lexical is None:
        total = sum(query_weights.values()) or 1.0
        lexical = np.zeros(len(spans))
        if params.lexical:
            for i, (start, end, _) in enumerate(spans):
                present = sentence_terms(text[start:end])
                lexical[i] = sum(w for t, w in query_weights.items() if t in present) / total
    joined = [i + 1 < len(spans) and _same_paragraph(text, spans, i) for i in range(len(spans))]
    neighbour = np.full(len(spans), -1.0)
    for i in range(len(spans)):
        if i > 0 and joined[i - 1]:
            neighbour[i] = max(neighbour[i], cosine[i - 1])
        if joined[i]:
            neighbour[i] = max(neighbour[i], cosine[i + 1])
    in_chunk = np.zeros(len(spans))
    if best_chunk is not None:
        for i, (start, end, _) in enumerate(spans):
            in_chunk[i] = float(start >= best_chunk[0] and end <= best_chunk[1])
    focus = np.zeros(len(spans))
    if params.focus and note_vector is not None:
        focus = (vectors @ note_vector).astype(np.float64)
    score = (cosine + params.lexical * lexical + params.context * np.maximum(neighbour, 0)
             + params.focus * focus + params.chunk * in_chunk)
    quotable = np.asarray([q for _, _, q in spans], dtype=bool)
    return np.where(quotable, score, -np.inf), cosine


def pick_quotes(
    text: str,
    spans: list[tuple[int, int, bool]],
    vectors: np.ndarray,
    query_vector: np.ndarray,
    query_weights: dict[str, float],
    best_chunk: tuple[int, int] | None = None,
    limit: int = 2,
    params: QuoteParams = DEFAULT_QUOTE_PARAMS,
    note_vector: np.ndarray | None = None,
    lexical: np.ndarray | None = None,
) -> list[Quote]:
    """The best non-overlapping passages of a note, best first.

    Sentence scores become probabilities of being the evidence (a softmax at
    `temperature`); each candidate passage (one sentence, or two adjacent ones of a
    paragraph within the length limit) is worth the chance that it holds the
    evidence, 1 - prod(1 - p), less `pair_cost` for a second sentence. So a
    neighbour joins when it is itself a likely answer, not merely because it fits.
    """
    # The focus term only chooses among this note's sentences: reported scores leave it out, so
    # they compare across notes (a one-sentence note is all "summary").
    scores, cosine = sentence_scores(text, spans, vectors, query_vector, query_weights, best_chunk,
                                     replace(params, focus=0.0), lexical=lexical)
    choice = scores
    if params.focus and note_vector is not None:
        choice = scores + params.focus * (np.asarray(vectors, dtype=np.float32) @ note_vector)
    finite = np.isfinite(scores)
    if not finite.any():
        return []
    shifted = np.where(finite, (choice - choice[finite].max()) / max(params.temperature, 1e-6), -np.inf)
    chance = np.exp(shifted)
    chance /= chance.sum()
    used: set[int] = set()
    picks: list[Quote] = []
    while len(picks) < limit:
        best, best_value = None, -1.0
        for i in range(len(spans)):
            if not finite[i] or i in used:
                continue
            options = [(i, i, chance[i])]
            j = i + 1
            if (j < len(spans) and finite[j] and j not in used and _same_paragraph(text, spans, i)
                    and spans[j][1] - spans[i][0] <= MAX_QUOTE_CHARS):
                options.append((i, j, 1 - (1 - chance[i]) * (1 - chance[j]) - params.pair_cost))
            for first, last, value in options:
                if value > best_value + 1e-12:
                    best, best_value = (first, last), value
        if best is None:
            break
        first, last = best
        lead = first if choice[first] >= choice[last] else last
        start, end = spans[first][0], spans[last][1]
        if end - start > MAX_QUOTE_CHARS:
            start, end = best_clause_window(text, start, end, query_weights)
        used.update(range(first, last + 1))
        picks.append(Quote(start=start, end=end, score=float(scores[lead]), similarity=float(cosine[lead])))
    return picks


def _same_paragraph(text: str, spans, i: int) -> bool:
    """Sentences i and i+1 are in one paragraph (no line break between them)."""
    return "\n" not in text[spans[i][1]:spans[i + 1][0]]


def best_clause_window(text: str, start: int, end: int, query_weights: dict[str, float]) -> tuple[int, int]:
    """Within an over-long sentence, the run of clauses (≤ MAX_QUOTE_CHARS) sharing most question terms."""
    if end - start <= MAX_QUOTE_CHARS:
        return start, end
    cuts = [start] + [m.end() for m in _CLAUSE.finditer(text, start, end)] + [end]
    pieces = [(a, b) for a, b in zip(cuts, cuts[1:]) if b > a]
    best, best_value = (start, start), -1.0
    for i in range(len(pieces)):
        j = i
        while j + 1 < len(pieces) and pieces[j + 1][1] - pieces[i][0] <= MAX_QUOTE_CHARS:
            j += 1
        a, b = pieces[i][0], min(pieces[j][1], pieces[i][0] + MAX_QUOTE_CHARS)
        present = set(tokenize(text[a:b]))
        value = sum(w for t, w in query_weights.items() if t in present)
        if value > best_value:
            best, best_value = (a, b), value
    a, b = best
    if b - a > MAX_QUOTE_CHARS or b <= a:  # one enormous clause: cut at a word boundary
        b = a + MAX_QUOTE_CHARS
        space = text.rfind(" ", a, b)
        b = space if space > a else b
    while b > a and text[b - 1].isspace():
        b -= 1
    while a < b and text[a].isspace():
        a += 1
    return a, b
