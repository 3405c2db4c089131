"""The Chroma store on a real embedded PersistentClient (and a real `chroma run` server where one is
needed): versions and commit, note records and liveness, paging past one page, search breadth,
failures mapped to the bot's errors, and the one-owner lock.

Records are written as ingest writes them, with small made-up vectors: the store neither knows
nor cares where vectors come from, so these tests need no model."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys

import numpy as np
import pytest

from bot.errors import IndexMissing, StoreError, StoreLocked, StoreUnavailable
from bot.index.chroma import HTTP_TIMEOUT_SECONDS
from bot.index.lock import StoreLock
from bot.index.records import FOREVER, note_key, pack_sentences
from bot.index.store import SEARCH_BREADTH, Store, index_fingerprint, search_breadth
from bot.models import Note
from bot.settings import Settings

from ..conftest import free_port

pytestmark = pytest.mark.integration

DIM = 4


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings(data_dir=tmp_path / "data")


@pytest.fixture
def store(settings):
    with Store.open(settings, "fingerprint-a", purpose="test") as opened:
        yield opened


def unit(*values: float) -> np.ndarray:
    vector = np.asarray(values, dtype=np.float32)
    return vector / np.linalg.norm(vector)


def write_note(store: Store, note_id: str, version: int, vector: np.ndarray, *, chunks: int = 2,
               content_hash: str | None = None) -> str:
    """One note record and its chunk records, as ingest writes them; returns the record's key."""
    content_hash = content_hash or f"{note_id}-{version}".encode().hex().ljust(16, "0")
    key = note_key(note_id, content_hash, version)
    texts = [f"Chunk {n} of {note_id}." for n in range(chunks)]
    store.add_chunks(
        [f"{key}#{n}" for n in range(chunks)], np.tile(vector, (chunks, 1)), texts,
        [{"note_key": key, "note_id": note_id, "kind": "note", "start": 0, "end": len(t), "section": "",
          **pack_sentences([(0, len(t))], [True], vector[None, :])} for t in texts],
    )
    note = Note(id=note_id, title=note_id.title(), text=" ".join(texts), content_hash=content_hash)
    store.add_notes([key], vector[None, :], [note.model_dump_json()],
                    [{"note_id": note_id, "hash": content_hash, "title": note.title, "kind": "note",
                      "path": f"{note_id}.md", "chunks": chunks, "live_from": version, "live_until": FOREVER}])
    return key


# --- versions -------------------------------------------------------------------------------------


def test_a_fresh_store_has_nothing_committed(store):
    assert store.version() == 0 and not store.exists()
    with pytest.raises(IndexMissing, match="bot ingest"):
        store.metadata()
    with pytest.raises(IndexMissing):
        store.chunks()  # reading never creates the collections


def test_commit_makes_a_version_the_one_readers_see(store, settings):
    write_note(store, "alpha", 1, unit(1, 0, 0, 0))
    assert store.exists() and store.version() == 0  # written, not committed
    store.commit(1, notes=1, chunks=2)
    assert store.version() == 1
    assert store.metadata()["notes"] == 1 and store.metadata()["chunks"] == 2
    store.commit(2)
    assert store.version() == 2 and "notes" not in store.metadata()  # a commit states the whole metadata
    store.close()
    with Store.open(settings, "fingerprint-a") as again:  # committed on disk, not just in this client
        assert again.version() == 2


def test_the_name_comes_from_what_shapes_the_vectors(settings, store):
    assert store.name == f"notes-{index_fingerprint(settings, 'fingerprint-a')}"
    assert store.notes_name == store.name + "-notes"
    assert index_fingerprint(settings, "fingerprint-b") != index_fingerprint(settings, "fingerprint-a")
    rechunked = settings.model_copy(update={"chunk_tokens": 120})
    assert index_fingerprint(rechunked, "fingerprint-a") != index_fingerprint(settings, "fingerprint-a")
    assert index_fingerprint(settings.model_copy(update={"port": 1}), "fingerprint-a") == \
        index_fingerprint(settings, "fingerprint-a")  # what doesn't shape vectors doesn't rename


