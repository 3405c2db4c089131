"""The knobs of the read path, in one frozen object (tuned on half of the SciFact training split)."""

from __future__ import annotations

from dataclasses import dataclass

from .quotes import DEFAULT_QUOTE_PARAMS, QuoteParams
from .retrieval import DEFAULT_PARAMS, RetrievalParams


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
    follow_sources: bool = True  # quote the notes a quoted passage cites inline (`sources`)
    cited_notes: int = 2  # at most this many notes added to an answer by following citations
    follow_up_novelty: bool = True  # a follow-up quotes passages the conversation has not shown
    follow_up_margin: float = 0.3  # ...within this of the topic's best passage (else: nothing new)


DEFAULT_ANSWER_PARAMS = AnswerParams()
