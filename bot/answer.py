"""Compose answers from the notes' own words, and `ask`, the public entry point.

    >>> from bot import ask
    >>> answer = ask("Does warmth training make models less reliable?")   # doctest: +SKIP
    >>> print(answer.answer)                                              # doctest: +SKIP
    Three notes address this:

    > Persona training for warmth raised error rates in medical reasoning, ... [[1]](/notes/...?hl=...#hl)
    ...

With weak evidence the answer abstains: it says `NOT_ADDRESSED`, cites nothing,
and offers the nearest notes as `suggestions`.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import quote as url_quote
from urllib.parse import unquote

import numpy as np

from .index import Index, Snapshot
from .lexical import query_ids, row_sums, tokenize
from .models import Answer, Citation, NoteRef
from .quotes import DEFAULT_QUOTE_PARAMS, Quote, QuoteParams, pick_quotes, sentence_terms
from .retrieval import (
    DEFAULT_PARAMS, Candidates, Filters, NoteHit, RetrievalParams, first_stage, hits_from, mmr, note_features, score_notes,
)
from .settings import Settings

NOT_ADDRESSED = "None of the notes address this."

# Calibrated on held-out questions (bench/abstention.py): the evidence score of the
# best passage below which the notes are taken not to address the question.
ABSTAIN_BELOW = 0.43
_NUMBER_WORDS = ["No", "One", "Two", "Three", "Four", "Five", "Six", "Seven", "Eight", "Nine", "Ten"]


class QuestionError(ValueError):
    """The question can't be asked as given (empty, too long); the message says why."""


@dataclass(frozen=True)
class AnswerParams:
    retrieval: RetrievalParams = DEFAULT_PARAMS
    quotes: QuoteParams = DEFAULT_QUOTE_PARAMS
    notes_considered: int = 20  # top notes whose passages are scored (and re-ranked by them)
    evidence_rerank: bool = True  # re-order those notes by retrieval + passage evidence
    evidence_weight: float = 0.25  # the passage evidence's share in that re-ordering
    evidence_margin: float = 0.25  # quote notes whose evidence is within this of the best
    diversity: float = 0.25  # MMR trade-off among the notes shown
    follow_up_boost: float = 0.05  # evidence bonus for notes the previous answer cited


DEFAULT_ANSWER_PARAMS = AnswerParams()


@dataclass
class Evidence:
    hit: NoteHit
    quotes: list[Quote]
    score: float  # how well the note's best passage answers the question (abstention, margins)
    passage: float = float("-inf")  # the best passage's own score (re-ranking)


# --- the public entry point -------------------------------------------------------------

_indexes: dict[str, Index] = {}
_indexes_lock = threading.Lock()


def ask(
    question: str,
    history: Sequence[dict] | None = None,
    filters: dict | None = None,
    settings: Settings | None = None,
) -> Answer:
    """Answer a question from the configured notes, with quoted passages and numbered citations.

    `history` is the conversation so far (`[{"role": "user"|"assistant", "content": str}]`);
    `filters` is `{"kinds": [...], "tags": [...], "note_ids": [...]}`, each optional.
    The index is opened once per process (and built from BOT_NOTES_DIR if there is none).
    """
    settings = settings or Settings()
    return answer_question(open_index(settings), question, history, filters)


def open_index(settings: Settings) -> Index:
    """The process-wide `Index` for these settings, opened on first use."""
    key = settings.model_dump_json()
    with _indexes_lock:
        index = _indexes.get(key)
        if index is None:
            index = Index.open(settings)
            _indexes[key] = index
        return index


def close_indexes() -> None:
    """Close every index `ask` opened (releases the embedded store's lock)."""
    with _indexes_lock:
        for index in _indexes.values():
            index.close()
        _indexes.clear()


def check_question(question: object, max_chars: int) -> str:
    """The question, stripped; raises QuestionError when empty or too long."""
    if not isinstance(question, str) or not question.strip():
        raise QuestionError("the question is empty: type a question about your notes")
    question = question.strip()
    if len(question) > max_chars:
        raise QuestionError(
            f"the question is {len(question):,} characters long; the limit is {max_chars:,} "
            "(BOT_MAX_QUESTION_CHARS). Ask something shorter."
        )
    return question


# --- answering --------------------------------------------------------------------------


@dataclass
class Response:
    """An answer and what it was made from (for evaluation and debugging)."""

    answer: Answer
    hits: list[NoteHit]  # every retrieved note, best first (evidence-reranked at the top)
    evidence: list[Evidence]  # the notes whose passages were scored, in the order they'd be quoted
    query: str  # what was searched (the question, expanded for a follow-up)


