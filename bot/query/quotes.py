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
most likely to hold the answer wins (`pick_quotes`). A quote is the evidence, not
its preamble: two sentences share a passage only when each is itself a likely
answer (`pair_allowed`), so two halves of one finding stay together while a
transition ("That's what the most direct piece of evidence does.") never leads the
evidence and a claim's sentence doesn't drag in the next one. After a question
the next sentence may follow the best one freely: the sentence a question matches
best often restates what is asked, and the answer comes next. Nothing depends on
where a sentence sits in the note.

    first sentence   second sentence     joins when (chances of being the evidence)
    the evidence     the next one        second >= follow_share × first (after a question:
                                         follow_share_question, 0 by default)
    a preamble       the evidence        first >= lead_share × second

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
    # Who may share a passage (chances relative to the other sentence of the pair):
    lead_share: float = 0.5  # the first sentence, in reading order: no preamble leads the evidence
    follow_share: float = 0.5  # the next sentence, after a sentence matching a claim or keywords
    follow_share_question: float = 0.0  # the next sentence, after one matching a question (the answer
    #                                     tends to follow the sentence that restates what is asked)


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
    asks: bool = False,
) -> list[Quote]:
    """The best non-overlapping passages of a note, best first.

    Sentence scores become probabilities of being the evidence (a softmax at
    `temperature`); each candidate passage (one sentence, or two adjacent ones of a
    paragraph within the length limit) is worth the chance that it holds the
    evidence, 1 - prod(1 - p), less `pair_cost` for a second sentence. Two sentences
    share a passage only when each earns its place (`pair_allowed`): the first must be
    itself a likely answer (`lead_share` of the second's chance), so a transition such
    as "That's what the most direct piece of evidence does." never leads the evidence;
    the second must be `follow_share` as likely as the first when the query states
    something (a claim, keywords: the sentence saying the same is the evidence), and
    `follow_share_question` when it asks (`asks`, see `asks_question`): the sentence a
    question matches best often restates what is asked, and the answer comes next.
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
                    and spans[j][1] - spans[i][0] <= MAX_QUOTE_CHARS
                    and pair_allowed(chance[i], chance[j], params, asks)):
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


def pair_allowed(first: float, second: float, params: QuoteParams = DEFAULT_QUOTE_PARAMS,
                 asks: bool = False) -> bool:
    """Whether two adjacent sentences, with these chances of being the evidence, may share a
    passage: the first leads only if it is `lead_share` as likely as the second; the second
    follows only if it is `follow_share` (`follow_share_question` after a question) as likely.

        >>> pair_allowed(0.05, 0.9)                 # a weak sentence before the evidence: no
        False
        >>> pair_allowed(0.9, 0.05), pair_allowed(0.9, 0.05, asks=True)
        (False, True)
    """
    follow = params.follow_share_question if asks else params.follow_share
    return first >= params.lead_share * second and second >= follow * first


_QUESTION_WORDS = frozenset(
    "what which who whom whose why how when where whether is are was were do does did can could "
    "should would will has have had may might must shall".split()
)


def asks_question(query: str) -> bool:
    """Whether a query asks (a question mark, or a question word first) rather than states.

        >>> asks_question("What signal does RLVER use as its reward"), asks_question("RLVER uses emotion rewards.")
        (True, False)
    """
    words = query.strip().split(maxsplit=1)
    return query.rstrip().endswith("?") or bool(words) and words[0].lower().strip("\"'(") in _QUESTION_WORDS


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
