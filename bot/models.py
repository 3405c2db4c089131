"""The pydantic models at the pipeline's boundaries: `Note`, `Chunk`, `Citation`, `Answer`.

    notes ──parse──▶ Note ──chunk──▶ Chunk ──index──▶ (Chroma + BM25) ──retrieve──▶ Answer[Citation]

Offsets (`start`, `end`) always index into `Note.text`, so a quote can be
located, checked (`note.text[start:end] == quote`) and highlighted exactly.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

NoteKind = Literal["note", "inquiry", "source"]
KINDS: tuple[str, ...] = ("note", "inquiry", "source")


class SourceEntry(BaseModel):
    """One entry of an inquiry's `Sources N notes` list."""

    title: str
    summary: str


class RelatedConcept(BaseModel):
    """One entry of `Related concepts in this collection`: a title, what it is, how it relates."""

    title: str
    description: str = ""
    relation: str = ""


class Section(BaseModel):
    """A section of a note's text: its heading starts at `start`, its own words at `content`.

    Markdown notes have one per heading; seed pages one per trailing section ("Sources 9 notes",
    "Related concepts in this collection 3", ...), named by `name`. What lies between `start`
    and `content` (the heading line, and a page's navigation hints under it) is never quoted;
    everything from `content` to the next section's `start` is the section's quotable text.
    """

    title: str
    start: int
    content: int | None = None  # None: right after the heading's line
    name: str = ""  # seed pages: "sources", "related_concepts", ...; "" for a Markdown heading
    count: int | None = None  # the number a seed page's heading shows ("Sources 9 notes"), if any


class LinkSpan(BaseModel):
    """An inline citation: `text[start:end]` names note `note_id`."""

    start: int
    end: int
    note_id: str


class QuoteLink(BaseModel):
    """A mention of another note inside a quote: `quote[start:end]` names note `note_id` (titled `title`)."""

    start: int
    end: int
    note_id: str
    title: str


class Note(BaseModel):
    """One note, as parsed. `links`, `link_spans` are filled in by `notes.resolve_links`."""

    id: str
    title: str
    kind: NoteKind = "note"
    description: str = ""
    text: str
    sources: list[SourceEntry] = Field(default_factory=list)
    inquiring_lines: list[str] = Field(default_factory=list)
    related_concepts: list[RelatedConcept] = Field(default_factory=list)
    related_papers: list[str] = Field(default_factory=list)
    next_inquiring_lines: list[str] = Field(default_factory=list)
    research_prompt: str = ""
    aliases: list[str] = Field(default_factory=list)
    tags: list[str] = Field(default_factory=list)
    sections: list[Section] = Field(default_factory=list)
    wikilinks: list[str] = Field(default_factory=list)
    source_path: str = ""
    content_hash: str = ""
    # Derived across the whole collection, never part of the content hash:
    links: list[str] = Field(default_factory=list)
    link_spans: list[LinkSpan] = Field(default_factory=list)

    def body_end(self) -> int:
        """Where the body ends: the first section's heading, or the end of the text."""
        return min((section.start for section in self.sections), default=len(self.text))

    def section_at(self, position: int) -> Section | None:
        """The section holding `position` of the text (None: the body)."""
        found = None
        for section in self.sections:
            if section.start <= position:
                found = section
        return found

    def own_titles(self) -> list[str]:
        """Titles this note itself names in its structured sections (used to keep them whole)."""
        titles = [s.title for s in self.sources] + [c.title for c in self.related_concepts]
        return (titles + self.inquiring_lines + self.next_inquiring_lines + self.related_papers + self.aliases
                + self.wikilinks)


class Chunk(BaseModel):
    """A passage of a note, embedded (and BM25-indexed) with its `heading` prepended: the note's
    title, its names and tags that its text doesn't hold, and the section it sits in."""

    id: str
    note_id: str
    title: str
    section: str = ""
    heading: str = ""
    start: int
    end: int
    text: str


class NoteRef(BaseModel):
    """A pointer to a note, for suggestions and related notes."""

    note_id: str
    title: str
    url: str


class Citation(BaseModel):
    """One quoted passage: `quote == note.text[start:end]`, numbered `n` per note within an answer."""

    n: int
    note_id: str
    title: str
    url: str
    quote: str
    start: int
    end: int
    score: float
    links: list[QuoteLink] = Field(default_factory=list)  # mentions of other notes inside `quote`


class PartialIndex(BaseModel):
    """How much of the index an answer could use: it was made during the first build."""

    notes_indexed: int
    notes_total: int


class Answer(BaseModel):
    """What `bot.ask` returns: Markdown made of quoted passages, and the structured citations.

    With an LLM configured (BOT_LLM_URL), `mode` is "synthesized" when the answer leads with the
    LLM's sentences that passed the check against the quotes they cite (`sentences`); what failed
    is in `dropped`, never in `answer`. `fallback_reason` says why an answer is extractive although
    synthesis was tried (the LLM failed, abstained, or no sentence passed)."""

    question: str
    answer: str
    abstained: bool
    citations: list[Citation] = Field(default_factory=list)
    suggestions: list[NoteRef] = Field(default_factory=list)
    related: list[NoteRef] = Field(default_factory=list)
    mode: Literal["extractive", "synthesized"] = "extractive"
    sentences: list[AnswerSentence] = Field(default_factory=list)
    dropped: list[DroppedSentence] = Field(default_factory=list)
    fallback_reason: str | None = None
    partial: PartialIndex | None = None  # made while the first build was still running


class AnswerSentence(BaseModel):
    """A sentence an LLM wrote that the bot checked against the passages it cites (`[n]` = Citation.n)."""

    text: str
    citations: list[int]


class DroppedSentence(BaseModel):
    """A sentence an LLM wrote that failed the check; never shown as part of the answer.

    `check` names the test it failed (citation, fact, coverage, similarity, negation); `reason` says
    it in words, e.g. "the number 42% is in none of the cited passages"."""

    text: str
    citations: list[int] = Field(default_factory=list)
    reason: str
    check: Literal["citation", "fact", "coverage", "similarity", "negation", "empty"]


Answer.model_rebuild()  # its sentence models are defined below it
