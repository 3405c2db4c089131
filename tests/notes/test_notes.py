"""The parser, on the real seed pages."""

from __future__ import annotations

from collections import Counter

import pytest

from bot.errors import NoteFormatError
from bot.notes.formats._parsed import ParsedFile
from bot.notes.collection import build_notes, slugify
from bot.notes.formats.seed import inline_title_candidates
from bot.notes.formats import parse_file
from bot.notes.formats.markdown import parse_markdown
from bot.notes.links import resolve_links

from ..conftest import SEEDS

PAGE_000 = "000_13d96628cd244b35.txt"
PAGE_001 = "001_bae4b2363521288b.txt"
PAGE_004 = "004_aaf3fd2841cda9ab.txt"


def parse_seeds():
    files = [parse_file(p.read_text(encoding="utf-8"), str(p)) for p in sorted(SEEDS.iterdir())]
    return resolve_links(build_notes(files))


@pytest.fixture(scope="module")
def notes():
    return {note.id: note for note in parse_seeds()}


def by_file(notes, name):
    return next(n for n in notes.values() if n.source_path.endswith(name) and n.kind != "source")


def test_kinds_and_counts(notes):
    kinds = Counter(note.kind for note in notes.values())
    # 000 (no header, but a Sources section), 002, 003, 004 are inquiries; 001 is a note;
    # every distinct Sources entry without a page of its own is a source note.
    assert kinds == {"inquiry": 4, "note": 1, "source": 20}


def test_titles(notes):
    assert by_file(notes, PAGE_000).title == (
        "Do extended thinking blocks access latent empathetic capabilities in models?"
    )
    assert by_file(notes, PAGE_001).title == "Do reasoning scaffolds reshape which empathy skills models develop?"
    assert by_file(notes, PAGE_004).title == "Why does effective empathy require deep character knowledge of the person?"


def test_inquiry_000_cites_seven_notes_inline_in_order(notes):
    page = by_file(notes, PAGE_000)
    assert len(page.sources) == 7
    assert len(page.links) == 7
    assert page.links[0] == "do-reasoning-scaffolds-reshape-which-empathy-skills-models-develop"
    # the summaries are paired with the inline citations in order
    extended = notes["does-extended-thinking-help-or-hurt-model-reasoning"]
    assert extended.kind == "source"
    assert extended.text.startswith("Vanilla models use thinking mode counterproductively")
    assert notes["do-large-language-models-genuinely-simulate-mental-states"].text.startswith("ChangeMyView")


def test_link_spans_point_at_titles(notes):
    for note in notes.values():
        for span in note.link_spans:
            assert note.text[span.start:span.end] == notes[span.note_id].title


def test_one_title_is_one_note(notes):
    titles = [note.title for note in notes.values()]
    assert len(titles) == len(set(titles))
    # listed as a source on four pages, it is one note; its page wins over the list entry
    page = notes["do-reasoning-scaffolds-reshape-which-empathy-skills-models-develop"]
    assert page.kind == "note"
    cited_by = [n.id for n in notes.values() if page.id in n.links]
    assert len(cited_by) == 2


def test_sections_stay_out_of_the_body(notes):
    for note in notes.values():
        body = note.text[: note.body_end()]
        for marker in ("Sources ", "Related concepts in this collection", "Click a node to walk",
                       "expand ↓", "Research prompt for your LLM", "Next inquiring lines",
                       "Original note title", "Related papers in this collection"):
            assert marker not in body, (note.id, marker)
    page4 = by_file(notes, PAGE_004)
    assert page4.research_prompt.startswith("Copy into ChatGPT or Claude")
    assert "arXiv:2507.21919" in page4.research_prompt


def test_note_page_structured_fields(notes):
    page = by_file(notes, PAGE_001)
    assert page.kind == "note"
    assert page.description.startswith("When language models receive identical empathy rewards")
    assert page.inquiring_lines[2] == "Do extended thinking blocks access latent empathetic capabilities in models?"
    assert len(page.inquiring_lines) == 5
    assert [c.title for c in page.related_concepts] == [
        "Does RL teach reasoning or just when to use it?",
        "When does explicit reasoning actually help model performance?",
        "Why do reasoning models struggle with theory of mind tasks?",
    ]
    assert page.related_concepts[0].relation.startswith("parallel mechanism")
    assert len(page.related_papers) == 8
    assert page.aliases[0].startswith("Thinking and non-thinking models develop distinct empathy profiles")
    assert "<think>...</think>blocks" in page.text
    # related concepts with no page of their own are not notes, so not links; the inquiring lines
    # that use it name two pages (000, 002), shown as links, but it doesn't cite them
    assert page.links == []
    mentioned = {span.note_id for span in page.link_spans}
    assert mentioned == {"do-extended-thinking-blocks-access-latent-empathetic-capabilities-in-models",
                         "can-pretrained-priors-set-exploration-ceilings-for-empathetic-capability"}
    assert all(page.section_at(span.start).name == "inquiring_lines" for span in page.link_spans)


