"""The read path for one question: search, rank, quote, compose (`respond`, `answer_question`).

    response = respond(index, "Does warmth training make models less reliable?")
    response.answer          the Answer: Markdown made of quoted passages, and its citations
    response.hits            every retrieved note, best first
    response.evidence        the notes whose passages were scored, in the order they'd be quoted

`bot.ask` and `bot.Bot.ask` call this against the served index; the chat, the API and
`bot eval` too, so what is measured is what people see.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..errors import QuestionError
from ..index.served import Index
from ..models import Answer
from .compose import compose_answer, nothing_new_answer
from .evidence import TITLE_WEIGHT, Evidence, find_evidence
from .followups import Conversation, read_conversation
from .params import DEFAULT_ANSWER_PARAMS, AnswerParams
from .retrieval import Filters, NoteHit
from .sources import cited_evidence, named_in
from .timing import Clock

# Calibrated on held-out questions (bench/abstention.py): the evidence score of the
# best passage below which the notes are taken not to address the question.
ABSTAIN_BELOW = 0.43
# Below that, an answer still points at the notes whose note vector (the mean of its chunks) is
# this close to the question, saying that no passage answers outright: just above the most topical
# off-topic question of the calibration half of seeds + SciFact (bench/abstention.py).
TOPIC_AT_LEAST = 0.363


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
    clock = Clock(timings)
    question = check_question(question, index.settings.max_question_chars)
    parsed_filters = Filters.parse(filters)
    snapshot = index.snapshot  # one version for the whole answer
    conversation = read_conversation(question, history)
    query = conversation.query

    vector = index.embedder.encode_query(query)
    clock.lap("embed")
    # A follow-up's own words are what is new: they count twice in the lexical query.
    terms_query = query if query == question else f"{question} {query}"
    novel = params.follow_up_novelty and bool(conversation.shown)
    boost = conversation.cited_before | (_cited_by_shown(snapshot, conversation) if novel else frozenset())
    hits, evidence = find_evidence(index, snapshot, terms_query, vector, parsed_filters, params, clock,
                                   boost_notes=boost, candidates=candidates)
    threshold = index.settings.abstain_below or ABSTAIN_BELOW
    exclude = None
    if novel:
        # The topic's best passage, shown or not; the title bonus left out, as a follow-up's query
        # repeats the previous question, often a note's very title.
        best = max((e.score - TITLE_WEIGHT * e.hit.title for e in evidence), default=float("-inf"))
        exclude = _shown_by_note(conversation)
        hits, evidence = find_evidence(index, snapshot, terms_query, vector, parsed_filters, params,
                                       boost_notes=boost, candidates=candidates, exclude=exclude)
        evidence = unshown_evidence(evidence, best, threshold, params)
        # Nothing unshown is good enough: when the topic was answered (by the previous answer, or
        # by what it showed), say there is nothing new rather than that the notes don't address it.
        if not evidence and (best >= threshold or conversation.previous):
            answer = nothing_new_answer(question, snapshot, conversation.previous or conversation.shown)
            clock.lap("compose")
            return Response(answer=answer, hits=hits, evidence=evidence, query=query)
    linked = (cited_evidence(snapshot, terms_query, vector, hits, evidence, params, exclude, parsed_filters)
              if params.follow_sources else {})
    topic_bar = index.settings.topic_at_least or TOPIC_AT_LEAST
    answer = compose_answer(question, snapshot, hits, evidence, threshold, params,
                            max_notes=index.settings.answer_notes, linked=linked, shown=exclude,
                            topics=None if novel else note_topics(snapshot, vector, evidence),
                            topic_threshold=topic_bar)
    clock.lap("compose")
    return Response(answer=answer, hits=hits, evidence=evidence, query=query)


def note_topics(snapshot, vector, evidence: list[Evidence]) -> dict[str, float]:
    """How close each scored note is to the question as a whole: its note vector's cosine (pure)."""
    return {e.hit.note_id: float(snapshot.note_vectors[e.hit.row] @ vector) for e in evidence}


def unshown_evidence(evidence: list[Evidence], best: float, threshold: float,
                     params: AnswerParams = DEFAULT_ANSWER_PARAMS) -> list[Evidence]:
    """A follow-up's evidence from passages not shown yet: only those nearly as good as the topic's
    best passage, shown or not (within `follow_up_margin`), so a follow-up adds to the topic
    instead of drifting off it; best passage first, as a note's retrieval score was earned by the
    passages already shown (pure)."""
    bar = max(threshold, best - params.follow_up_margin)
    return sorted((e for e in evidence if e.score >= bar), key=lambda e: -e.passage)


def _shown_by_note(conversation: Conversation) -> dict[str, list[tuple[int, int]]]:
    shown: dict[str, list[tuple[int, int]]] = {}
    for note_id, start, end in conversation.shown:
        shown.setdefault(note_id, []).append((start, end))
    return shown


def _cited_by_shown(snapshot, conversation: Conversation) -> frozenset[str]:
    """The notes the passages shown so far cite inline: where a follow-up looks next."""
    named: set[str] = set()
    for note_id, start, end in conversation.shown:
        note = snapshot.note(note_id)
        if note is not None:
            named.update(named_in(note, start, end))
    return frozenset(named)


