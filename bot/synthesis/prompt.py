"""The chat messages an LLM is sent: instructions, recent turns, then the passages and the question.

Nothing else from the notes or the user leaves the machine: the question, the last
`history_turns` turns of the conversation, and the retrieved passages.

    >>> messages = build_messages("Does warmth training hurt accuracy?",
    ...                           [Passage(1, "Warm models were 10-30% less reliable.", "Warmth and truth")])
    >>> [m["role"] for m in messages]
    ['system', 'user']
    >>> print(messages[-1]["content"])
    Passages:
    <BLANKLINE>
    [1] Warm models were 10-30% less reliable.
    (from the note "Warmth and truth")
    <BLANKLINE>
    Question: Does warmth training hurt accuracy?

A passage is a quote widened to whole neighbouring sentences of its note (`widen_span`), so the
LLM reads it in context; the verifier checks the LLM's sentences against that same text.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

Span = tuple[int, int]

# The abstention phrase; the same as bot.answer.NOT_ADDRESSED (a test pins them together), so an
# abstaining LLM and an abstaining bot say the same thing.
ABSTENTION = "None of the notes address this."

# How much of its note a passage may show: about 150 model tokens, so 6 passages and the
# instructions fit a 2k-token context with room for the answer.
PASSAGE_MAX_CHARS = 600
# An earlier answer in the history is cut to this: the LLM needs the gist, not the quotes again.
TURN_MAX_CHARS = 600

SYSTEM_PROMPT = f"""You answer questions about a team's research notes, using only the numbered passages \
you are given.

Rules:
- Answer in at most 5 short sentences of plain prose: no headings, no lists.
- End every sentence with the number of each passage that supports it, in square brackets: [1], or [1][3].
- Say only what the cited passages say. Add no facts, numbers, names or examples of your own; copy \
numbers exactly as the passages write them.
- If the passages do not answer the question, reply with exactly: {ABSTENTION}"""


@dataclass(frozen=True, eq=False)
class Passage:
    """What the LLM reads as `[number] text`: `number` is the citation number the answer shows.
    Several passages may share a number (two quotes of one note).

    `sentences` and `vectors` are optional: the passage's sentences and their L2-normalised vectors
    as the index already has them (the snapshot's sentence vectors, computed at ingest). Given, the
    verifier embeds only the LLM's sentences; otherwise it splits and embeds `text` itself.
    """

    number: int
    text: str
    title: str = ""
    sentences: tuple[str, ...] = ()
    vectors: np.ndarray | None = field(default=None, repr=False)
    note_id: str = ""  # the note it comes from (never sent to the LLM; the title is)


@dataclass(frozen=True)
class Turn:
    """One earlier exchange of the conversation."""

    question: str
    answer: str


def build_messages(
    question: str,
    passages: Sequence[Passage],
    history: Sequence[Turn] = (),
    *,
    history_turns: int = 3,
    turn_max_chars: int = TURN_MAX_CHARS,
) -> list[dict[str, str]]:
    """System instructions, the last `history_turns` turns, then one user message with the
    passages (in the order given, each starting with its `[n]`) and the question."""
    messages = [{"role": "system", "content": SYSTEM_PROMPT}]
    recent = list(history)[-history_turns:] if history_turns > 0 else []
    for turn in recent:
        messages.append({"role": "user", "content": turn.question.strip()})
        messages.append({"role": "assistant", "content": _gist(turn.answer, turn_max_chars)})
    blocks = []
    for passage in passages:
        block = f"[{passage.number}] {_one_paragraph(passage.text)}"
        if passage.title:
            block += f'\n(from the note "{_one_paragraph(passage.title)}")'
        blocks.append(block)
    body = "Passages:\n\n" + "\n\n".join(blocks) if blocks else "Passages: none were found."
    messages.append({"role": "user", "content": f"{body}\n\nQuestion: {question.strip()}"})
    return messages


def widen_span(span: Span, sentence_spans: Sequence[Span], max_chars: int = PASSAGE_MAX_CHARS,
               *, within: Span | None = None) -> Span:
    """The quote's span grown to whole sentences, then by neighbouring sentences (one before, one
    after, in turn) while the whole stays within `max_chars`. The quote is never cut: a quote longer
    than `max_chars` comes back as it was. `within` (a paragraph or section span) bounds the growth.

        >>> text = "One. Two is here. Three. Four."
        >>> spans = [(0, 4), (5, 17), (18, 24), (25, 30)]
        >>> s, e = widen_span((5, 17), spans, max_chars=24); text[s:e]
        'One. Two is here. Three.'
    """
    start, end = span
    if within is not None:
        sentence_spans = [(s, e) for s, e in sentence_spans if s >= within[0] and e <= within[1]]
    sentence_spans = sorted(sentence_spans)
    touched = [i for i, (s, e) in enumerate(sentence_spans) if s < end and e > start]
    if not touched:
        return span
    lo, hi = touched[0], touched[-1]
    whole = (min(start, sentence_spans[lo][0]), max(end, sentence_spans[hi][1]))
    if whole[1] - whole[0] > max_chars:
        return span
    start, end = whole
    grew = True
    while grew:
        grew = False
        if lo > 0 and end - sentence_spans[lo - 1][0] <= max_chars:
            lo -= 1
            start = sentence_spans[lo][0]
            grew = True
        if hi + 1 < len(sentence_spans) and sentence_spans[hi + 1][1] - start <= max_chars:
            hi += 1
            end = sentence_spans[hi][1]
            grew = True
    return start, end


def _one_paragraph(text: str) -> str:
    return " ".join(text.split())


_CITATION_LINK = re.compile(r"\[\[?\^?\d+\]?\]\([^)]*\)")  # [[1]](url), [1](url)
_MARKDOWN_LINK = re.compile(r"\[([^\]]*)\]\([^)]*\)")
_CITATION_MARK = re.compile(r"\[\^?\d+(?:\s*[,;–-]\s*\^?\d+)*\]")
_LIST_OF_NOTES = re.compile(r"^\*\*(?:Sources|Related notes):\*\*.*$", re.MULTILINE)


def _gist(answer: str, max_chars: int) -> str:
    """An earlier answer as plain text, without links, citation numbers (those numbered passages
    are not the ones in this prompt) or its lists of notes, cut at a word to `max_chars`."""
    text = _LIST_OF_NOTES.sub("", answer)
    text = _CITATION_LINK.sub("", text)
    text = _MARKDOWN_LINK.sub(r"\1", text)
    text = _CITATION_MARK.sub("", text)
    text = re.sub(r"[*_>#`]+", "", text)
    text = re.sub(r"\s+([.,;:!?])", r"\1", " ".join(text.split()))
    if len(text) <= max_chars:
        return text
    return text[:max_chars].rsplit(" ", 1)[0] + " …"