def test_other_indexes_lists_collections_built_for_other_models(settings, store):
    write_note(store, "alpha", 1, unit(1, 0, 0, 0))
    store.commit(1)
    store.close()
    with Store.open(settings, "fingerprint-b") as other:
        assert other.version() == 0
        write_note(other, "alpha", 1, unit(0, 1, 0, 0))
        other.commit(1)
        assert other.other_indexes() == sorted([store.name, store.notes_name])


def test_drop_deletes_this_index_and_only_it(settings, store):
    write_note(store, "alpha", 1, unit(1, 0, 0, 0))
    store.commit(1)
    store.drop()
    assert not store.exists() and store.version() == 0
    store.drop()  # dropping nothing is fine


# --- note records and liveness --------------------------------------------------------------------


def test_note_records_carry_their_metadata_and_liveness(store):
    old = write_note(store, "alpha", 1, unit(1, 0, 0, 0))
    write_note(store, "beta", 1, unit(0, 1, 0, 0), chunks=3)
    store.commit(1)
    new = write_note(store, "alpha", 2, unit(1, 1, 0, 0))  # alpha changed in version 2
    store.set_live_until([old], 2)
    store.commit(2)
    records = {r.key: r for r in store.note_records()}
    assert len(records) == 3
    assert records[old].live_at(1) and not records[old].live_at(2)
    assert records[new].live_at(2) and not records[new].live_at(1)
    beta = next(r for r in records.values() if r.note_id == "beta")
    assert (beta.title, beta.kind, beta.path, beta.chunks) == ("Beta", "note", "beta.md", 3)


def test_live_notes_and_chunk_counts_follow_the_version(store):
    old = write_note(store, "alpha", 1, unit(1, 0, 0, 0))
    write_note(store, "beta", 1, unit(0, 1, 0, 0), chunks=3)
    store.commit(1)
    write_note(store, "alpha", 2, unit(1, 1, 0, 0), chunks=4)
    store.set_live_until([old], 2)
    store.commit(2)
    for version, expected_chunks, alpha_vector in ((1, 5, unit(1, 0, 0, 0)), (2, 7, unit(1, 1, 0, 0))):
        keys, documents, vectors = store.live_notes(version)
        assert sorted(json.loads(d)["id"] for d in documents) == ["alpha", "beta"]
        assert vectors.shape == (2, DIM)
        alpha = [json.loads(d)["id"] for d in documents].index("alpha")
        assert np.allclose(vectors[alpha], alpha_vector, atol=1e-6)
        assert store.live_chunk_count(version) == expected_chunks
    keys, documents, vectors = store.live_notes(0)
    assert keys == [] and vectors.shape == (0, 0)


def test_chunks_of_reads_only_the_chunks_of_the_given_notes(store):
    alpha = write_note(store, "alpha", 1, unit(1, 0, 0, 0), chunks=3)
    write_note(store, "beta", 1, unit(0, 1, 0, 0))
    got = list(store.chunks_of([alpha]))
    assert sorted(chunk_id for chunk_id, _, _ in got) == [f"{alpha}#{n}" for n in range(3)]
    assert all(meta["note_key"] == alpha and text.endswith("of alpha.") for _, meta, text in got)
    assert len(list(store.chunks_of([alpha], batch=1))) == 3


def test_delete_notes_takes_their_chunks_with_them(store):
    alpha = write_note(store, "alpha", 1, unit(1, 0, 0, 0), chunks=3)
    beta = write_note(store, "beta", 1, unit(0, 1, 0, 0))
    store.delete_notes([alpha])
    store.delete_notes([])  # nothing to do
    assert [r.key for r in store.note_records()] == [beta]
    assert sorted(store.chunk_ids()) == [f"{beta}#0", f"{beta}#1"] and store.count() == 2
    store.delete_chunks([f"{beta}#0"])
    assert store.chunk_ids() == [f"{beta}#1"]


