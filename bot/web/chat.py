"""The chat page: Gradio Blocks wired to `conversation.respond` (the logic lives there).

    blocks = build_chat(runtime, settings, FeedbackLog(settings.data_dir))
    gr.mount_gradio_app(app, blocks, path="/", theme=theme(), css=chat_css())

Left: the chat (streamed answers; Gradio's own icons for copy, copy all, retry,
undo, clear, and thumbs up/down on each answer) and the question box. Right: the sources of the latest answer, filters by kind and
tag, and the index's status with a re-index button (embedded store only).
"""

from __future__ import annotations

import html
import logging
import threading
import time
from importlib import resources

import gradio as gr

from ..models import KINDS
from ..settings import Settings
from .conversation import Conversation, Step, respond, sources_panel
from .auth import SignInPolicy, client_address
from .feedback import FeedbackLog
from .index_view import building_line, index_overview, panel_markdown
from .limits import Limits, too_many_message
from .render import sources_panel_html
from ..errors import NotReady
from .runtime import AppRuntime

log = logging.getLogger(__name__)

BUILD_REFRESH_SECONDS = 2.0  # the Index panel follows a running build this often

TITLE = "Ask your notes"
PLACEHOLDER = (
    "**Ask a question about your notes.** Every answer is made of the notes' own words, "
    "each quote numbered and linked to the note it came from."
)


def theme() -> gr.themes.Base:
    """A theme with system fonts only: the page loads nothing from outside."""
    return gr.themes.Soft(
        font=[gr.themes.Font("system-ui"), "-apple-system", "Segoe UI", "Roboto", "Helvetica Neue", "Arial",
              "sans-serif"],
        font_mono=[gr.themes.Font("ui-monospace"), "SFMono-Regular", "Menlo", "Consolas", "monospace"],
    )


def chat_css() -> str:
    return resources.files("bot").joinpath("static/chat.css").read_text(encoding="utf-8")


def header_html(root: str, user: str = "") -> str:
    """The page's title line; with a signed-in user, their "Sign out" button (a POST: it ends the session)."""
    sign_out = (f'<form class="nb-signout" action="{html.escape(root)}/logout" method="post">'
                f'<button type="submit">Sign out ({html.escape(user)})</button></form>' if user else "")
    return (f'<div class="nb-header"><h1>{TITLE}</h1>'
            f'<a href="{html.escape(root)}/notes" target="_blank" rel="noopener">Browse all notes ↗</a>'
            f'<a href="{html.escape(root)}/docs" target="_blank" rel="noopener" class="nb-api">HTTP API ↗</a>{sign_out}</div>')


