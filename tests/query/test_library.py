"""bot.library: the read-only facade over the served snapshot, on a real index of the seeds."""

from __future__ import annotations

import pytest

from ..web.web_helpers import HOSTILE_NOTE, HOSTILE_TITLE, THINK_NOTE, web_collection, web_runtime, web_settings  # noqa: F401

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def library(web_runtime):  # noqa: F811
    return web_runtime.library


def test_a_note_by_id_and_an_unknown_id(library):
    note = library.note(THINK_NOTE)
    assert note.title == "Do reasoning scaffolds reshape which empathy skills models develop?"
    assert "<think>...</think>" in note.text
    assert library.note("../../etc/passwd") is None
    assert library.page("no-such-note") is None


def test_kinds_and_tags_count_the_collection(library):
    kinds = library.kinds()
    assert kinds == {"note": 3, "inquiry": 4, "source": 20}
    assert library.tags() == {"empathy": 1, "benchmarks": 1, "security": 1}


def test_find_filters_by_kind_and_tag(library):
    inquiries = library.find(kind="inquiry")
    assert len(inquiries) == 4 and {n.kind for n in inquiries} == {"inquiry"}
    tagged = library.find(tag="benchmarks")
    assert [n.title for n in tagged] == ["Field notes on empathy benchmarks"]
    assert library.find(kind="source", tag="benchmarks") == []


def test_search_puts_the_note_named_by_the_query_first(library):
    found = library.find(query="warmth training less reliable")
    assert found[0].id == "does-warmth-training-make-language-models-less-reliable"
    assert all(n.score and n.score > 0 for n in found)
    assert [n.score for n in found] == sorted((n.score for n in found), reverse=True)


def test_search_matches_words_in_the_text_not_only_titles(library):
    found = [n.id for n in library.find(query="emotional accuracy")]
    assert found[0] == "field-notes-on-empathy-benchmarks"


def test_search_with_only_stop_words_falls_back_to_literal_text(library):
    found = library.find(query="<think>")
    assert THINK_NOTE in [n.id for n in found]


def test_backlinks_list_inquiries_that_cite_a_note(library):
    cited_by = library.cited_by(THINK_NOTE)
    assert cited_by, "two inquiring lines cite this note inline"
    assert {n.kind for n in cited_by} == {"inquiry"}
    for summary in cited_by:
        assert THINK_NOTE in library.note(summary.id).links


def test_a_source_page_shows_every_inquiry_citing_it(library):
    page = library.page("does-empathy-training-make-ai-systems-less-reliable")
    assert page.note.kind == "source"
    citing = {n.id for n in page.cited_by}
    expected = {n.id for n in library.find(kind="inquiry")
                if "does-empathy-training-make-ai-systems-less-reliable" in library.note(n.id).links}
    assert citing == expected and len(citing) >= 2


def test_an_inquiry_page_resolves_its_sources_to_notes(library):
    inquiry = library.find(kind="inquiry")[0]
    page = library.page(inquiry.id)
    assert page.sources and all(s.note_id for s in page.sources)
    assert all(library.note(s.note_id).title == s.title for s in page.sources)


def test_related_concepts_and_papers_are_kept_with_their_titles(library):
    page = library.page(THINK_NOTE)
    assert [c.title for c in page.related_concepts][0] == "Does RL teach reasoning or just when to use it?"
    assert page.related_concepts[0].relation.startswith("parallel mechanism")
    assert len(page.related_papers) == 8
    # inquiring lines that exist in this collection link to them; the others stay plain titles
    linked = {r.title: r.note_id for r in page.inquiring_lines}
    assert linked["Do extended thinking blocks access latent empathetic capabilities in models?"] == \
        "do-extended-thinking-blocks-access-latent-empathetic-capabilities-in-models"
    assert linked["Is natural empathy primarily about curiosity or emotional regulation?"] is None


def test_similar_notes_are_nearest_by_embedding_and_never_the_note_itself(library, web_runtime):  # noqa: F811
    import numpy as np

    similar = library.similar(THINK_NOTE, 5)
    assert len(similar) == 5 and THINK_NOTE not in [n.id for n in similar]
    scores = [n.score for n in similar]
    assert scores == sorted(scores, reverse=True)
    snapshot = web_runtime.bot.snapshot
    row = snapshot.by_id[THINK_NOTE]
    sims = snapshot.note_vectors @ snapshot.note_vectors[row]
    sims[row] = -1
    assert similar[0].id == snapshot.notes[int(np.argmax(sims))].id


def test_example_questions_are_the_inquiring_lines_first(library):
    examples = library.example_questions(6)
    inquiries = {n.title for n in library.find(kind="inquiry")}
    assert set(examples[:4]) == inquiries
    assert all(q.endswith("?") for q in examples)


def test_titles_resolve_to_ids_including_hostile_ones(library):
    assert library.resolve_title(HOSTILE_TITLE) == HOSTILE_NOTE
    assert library.resolve_title("Not a title in this collection") is None


def test_stats(library):
    stats = library.stats()
    assert stats["notes"] == 27 and stats["chunks"] >= 27 and stats["version"] >= 1


def test_lists_and_searches_use_tables_built_once_per_snapshot(library, web_runtime):  # noqa: F811
    """The lower-cased titles and texts, kinds, tags and list order are derived once per snapshot
    (not per request), and give what scanning every note would."""
    from bot.query.library import KIND_ORDER

    snapshot = web_runtime.bot.snapshot
    first = library._lookups(snapshot)
    library.find(query="warmth")
    library.find(kind="note", tag="empathy")
    assert library._lookups(snapshot) is first  # reused, not rebuilt
    notes = snapshot.notes
    expected = sorted(notes, key=lambda n: (KIND_ORDER.get(n.kind, 9), n.title.lower()))
    assert [n.id for n in library.find()] == [n.id for n in expected]
    assert [n.id for n in library.find(kind="source")] == [n.id for n in expected if n.kind == "source"]
    assert snapshot.catalog.search_texts[0] == f"{notes[0].text.lower()}\0{notes[0].description.lower()}"
    assert snapshot.catalog.search_titles[3] == notes[3].title.lower()
    literal = [n.id for n in library.find(query="Emotional Accuracy")]  # case is ignored, as before
    assert literal[0] == "field-notes-on-empathy-benchmarks"
    assert library.find(query="\0") == []  # the separator never matches across text and description