def answer_question(
    index: Index,
    question: str,
    history: Sequence[dict] | None = None,
    filters: dict | Filters | None = None,
    *,
    params: AnswerParams = DEFAULT_ANSWER_PARAMS,
    timings: dict[str, float] | None = None,
) -> Answer:
    """The whole read path for one question, against the index's current snapshot.

    `timings`, when given, receives milliseconds per stage: embed, dense, lexical
    (together: the search), fusion, quotes, compose.
    """
    return respond(index, question, history, filters, params=params, timings=timings).answer


def respond(
    index: Index,
    question: str,
    history: Sequence[dict] | None = None,
    filters: dict | Filters | None = None,
    *,
    params: AnswerParams = DEFAULT_ANSWER_PARAMS,
    timings: dict[str, float] | None = None,
    candidates: int | None = None,
) -> Response:
    """`answer_question`, keeping the ranked notes and scored passages beside the answer."""
    clock = _Clock(timings)
    question = check_question(question, index.settings.max_question_chars)
    parsed_filters = Filters.parse(filters)
    snapshot = index.snapshot  # one version for the whole answer
    query, cited_before = expand_follow_up(question, history)

    vector = index.embedder.encode_query(query)
    clock.lap("embed")
    # A follow-up's own words are what is new: they count twice in the lexical query.
    terms_query = query if query == question else f"{question} {query}"
    hits, evidence = find_evidence(index, snapshot, terms_query, vector, parsed_filters, params, clock,
                                   boost_notes=cited_before, candidates=candidates)
    threshold = index.settings.abstain_below or ABSTAIN_BELOW
    answer = compose_answer(question, snapshot, hits, evidence, threshold, params,
                            max_notes=index.settings.answer_notes)
    clock.lap("compose")
    return Response(answer=answer, hits=hits, evidence=evidence, query=query)


def find_evidence(index: Index, snapshot: Snapshot, query: str, vector: np.ndarray,
                  filters: Filters, params: AnswerParams = DEFAULT_ANSWER_PARAMS, clock=None,
                  boost_notes: set[str] | frozenset[str] = frozenset(),
                  candidates: int | None = None) -> tuple[list[NoteHit], list[Evidence]]:
    """Ranked notes and, for the best few, their best passages with an evidence score.

    Searches (dense in Chroma, BM25 in memory), then `rank_and_quote`.
    """
    clock = clock or _Clock(None)
    first = first_stage(index, snapshot, query, vector, filters, candidates or index.settings.candidates, clock)
    if clock.timings is not None:
        clock.timings["search"] = clock.timings.get("dense", 0.0) + clock.timings.get("lexical", 0.0)
    return rank_and_quote(snapshot, query, vector, first, params, clock, boost_notes)


def rank_and_quote(snapshot: Snapshot, query: str, vector: np.ndarray, first: Candidates,
                   params: AnswerParams = DEFAULT_ANSWER_PARAMS, clock=None,
                   boost_notes: set[str] | frozenset[str] = frozenset()) -> tuple[list[NoteHit], list[Evidence]]:
    """Per-note ranking of first-stage candidates, then the best passages of the top notes.

    The best `notes_considered` notes are re-ordered by retrieval score plus how well
    their best passage answers the question, so the note quoted first is the one
    whose own words fit best, and the ranking the benchmark scores is the one the
    answer shows.
    """
    clock = clock or _Clock(None)
    features = note_features(snapshot, first, vector, query)
    hits = hits_from(snapshot, features, score_notes(features, params.retrieval))
    clock.lap("fusion")
    weights = snapshot.lexical.weights(list(dict.fromkeys(tokenize(query))))
    terms = QueryTerms.of(snapshot, weights)
    top = hits[: params.notes_considered]
    evidence = [note_evidence(snapshot, hit, vector, weights, params.quotes, terms) for hit in top]
    for item in evidence:
        if item.hit.note_id in boost_notes:
            item.score += params.follow_up_boost
            item.passage += params.follow_up_boost
    if params.evidence_rerank and params.retrieval.fusion not in ("dense", "lexical") and evidence:
        order = rerank_order([h.score for h in top], [e.passage for e in evidence], params.evidence_weight)
        ranked_scores = sorted((h.score for h in top), reverse=True)
        top = [top[i] for i in order]
        evidence = [evidence[i] for i in order]
        for hit, score in zip(top, ranked_scores):  # scores keep following the order
            hit.score = score
        hits = top + hits[len(top):]
    evidence = [e for e in evidence if e.quotes]
    clock.lap("quotes")
    return hits, evidence


