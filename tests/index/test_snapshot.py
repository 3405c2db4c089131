"""One committed version in memory (`snapshot.py`) and the served index that swaps versions
(`served.py`), on a real embedded Chroma store filled by the real ingest and model."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from bot.index.ingest import ingest
from bot.index.served import Index
from bot.index.snapshot import _ARRAYS, cache_root, load_snapshot
from bot.index.store import Store
from bot.settings import Settings

pytestmark = pytest.mark.integration

NOTES = {
    "tides.md": "# Tides and the moon\n\nThe moon's pull raises the tides twice a day. "
                "Spring tides come with the full and the new moon.\n",
    "sleep.md": "# Sleep and memory\n\nSleep consolidates the memories of the day. "
                "See [[Tides and the moon]] for another rhythm.\n",
    "coffee.md": "# Coffee and sleep\n\nCoffee late in the afternoon delays sleep onset. "
                 "Caffeine blocks adenosine receptors.\n",
}


@pytest.fixture
def notes(tmp_path):
    folder = tmp_path / "notes"
    folder.mkdir()
    for name, text in NOTES.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


@pytest.fixture
def settings(tmp_path, notes) -> Settings:
    return Settings(data_dir=tmp_path / "data", notes_dir=str(notes))


@pytest.fixture
def store(settings, embedder):
    with Store.open(settings, embedder.fingerprint, purpose="test") as opened:
        ingest(None, settings, opened, embedder, progress=False)
        yield opened


def same_snapshot(a, b) -> None:
    assert a.version == b.version and a.store_chunks == b.store_chunks
    assert [n.model_dump() for n in a.notes] == [n.model_dump() for n in b.notes]
    assert a.chunk_ids == b.chunk_ids and a.terms == b.terms
    for name in _ARRAYS:
        assert np.array_equal(getattr(a, name), getattr(b, name)), name
        assert getattr(a, name).dtype == getattr(b, name).dtype, name
    for query in ("moon tides", "sleep coffee", "adenosine"):
        assert np.allclose(a.lexical.scores(query), b.lexical.scores(query))


def test_a_snapshot_holds_the_committed_version_whole(store, embedder):
    snapshot = load_snapshot(store, store.version(), embedder.dimension, None)
    assert snapshot.version == 1 and snapshot.dimension == embedder.dimension
    assert [n.id for n in snapshot.notes] == ["coffee-and-sleep", "sleep-and-memory", "tides-and-the-moon"]
    assert snapshot.note("sleep-and-memory").title == "Sleep and memory" and snapshot.note("nope") is None
    assert snapshot.store_chunks == len(snapshot.chunk_ids) == snapshot.lexical.size
    for row, start, end in zip(snapshot.chunk_note, snapshot.chunk_start, snapshot.chunk_end):
        assert 0 <= start < end <= len(snapshot.notes[row].text)
    # every sentence of a note, in text order, inside its text
    for row, note in enumerate(snapshot.notes):
        rows = snapshot.sentences_of(row)
        assert len(rows) >= 2
        starts = snapshot.sentence_start[rows.start:rows.stop]
        assert list(starts) == sorted(starts) and (snapshot.sentence_note[rows.start:rows.stop] == row).all()
        assert snapshot.sentence_end[rows.stop - 1] <= len(note.text)
    quotable = snapshot.sentence_vectors[snapshot.sentence_quotable].astype(np.float32)
    assert snapshot.sentence_vectors.dtype == np.float16
    assert np.allclose(np.linalg.norm(quotable, axis=1), 1.0, atol=1e-2)
    assert snapshot.backlinks == {"tides-and-the-moon": ["sleep-and-memory"]}
    assert snapshot.note("sleep-and-memory").links == ["tides-and-the-moon"]


def test_the_cache_round_trip_gives_the_same_snapshot_without_reading_the_store(store, embedder, settings):
    root = cache_root(settings)
    built = load_snapshot(store, 1, embedder.dimension, root)
    [cached] = list(root.glob("*/v1"))
    assert (cached / "meta.json").exists() and (cached / "arrays" / "sentence_vectors.npy").exists()
    store.close()  # from here any read of the store would fail: the snapshot must come from disk
    same_snapshot(load_snapshot(store, 1, embedder.dimension, root), built)


def test_a_cached_snapshot_maps_its_arrays_from_disk_read_only(store, embedder, settings):
    # mapped, not copied: the workers on one host share these pages (bench/memory.py measures it)
    snapshot = load_snapshot(store, 1, embedder.dimension, cache_root(settings))
    for name in ("sentence_vectors", "sentence_term_ids", "chunk_start", "note_vectors"):
        array = getattr(snapshot, name)
        assert isinstance(array, np.memmap) or isinstance(array.base, np.memmap), name
        assert not array.flags.writeable, name
    assert snapshot.lexical.search("sleep", k=1)[0].size == 1  # BM25 works on its mapped matrix


def test_the_cache_keeps_only_the_newest_version(store, embedder, settings, notes):
    root = cache_root(settings)
    load_snapshot(store, 1, embedder.dimension, root)
    (notes / "new.md").write_text("# A new note\n\nWith a sentence of its own.\n", encoding="utf-8")
    assert ingest(None, settings, store, embedder, progress=False).version == 2
    load_snapshot(store, 2, embedder.dimension, root)
    assert [p.name for p in root.glob("*/v*")] == ["v2"]
    assert not list(root.glob("*/.staging-*"))  # no half-written cache left beside it


@pytest.mark.parametrize("damage", ["arrays", "notes", "meta", "format", "missing"])
def test_a_damaged_cache_is_rebuilt_never_trusted(store, embedder, settings, caplog, damage):
    root = cache_root(settings)
    built = load_snapshot(store, 1, embedder.dimension, root)
    [cached] = list(root.glob("*/v1"))
    if damage == "arrays":
        # a new file in its place: `built` maps the old one (the bot itself never writes a cache
        # file in place; overwriting a mapped file would pull pages from under its readers)
        (cached / "arrays" / "sentence_vectors.npy").unlink()
        (cached / "arrays" / "sentence_vectors.npy").write_bytes(b"not a numpy array")
    elif damage == "notes":
        (cached / "catalog" / "notes.bin").unlink()
        (cached / "catalog" / "notes.bin").write_text('{"id": "half a no', encoding="utf-8")
    elif damage == "meta":
        (cached / "meta.json").write_text("{", encoding="utf-8")
    elif damage == "format":  # written by another version of the bot
        (cached / "meta.json").write_text('{"format": -1, "version": 1}', encoding="utf-8")
    else:
        (cached / "catalog" / "chunk_ids.bin").unlink()
    with caplog.at_level(logging.WARNING, logger="bot.index.snapshot"):
        rebuilt = load_snapshot(store, 1, embedder.dimension, root)
    assert any("ignoring damaged index cache" in r.getMessage() for r in caplog.records)
    same_snapshot(rebuilt, built)
    store.close()  # and the cache is whole again: it serves without the store
    same_snapshot(load_snapshot(store, 1, embedder.dimension, root), built)


def test_a_cache_that_cant_be_written_still_gives_the_snapshot(store, embedder, tmp_path, caplog):
    blocked = tmp_path / "cache-is-a-file"
    blocked.write_text("")
    with caplog.at_level(logging.WARNING, logger="bot.index.snapshot"):
        snapshot = load_snapshot(store, 1, embedder.dimension, blocked)
    assert len(snapshot.notes) == 3
    assert any("could not cache the index" in r.getMessage() for r in caplog.records)


def test_refresh_swaps_in_a_newer_version_whole(store, embedder, settings, notes):
    index = Index(settings, store, embedder, load_snapshot(store, 1, embedder.dimension, cache_root(settings)))
    assert index.refresh() is False  # nothing new
    served = index.snapshot
    (notes / "coffee.md").unlink()
    (notes / "new.md").write_text("# Moon phases\n\nThe moon waxes and wanes over a month.\n", encoding="utf-8")
    assert ingest(None, settings, store, embedder, progress=False).version == 2
    assert index.snapshot is served  # nothing changes for readers until refresh
    assert index.refresh() is True
    assert index.snapshot.version == 2
    assert sorted(n.id for n in index.snapshot.notes) == ["moon-phases", "sleep-and-memory", "tides-and-the-moon"]
    # a reader that took the old snapshot still has all of version 1
    assert served.version == 1 and served.note("coffee-and-sleep") is not None and served.note("moon-phases") is None
    assert index.refresh() is False


def test_closing_the_index_releases_the_store(store, embedder, settings):
    index = Index(settings, store, embedder, load_snapshot(store, 1, embedder.dimension, None))
    index.close()
    Store.open(settings, embedder.fingerprint).close()  # the lock is free again


def test_with_sharing_off_a_cached_snapshot_is_read_into_private_memory(store, embedder, settings):
    built = load_snapshot(store, 1, embedder.dimension, cache_root(settings))
    private = load_snapshot(store, 1, embedder.dimension, cache_root(settings), shared=False)
    assert not isinstance(private.sentence_vectors, np.memmap) and private.sentence_vectors.flags.writeable
    same_snapshot(private, built)
