"""One synthesized answer: the extractive answer's quotes go to the LLM, every sentence it writes is
checked against the quotes it cites, and what passes leads the answer, the quotes following.

    synthesizer = Synthesizer.from_settings(settings, embedder.encode_queries)   # None: synthesis off
    for step in synthesizer.run(extractive, snapshot, history):
        step.checked     # the sentence just checked (AnswerSentence or DroppedSentence), or None
        step.answer      # the answer so far; the last step's (`done`) is the one to keep

    synthesizer.answer(extractive, snapshot, history)                           # just the last

The extractive answer stays the fallback, with one line saying why synthesis was not used:

    when                                          the answer
    the bot abstains                              the abstention; the LLM is never asked
    the LLM fails (unreachable, 401, 404, a       the quotes, "_Not synthesized: the LLM did not
      timeout, an endless stream, a 500, garbage)    answer within 30 s._"
    the LLM abstains                              the quotes, "_Not synthesized: the LLM found no
                                                     answer in these quotes._"
    no sentence passes the check                  the quotes, "_Not synthesized: none of the LLM's
                                                     3 sentences could be checked ..._"

Nothing but the question, the last turns of the conversation and the passages is sent.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from ..errors import LLMError
from ..index.snapshot import Snapshot
from ..markdown import md_escape
from ..models import Answer, AnswerSentence, DroppedSentence
from ..query.compose import TOPIC_ONLY
from .client import LLMClient
from .passages import cited_passages
from .prompt import Turn, build_messages
from .verify import MIN_COVERAGE, MIN_SIMILARITY, Checked, Embed, Verifier

log = logging.getLogger(__name__)

EVIDENCE_LEAD = "**The quotes it rests on:**"
CHECKED_ALL = "_Every sentence above was checked against the quotes it cites._"
NOT_SYNTHESIZED = "_Not synthesized: {reason}._"


@dataclass(frozen=True)
class Step:
    """One step of an answer being written: the sentence just checked, and the answer so far.

    While `writing`, `answer` has the extractive answer's citations and, as its Markdown, the
    sentences kept so far (none in the first step, which comes before the LLM is asked); one step
    follows each checked sentence. The last is `done`: the answer to keep."""

    answer: Answer
    checked: Checked | None = None
    done: bool = False
    writing: bool = False


class Synthesizer:
    """The LLM client, the embedding function and the thresholds: built once, used per answer."""

    def __init__(self, client: LLMClient, embed: Embed, *, history_turns: int = 3,
                 min_coverage: float = MIN_COVERAGE, min_similarity: float = MIN_SIMILARITY,
                 embed_passages: Embed | None = None) -> None:
        self.client = client
        self.embed = embed
        self.embed_passages = embed_passages
        self.history_turns = history_turns
        self.min_coverage = min_coverage
        self.min_similarity = min_similarity

    @classmethod
    def from_settings(cls, settings, embed: Embed, embed_passages: Embed | None = None) -> Synthesizer | None:
        """The synthesizer BOT_LLM_* describe, or None when BOT_LLM_URL is unset. `embed` embeds the
        LLM's sentences (never cached: they come of a private question); `embed_passages` the notes'
        own text the index holds no vectors for (a long sentence's clauses: cacheable)."""
        if not settings.synthesis_enabled:
            return None
        return cls(LLMClient.from_settings(settings), embed, history_turns=settings.llm_history_turns,
                   embed_passages=embed_passages)

    def close(self) -> None:
        self.client.close()

    def answer(self, extractive: Answer, snapshot: Snapshot, history: Sequence[dict] | None = None) -> Answer:
        """The synthesized answer, or the extractive one with the reason it was kept."""
        last = extractive
        for step in self.run(extractive, snapshot, history):
            last = step.answer
        return last

    def run(self, extractive: Answer, snapshot: Snapshot, history: Sequence[dict] | None = None) -> Iterator[Step]:
        """The steps of writing one answer (see `Step`); never raises for the LLM's failures."""
        if extractive.abstained or not extractive.citations:
            yield Step(extractive, done=True)  # the bot abstains: nothing to write from, nothing asked
            return
        if extractive.answer.startswith(TOPIC_ONLY):
            # No passage answers outright, only close notes: prose written from their nearest
            # passages would present pointers as evidence. The answer stays what it says it is.
            yield Step(extractive, done=True)
            return
        passages = cited_passages(extractive, snapshot)
        if not passages:  # the quotes' notes changed under us (a new index version)
            yield Step(extractive, done=True)
            return
        messages = build_messages(extractive.question, passages, turns(history), history_turns=self.history_turns)
        verifier = Verifier(passages, self.embed, min_coverage=self.min_coverage,
                            min_similarity=self.min_similarity, embed_passages=self.embed_passages)
        urls = citation_urls(extractive)
        kept: list[AnswerSentence] = []

        def progress(checked: Checked | None) -> Step:
            if isinstance(checked, AnswerSentence):
                kept.append(checked)
            so_far = extractive.model_copy(update={"answer": prose(kept, urls), "sentences": list(kept)})
            return Step(so_far, checked, writing=True)

        yield progress(None)
        started = time.perf_counter()
        try:
            finished = False
            for text, last in self.client.stream_batches(messages):
                # what arrived together is checked together: one embedding call per burst
                for checked in (verifier.finish(text) if last else verifier.feed(text)):
                    yield progress(checked)
                finished = finished or last
            if not finished:
                for checked in verifier.finish():
                    yield progress(checked)
        except LLMError as exc:
            log.warning("answer synthesis not used (%s): %s", exc.kind, exc)
            yield Step(fallback(extractive, _failure_reason(exc, self.client), verifier.result.dropped), done=True)
            return
        except Exception as exc:  # a bug here must cost the synthesis, never the answer
            log.exception("answer synthesis failed: %s", exc.__class__.__name__)
            yield Step(fallback(extractive, "the LLM's answer could not be checked", []), done=True)
            return
        result = verifier.result
        seconds = time.perf_counter() - started
        if result.kept:
            log.info("synthesized in %.2f s: %d sentences kept, %d dropped", seconds, len(result.kept),
                     len(result.dropped))
            yield Step(synthesized(extractive, result.kept, result.dropped), done=True)
            return
        if result.abstained:
            reason = "the LLM found no answer in these quotes"
        elif result.dropped:
            count = len(result.dropped)
            reason = ("the LLM's only sentence failed the check against the quotes" if count == 1 else
                      f"none of the LLM's {count} sentences passed the check against the quotes")
        else:
            reason = "the LLM's reply held no sentences"
        log.warning("answer synthesis not used: %s (%.2f s)", reason, seconds)
        yield Step(fallback(extractive, reason, result.dropped), done=True)


# --- composing -----------------------------------------------------------------------------------

def synthesized(extractive: Answer, kept: Sequence[AnswerSentence], dropped: Sequence[DroppedSentence]) -> Answer:
    """The kept sentences with their [n] links, then the extractive answer's quotes, numbered as they
    were, then one line on the check."""
    blocks = [prose(kept, citation_urls(extractive)), EVIDENCE_LEAD, *_evidence_blocks(extractive.answer)]
    if dropped:
        count = len(dropped)
        blocks.append(f"_Every sentence above was checked against the quotes it cites; "
                      f"{'one sentence' if count == 1 else f'{count} sentences'} that failed the check "
                      f"{'was' if count == 1 else 'were'} left out._")
    else:
        blocks.append(CHECKED_ALL)
    return extractive.model_copy(update={
        "answer": "\n\n".join(blocks), "mode": "synthesized", "sentences": list(kept), "dropped": list(dropped),
        "fallback_reason": None,
    })


def fallback(extractive: Answer, reason: str, dropped: Sequence[DroppedSentence]) -> Answer:
    """The extractive answer, led by one line saying why it is not synthesized."""
    return extractive.model_copy(update={
        "answer": NOT_SYNTHESIZED.format(reason=md_escape(reason)) + "\n\n" + extractive.answer,
        "mode": "extractive", "sentences": [], "dropped": list(dropped), "fallback_reason": reason,
    })


def citation_urls(answer: Answer) -> dict[int, str]:
    """Each citation number's link: its note's first quote."""
    urls: dict[int, str] = {}
    for citation in answer.citations:
        urls.setdefault(citation.n, citation.url)
    return urls


def prose(sentences: Sequence[AnswerSentence], urls: dict[int, str]) -> str:
    """The sentences as one paragraph of Markdown, each with its [n] links."""
    return " ".join(sentence_markdown(s, urls) for s in sentences)


def sentence_markdown(sentence: AnswerSentence, urls: dict[int, str]) -> str:
    """"Warm models were less reliable [[1]](url)." The LLM's words are escaped: nothing it writes
    becomes a link, an image or HTML."""
    text = sentence.text.strip()
    end = re.search(r"[.!?…]+[\"'’”)]*$", text)
    body, stop = (text[:end.start()], text[end.start():]) if end else (text, ".")
    marks = "".join(f"[[{n}]]({urls[n]})" if n in urls else f"[{n}]" for n in sentence.citations)
    return f"{md_escape(body.rstrip())} {marks}{md_escape(stop)}"


def _evidence_blocks(markdown: str) -> list[str]:
    """The extractive answer's blocks after its lead line ("Two notes address this:")."""
    blocks = [b for b in markdown.split("\n\n") if b.strip()]
    if blocks and not blocks[0].lstrip().startswith(">"):
        blocks = blocks[1:]
    return blocks


def turns(history: Sequence[dict] | None) -> list[Turn]:
    """The conversation's messages as question-and-answer turns (an unanswered question is left out)."""
    found: list[Turn] = []
    question = None
    for message in history or []:
        role, content = message.get("role"), message.get("content")
        if not isinstance(content, str):
            continue
        if role == "user":
            question = content
        elif role == "assistant" and question is not None:
            found.append(Turn(question, content))
            question = None
    return found


_REASONS = {
    "unreachable": "the LLM could not be reached",
    "unauthorized": "the LLM refused the API key",
    "model_not_found": "the LLM server has no model {model}",
    "timeout": "the LLM did not answer within {timeout:g} s",
    "server_error": "the LLM server failed",
    "malformed": "the LLM's reply could not be read",
}


def _failure_reason(error: LLMError, client: LLMClient) -> str:
    """The failure as a reader of the answer should see it: no URL, no server's own message."""
    model = repr(client.model) if client.model else "(BOT_LLM_MODEL is unset)"
    return _REASONS.get(error.kind, "the LLM failed").format(model=model, timeout=client.timeout)
