"""Markdown notes end to end: every heading section is quotable, front-matter aliases and tags are
searchable, and a note is named by any of its titles."""

from __future__ import annotations

import numpy as np
import pytest

from bot.query.answer import answer_question
from bot.query.retrieval import title_matches
from bot.query.search import search_notes
from bot.service import Bot
from bot.settings import Settings

pytestmark = pytest.mark.integration

WALKS = """---
title: Graph walks over citation networks
aliases: [Random-walk memo]
tags: [spectral-clustering]
---
We looked at how papers cite each other.

## Method
We walk the edges of a citation graph from each paper, a thousand steps a walk.

## Results
The walks found three clusters of papers that cite each other far more than chance.
"""
BREAD = """# Sourdough notes

A starter needs feeding twice a day. Warm kitchens make the dough rise faster.
"""


@pytest.fixture(scope="module")
def index(tmp_path_factory, embedder):
    notes = tmp_path_factory.mktemp("md-notes")
    (notes / "walks.md").write_text(WALKS, encoding="utf-8")
    (notes / "bread.md").write_text(BREAD, encoding="utf-8")
    settings = Settings(data_dir=tmp_path_factory.mktemp("md-data"), notes_dir=str(notes))
    bot = Bot.open(settings, progress=False, embedder=embedder)
    yield bot.index
    bot.close()


def test_a_heading_section_is_quoted_but_never_its_heading(index):
    answer = answer_question(index, "How many clusters of papers that cite each other did the walks find?")
    first = answer.citations[0]
    assert first.note_id == "graph-walks-over-citation-networks"
    assert "three clusters" in first.quote and "## Results" not in first.quote


def test_an_alias_names_the_note(index):
    answer = answer_question(index, "What does the random-walk memo say?")
    assert answer.citations and answer.citations[0].note_id == "graph-walks-over-citation-networks"
    snapshot = index.snapshot
    rows = np.arange(len(snapshot.notes))
    matches = dict(zip((n.id for n in snapshot.notes), title_matches(snapshot, rows, "Random-walk memo")))
    assert matches == {"graph-walks-over-citation-networks": 1.0, "sourdough-notes": 0.0}
    lexical_rows, _ = snapshot.lexical.search("memo", 5)  # "memo" is in the alias only
    assert {snapshot.notes[snapshot.chunk_note[r]].id for r in lexical_rows} == {"graph-walks-over-citation-networks"}


def test_a_tag_is_searched(index):
    """A tag is searched (the note's text never says it, so there is nothing to quote about it)."""
    assert search_notes(index, "spectral clustering", k=2)[0].note.id == "graph-walks-over-citation-networks"
    answer = answer_question(index, "spectral clustering")
    nearest = answer.citations[0].note_id if answer.citations else answer.suggestions[0].note_id
    assert nearest == "graph-walks-over-citation-networks"
    lexical_rows, _ = index.snapshot.lexical.search("spectral clustering", 5)
    notes = {index.snapshot.notes[index.snapshot.chunk_note[r]].id for r in lexical_rows}
    assert notes == {"graph-walks-over-citation-networks"}  # only the heading holds the tag's words