def rerank_order(retrieval: Sequence[float], evidence: Sequence[float], weight: float) -> list[int]:
    """Order of the top notes by z(retrieval score) + weight * z(evidence score) (pure).

        >>> rerank_order([3.0, 2.9, 1.0], [0.2, 0.6, 0.1], weight=1.0)
        [1, 0, 2]
    """
    r = _zscore(np.asarray(retrieval, dtype=np.float64))
    e = np.asarray(evidence, dtype=np.float64)
    e = _zscore(np.where(np.isfinite(e), e, np.nanmin(np.where(np.isfinite(e), e, np.nan)) if np.isfinite(e).any() else 0.0))
    combined = r + weight * e
    return [int(i) for i in np.argsort(-combined, kind="stable")]


def _zscore(values: np.ndarray) -> np.ndarray:
    if len(values) < 2:
        return np.zeros_like(values)
    std = float(values.std())
    return (values - float(values.mean())) / (std if std > 1e-9 else 1.0)


@dataclass(frozen=True)
class QueryTerms:
    """The question's term weights as ids of the snapshot's term table, worked out once a question."""

    weights: dict[str, float]
    ids: np.ndarray  # sorted
    id_weights: np.ndarray
    by_id: dict[int, float]
    total: float

    @classmethod
    def of(cls, snapshot: Snapshot, weights: dict[str, float]) -> QueryTerms:
        ids, id_weights = query_ids(snapshot.terms, weights)
        return cls(weights, ids, id_weights, dict(zip(ids.tolist(), id_weights.tolist())),
                   sum(weights.values()) or 1.0)


def note_evidence(snapshot: Snapshot, hit: NoteHit, vector: np.ndarray, weights: dict[str, float],
                  params: QuoteParams = DEFAULT_QUOTE_PARAMS, terms: QueryTerms | None = None) -> Evidence:
    note = snapshot.notes[hit.row]
    rows = snapshot.sentences_of(hit.row)
    spans = [
        (int(snapshot.sentence_start[r]), int(snapshot.sentence_end[r]), bool(snapshot.sentence_quotable[r]))
        for r in rows
    ]
    best_chunk = None
    if hit.chunks:
        c = hit.chunks[0]
        best_chunk = (int(snapshot.chunk_start[c]), int(snapshot.chunk_end[c]))
    terms = terms or QueryTerms.of(snapshot, weights)
    lexical = row_sums(snapshot.sentence_term_ptr, snapshot.sentence_term_ids, np.arange(rows.start, rows.stop),
                       terms.ids, terms.id_weights) / terms.total
    quotes = pick_quotes(note.text, spans, snapshot.sentence_vectors[rows.start:rows.stop], vector,
                         weights, best_chunk, limit=2, params=params, note_vector=snapshot.note_vectors[hit.row],
                         lexical=lexical)
    if not quotes:
        return Evidence(hit=hit, quotes=quotes, score=float("-inf"))
    coverage = passage_coverage(snapshot, rows, quotes[0], note.text, terms)
    return Evidence(hit=hit, quotes=quotes, score=evidence_score(quotes[0], hit, coverage), passage=quotes[0].score)


def evidence_score(best: Quote, hit: NoteHit, coverage: float = 0.0) -> float:
    """How strongly a note answers: its best passage's similarity, its best chunk's, and how much
    of the question's key terms (IDF-weighted) the passage holds, which rescues a question the
    model has no sense of ("What is RLVER?") when the note names its terms, and whether the
    question is the note's own title."""
    return 0.6 * best.similarity + 0.4 * hit.dense + COVERAGE_WEIGHT * coverage + TITLE_WEIGHT * hit.title


def passage_coverage(snapshot: Snapshot, rows: range, quote: Quote, text: str, terms: QueryTerms) -> float:
    """`term_coverage` of a quoted passage: from the term table when it is whole sentences."""
    inside = [r for r in rows if snapshot.sentence_start[r] >= quote.start and snapshot.sentence_end[r] <= quote.end]
    if not inside:  # part of one long sentence (a clause window): tokenize it
        return term_coverage(text[quote.start:quote.end], terms.weights)
    ptr = snapshot.sentence_term_ptr
    held = set(snapshot.sentence_term_ids[ptr[inside[0]]:ptr[inside[-1] + 1]].tolist())
    return sum(w for term, w in terms.by_id.items() if term in held) / terms.total


COVERAGE_WEIGHT = 0.2
TITLE_WEIGHT = 0.3  # a question that is the note's title is answered by that note


