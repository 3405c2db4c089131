"""Follow-up questions: recognise one, search it with the question it follows, and know what the
conversation has already shown (pure).

    expand_follow_up("and what about empathy?", history) -> (query, notes the previous answer cited)
    read_conversation("why is that?", history)            -> Conversation: that query, and every
                                                            passage the earlier answers quoted

What a conversation has already shown is read from `history` itself (the earlier answers'
Markdown, as `bot.ask`, `POST /api/ask` and the chat pass it): each quote's link
`/notes/<id>?hl=<start>-<end>#hl` (`bot.urls.passage_url`) names the note and the span it
quoted. Nothing is kept on the server, so a client that sends the history gets the same answer.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from urllib.parse import unquote

_FOLLOW_UP_START = re.compile(
    r"^(and|but|or|so|also|then|what about|how about|what else|why|how so|more on|tell me more|"
    r"same for|and what|and how|and why|what if)\b",
    re.IGNORECASE,
)
_PRONOUN = re.compile(r"\b(it|its|they|them|their|this|that|these|those|he|she|there)\b", re.IGNORECASE)
_NOTE_LINK = re.compile(r"/notes/([^?#)\s\"']+)")
_PASSAGE_LINK = re.compile(r"/notes/([^?#)\s\"']+)\?hl=(\d{1,9})-(\d{1,9})")

Passage = tuple[str, int, int]  # (note id, start, end): a span of a note's text


@dataclass(frozen=True)
class Conversation:
    """What a question means in its conversation, read from the history alone.

    `query` is what to search (the question, or a follow-up joined to the question it
    follows); for a follow-up, `cited_before` are the notes the previous answer cited,
    `shown` every passage any earlier answer quoted (oldest first) and `previous` the
    passages of the previous answer. For a question that is not a follow-up all three are
    empty: a new question is answered as if it were the first.
    """

    question: str
    query: str
    cited_before: frozenset[str] = frozenset()
    shown: tuple[Passage, ...] = ()
    previous: tuple[Passage, ...] = field(default=())

    @property
    def is_follow_up(self) -> bool:
        return bool(self.cited_before or self.shown or self.query != self.question)

    def shown_in(self, note_id: str) -> list[tuple[int, int]]:
        """The spans of `note_id` already quoted in this conversation."""
        return [(start, end) for note, start, end in self.shown if note == note_id]


def read_conversation(question: str, history: Sequence[dict] | None) -> Conversation:
    """The query for `question` and, when it is a follow-up, what the conversation already showed.

        >>> c = read_conversation("why is that?", [
        ...     {"role": "user", "content": "Does warmth training hurt?"},
        ...     {"role": "assistant", "content": "> ... [[1]](/notes/warmth?hl=0-9#hl)"}])
        >>> c.query, c.shown
        ('why is that? Does warmth training hurt?', (('warmth', 0, 9),))
    """
    query, cited = expand_follow_up(question, history)
    if query == question and not cited:
        return Conversation(question=question, query=query)
    turns = _turns(history)
    shown = tuple(dict.fromkeys(p for _, answer in turns for p in shown_passages(answer)))
    previous = tuple(dict.fromkeys(shown_passages(turns[-1][1]))) if turns else ()
    return Conversation(question=question, query=query, cited_before=frozenset(cited), shown=shown,
                        previous=previous)


def shown_passages(markdown: str) -> list[Passage]:
    """Every passage an answer's Markdown links to, in order: (note id, start, end).

        >>> shown_passages("> a [[1]](/notes/x%2Fy?hl=3-10#hl) b [[2]](/bot/notes/z?hl=0-4#hl)")
        [('x/y', 3, 10), ('z', 0, 4)]
    """
    found = []
    for match in _PASSAGE_LINK.finditer(markdown):
        start, end = int(match.group(2)), int(match.group(3))
        if start < end:
            found.append((unquote(match.group(1)), start, end))
    return found


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
