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
from .lexical import tokenize
from .models import Answer, Citation, NoteRef
from .quotes import DEFAULT_QUOTE_PARAMS, Quote, QuoteParams, pick_quotes
from .retrieval import DEFAULT_PARAMS, Filters, NoteHit, RetrievalParams, first_stage, mmr, rank_notes
from .settings import Settings

NOT_ADDRESSED = "None of the notes address this."

# Calibrated on held-out questions (bench/abstention.py): the evidence score of the
# best passage below which the notes are taken not to address the question.
ABSTAIN_BELOW = 0.42
_NUMBER_WORDS = ["No", "One", "Two", "Three", "Four", "Five", "Six", "Seven", "Eight", "Nine", "Ten"]


class QuestionError(ValueError):
    """The question can't be asked as given (empty, too long); the message says why."""


@dataclass(frozen=True)
class AnswerParams:
    retrieval: RetrievalParams = DEFAULT_PARAMS
    quotes: QuoteParams = DEFAULT_QUOTE_PARAMS
    notes_considered: int = 8  # notes whose passages are scored for the answer
    evidence_margin: float = 0.12  # quote notes whose evidence is within this of the best
    diversity: float = 0.25  # MMR trade-off among the notes shown
    follow_up_boost: float = 0.05  # evidence bonus for notes the previous answer cited


DEFAULT_ANSWER_PARAMS = AnswerParams()


@dataclass
class Evidence:
    hit: NoteHit
    quotes: list[Quote]
    score: float  # how well the note's best passage answers the question


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


def answer_question(
    index: Index,
    question: str,
    history: Sequence[dict] | None = None,
    filters: dict | Filters | None = None,
    *,
    params: AnswerParams = DEFAULT_ANSWER_PARAMS,
    timings: dict[str, float] | None = None,
) -> Answer:
    """The whole read path for one question, against the index's current snapshot."""
    clock = _Clock(timings)
    question = check_question(question, index.settings.max_question_chars)
    parsed_filters = Filters.parse(filters)
    snapshot = index.snapshot  # one version for the whole answer
    query, cited_before = expand_follow_up(question, history)

    vector = index.embedder.encode_query(query)
    clock.lap("embed")
    hits, evidence = find_evidence(index, snapshot, query, vector, parsed_filters, params, clock)
    if cited_before:
        for item in evidence:
            if item.hit.note_id in cited_before:
                item.score += params.follow_up_boost
        evidence.sort(key=lambda e: -e.score)
    threshold = index.settings.abstain_below or ABSTAIN_BELOW
    answer = compose_answer(question, snapshot, hits, evidence, threshold, params,
                            max_notes=index.settings.answer_notes)
    clock.lap("compose")
    return answer


def find_evidence(index: Index, snapshot: Snapshot, query: str, vector: np.ndarray,
                  filters: Filters, params: AnswerParams, clock=None) -> tuple[list[NoteHit], list[Evidence]]:
    """Ranked notes and, for the best few, their best passages with an evidence score."""
    clock = clock or _Clock(None)
    n = index.settings.candidates
    candidates = first_stage(index, snapshot, query, vector, filters, n)
    clock.lap("search")
    hits = rank_notes(snapshot, candidates, vector, params.retrieval)
    clock.lap("fusion")
    shortlist = mmr(hits[: params.notes_considered * 2], snapshot.note_vectors, params.notes_considered, params.diversity)
    weights = snapshot.lexical.weights(list(dict.fromkeys(tokenize(query))))
    evidence = [note_evidence(snapshot, hit, vector, weights, params.quotes) for hit in shortlist]
    evidence = [e for e in evidence if e.quotes]
    evidence.sort(key=lambda e: -e.score)
    clock.lap("quotes")
    return hits, evidence


def note_evidence(snapshot: Snapshot, hit: NoteHit, vector: np.ndarray, weights: dict[str, float],
                  params: QuoteParams = DEFAULT_QUOTE_PARAMS) -> Evidence:
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
    quotes = pick_quotes(note.text, spans, snapshot.sentence_vectors[rows.start:rows.stop], vector,
                         weights, best_chunk, limit=2, params=params)
    score = evidence_score(quotes[0], hit) if quotes else float("-inf")
    return Evidence(hit=hit, quotes=quotes, score=score)


def evidence_score(best: Quote, hit: NoteHit) -> float:
    """How strongly a note answers: its best passage's similarity and its best chunk's."""
    return 0.6 * best.similarity + 0.4 * hit.dense


def compose_answer(question: str, snapshot: Snapshot, hits: list[NoteHit], evidence: list[Evidence],
                   threshold: float, params: AnswerParams = DEFAULT_ANSWER_PARAMS,
                   max_notes: int = 3) -> Answer:
    """The Markdown answer and its citations (pure: everything comes in as arguments)."""
    if not evidence or evidence[0].score < threshold:
        suggestions = [note_ref(snapshot, h.note_id) for h in hits[:3]]
        return Answer(question=question, answer=NOT_ADDRESSED, abstained=True, suggestions=suggestions)

    best = evidence[0].score
    chosen = [e for e in evidence if e.score >= max(threshold, best - params.evidence_margin)][:max_notes]
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
    """The query to search with, and the notes the previous answer cited (for a follow-up)."""
    if not history or not is_follow_up(question):
        return question, set()
    previous_question = ""
    previous_answer = ""
    for message in reversed(list(history)):
        if not isinstance(message, dict):
            continue
        content = message.get("content")
        if not isinstance(content, str):
            continue
        if message.get("role") == "assistant" and not previous_answer and not previous_question:
            previous_answer = content
        elif message.get("role") == "user":
            previous_question = content.strip()
            break
    if not previous_question:
        return question, set()
    cited = {unquote(m.group(1)) for m in _NOTE_LINK.finditer(previous_answer)}
    return f"{previous_question} {question}", cited


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
