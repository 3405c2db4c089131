"""Follow-up questions: recognise one, and search it together with the question it follows (pure).

    expand_follow_up("and what about empathy?", history) -> (query, notes the previous answer cited)

What a conversation has already shown is read from `history` itself (the earlier answers'
Markdown, as `bot.ask`, `POST /api/ask` and the chat pass it), never from server state.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from urllib.parse import unquote

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
