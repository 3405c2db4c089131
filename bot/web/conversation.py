"""One browser session's chat, and answering a question in it as a stream of display updates.

Gradio-free, so the chat's behaviour is tested without a browser:

    conversation = Conversation()
    for step in respond(runtime, conversation, "Do LLM therapists respond to emotions?", filters={}):
        step.messages      # what the Chatbot shows now: [{"role": "user", ...}, {"role": "assistant", ...}]
        step.sources       # the sources panel's HTML (None: unchanged)
        step.notice        # a line under the box (empty question, too long), or ""
    conversation.history() # [{"role": "user", "content": ...}, {"role": "assistant", ...}] for follow-ups

Each browser session has its own `Conversation` (Gradio state), so two
sessions never see each other's turns. The displayed text is escaped Markdown;
the history handed to the answer layer holds the question as typed and the
answer's own Markdown.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

from ..errors import FilterError, NotReady, QuestionError, StoreError
from ..models import Answer
from ..query.answer import check_question
from .render import answer_blocks, as_sentence, question_markdown, sources_panel_html, writing_markdown
from .runtime import AppRuntime

log = logging.getLogger(__name__)

SEARCHING = "_Searching the notes…_"
OPENING = "_Opening the notes index (the first seconds after a start)…_"
EMPTY_QUESTION = "Type a question about your notes first, or pick one of the examples."
STORE_UNAVAILABLE = (
    "**The notes store is unavailable, try again** in a moment. "
    "Nothing was lost: the question is in the box below as you typed it."
)
FAILED = (
    "**Something went wrong while answering this**, and it was logged. "
    "Try again, or ask it another way."
)
READY_WAIT_SECONDS = 120.0


@dataclass
class Turn:
    """One question and what came back."""

    question: str
    reply: str = SEARCHING  # the assistant message as displayed (Markdown)
    answer: Answer | None = None  # None until answered, or when it failed
    filters: dict = field(default_factory=dict)
    key: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    index_version: int | None = None


@dataclass
class Conversation:
    """The turns of one session, oldest first."""

    turns: list[Turn] = field(default_factory=list)

    def messages(self) -> list[dict]:
        """The Chatbot's value: two messages a turn, so message i belongs to turn i // 2."""
        shown: list[dict] = []
        for turn in self.turns:
            shown.append({"role": "user", "content": question_markdown(turn.question)})
            shown.append({"role": "assistant", "content": turn.reply})
        return shown

    def history(self) -> list[dict]:
        """The conversation so far for the answer layer: answered turns only, as typed and as answered."""
        history: list[dict] = []
        for turn in self.turns:
            if turn.answer is not None:
                history.append({"role": "user", "content": turn.question})
                history.append({"role": "assistant", "content": turn.answer.answer})
        return history

    def turn_at(self, message_index: int) -> Turn | None:
        """The turn a displayed message belongs to."""
        if isinstance(message_index, (list, tuple)):
            message_index = message_index[0]
        position = int(message_index) // 2
        return self.turns[position] if 0 <= position < len(self.turns) else None

    def last_answer(self) -> Answer | None:
        for turn in reversed(self.turns):
            if turn.answer is not None:
                return turn.answer
        return None


@dataclass
class Step:
    """One update of the chat: the messages to show, and the side panel and notice when they change."""

    messages: list[dict]
    sources: str | None = None
    notice: str = ""
    keep_question: str | None = None  # put this back in the box (the question could not be asked)
    writing: bool = False  # an LLM is writing the answer: a step a checked sentence


def respond(
    runtime: AppRuntime,
    conversation: Conversation,
    question: str,
    filters: dict | None = None,
    root_path: str = "",
) -> Iterator[Step]:
    """Ask `question` in this conversation, yielding what to display as the answer arrives.

    The steps are honest: "searching" while the index is searched, then the composed answer
    shown block by block (the lead line, each quoted passage with its numbered citation, the
    sources) as soon as it exists; nothing is slowed down to look typed. With an LLM configured,
    the quotes go to the sources panel while it writes, and each of its sentences appears once
    it has been checked against them, never before; then the whole answer, quotes included.
    """
    try:
        question = check_question(question, runtime.settings.max_question_chars)
    except QuestionError as exc:
        empty = not isinstance(question, str) or not question.strip()
        notice = EMPTY_QUESTION if empty else as_sentence(str(exc))
        yield Step(conversation.messages(), notice=notice, keep_question=None if empty else question)
        return

    filters = {k: list(v) for k, v in (filters or {}).items() if v}
    history = conversation.history()
    turn = Turn(question=question, filters=filters)
    conversation.turns.append(turn)
    yield Step(conversation.messages(), keep_question="")  # the box empties for the next question

    if not runtime.ready:
        turn.reply = OPENING
        yield Step(conversation.messages())
        if not runtime.wait_ready(READY_WAIT_SECONDS):
            turn.reply = f"**The notes index could not be opened.** {runtime.error or 'Try again in a moment.'}"
            yield Step(conversation.messages(), keep_question=question)
            return
        turn.reply = SEARCHING
        yield Step(conversation.messages())

    started = time.perf_counter()
    try:
        steps = runtime.ask_stream(question, history, filters or None)
    except QuestionError as exc:
        turn.reply = as_sentence(str(exc))
        yield Step(conversation.messages(), keep_question=question)
        return
    except FilterError as exc:
        turn.reply = f"That filter can't be used: {exc}."
        yield Step(conversation.messages(), keep_question=question)
        return
    except (StoreError, NotReady) as exc:
        log.warning("question not answered, the store is unavailable: %s", exc)
        turn.reply = STORE_UNAVAILABLE
        yield Step(conversation.messages(), keep_question=question)
        return
    except Exception:
        log.exception("answering %r failed", question[:200])
        turn.reply = FAILED
        yield Step(conversation.messages(), keep_question=question)
        return
    library = runtime.library
    turn.index_version = library.version if library is not None else None
    panel = None
    answer = None
    shown_sentences = 0
    try:
        for step in steps:
            answer = step.answer
            if step.done:
                break
            if panel is None:  # the quotes the LLM is reading, beside the chat while it writes
                panel = sources_panel(runtime, answer, root_path)
                turn.reply = writing_markdown(answer, root_path)
                yield Step(conversation.messages(), sources=panel, writing=True)
            elif len(answer.sentences) > shown_sentences:
                shown_sentences = len(answer.sentences)
                turn.reply = writing_markdown(answer, root_path)  # a sentence appears once checked
                yield Step(conversation.messages(), writing=True)
    except Exception:  # the synthesis never raises for the LLM's failures; this is a bug
        log.exception("answering %r failed while writing", question[:200])
        turn.reply = FAILED
        yield Step(conversation.messages(), keep_question=question)
        return
    seconds = time.perf_counter() - started
    log.debug("answered in %.3f s: %r", seconds, question[:200])

    panel = sources_panel(runtime, answer, root_path)
    blocks = answer_blocks(answer, root_path)
    for shown in range(1, len(blocks) + 1):
        turn.reply = "\n\n".join(blocks[:shown])
        if shown == len(blocks):
            turn.answer = answer  # part of the history only once complete
        yield Step(conversation.messages(), sources=panel if shown == 1 else None)


def sources_panel(runtime: AppRuntime, answer: Answer | None, root_path: str = "") -> str:
    """The sources panel for an answer, with each cited note's kind."""
    library = runtime.library
    kinds: dict[str, str] = {}
    if answer is not None and library is not None:
        for citation in answer.citations:
            summary = library.summary(citation.note_id)
            kinds[citation.note_id] = summary.kind if summary else ""
    return sources_panel_html(answer, kinds, root_path)
