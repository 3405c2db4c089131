"""Every section of a seed page is quotable text: offsets into `note.text`, verbatim from the file."""

from __future__ import annotations

import pytest

from bot.models import Note
from bot.notes.chunks import chunk_heading, embedding_text, note_heading, segment_note
from bot.notes.collection import build_notes
from bot.notes.formats import parse_file
from bot.notes.formats._parsed import ParsedFile
from bot.notes.formats.markdown import parse_markdown
from bot.notes.formats.seed import inline_title_candidates, parse_seed_page
from bot.notes.links import resolve_links

from ..conftest import SEEDS

# The sections of each seed page, in order, with the heading line as the file writes it.
SEED_SECTIONS = {
    "000_13d96628cd244b35.txt": [("sources", "Sources 7 notes")],
    "001_bae4b2363521288b.txt": [
        ("inquiring_lines", "Inquiring lines that use this note as a source 5"),
        ("related_concepts", "Related concepts in this collection 3"),
        ("related_papers", "Related papers in this collection 8"),
        ("original_title", "Original note title"),
    ],
    "002_a1f149fcb2b4d867.txt": [("sources", "Sources 9 notes"), ("next_inquiring_lines", "Next inquiring lines")],
    "003_9588276566671a77.txt": [("sources", "Sources 9 notes"), ("next_inquiring_lines", "Next inquiring lines")],
    "004_aaf3fd2841cda9ab.txt": [
        ("sources", "Sources 9 notes"),
        ("research_prompt", "Research prompt for your LLMexpand ↓"),
        ("next_inquiring_lines", "Next inquiring lines"),
    ],
}


def words(texts):
    return [len(t.split()) for t in texts]


def page(name: str) -> tuple[str, Note]:
    raw = (SEEDS / name).read_text(encoding="utf-8")
    return raw, parse_file(raw, str(SEEDS / name)).notes[0]


@pytest.mark.parametrize("name", sorted(SEED_SECTIONS))
def test_every_section_of_every_seed_page_is_in_the_text(name):
    raw, note = page(name)
    # the text is the file from the body to its end: one span of the file, nothing rebuilt
    assert raw.rstrip().endswith(note.text) and note.text == raw[raw.index(note.text):].rstrip()
    assert [(s.name, note.text[s.start:note.text.index("\n", s.start) if "\n" in note.text[s.start:]
             else len(note.text)]) for s in note.sections] == SEED_SECTIONS[name]
    starts = [s.start for s in note.sections]
    assert starts == sorted(starts) and note.body_end() == starts[0]
    for section, following in zip(note.sections, note.sections[1:] + [None]):
        end = following.start if following else len(note.text)
        assert section.start <= section.content <= end
        assert note.section_at(section.content) is section
    # the structured fields are parsed from the same text
    for entry in note.sources:
        assert entry.summary in note.text[note.body_end():]


@pytest.mark.parametrize("name", sorted(SEED_SECTIONS))
def test_every_sentence_is_verbatim_and_headings_are_not_quotable(name, embedder):
    raw, note = page(name)
    segments = segment_note(note, embedder.count_tokens)
    for (start, end), quotable in zip(segments.sentences, segments.quotable):
        sentence = note.text[start:end]
        assert sentence and sentence in raw and sentence == sentence.strip()
        heading = any(s.start <= start and end <= s.content for s in note.sections)
        assert quotable == (not heading and any(ch.isalnum() for ch in sentence)), sentence
    for chunk in segments.chunks:  # never across a section
        assert note.section_at(chunk.start) is note.section_at(chunk.end - 1)


def quotable_sentences(note: Note) -> list[str]:
    segments = segment_note(note, words)
    return [note.text[s:e] for (s, e), q in zip(segments.sentences, segments.quotable) if q]


def test_the_research_prompt_findings_and_anchor_papers_are_quotable():
    _, note = page("004_aaf3fd2841cda9ab.txt")
    quotable = quotable_sentences(note)
    assert ('• arXiv:2507.03112 (2025): "RLVER: Reinforcement Learning with Verifiable Emotion Rewards for '
            'Empathetic Agents"') in quotable
    assert ("What a curated library found — and when (findings span 2019–2025, dated claims not current "
            "truth):") in quotable
    assert any(s.startswith("• Single-turn LLM empathy") and s.endswith("(2023).") for s in quotable)
    assert "(1) RE-TEST EACH CONSTRAINT." in quotable  # a numbered task starts its own line
    assert not any("Research prompt for your LLM" in s for s in quotable)


def test_related_concepts_papers_inquiring_lines_and_original_title_are_quotable():
    _, note = page("001_bae4b2363521288b.txt")
    quotable = quotable_sentences(note)
    for expected in [
        "Does RL teach reasoning or just when to use it?",  # a concept's title
        "Explicit reasoning improves some tasks but hurts others.",  # its description
        "parallel mechanism: scaffold provides capability, RL teaches deployment",  # its relation
        "- Is Chain-of-Thought Reasoning of LLMs a Mirage? A Data Distribution Lens",  # a paper, whole
        "- Is natural empathy primarily about curiosity or emotional regulation?",  # an inquiring line
        note.aliases[0],  # the original note title
    ]:
        assert expected in quotable, expected
    # the page's navigation hints are part of their headings
    for chrome in ("Click a node to walk", "This note in its neighbourhood", "This note is a source for these"):
        assert not any(chrome in s for s in quotable), chrome
    assert "-" not in quotable


