"""Following citations to their sources: a quoted passage that names a note brings that note's
own words, and a page's word-for-word copy of a note is quoted from the note itself."""

from __future__ import annotations

import dataclasses

import pytest

from bot.query.answer import answer_question
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
    after = answer_question(small_index, question)
    copy = "a-reading-list-on-empathy-and-reliability"
    original = "does-warmth-training-hurt-factual-reliability"
    summary = "Five models trained for warmth showed 5 to 9 point error increases"
    assert not any(c.note_id == copy and summary in c.quote for c in after.citations), after.answer
    assert any(c.note_id == original and summary in c.quote for c in after.citations), after.answer
    for citation in after.citations:  # still verbatim, and one number per note
        assert small_index.snapshot.note(citation.note_id).text[citation.start:citation.end] == citation.quote
    assert len({c.n for c in after.citations}) == len({c.note_id for c in after.citations})


def test_an_essay_quote_brings_the_note_it_cites(small_index):
    """The essay answers best and names the note inline; the note itself also answers, so it is
    quoted first or right beside the essay."""
    question = "Is a training recipe known that avoids the reliability cost of warmth?"
    essay, original = "why-warm-assistants-make-more-mistakes", "does-warmth-training-hurt-factual-reliability"
    answer = answer_question(small_index, question)
    numbers = {c.note_id: c.n for c in reversed(answer.citations)}
    assert essay in numbers and original in numbers, answer.answer
    assert numbers[original] == 1 or abs(numbers[original] - numbers[essay]) == 1


def _evidence(snapshot, note_id, start, end, score):
    from bot.query.evidence import Evidence
    from bot.query.quotes import Quote
    from bot.query.retrieval import NoteHit

    hit = NoteHit(row=snapshot.by_id[note_id], note_id=note_id, score=score)
    return Evidence(hit=hit, quotes=[Quote(start=start, end=end, score=score, similarity=score)], score=score)


def test_a_follow_up_whose_only_passage_copies_a_shown_original_says_nothing_new(small_index):
    """The reading list's copy of the summary is the only passage, and the original was quoted
    before: the answer says nothing new and links what was quoted (not "No notes address this:"
    over an empty list of sources)."""
    from bot.query.compose import NOTHING_NEW, compose_answer

    snapshot = small_index.snapshot
    copy, original = "a-reading-list-on-empathy-and-reliability", "does-warmth-training-hurt-factual-reliability"
    summary = "Five models trained for warmth showed 5 to 9 point error increases"
    at = snapshot.note(copy).text.index(summary)
    end = snapshot.note(copy).text.index("accuracy.", at) + len("accuracy.")
    shown_at = snapshot.note(original).text.index(summary)
    evidence = [_evidence(snapshot, copy, at, end, 0.9)]
    answer = compose_answer("and how large were they?", snapshot, [evidence[0].hit], evidence, 0.4,
                            shown={original: [(shown_at, shown_at + len(summary))]})
    assert answer.answer.startswith(NOTHING_NEW) and not answer.citations and not answer.abstained, answer.answer
    assert [s.note_id for s in answer.suggestions] == [original]


def test_place_cited_moves_adds_and_keeps_the_answer_short(small_index):
    from bot.query.compose import shown_quotes
    from bot.query.sources import place_cited

    snapshot = small_index.snapshot
    essay, listing = snapshot.note("why-warm-assistants-make-more-mistakes"), "a-reading-list-on-empathy-and-reliability"
    original = "does-warmth-training-hurt-factual-reliability"
    mention = essay.text.index("Does warmth training")
    citing = _evidence(snapshot, essay.id, 0, essay.text.index(". Nobody") + 1, 0.9)
    gardening = essay.text.index("Gardening")
    other = _evidence(snapshot, listing, 0, 10, 0.8)
    source = _evidence(snapshot, original, 0, 20, 0.6)
    assert citing.quotes[0].start <= mention < citing.quotes[0].end

    def ids(chosen):
        return [e.hit.note_id for e in chosen]

    # chosen further down: moved up beside the passage citing it
    assert ids(place_cited([citing, other, source], {original: source}, snapshot, 0.43, shown_quotes)) == [
        essay.id, original, listing]
    # not chosen: added beside it, and the last note gives way when the answer is full
    assert ids(place_cited([citing, other], {original: source}, snapshot, 0.43, shown_quotes, max_notes=2)) == [
        essay.id, original]
    assert ids(place_cited([citing, other], {original: source}, snapshot, 0.43, shown_quotes, limit=0)) == [
        essay.id, listing]
    # a note that does not answer on its own words (under the bar) is not followed
    assert ids(place_cited([citing, other], {original: source}, snapshot, 0.7, shown_quotes)) == [essay.id, listing]
    # a passage that names nothing brings nothing
    plain = _evidence(snapshot, essay.id, gardening, len(essay.text), 0.9)
    assert ids(place_cited([plain, other], {original: source}, snapshot, 0.43, shown_quotes)) == [essay.id, listing]


def test_sources_follow_the_filters(small_index):
    question = "Do models tuned to sound caring get facts wrong more often?"
    only = {"note_ids": ["why-warm-assistants-make-more-mistakes"]}
    answer = answer_question(small_index, question, filters=only)
    assert {c.note_id for c in answer.citations} == {"why-warm-assistants-make-more-mistakes"}