def build_chat(runtime: AppRuntime, settings: Settings, feedback: FeedbackLog, limits: Limits | None = None,
               policy: SignInPolicy | None = None) -> gr.Blocks:
    """The Gradio Blocks of the chat page. Each question counts against `limits` (per user and address)."""
    root = settings.root_path
    policy = policy or SignInPolicy(settings)

    with gr.Blocks(title="notes-bot", fill_height=True, analytics_enabled=False) as blocks:
        conversation = gr.State(lambda: Conversation())
        header = gr.HTML(header_html(root), elem_id="nb-header")
        with gr.Row(equal_height=False):
            with gr.Column(scale=3, min_width=360):
                chatbot = gr.Chatbot(
                    elem_id="nb-chat",
                    label="Chat",
                    show_label=False,
                    height="68vh",
                    placeholder=PLACEHOLDER,
                    buttons=["copy", "copy_all"],
                    feedback_options=("Like", "Dislike"),
                    sanitize_html=True,
                    allow_tags=False,
                    render_markdown=True,
                    latex_delimiters=[],
                    layout="bubble",
                )
                box = gr.Textbox(
                    elem_id="nb-question",
                    show_label=False,
                    placeholder="Ask a question about your notes",
                    lines=1,
                    max_lines=6,
                    submit_btn="Ask",
                    autofocus=True,
                )
                notice = gr.Markdown("", elem_id="nb-notice", elem_classes=["nb-notice"])
            with gr.Column(scale=2, min_width=280):
                gr.Markdown("### Sources")
                sources = gr.HTML(sources_panel_html(None, {}, root), elem_id="nb-sources")
                with gr.Accordion("Filters", open=False, elem_id="nb-filters"):
                    kinds = gr.CheckboxGroup(
                        list(KINDS), label="Only these kinds", info="None ticked: every kind.", elem_id="nb-kinds"
                    )
                    tags = gr.Dropdown(
                        [], multiselect=True, label="Only notes with these tags", elem_id="nb-tags",
                        info="The collection's tags appear here.",
                    )
                with gr.Accordion("Index", open=False, elem_id="nb-index"):
                    status = gr.Markdown("Opening the index…", elem_id="nb-status")
                    reindex_button = gr.Button(
                        "Re-index now", size="sm", elem_id="nb-reindex", visible=runtime.owns_ingest
                    )
                    follow_build = gr.Timer(BUILD_REFRESH_SECONDS, active=False)

        # --- asking -----------------------------------------------------------------------

        def stream(state: Conversation, question: str, kind_values, tag_values, request: gr.Request | None = None):
            wait = _rate_limited(limits, request) if question and question.strip() else None
            if wait is not None:
                yield _outputs(state, Step(state.messages(), notice=too_many_message(wait), keep_question=question))
                return
            filters = {"kinds": list(kind_values or []), "tags": list(tag_values or [])}
            with _in_flight:
                for step in _paced(respond(runtime, state, question, filters, root)):
                    yield _outputs(state, step)

        outputs = [chatbot, conversation, sources, notice, box]

        def ask(question, state, kind_values, tag_values, request: gr.Request):
            yield from stream(state, question, kind_values, tag_values, request)

        # "always_last": a question sent while the previous answer is still finishing is asked
        # right after it, never dropped (Gradio's default, "once", ignores it)
        box.submit(ask, [box, conversation, kinds, tags], outputs, show_progress="hidden", api_name="ask",
                   trigger_mode="always_last")

        def ask_example(state, kind_values, tag_values, evt: gr.SelectData, request: gr.Request):
            value = evt.value.get("text", "") if isinstance(evt.value, dict) else str(evt.value or "")
            yield from stream(state, value, kind_values, tag_values, request)

        chatbot.example_select(ask_example, [conversation, kinds, tags], outputs, show_progress="hidden",
                               trigger_mode="always_last")

        def retry(state: Conversation, kind_values, tag_values, request: gr.Request):
            if not state.turns:
                yield _outputs(state, Step(state.messages(), notice="Nothing to retry yet."))
                return
            question = state.turns.pop().question
            yield from stream(state, question, kind_values, tag_values, request)

        chatbot.retry(retry, [conversation, kinds, tags], outputs, show_progress="hidden")

        def undo(state: Conversation):
            question = state.turns.pop().question if state.turns else ""
            panel = sources_panel(runtime, state.last_answer(), root)
            return _outputs(state, Step(state.messages(), sources=panel, keep_question=question))

        chatbot.undo(undo, [conversation], outputs, show_progress="hidden")

        def clear(state: Conversation):
            state.turns.clear()
            return _outputs(state, Step([], sources=sources_panel_html(None, {}, root), keep_question=""))

        chatbot.clear(clear, [conversation], outputs, show_progress="hidden")

        # --- feedback ---------------------------------------------------------------------

        def vote(state: Conversation, data: gr.LikeData, request: gr.Request):
            turn = state.turn_at(data.index)
            if turn is None or turn.answer is None:
                return
            rating = _rating(data.liked)
            feedback.record(
                rating=rating, question=turn.question, answer=turn.answer,
                user=getattr(request, "username", None) or "local",
                session=getattr(request, "session_hash", None) or "", answer_key=turn.key,
                index_version=turn.index_version, filters=turn.filters,
            )
            log.info("feedback %s on answer %s", rating, turn.key)

        chatbot.like(vote, [conversation], None)

        # --- the collection and the index -------------------------------------------------

        def on_load():
            runtime.wait_ready(60)
            library = runtime.library
            following = gr.Timer(active=_build_running(runtime))
            if library is None:
                return gr.update(), gr.update(), _status_markdown(runtime), following
            examples = [{"text": q} for q in library.example_questions(6)]
            tag_counts = library.tags()
            tag_update = gr.update(
                choices=list(tag_counts),
                info="Tick none for all notes." if tag_counts else "This collection's notes have no tags.",
                interactive=bool(tag_counts),
            )
            return gr.update(examples=examples), tag_update, _status_markdown(runtime), following

        # waiting for the index costs nothing, so page loads during a start never take chat slots
        blocks.load(on_load, None, [chatbot, tags, status, follow_build], show_progress="hidden",
                    concurrency_limit=None)

        def follow():
            """While a build runs, the panel shows how far it is; the timer stops when it is done."""
            return _status_markdown(runtime), gr.Timer(active=_build_running(runtime))

        # not queued: a tick is a quick read, and a queued one flashes its timing in the panel
        follow_build.tick(follow, None, [status, follow_build], show_progress="hidden", queue=False)

        def signed_in(request: gr.Request):
            """The header with a Sign out button once the gate has a signed-in user for this page."""
            user = getattr(request, "username", None) or ""
            headers = {k.lower(): v for k, v in dict(getattr(request, "headers", None) or {}).items()}
            return header_html(root, user if policy.required(headers) else "")

        blocks.load(signed_in, None, [header], show_progress="hidden", concurrency_limit=None)

        def reindex():
            yield "Re-indexing: rescanning the notes folders…"
            try:
                result = runtime.reindex(wait=True, timeout=3600)
            except NotReady as exc:
                yield f"Not available: {exc}."
                return
            if result is not None and result.error:
                yield f"Re-indexing failed: {result.error}. The previous version is still served."
                return
            yield _status_markdown(runtime)

        reindex_button.click(reindex, None, [status], concurrency_limit=1, concurrency_id="reindex")

    return blocks