def term_coverage(passage: str, weights: dict[str, float]) -> float:
    """Share of the question's term weight found in the passage (pure).

        >>> term_coverage("RLVER uses emotion rewards.", {"rlver": 3.0, "what": 0.0, "emot": 1.0})
        1.0
    """
    total = sum(weights.values())
    if total <= 0:
        return 0.0
    present = sentence_terms(passage)
    return sum(w for t, w in weights.items() if t in present) / total


def compose_answer(question: str, snapshot: Snapshot, hits: list[NoteHit], evidence: list[Evidence],
                   threshold: float, params: AnswerParams = DEFAULT_ANSWER_PARAMS,
                   max_notes: int = 3) -> Answer:
    """The Markdown answer and its citations (pure: everything comes in as arguments)."""
    best = max((e.score for e in evidence), default=float("-inf"))
    if best < threshold:
        suggestions = [note_ref(snapshot, h.note_id) for h in hits[:3]]
        return Answer(question=question, answer=NOT_ADDRESSED, abstained=True, suggestions=suggestions)

    # In ranking order (retrieval and passage evidence together), the notes whose evidence is
    # close enough to the best; diversified so near-duplicate notes don't crowd out others.
    close = [e for e in evidence if e.score >= max(threshold, best - params.evidence_margin)]
    chosen = diversify(close, snapshot, max_notes, params.diversity)
    citations: list[Citation] = []
    blocks: list[str] = []
    for n, item in enumerate(chosen, start=1):
        note = snapshot.notes[item.hit.row]
        passages = item.quotes[:1]
        if n == 1 and len(item.quotes) > 1 and item.quotes[1].score >= 0.92 * item.quotes[0].score:
            passages = sorted(item.quotes[:2], key=lambda q: q.start)
        for quote in passages:
            text = note.text[quote.start:quote.end]
            url = passage_url(note.id, quote.start, quote.end)
            citations.append(Citation(n=n, note_id=note.id, title=note.title, url=url, quote=text,
                                      start=quote.start, end=quote.end, score=round(quote.score, 4)))
            blocks.append(f"{blockquote(text)} [[{n}]]({url})")
    cited = [c.note_id for c in citations]
    related = related_notes(snapshot, hits, cited)
    lines = [f"{_count_words(len(chosen))} {'note addresses' if len(chosen) == 1 else 'notes address'} this:", ""]
    for block in blocks:
        lines += [block, ""]
    sources = " · ".join(
        f"[{c.n}] [{md_escape(c.title)}]({note_url(c.note_id)})"
        for c in citations if c.n not in {d.n for d in citations[: citations.index(c)]}
    )
    lines.append(f"**Sources:** {sources}")
    if related:
        lines += ["", "**Related notes:** " + " · ".join(f"[{md_escape(r.title)}]({r.url})" for r in related)]
    return Answer(question=question, answer="\n".join(lines), abstained=False, citations=citations,
                  related=related)


def diversify(evidence: list[Evidence], snapshot: Snapshot, k: int, diversity: float) -> list[Evidence]:
    """Up to k notes by maximal marginal relevance over their note vectors, keeping the first."""
    if len(evidence) <= 1:
        return evidence[:k]
    hits = [NoteHit(row=e.hit.row, note_id=e.hit.note_id, score=-i) for i, e in enumerate(evidence)]
    kept = {h.note_id for h in mmr(hits, snapshot.note_vectors, k, diversity)}
    return [e for e in evidence if e.hit.note_id in kept]


def related_notes(snapshot: Snapshot, hits: list[NoteHit], cited: list[str], limit: int = 3) -> list[NoteRef]:
    """Up to three notes worth reading next: linked from the cited notes, then the next retrieved."""
    seen = set(cited)
    related: list[NoteRef] = []
    candidates: list[str] = []
    for note_id in dict.fromkeys(cited):
        note = snapshot.note(note_id)
        if note is not None:
            candidates += note.links + snapshot.backlinks.get(note_id, [])
    retrieved = [h.note_id for h in hits[:10]]
    ranked = [c for c in retrieved if c in candidates] + retrieved  # linked and relevant first
    for note_id in ranked:
        if note_id not in seen and snapshot.note(note_id) is not None:
            seen.add(note_id)
            related.append(note_ref(snapshot, note_id))
        if len(related) >= limit:
            break
    return related


# --- follow-ups -------------------------------------------------------------------------