def test_description_is_the_start_of_text(notes):
    for note in notes.values():
        assert note.text.startswith(note.description[:40])


def test_text_is_verbatim_from_the_file():
    for path in sorted(SEEDS.iterdir()):
        raw = path.read_text(encoding="utf-8")
        note = parse_file(raw, str(path)).notes[0]
        assert note.text in raw


def test_inline_titles_mid_sentence_and_in_a_row():
    text = ("it parallels Does RL teach reasoning or just when to use it? — the scaffold. "
            "worse when sad Does empathy training make AI systems less reliable? "
            "Does warmth training make language models less reliable?. The fix")
    assert inline_title_candidates(text) == [
        "Does RL teach reasoning or just when to use it?",
        "Does empathy training make AI systems less reliable?",
        "Does warmth training make language models less reliable?",
    ]


def test_ids_are_url_safe_slugs(notes):
    for note_id in notes:
        assert note_id == slugify(note_id)


def test_slug_clash_gets_a_suffix_from_the_path_not_the_order():
    a = parse_markdown("# What is X?\nbody one", "/n/a.md")
    b = parse_markdown("# What is X!\nbody two", "/n/b.md")
    first = build_notes([ParsedFile("/n/a.md", [a]), ParsedFile("/n/b.md", [b])])
    second = build_notes([ParsedFile("/n/b.md", [b]), ParsedFile("/n/a.md", [a])])
    assert {n.id for n in first} == {n.id for n in second}
    assert len({n.id for n in first}) == 2
    assert all(n.id.startswith("what-is-x-") for n in first)


def test_jsonl_lines_keep_their_ids_and_never_merge():
    text = "\n".join([
        '{"_id": "1", "title": "Summary", "text": "First."}',
        '{"_id": "2", "title": "Summary", "text": "Second."}',
        "not json",
        '{"_id": "3", "title": "No text"}',
    ])
    parsed = parse_file(text, "/c/corpus.jsonl")
    notes = build_notes([parsed])
    assert [n.id for n in notes] == ["1", "2"]
    assert len(parsed.warnings) == 2
    assert "line 3" in parsed.warnings[0]


def test_markdown_front_matter_headings_and_wikilinks():
    text = "---\ntitle: Graph notes\ntags: [ml, graphs]\naliases: GN\n---\n# Ignored H1?\n\n## Part\nSee [[Other note|that one]] and [[Third]].\n"
    note = parse_markdown(text, "/n/g.md")
    assert note.title == "Graph notes"
    assert note.tags == ["ml", "graphs"]
    assert note.aliases == ["GN"]
    assert [s.title for s in note.sections] == ["Ignored H1?", "Part"]
    assert note.wikilinks == ["Other note", "Third"]
    other = parse_markdown("# Other note\nText.", "/n/o.md")
    notes = resolve_links(build_notes([ParsedFile("/n/g.md", [note]), ParsedFile("/n/o.md", [other])]))
    graph = next(n for n in notes if n.title == "Graph notes")
    assert graph.links == ["other-note"]


def test_markdown_title_from_h1_is_not_in_the_text():
    note = parse_markdown("# A title\n\nThe body.", "/n/x.md")
    assert note.title == "A title"
    assert note.text == "The body."


@pytest.mark.parametrize("text, reason", [
    ("---\ntitle: [unclosed\n---\nbody", "malformed YAML"),
    ("---\n- a\n- b\n---\nbody", "not a mapping"),
    ("---\ntitle: x\nbody without end", "never closes"),
])
def test_malformed_front_matter(text, reason):
    with pytest.raises(NoteFormatError, match=reason):
        parse_markdown(text, "/n/bad.md")


def test_plain_text_note():
    parsed = parse_file("My title\n\nFirst paragraph. Second sentence.\n", "/n/plain.txt")
    note = parsed.notes[0]
    assert note.title == "My title"
    assert note.text == "First paragraph. Second sentence."


def test_content_hash_ignores_links(notes):
    from bot.notes.collection import content_hash

    note = next(iter(notes.values()))
    assert content_hash(note) == content_hash(note.model_copy(update={"links": ["x"]}))
    assert content_hash(note) != content_hash(note.model_copy(update={"text": note.text + "!"}))
