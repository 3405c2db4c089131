"""The one service object: the long-lived parts, built once from `Settings` and passed down.

    with Bot.open(Settings()) as notes:          # the embedder, the store, the served index
        notes.ask("Does warmth training make models less reliable?")
        for step in notes.ask_stream("..."): ...   # the same, a checked sentence at a time (a chat)
        notes.search("warmth and reliability", k=5)
        notes.library.page("does-warmth-training-make-language-models-less-reliable")
        notes.ingest()                           # bring the index up to date (embedded store)

    bot.ask("...")                               # the simple entry point: opens a Bot, asks, closes

`bot.ask`, the CLI, `bot eval` and the app's runtime all go through a `Bot`; nothing keeps
models or indexes in module globals. Opening is the only place that may build an index (when
none is committed yet and `build_if_missing`): the read path never builds.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path

from .errors import IndexMissing
from .index.embedder import Embedder
from .index.ingest import IngestReport
from .index.ingest import ingest as run_ingest
from .index.progress import BuildProgress
from .index.report import read_report, report_path
from .index.int8 import served_precision
from .index.served import Index
from .index.snapshot import Snapshot
from .index.store import Store
from .models import Answer, PartialIndex
from .query.answer import Response, answer_question, respond
from .query.library import Library
from .query.params import DEFAULT_ANSWER_PARAMS, AnswerParams
from .query.search import SearchHit, search_notes
from .settings import Settings
from .synthesis.synthesize import Step as AnswerStep
from .synthesis.synthesize import Synthesizer
from .urls import absolute, absolute_links

log = logging.getLogger(__name__)


class Bot:
    """The embedder, the store and the served index of one configuration."""

    def __init__(self, settings: Settings, index: Index, building: BuildProgress | None = None) -> None:
        self.settings = settings
        self.index = index
        self.library = Library(lambda: index.snapshot)
        self.building = building or BuildProgress()  # this process's running ingest, if any
        # BOT_LLM_URL set: answers are written by the LLM and checked against their quotes
        self.synthesizer = Synthesizer.from_settings(settings, index.embedder.encode_queries,
                                                     embed_passages=index.embedder.encode)

    @property
    def embedder(self) -> Embedder:
        return self.index.embedder

    @property
    def store(self) -> Store:
        return self.index.store

    @property
    def partial(self) -> PartialIndex | None:
        """None when the served version is complete; during a first build, its notes so far of all."""
        return self.index.partial

    @property
    def snapshot(self) -> Snapshot:
        """The served version (one consistent snapshot; take it once per request)."""
        return self.index.snapshot

    @classmethod
    def open(
        cls,
        settings: Settings | None = None,
        *,
        build_if_missing: bool = True,
        build_from: Sequence[str | Path] | None = None,
        purpose: str = "bot",
        store_path: Path | None = None,
        progress: bool = True,
        embedder: Embedder | None = None,
        on_build: Callable[[], None] | None = None,
        building: BuildProgress | None = None,
        on_partial: Callable[[Bot | None], None] | None = None,
    ) -> Bot:
        """Open the configured index; with none committed yet, ingest `build_from` (default:
        BOT_NOTES_DIR) first, or raise IndexMissing when `build_if_missing` is False.

        `store_path` forces an embedded store there (evaluation corpora); `embedder` reuses a
        loaded one (a test session, a benchmark comparing systems); `on_build` is called when a
        first build starts (the app's readiness says "building" then), and `building` follows
        its progress (and every later ingest's). With `on_partial`, a first build serves what it has
        written as it goes (`bot.index.partial`): `on_partial(bot)` gets a Bot on its first partial
        version, which its later versions refresh, and which is the one returned at the end (or
        `on_partial(None)` when the build fails: that Bot's store is closed)."""
        settings = settings or Settings()
        building = building or BuildProgress()
        if embedder is None:  # an index built with fp32 is served with fp32 (see bot/index/int8.py)
            settings = served_precision(settings, store_path=store_path).settings
            embedder = Embedder.load(settings)
        store = Store.open(settings, embedder.fingerprint, path=store_path, purpose=purpose)
        early: list[Bot] = []
        try:
            version = store.version()
            if version == 0:
                if not build_if_missing:
                    raise IndexMissing(store.name, store.location)
                log.info("no index yet: building it from %s", ", ".join(map(str, build_from or settings.notes_dirs)))
                if on_build is not None:
                    on_build()

                def serve_partial(version: int) -> None:  # in ingest's writer thread
                    if early:
                        early[0].refresh()
                        return
                    early.append(cls(settings, Index.load(settings, store, embedder), building))
                    on_partial(early[0])

                try:
                    report = run_ingest(list(build_from) if build_from else None, settings, store, embedder,
                                        progress=progress, on_progress=building.update,
                                        on_commit=serve_partial if on_partial else None)
                finally:
                    building.finish()
                log.info("%s", report.summary())
                if early:
                    early[0].refresh()
                    return early[0]
            # a first build cut short (or running elsewhere) may have committed a partial version
            return cls(settings, Index.load(settings, store, embedder), building)
        except BaseException:
            if early and on_partial is not None:
                on_partial(None)  # the build failed: its partial versions are served no more
            store.close()
            raise

    # --- reading ------------------------------------------------------------------------------

    def ask(self, question: str, history: Sequence[dict] | None = None, filters: dict | None = None) -> Answer:
        """Answer a question from the notes (see `bot.ask`); with an LLM configured, in its
        sentences, each checked against the quotes it cites."""
        partial = self.partial  # read first: a version served later is as complete or more
        if self.synthesizer is None:
            return marked(answer_question(self.index, question, history, filters), partial)
        snapshot = self.index.snapshot
        extractive = answer_question(self.index, question, history, filters)
        return marked(self.synthesizer.answer(extractive, snapshot, history), partial)

    def ask_stream(self, question: str, history: Sequence[dict] | None = None,
                   filters: dict | None = None) -> Iterator[AnswerStep]:
        """`ask` in steps, for a chat: the notes are searched now (errors are raised here), then
        each step is a sentence checked (`step.checked`) and the answer so far; the last step is
        `done`. Without an LLM, that one step is all."""
        partial = self.partial
        snapshot = self.index.snapshot
        extractive = answer_question(self.index, question, history, filters)
        if self.synthesizer is None:
            return iter([AnswerStep(marked(extractive, partial), done=True)])
        steps = self.synthesizer.run(extractive, snapshot, history)
        if partial is None:
            return steps
        return (replace(step, answer=marked(step.answer, partial)) for step in steps)

    def respond(self, question: str, history: Sequence[dict] | None = None, filters: dict | None = None, *,
                params: AnswerParams = DEFAULT_ANSWER_PARAMS, timings: dict[str, float] | None = None,
                candidates: int | None = None) -> Response:
        """The answer with the ranked notes and scored passages it was made from."""
        return respond(self.index, question, history, filters, params=params, timings=timings,
                       candidates=candidates)

    def search(self, query: str, k: int = 10, filters: dict | None = None) -> list[SearchHit]:
        """The `k` notes best matching `query`, each with its best passages."""
        return search_notes(self.index, query, k, filters)

    # --- keeping it current -------------------------------------------------------------------

    def ingest(self, paths: Sequence[str | Path] | None = None, *, rebuild: bool = False,
               progress: bool = True) -> IngestReport:
        """Index the notes under `paths` (default: BOT_NOTES_DIR) as a new version, then serve it."""
        try:
            report = run_ingest(list(paths) if paths else None, self.settings, self.store, self.embedder,
                                rebuild=rebuild, progress=progress, on_progress=self.building.update,
                                on_commit=lambda version: self.refresh())  # a first build cut short: resumed
        finally:
            self.building.finish()
        self.refresh()
        return report

    def index_report(self) -> dict:
        """The per-file report and the last ingest's figures, as the last ingest stored them."""
        return read_report(report_path(self.settings, self.store.name))

    def refresh(self) -> bool:
        """Serve the newest committed version if it changed (a `bot ingest` elsewhere); True when it did."""
        return self.index.refresh()

    def close(self) -> None:
        """Release the store (and the embedded store's lock), and the LLM client's connections."""
        if self.synthesizer is not None:
            self.synthesizer.close()
        self.index.close()

    def __enter__(self) -> Bot:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def partial_line(partial: PartialIndex) -> str:
    """The line a partial answer starts with.

        >>> partial_line(PartialIndex(notes_indexed=120, notes_total=300))
        'Answered from a partial index: 120 of 300 notes indexed so far.'
    """
    return (f"Answered from a partial index: {partial.notes_indexed} of {partial.notes_total} "
            "notes indexed so far.")


def marked(answer: Answer, partial: PartialIndex | None) -> Answer:
    """The answer saying it was made from a partial index (`partial`, and its first line), when it was."""
    if partial is None:
        return answer
    return answer.model_copy(update={"partial": partial, "answer": f"*{partial_line(partial)}*\n\n{answer.answer}"})


def with_public_urls(answer: Answer, public_url: str) -> Answer:
    """The answer with every link absolute under `public_url` (BOT_PUBLIC_URL): citations,
    suggestions, related notes and the Markdown's links. Unchanged when `public_url` is empty.

        >>> a = Answer(question="q", answer="> x [[1]](/notes/n?hl=0-1#hl)", abstained=False)
        >>> with_public_urls(a, "https://notes.example.org").answer
        '> x [[1]](https://notes.example.org/notes/n?hl=0-1#hl)'
    """
    if not public_url:
        return answer
    return answer.model_copy(update={
        "answer": absolute_links(answer.answer, public_url),
        "citations": [c.model_copy(update={"url": absolute(c.url, public_url)}) for c in answer.citations],
        "suggestions": [r.model_copy(update={"url": absolute(r.url, public_url)}) for r in answer.suggestions],
        "related": [r.model_copy(update={"url": absolute(r.url, public_url)}) for r in answer.related],
    })


def with_public_passage_urls(hits: list[SearchHit], public_url: str) -> list[SearchHit]:
    """Search results with their passages' links absolute under `public_url` (BOT_PUBLIC_URL)."""
    if not public_url:
        return hits
    return [hit.model_copy(update={"passages": [p.model_copy(update={"url": absolute(p.url, public_url)})
                                                for p in hit.passages]}) for hit in hits]


def ask(
    question: str,
    history: Sequence[dict] | None = None,
    filters: dict | None = None,
    settings: Settings | None = None,
) -> Answer:
    """Answer a question from the configured notes, with quoted passages and numbered citations.

    `history` is the conversation so far (`[{"role": "user"|"assistant", "content": str}]`);
    `filters` is `{"kinds": [...], "tags": [...], "note_ids": [...]}`, each optional.
    Opens the index for this one question (building it from BOT_NOTES_DIR if there is none)
    and closes it again; to ask many questions, keep a `Bot.open(settings)` instead.
    """
    with Bot.open(settings or Settings()) as notes:
        return notes.ask(question, history, filters)