_FOLLOW_UP_START = re.compile(
    r"^(and|but|or|so|also|then|what about|how about|what else|why|how so|more on|tell me more|"
    r"same for|and what|and how|and why|what if)\b",
    re.IGNORECASE,
)
_PRONOUN = re.compile(r"\b(it|its|they|them|their|this|that|these|those|he|she|there)\b", re.IGNORECASE)
_NOTE_LINK = re.compile(r"/notes/([^?#)\s\"']+)")


def is_follow_up(question: str) -> bool:
    """A short question that leans on the previous turn ("and what about non-thinking models?")."""
    words = question.split()
    if _FOLLOW_UP_START.match(question.strip()):
        return len(words) <= 14
    return len(words) <= 3 or (len(words) <= 8 and _PRONOUN.search(question) is not None)


def expand_follow_up(question: str, history: Sequence[dict] | None) -> tuple[str, set[str]]:
    """The query to search with, and the notes the previous answer cited (for a follow-up).

    A follow-up is searched together with the question it follows (itself resolved
    the same way when it was a follow-up too), and the notes the previous answer
    linked to get a small evidence bonus. Deterministic: the same history and
    question always give the same query.

        >>> expand_follow_up("and what about empathy?", [
        ...     {"role": "user", "content": "Does warmth training hurt?"},
        ...     {"role": "assistant", "content": "> ... [[1]](/notes/warmth?hl=0-9#hl)"}])
        ('and what about empathy? Does warmth training hurt?', {'warmth'})
    """
    turns = _turns(history)
    if not turns or not is_follow_up(question):
        return question, set()
    previous_question, previous_answer = turns[-1]
    earlier = [m for q, a in turns[:-1] for m in ({"role": "user", "content": q}, {"role": "assistant", "content": a})]
    resolved, _ = expand_follow_up(previous_question, earlier[-_MAX_CHAIN * 2:] if earlier else None)
    cited = {unquote(m.group(1)) for m in _NOTE_LINK.finditer(previous_answer)}
    return f"{question} {resolved}", cited


_MAX_CHAIN = 2  # a follow-up of a follow-up still finds the topic; further back is a new topic


def _turns(history: Sequence[dict] | None) -> list[tuple[str, str]]:
    """(user question, the assistant's reply or "") pairs, oldest first."""
    turns: list[tuple[str, str]] = []
    for message in history or []:
        if not isinstance(message, dict):
            continue
        content = _content_text(message.get("content"))
        if message.get("role") == "user" and content.strip():
            turns.append((content.strip(), ""))
        elif message.get("role") == "assistant" and turns and not turns[-1][1]:
            turns[-1] = (turns[-1][0], content)
    return turns


def _content_text(content: object) -> str:
    """A message's text: a string, or the text parts of a list (Gradio and OpenAI-style content)."""
    if isinstance(content, str):
        return content
    if isinstance(content, dict):
        return str(content.get("text") or content.get("content") or "")
    if isinstance(content, (list, tuple)):
        return "\n".join(_content_text(part) for part in content)
    return ""


# --- Markdown -------------------------------------------------------------------------------

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+!|~])")


def md_escape(text: str) -> str:
    """Text that renders literally in Markdown: no emphasis, links or HTML from a note."""
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    text = _MD_SPECIAL.sub(r"\\\1", text)
    return re.sub(r"(?m)^(\s*)([-+*]|\d+[.)])(\s)", lambda m: f"{m.group(1)}\\{m.group(2)}{m.group(3)}", text)


def blockquote(text: str) -> str:
    lines = [line.strip() for line in md_escape(text).splitlines() if line.strip()]
    return "\n".join(f"> {line}" for line in lines)


def note_url(note_id: str) -> str:
    return f"/notes/{url_quote(note_id, safe='')}"


def passage_url(note_id: str, start: int, end: int) -> str:
    """Where a quoted passage is shown highlighted (relative to the app's root)."""
    return f"{note_url(note_id)}?hl={start}-{end}#hl"


def note_ref(snapshot: Snapshot, note_id: str) -> NoteRef:
    note = snapshot.note(note_id)
    return NoteRef(note_id=note_id, title=note.title if note else note_id, url=note_url(note_id))


def _count_words(n: int) -> str:
    return _NUMBER_WORDS[n] if n < len(_NUMBER_WORDS) else str(n)


class _Clock:
    """Stage timings for benchmarks (`timings` dict), free when not asked for."""

    def __init__(self, timings: dict[str, float] | None) -> None:
        self.timings = timings
        self.last = time.perf_counter()

    def lap(self, stage: str) -> None:
        if self.timings is None:
            return
        now = time.perf_counter()
        self.timings[stage] = self.timings.get(stage, 0.0) + (now - self.last) * 1000
        self.last = now