GLUED = """INQUIRING LINE

Do glued headings parse?

A page whose exporter glued headings to the next line. The cost is real Does warmth training make language models less reliable?. So it goes.

Sources 1 note

Some summary of the warmth finding, with numbers.

Next inquiring linesDo extended thinking blocks access latent empathetic capabilities in models?
Can pretrained priors set exploration ceilings for empathetic capability development?
Research prompt for your LLMexpand ↓Copy into ChatGPT or Claude to take this further.
• Finding one holds (2024).
"""


def test_glued_headings_start_their_sections_where_the_glued_text_starts(embedder):
    note = parse_seed_page(GLUED, "glued.txt")
    assert [s.name for s in note.sections] == ["sources", "next_inquiring_lines", "research_prompt"]
    nxt, prompt = note.sections[1], note.sections[2]
    assert note.text[nxt.start:nxt.content] == "Next inquiring lines"
    assert note.text[nxt.content:].startswith("Do extended thinking blocks")
    assert note.next_inquiring_lines == [
        "Do extended thinking blocks access latent empathetic capabilities in models?",
        "Can pretrained priors set exploration ceilings for empathetic capability development?",
    ]
    assert note.text[prompt.start:prompt.content] == "Research prompt for your LLMexpand ↓"
    assert note.research_prompt.startswith("Copy into ChatGPT or Claude")
    quotable = quotable_sentences(note)
    assert "Do extended thinking blocks access latent empathetic capabilities in models?" in quotable
    assert "Copy into ChatGPT or Claude to take this further." in quotable
    assert not any(s.startswith(("Next inquiring", "Research prompt")) for s in quotable)
    # the single source pairs with the body's one inline citation, not with the titles after it
    assert [s.title for s in note.sources] == ["Does warmth training make language models less reliable?"]


def test_a_lowercase_continuation_is_not_a_glued_heading():
    note = parse_seed_page("Title?\nBody. Next inquiring lines are open.\nOriginal note titles vary.\n", "x.txt")
    assert note.sections == [] and note.kind == "note"


def test_000_style_sources_pair_with_the_body_citations_only():
    """Sources without titles pair with the body's inline citations; titles in later sections
    (now part of the text) must not change the count."""
    raw = (SEEDS / "000_13d96628cd244b35.txt").read_text(encoding="utf-8")
    extended = raw + "\nNext inquiring lines\nWhere next? Does RL teach reasoning or just when to use it?\n"
    assert len(inline_title_candidates(parse_seed_page(extended, "000.txt").text)) == 8
    for text in (raw, extended):
        note = parse_seed_page(text, "000.txt")
        assert len(note.sources) == 7
        assert note.sources[2].title == "Does extended thinking help or hurt model reasoning?"


def test_link_spans_reach_every_section_but_only_body_and_sources_cite():
    files = [parse_file(p.read_text(encoding="utf-8"), str(p)) for p in sorted(SEEDS.iterdir())]
    notes = {n.id: n for n in resolve_links(build_notes(files))}
    page4 = notes["why-does-effective-empathy-require-deep-character-knowledge-of-the-person"]
    in_sources = [s for s in page4.link_spans if page4.section_at(s.start) is not None]
    assert {s.note_id for s in in_sources} == {s_.id for s_ in notes.values() if s_.title in
                                                 {e.title for e in page4.sources}}
    for span in page4.link_spans:
        assert page4.text[span.start:span.end] == notes[span.note_id].title


def test_markdown_sections_are_quotable_and_front_matter_names_are_searched():
    text = ("---\ntitle: Graph notes\ntags: [ml, graphs]\naliases: [GN, Graph memo]\n---\nIntro line here.\n\n"
            "## Method\nWe walk the edges.\n\n## Results\nIt worked on three graphs.\n")
    note = parse_markdown(text, "/n/g.md")
    assert [(s.title, note.text[s.content:s.content + 5]) for s in note.sections] == [
        ("Method", "We wa"), ("Results", "It wo")]
    assert quotable_sentences(note) == ["Intro line here.", "We walk the edges.", "It worked on three graphs."]
    assert note_heading(note) == "Graph notes\nalso called: GN; Graph memo\ntags: ml, graphs"
    chunks = segment_note(note, words).chunks
    assert [c.section for c in chunks] == ["", "Method", "Results"]
    assert all(embedding_text(c).startswith(note_heading(note) + "\n") for c in chunks)
    assert chunk_heading(note, note.sections[1].content) == note_heading(note) + "\nResults"


def test_an_alias_names_a_note_for_links():
    memo = parse_markdown("---\naliases: [Graph memo of the year]\n---\n# Graph notes\nEdges.\n", "/n/g.md")
    other = parse_markdown("# Other\nSee the Graph memo of the year for details.\n", "/n/o.md")
    notes = {n.title: n for n in resolve_links(build_notes([ParsedFile("/n/g.md", [memo]),
                                                            ParsedFile("/n/o.md", [other])]))}
    assert notes["Other"].links == [notes["Graph notes"].id]