class _InFlight:
    """How many chat answers this worker is producing right now."""

    def __init__(self) -> None:
        self.count = 0
        self._lock = threading.Lock()

    def __enter__(self) -> None:
        with self._lock:
            self.count += 1

    def __exit__(self, *exc) -> None:
        with self._lock:
            self.count -= 1


_in_flight = _InFlight()


def _paced(steps):
    """The answer's blocks one by one while this worker is otherwise idle; while other answers are
    being produced, the rest of the answer in one step. The whole answer is composed before the
    first block shows, so streaming it is for the eye only, and every streamed step costs the
    worker CPU (measured: about a quarter of a chat answer's); under load that CPU goes to the
    people waiting instead. The first step (the question shown, "searching") always goes out, and
    so do the steps of an LLM writing (each a sentence checked, seconds apart: the wait is the LLM's)."""
    held = None
    for number, step in enumerate(steps):
        if held is not None and step.sources is None:
            step.sources = held.sources  # a skipped step's sources panel still has to be shown
        if number > 0 and _in_flight.count > 1 and not step.writing:
            held = step
            continue
        held = None
        yield step
    if held is not None:
        yield held


def _rate_limited(limits: Limits | None, request: gr.Request | None) -> float | None:
    """Seconds to wait before this user (and address) may ask again, or None."""
    if limits is None or request is None:
        return None
    return limits.check(user=getattr(request, "username", None) or "local", address=client_address(request))


def _rating(liked) -> str:
    """Gradio's like value (True/False, "Like"/"Dislike", or None when a vote is withdrawn) as a rating."""
    if liked is True or liked == "Like":
        return "up"
    if liked is False or liked == "Dislike":
        return "down"
    return "none"


def _outputs(state: Conversation, step: Step):
    box = gr.update(value=step.keep_question) if step.keep_question is not None else gr.update()
    sources = gr.update(value=step.sources) if step.sources is not None else gr.update()
    return step.messages, state, sources, step.notice, box


def _build_running(runtime: AppRuntime) -> bool:
    """A build is under way, or a first build's partial version is still served (its build has
    just finished embedding, and the complete version is being committed and loaded)."""
    return runtime.building.view() is not None or runtime.readiness()[0] in ("starting", "building")


def _status_markdown(runtime: AppRuntime) -> str:
    status = runtime.status()
    partial = status.get("partial")
    if status["state"] != "ready" and not partial:
        building = building_line(runtime.building.view())
        return f"**Not ready:** {status['error'] or 'opening the index…'}" + (f"\n\n{building}" if building else "")
    lines = [f"Index version **{status['version']}**: {status['notes']} notes, {status['chunks']} chunks."]
    if partial:  # a first build's partial version
        lines = [f"**Partial index** (version {status['version']}): {partial['notes_indexed']} of "
                 f"{partial['notes_total']} notes indexed so far. Questions are answered from these, and each "
                 "answer says so, until the first build is done."]
    last = status.get("last_ingest")
    if status["ingesting"]:
        lines.append("A rescan is running now.")
    if last:
        when = time.strftime("%H:%M:%S", time.localtime(last["finished_at"]))
        lines.append(f"Rescan {status['rescans']} since start, at {when}: {last['error'] or last['summary']}")
    if runtime.owns_ingest:
        seconds = runtime.settings.rescan_seconds
        lines.append(f"The notes folders are rescanned every {seconds:g} s." if seconds else
                     "Automatic rescans are off (BOT_RESCAN_SECONDS=0).")
    else:
        lines.append("Served from a Chroma server; `bot ingest` updates it, and this app follows.")
    report = panel_markdown(index_overview(runtime))
    return "\n\n".join(lines + ([report] if report else []))