def test_query_returns_the_nearest_chunks_with_cosine_similarities(store):
    write_note(store, "alpha", 1, unit(1, 0, 0, 0), chunks=1)
    write_note(store, "beta", 1, unit(0, 1, 0, 0), chunks=1)
    write_note(store, "gamma", 1, unit(1, 1, 0, 0), chunks=1)
    ids, similarities = store.query(unit(1, 0.1, 0, 0), 3)
    assert [i.split("@")[0] for i in ids] == ["alpha", "gamma", "beta"]
    assert similarities[0] == pytest.approx(float(unit(1, 0.1, 0, 0) @ unit(1, 0, 0, 0)), abs=1e-4)
    ids, _ = store.query(unit(1, 0.1, 0, 0), 3, where={"note_id": {"$in": ["beta"]}})
    assert [i.split("@")[0] for i in ids] == ["beta"]


def test_the_sentences_ride_in_chunk_metadata(store):
    key = write_note(store, "alpha", 1, unit(1, 2, 3, 4), chunks=1)
    [(chunk_id, meta, text, vector)] = list(store.iter_chunks(include_embeddings=True))
    assert chunk_id == f"{key}#0" and meta["sentences"] == f"0:{len(text)}:1"
    assert np.allclose(vector, unit(1, 2, 3, 4), atol=1e-6)
    assert next(store.iter_chunks())[3] is None  # without embeddings unless asked


# --- paging and batches ---------------------------------------------------------------------------


def test_reads_page_through_more_records_than_one_page_and_writes_batch(store):
    """2,500 note records and chunks: more than a read page (2,000) and a write batch (1,000)."""
    count = 2500
    rng = np.random.default_rng(1)
    vectors = rng.normal(size=(count, DIM)).astype(np.float32)
    keys = [note_key(f"n{i:04d}", f"{i:016x}", 1) for i in range(count)]
    store.add_chunks([f"{k}#0" for k in keys], vectors, [f"text {i}" for i in range(count)],
                     [{"note_key": k, "start": 0, "end": 6} for k in keys])
    store.add_notes(keys, vectors, ["{}"] * count,
                    [{"note_id": f"n{i:04d}", "hash": f"{i:016x}", "live_from": 1, "live_until": FOREVER,
                      "chunks": 1} for i in range(count)])
    records = store.note_records()
    assert len(records) == count and len({r.key for r in records}) == count
    assert len(set(store.chunk_ids())) == count and store.count() == count
    assert store.live_chunk_count(1) == count
    assert len(store.live_notes(1)[0]) == count
    assert len(store.note_documents(keys)) == count  # looked up in slices of 500
    store.set_live_until(keys[:1500], 2)  # updated in batches too
    assert store.live_chunk_count(2) == count - 1500


@pytest.mark.parametrize("chunks, breadth", [
    (0, 100), (5_000, 100), (20_000, 100), (20_001, 200), (100_000, 200), (100_001, 800),
    (400_000, 800), (400_001, 1600), (10**9, 1600),
])
def test_search_breadth_widens_with_the_collection(chunks, breadth):
    assert search_breadth(chunks) == breadth


def test_search_breadth_never_narrows_as_the_collection_grows():
    sizes = sorted({0, 1} | {limit + d for limit, _ in SEARCH_BREADTH[:-1] for d in (-1, 0, 1)})
    breadths = [search_breadth(size) for size in sizes]
    assert breadths == sorted(breadths)


# --- failures mapped to the bot's errors ----------------------------------------------------------


def test_a_chroma_failure_of_an_embedded_store_is_a_store_error_naming_it(store):
    write_note(store, "alpha", 1, unit(1, 0, 0, 0))
    with pytest.raises(StoreError, match="dimension") as raised:
        store.query(np.ones(DIM + 1, np.float32), 1)
    assert not isinstance(raised.value, StoreUnavailable)  # a bad call, not a store that's gone
    assert store.location in str(raised.value)


def test_a_store_that_cant_be_opened_is_unavailable_and_leaves_no_lock(settings, tmp_path):
    blocked = tmp_path / "not-a-dir"
    blocked.write_text("a file where the store's folder should be")
    with pytest.raises(StoreUnavailable, match="could not open the notes store"):
        Store.open(settings, "fingerprint-a", path=blocked)
    lock = StoreLock(tmp_path / "not-a-dir.lock")
    lock.acquire("test")  # the failed open released it
    lock.release()


def _chroma_on(path, port):
    from .test_server_mode import start_chroma

    return start_chroma(path, port)


