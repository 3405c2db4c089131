"""Sentence and paragraph spans."""

from __future__ import annotations

from bot.notes.formats import parse_file
from bot.notes.sentences import paragraph_spans, split_sentences

from ..conftest import SEEDS


def texts(text, spans):
    return [text[s:e] for s, e in spans]


def test_known_title_inside_prose_is_not_a_sentence_end():
    title = "Does RL teach reasoning or just when to use it?"
    text = f"First, it parallels {title} — the thinking scaffold provides a mechanism. The capability was latent."
    assert texts(text, split_sentences(text, [title])) == [
        f"First, it parallels {title} — the thinking scaffold provides a mechanism.",
        "The capability was latent.",
    ]


def test_title_then_period_ends_the_sentence_after_the_period():
    title = "Do reasoning scaffolds reshape which empathy skills models develop?"
    text = f"problem-solving instead {title}. Same signal, same data."
    assert texts(text, split_sentences(text, [title])) == [
        f"problem-solving instead {title}.", "Same signal, same data."]


def test_two_titles_in_a_row_stay_in_one_sentence():
    a = "Does empathy training make AI systems less reliable?"
    b = "Does warmth training make language models less reliable?"
    text = f"Errors get worse when a user is sad {a} {b}. The fix tracks it."
    assert len(split_sentences(text, [a, b])) == 2


def test_unprotected_question_does_end_a_sentence():
    text = "Why does this matter? Because it does."
    assert texts(text, split_sentences(text)) == ["Why does this matter?", "Because it does."]


def test_abbreviations_and_initials():
    text = "Models (e.g. GPT-4) fail, cf. Fig. 2. J. Smith et al. agree. Done."
    assert texts(text, split_sentences(text)) == ["Models (e.g. GPT-4) fail, cf. Fig. 2.", "J. Smith et al. agree.", "Done."]


def test_paragraphs_single_newline_and_blank_line_styles():
    assert len(paragraph_spans("one\ntwo\nthree")) == 3
    wrapped = "a wrapped\nparagraph here\n\nsecond one\n- a list item\n- another"
    assert texts(wrapped, paragraph_spans(wrapped)) == [
        "a wrapped\nparagraph here", "second one", "- a list item", "- another"]


def test_spans_cover_all_text_of_every_seed_page():
    for path in sorted(SEEDS.iterdir()):
        note = parse_file(path.read_text(), str(path)).notes[0]
        spans = split_sentences(note.text, note.own_titles())
        joined = "".join(note.text[s:e] for s, e in spans)
        assert "".join(joined.split()) == "".join(note.text.split())
        assert all(note.text[s:e].strip() == note.text[s:e] and e > s for s, e in spans)
        assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:]))


def test_seed_000_citations_end_sentences_with_their_period():
    path = SEEDS / "000_13d96628cd244b35.txt"
    note = parse_file(path.read_text(), str(path)).notes[0]
    sentences = texts(note.text, split_sentences(note.text, note.own_titles()))
    assert "The models with reasoning scaffolds developed empathy and insight; the models without them developed " \
        "action-oriented problem-solving instead Do reasoning scaffolds reshape which empathy skills models develop?." in sentences
    assert "Same signal, same data — the scaffold decided which capability grew." in sentences
