"""What the store keeps per note and chunk: record keys, liveness, and the sentence codec."""

from __future__ import annotations

import numpy as np
import pytest

from bot.index.records import FOREVER, NoteRecordInfo, key_note_id, note_key, pack_sentences, unpack_sentences


def test_a_note_key_names_the_note_its_content_and_its_first_version():
    key = note_key("warmth", "ab12cd34" * 8, 3)
    assert key == "warmth@ab12cd34ab12cd34.3"
    assert key_note_id(key) == "warmth"


def test_a_note_id_with_an_at_sign_survives_the_round_trip():
    # .jsonl ids are the user's own: an email address as an id must come back whole
    key = note_key("ada@example.org", "f" * 64, 12)
    assert key_note_id(key) == "ada@example.org"


@pytest.mark.parametrize("version, live", [(2, False), (3, True), (6, True), (7, False)])
def test_a_record_is_live_from_its_first_version_until_the_one_that_replaced_it(version, live):
    info = NoteRecordInfo(key="k", note_id="n", content_hash="h", title="T", kind="note", path="p",
                          live_from=3, live_until=7)
    assert info.live_at(version) is live


def test_a_record_nothing_replaced_stays_live():
    info = NoteRecordInfo(key="k", note_id="n", content_hash="h", title="T", kind="note", path="p",
                          live_from=1, live_until=FOREVER)
    assert info.live_at(10**12)


def test_sentences_round_trip_offsets_quotability_and_float16_vectors():
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(3, 384)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    spans = [(0, 42), (43, 90), (91, 200)]
    meta = pack_sentences(spans, [True, False, True], vectors)
    assert set(meta) == {"sentences", "sentence_vectors"}
    assert all(isinstance(value, str) for value in meta.values())  # Chroma metadata holds scalars only
    got_spans, got_vectors = unpack_sentences(meta, 384)
    assert got_spans == [(0, 42, True), (43, 90, False), (91, 200, True)]
    assert got_vectors.dtype == np.float16 and got_vectors.shape == (3, 384)
    assert np.array_equal(got_vectors, vectors.astype(np.float16))  # exact: float16 is what is stored
    assert np.abs(got_vectors.astype(np.float32) - vectors).max() < 1e-3


def test_a_chunk_without_sentences_unpacks_to_nothing_of_the_right_width():
    spans, vectors = unpack_sentences(pack_sentences([], [], np.zeros((0, 8), np.float32)), 8)
    assert spans == [] and vectors.shape == (0, 8)
    spans, vectors = unpack_sentences({}, 8)  # a record written without the fields
    assert spans == [] and vectors.shape == (0, 8)
