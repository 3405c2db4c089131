"""The column stores a snapshot's notes live in (`columns.py`, `catalog.py`): what they give
back is what the Python lists and dicts they replace gave, mapped or read in."""

from __future__ import annotations

import mmap

import numpy as np
import pytest

from bot.index.catalog import Catalog
from bot.index.columns import Backlinks, KeyIndex, NoteTable, Strings
from bot.models import Note

WORDS = ["tides", "", "Ünïcode ☂", "sleep", "ab", "ba", "a\ud800b"]  # empty, non-ASCII, a lone surrogate


@pytest.mark.parametrize("shared", [True, False])
def test_strings_round_trip_mapped_or_read_in(tmp_path, shared):
    Strings.build(WORDS).save(tmp_path, "words")
    strings = Strings.load(tmp_path, "words", shared=shared)
    assert isinstance(strings.blob, mmap.mmap) is shared
    assert list(strings) == WORDS and strings == WORDS and len(strings) == len(WORDS)
    assert strings[2] == WORDS[2] and strings[-1] == WORDS[-1] and strings[1:3] == WORDS[1:3]
    with pytest.raises(IndexError):
        strings[len(WORDS)]


def test_an_empty_column_loads(tmp_path):
    Strings.build([]).save(tmp_path, "none")
    assert list(Strings.load(tmp_path, "none")) == [] and not Strings.load(tmp_path, "none")


def test_a_substring_is_found_inside_an_item_never_across_two():
    strings = Strings.build(["ab", "ba", "xaby", "b"])
    assert strings.rows_containing(b"ab").tolist() == [0, 2]
    assert strings.rows_containing(b"bb").tolist() == []  # "ab" + "ba" joined hold "bb": not a match
    assert strings.rows_containing(b"b").tolist() == [0, 1, 2, 3]
    assert strings.rows_containing("☂".encode()).tolist() == []


@pytest.mark.parametrize("shared", [True, False])
def test_a_key_index_answers_as_the_dict_it_replaces(tmp_path, shared):
    keys = [f"note-{i}#{i % 7}" for i in range(500)]
    strings = Strings.build(keys)
    strings.save(tmp_path, "keys")
    KeyIndex.build(strings).save(tmp_path, "rows")
    index = KeyIndex.load(tmp_path, "rows", Strings.load(tmp_path, "keys", shared=shared), shared=shared)
    expected = {key: row for row, key in enumerate(keys)}
    assert index == expected and dict(index) == expected
    assert index["note-42#0"] == 42 and index.get("nope") is None and "nope" not in index
    assert index.get(None) is None and index.lookup(["note-3#3", "x", "note-0#0"]).tolist() == [3, -1, 0]
    with pytest.raises(KeyError):
        index["nope"]


def test_a_key_index_checks_every_hit_against_the_key_itself(monkeypatch):
    import bot.index.columns as columns

    monkeypatch.setattr(columns, "key_hash", lambda key: 7)  # every key collides
    index = KeyIndex.build(Strings.build(["a", "b", "c"]), np.array([10, 20, 30]))
    assert [index.get(k) for k in ("a", "b", "c", "d")] == [10, 20, 30, None]


def _note(note_id: str, **fields) -> Note:
    return Note(id=note_id, title=fields.pop("title", note_id.title()), text=fields.pop("text", "Some text."), **fields)


NOTES = [
    _note("a", title="Alpha", kind="inquiry", tags=["x", "y", "x"], links=["b", "c"], description="Desc"),
    _note("b", title="Beta?", aliases=["Alpha", "Bee"], tags=["y"], links=["c"]),
    _note("c", title="alpha", kind="source", text="Ünïcode TEXT"),
]


@pytest.mark.parametrize("shared", [True, False])
def test_a_catalog_gives_what_the_notes_give(tmp_path, shared):
    Catalog.build(NOTES, ["a#0", "b#0", "b#1", "c#0"]).save(tmp_path / "catalog")
    catalog = Catalog.load(tmp_path / "catalog", shared=shared)
    assert isinstance(catalog.notes, NoteTable) and [n.model_dump() for n in catalog.notes] == \
        [n.model_dump() for n in NOTES]
    assert catalog.notes[1] is catalog.notes[1]  # parsed once while it is asked for again
    assert catalog.by_id["c"] == 2 and catalog.chunk_rows["b#1"] == 2 and catalog.chunk_rows.get("b#9") is None
    assert catalog.backlinks == {"b": ["a"], "c": ["a", "b"]} and catalog.backlinks.get("a", []) == []
    assert catalog.named("Alpha") == "a" and catalog.named("Bee") == "b" and catalog.named("alpha") == "c"
    assert catalog.named("Gamma") is None
    assert catalog.tag_rows("y").tolist() == [0, 1] and catalog.tag_rows("z").tolist() == []
    assert catalog.tags_of(0) == ["x", "y", "x"] and catalog.tag_counts() == {"x": 1, "y": 2}
    assert catalog.descriptions[0] == "Desc" and catalog.titles[2] == "alpha"
    assert catalog.mask(kinds=("inquiry", "source")).tolist() == [True, False, True]
    assert catalog.mask(tags=("x",), note_ids=("a", "b")).tolist() == [True, False, False]
    assert catalog.mask(note_ids=("b", "zzz")).tolist() == [False, True, False]
    assert catalog.title_order.tolist() == [0, 2, 1]  # "alpha" (row 0, then 2), "beta?"
    assert catalog.search_texts[2] == "ünïcode text\0" and catalog.search_titles[1] == "beta?"


def test_backlinks_compare_as_a_dict():
    ids = Strings.build(["a", "b"])
    links = Backlinks.build(ids, KeyIndex.build(ids), [["b"], []])
    assert links == {"b": ["a"]} and list(links) == ["b"] and len(links) == 1
