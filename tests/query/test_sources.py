"""Following citations to their sources: a quoted passage that names a note brings that note's
own words, and a page's word-for-word copy of a note is quoted from the note itself."""

from __future__ import annotations

import dataclasses

import pytest

from bot.query.answer import answer_question, respond
from bot.query.params import DEFAULT_ANSWER_PARAMS
from bot.query.sources import named_in
from bot.service import Bot
from bot.settings import Settings

pytestmark = pytest.mark.integration

ORIGINAL = """---
title: Does warmth training hurt factual reliability?
---
Five models trained for warmth showed 5 to 9 point error increases on medical reasoning and factual accuracy.
Emotional context amplified the errors further.
"""

# A reading list that names the note and repeats its summary word for word, the way a seed
# page's "Sources N notes" list repeats each source's summary.
READING_LIST = """---
title: A reading list on empathy and reliability
---
Warm models are a recurring theme of this list.

Sources

Does warmth training hurt factual reliability?

Five models trained for warmth showed 5 to 9 point error increases on medical reasoning and factual accuracy.
"""

ESSAY = """---
title: Why warm assistants make more mistakes
---
The reliability cost of warmth is measurable: models tuned to sound caring get facts wrong more often, and the
gap widens when the user is upset Does warmth training hurt factual reliability?. Nobody has yet shown a
training recipe that avoids it.

Gardening is another matter entirely, and so is the weather in spring.
"""


@pytest.fixture(scope="module")
def small_index(tmp_path_factory, embedder):
    notes = tmp_path_factory.mktemp("copies") / "notes"
    notes.mkdir()
    (notes / "original.md").write_text(ORIGINAL, encoding="utf-8")
    (notes / "list.md").write_text(READING_LIST, encoding="utf-8")
    (notes / "essay.md").write_text(ESSAY, encoding="utf-8")
    settings = Settings(data_dir=tmp_path_factory.mktemp("copies-data"), notes_dir=str(notes))
    index = Bot.open(settings, progress=False, embedder=embedder).index
    yield index
    index.close()


def without_following():
    return dataclasses.replace(DEFAULT_ANSWER_PARAMS, follow_sources=False)


def test_links_name_the_original(small_index):
    snapshot = small_index.snapshot
    original = "does-warmth-training-hurt-factual-reliability"
    for note_id in ("a-reading-list-on-empathy-and-reliability", "why-warm-assistants-make-more-mistakes"):
        note = snapshot.note(note_id)
        assert original in note.links
        assert original in named_in(note, 0, len(note.text))
    assert named_in(snapshot.note(original), 0, len(snapshot.note(original).text)) == []


def test_a_copy_is_quoted_from_its_original(small_index):
    question = "How large were the error increases in the five models trained for warmth?"
    before = respond(small_index, question, params=without_following()).answer
    after = answer_question(small_index, question)
    copy = "a-reading-list-on-empathy-and-reliability"
    original = "does-warmth-training-hurt-factual-reliability"
    summary = "Five models trained for warmth showed 5 to 9 point error increases"
    assert any(c.note_id == copy and summary in c.quote for c in before.citations), before.answer
    assert not any(c.note_id == copy and summary in c.quote for c in after.citations), after.answer
    assert any(c.note_id == original and summary in c.quote for c in after.citations), after.answer
    for citation in after.citations:  # still verbatim, and one number per note
        assert small_index.snapshot.note(citation.note_id).text[citation.start:citation.end] == citation.quote
    assert len({c.n for c in after.citations}) == len({c.note_id for c in after.citations})


def test_an_essay_quote_brings_the_note_it_cites(small_index):
    """The essay answers best and names the note inline; the note itself, which also answers,
    moves up beside the essay (without following it came third, after the reading list)."""
    question = "Is a training recipe known that avoids the reliability cost of warmth?"
    essay, original = "why-warm-assistants-make-more-mistakes", "does-warmth-training-hurt-factual-reliability"

    def numbers(answer):
        return {c.note_id: c.n for c in reversed(answer.citations)}

    before = numbers(respond(small_index, question, params=without_following()).answer)
    after = numbers(answer_question(small_index, question))
    assert before[essay] == 1 and before[original] == 3, before
    assert after[essay] == 1 and after[original] == 2, after


def test_sources_follow_the_filters(small_index):
    question = "Do models tuned to sound caring get facts wrong more often?"
    only = {"note_ids": ["why-warm-assistants-make-more-mistakes"]}
    answer = answer_question(small_index, question, filters=only)
    assert {c.note_id for c in answer.citations} == {"why-warm-assistants-make-more-mistakes"}