def _stop(process) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def test_a_chroma_server_that_dies_is_unavailable_and_comes_back(tmp_path):
    port = free_port()
    server = _chroma_on(tmp_path / "server", port)
    settings = Settings(data_dir=tmp_path / "data", chroma_host="127.0.0.1", chroma_port=port)
    store = Store.open(settings, "fingerprint-a")
    try:
        assert store.remote and "Chroma server at http://127.0.0.1" in store.location
        timeout = store.client._server._session.timeout  # a hung server must not hang the app
        assert (timeout.read, timeout.connect) == (HTTP_TIMEOUT_SECONDS, 3.0)
        write_note(store, "alpha", 1, unit(1, 0, 0, 0))
        store.commit(1)
        _stop(server)
        for read in (store.version, store.count, lambda: store.query(unit(1, 0, 0, 0), 1), store.note_records):
            with pytest.raises(StoreUnavailable) as raised:
                read()
            assert "Check that the Chroma server is running" in str(raised.value)
            assert "\n" not in str(raised.value)
        server = _chroma_on(tmp_path / "server", port)  # the same data, back on the same port
        assert store.version() == 1 and store.count() == 2  # the same Store object recovers
    finally:
        store.close()
        _stop(server)
    assert not (tmp_path / "data" / "chroma").exists()  # nothing embedded in server mode


def test_a_port_where_nothing_listens_is_unavailable_at_once(tmp_path):
    with socket.socket() as held:  # a port that stays closed for the test
        held.bind(("127.0.0.1", 0))
        port = held.getsockname()[1]
        settings = Settings(data_dir=tmp_path, chroma_url=f"http://127.0.0.1:{port}")
        with pytest.raises(StoreUnavailable, match=f"127.0.0.1:{port}"):
            Store.open(settings, "fingerprint-a").version()


# --- the one-owner lock ---------------------------------------------------------------------------


def test_a_second_opener_of_the_embedded_store_is_refused_until_the_first_closes(settings):
    first = Store.open(settings, "fingerprint-a", purpose="bot ingest")
    try:
        with pytest.raises(StoreLocked) as raised:
            Store.open(settings, "fingerprint-b")  # any index: the lock is on the directory
        message = str(raised.value)
        assert f"process {os.getpid()} (bot ingest)" in message and "Wait for it to finish" in message
        assert "BOT_CHROMA_HOST" in message
    finally:
        first.close()
    Store.open(settings, "fingerprint-a").close()
    first.close()  # closing twice is harmless


def test_the_lock_file_records_the_owner(tmp_path):
    lock = StoreLock(tmp_path / "chroma.lock")
    lock.acquire("app on http://127.0.0.1:7860")
    try:
        owner = json.loads((tmp_path / "chroma.lock").read_text())
        assert owner["pid"] == os.getpid() and owner["purpose"] == "app on http://127.0.0.1:7860"
        assert owner["host"] == socket.gethostname()
        with pytest.raises(StoreLocked, match="re-index button"):  # the owner is an app: use its button
            StoreLock(tmp_path / "chroma.lock").acquire("bot ingest")
    finally:
        lock.release()
    lock.release()  # releasing twice is harmless


def test_an_unreadable_owner_is_still_a_clear_refusal(tmp_path):
    lock = StoreLock(tmp_path / "chroma.lock")
    lock.acquire("test")
    try:
        (tmp_path / "chroma.lock").write_text("garbage")
        with pytest.raises(StoreLocked, match=r"in use by another process \(garbage\)"):
            StoreLock(tmp_path / "chroma.lock").acquire("test")
    finally:
        lock.release()


def test_the_lock_is_released_when_its_owner_is_killed(tmp_path):
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time; from pathlib import Path; from bot.index.lock import StoreLock; "
         "lock = StoreLock(Path(sys.argv[1])); lock.acquire('holder'); print('held', flush=True); time.sleep(60)",
         str(tmp_path / "chroma.lock")],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(StoreLocked, match=f"process {holder.pid} \\(holder\\)"):
            StoreLock(tmp_path / "chroma.lock").acquire("test")
    finally:
        holder.kill()
        holder.wait()
    lock = StoreLock(tmp_path / "chroma.lock")
    lock.acquire("test")  # the kernel dropped the dead owner's flock
    lock.release()
