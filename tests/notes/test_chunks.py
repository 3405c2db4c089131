"""Chunking: whole sentences, within the window, with overlap, offsets into the text."""

from __future__ import annotations

import pytest

from bot.notes.chunks import embedding_text, segment_note
from bot.models import Note, Section
from bot.notes.collection import build_notes
from bot.notes.formats import parse_file

from ..conftest import SEEDS


def words(texts):
    return [len(t.split()) for t in texts]


@pytest.fixture(scope="module")
def seed_notes():
    files = [parse_file(p.read_text(), str(p)) for p in sorted(SEEDS.iterdir())]
    return build_notes(files)


def test_chunks_are_exact_spans_of_whole_sentences(seed_notes, embedder):
    for note in seed_notes:
        segments = segment_note(note, embedder.count_tokens, chunk_tokens=200, overlap_tokens=30)
        starts = {s for s, _ in segments.sentences}
        ends = {e for _, e in segments.sentences}
        assert segments.chunks, note.id
        for chunk in segments.chunks:
            assert note.text[chunk.start:chunk.end] == chunk.text
            assert chunk.start in starts and chunk.end in ends
            assert chunk.note_id == note.id


def test_title_plus_chunk_fits_the_window(seed_notes, embedder):
    for note in seed_notes:
        for chunk in segment_note(note, embedder.count_tokens, chunk_tokens=200, overlap_tokens=30).chunks:
            assert embedder.count_tokens([embedding_text(chunk)])[0] + 2 <= 256


def test_consecutive_chunks_overlap_a_little(seed_notes, embedder):
    longest = max(seed_notes, key=lambda n: len(n.text))
    chunks = segment_note(longest, embedder.count_tokens, chunk_tokens=120, overlap_tokens=40).chunks
    assert len(chunks) > 3
    overlaps = [a.end > b.start for a, b in zip(chunks, chunks[1:])]
    assert any(overlaps)
    assert all(b.start > a.start for a, b in zip(chunks, chunks[1:]))


def test_every_quotable_sentence_is_in_some_chunk(seed_notes, embedder):
    for note in seed_notes:
        segments = segment_note(note, embedder.count_tokens, chunk_tokens=100, overlap_tokens=0)
        for (s, e), quotable in zip(segments.sentences, segments.quotable):
            if quotable:
                assert any(c.start <= s and e <= c.end for c in segments.chunks)
        # a chunk with nothing to quote (an empty trailing section) is left out
        for chunk in segments.chunks:
            assert any(q for (s, e), q in zip(segments.sentences, segments.quotable)
                       if chunk.start <= s and e <= chunk.end)


def test_a_chunk_never_crosses_a_section():
    text = "## One\nAlpha beta gamma. Delta.\n\n## Two\nEpsilon zeta. Eta theta."
    note = Note(id="n", title="T", text=text,
                sections=[Section(title="One", start=0), Section(title="Two", start=text.index("## Two"))])
    chunks = segment_note(note, words, chunk_tokens=200, overlap_tokens=10).chunks
    assert [c.section for c in chunks] == ["One", "Two"]
    headings = segment_note(note, words, chunk_tokens=200, overlap_tokens=10)
    assert headings.quotable[0] is False  # a heading is never quoted


def test_an_overlong_sentence_is_split_at_clauses():
    sentence = ", ".join(f"clause number {i} goes here" for i in range(80)) + "."
    note = Note(id="n", title="T", text=sentence)
    segments = segment_note(note, words, chunk_tokens=50, overlap_tokens=0)
    assert len(segments.chunks) > 1
    assert all(len(c.text.split()) <= 60 for c in segments.chunks)
    assert "".join(c.text for c in segments.chunks).replace(" ", "") == sentence.replace(" ", "")
