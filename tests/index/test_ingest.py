"""Ingest into a real embedded Chroma store with the real model: incremental, scoped, bad files."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import pytest

from bot.index.snapshot import load_snapshot
from bot.index.ingest import ingest
from bot.settings import Settings
from bot.errors import IndexSchemaError, StoreLocked
from bot.index.store import Store

pytestmark = pytest.mark.integration


@pytest.fixture
def settings(tmp_path, seeds_copy):
    return Settings(data_dir=tmp_path / "data", notes_dir=str(seeds_copy))


@pytest.fixture
def store(settings, embedder):
    with Store.open(settings, embedder.fingerprint, purpose="test") as opened:
        yield opened


def snapshot(store, embedder):
    return load_snapshot(store, store.version(), embedder.dimension, None)


def test_seeds_ingest_then_nothing_to_do(settings, store, embedder):
    first = ingest(None, settings, store, embedder, progress=False)
    assert len(first.added) == 25 and first.notes == 25 and first.version == 1
    assert first.chunks > 25 and not first.skipped
    second = ingest(None, settings, store, embedder, progress=False)
    assert second.unchanged == 25 and not second.changed
    assert second.embedded_texts == 0 and second.version == 1
    snap = snapshot(store, embedder)
    assert len(snap.notes) == 25
    assert len(snap.chunk_ids) == first.chunks
    assert {n.kind for n in snap.notes} == {"note", "inquiry", "source"}
    # every sentence vector is stored and unit length
    quotable = snap.sentence_vectors[snap.sentence_quotable]
    assert quotable.shape[0] > 100
    assert abs(float((quotable ** 2).sum(axis=1).mean()) - 1.0) < 0.01


def test_changed_note_is_replaced_and_deleted_note_removed(settings, store, embedder, seeds_copy):
    ingest(None, settings, store, embedder, progress=False)
    page = seeds_copy / "001_bae4b2363521288b.txt"
    page.write_text(page.read_text().replace("This divergence under the same training signal is the key finding.",
                                             "This divergence is the whole point."))
    report = ingest(None, settings, store, embedder, progress=False)
    assert report.updated == ["do-reasoning-scaffolds-reshape-which-empathy-skills-models-develop"]
    assert report.unchanged == 24 and report.version == 2
    snap = snapshot(store, embedder)
    note = snap.note("do-reasoning-scaffolds-reshape-which-empathy-skills-models-develop")
    assert "whole point" in note.text
    texts = [store.chunks().get(ids=[cid], include=["documents"])["documents"][0] for cid in snap.chunk_ids]
    assert not any("is the key finding" in t for t in texts)

    (seeds_copy / "004_aaf3fd2841cda9ab.txt").unlink()
    report = ingest(None, settings, store, embedder, progress=False)
    # the page and the three sources only it listed
    assert report.removed == sorted([
        "why-does-effective-empathy-require-deep-character-knowledge-of-the-person",
        "can-ai-give-truly-empathetic-responses-without-knowing-someone-s-character",
        "can-ai-generated-personas-build-genuine-empathy-in-product-teams",
        "does-a-language-model-have-an-authentic-voice-underneath",
    ])
    assert len(snapshot(store, embedder).notes) == 21
    # old versions' records are collected once no reader can need them
    ingest(None, settings, store, embedder, progress=False)
    page.write_text(page.read_text() + "\nOne more line.")
    ingest(None, settings, store, embedder, progress=False)
    live = {r.key for r in store.note_records() if r.live_at(store.version())}
    assert len(store.note_records()) <= len(live) + 2


def test_a_new_page_turns_prose_into_links_without_re_embedding(settings, store, embedder, seeds_copy):
    ingest(None, settings, store, embedder, progress=False)
    assert snapshot(store, embedder).note("do-reasoning-scaffolds-reshape-which-empathy-skills-models-develop").links == []
    (seeds_copy / "new.md").write_text("# Does RL teach reasoning or just when to use it?\n\nIt teaches when.\n")
    report = ingest(None, settings, store, embedder, progress=False)
    assert report.added == ["does-rl-teach-reasoning-or-just-when-to-use-it"]
    assert report.unchanged == 25
    note = snapshot(store, embedder).note("do-reasoning-scaffolds-reshape-which-empathy-skills-models-develop")
    assert note.links == ["does-rl-teach-reasoning-or-just-when-to-use-it"]


def test_removal_is_scoped_to_the_paths_ingested(settings, store, embedder, tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    (other / "a.md").write_text("# Alpha note\n\nAlpha text about graphs.\n")
    ingest([settings.notes_dirs[0]], settings, store, embedder, progress=False)
    report = ingest([other], settings, store, embedder, progress=False)
    assert report.added == ["alpha-note"] and report.removed == []
    assert report.notes == 26
    (other / "a.md").unlink()
    (other / "b.md").write_text("# Beta note\n\nBeta text.\n")
    report = ingest([other], settings, store, embedder, progress=False)
    assert report.removed == ["alpha-note"] and report.added == ["beta-note"]
    assert report.notes == 26


def test_jsonl_notes_and_removal_of_a_line(settings, store, embedder, tmp_path):
    corpus = tmp_path / "corpus" / "c.jsonl"
    corpus.parent.mkdir()
    lines = [{"_id": str(i), "title": "Summary", "text": f"Finding number {i} about protein folding."} for i in range(3)]
    corpus.write_text("\n".join(json.dumps(line) for line in lines))
    report = ingest([corpus], settings, store, embedder, progress=False)
    assert sorted(report.added) == ["0", "1", "2"]
    corpus.write_text("\n".join(json.dumps(line) for line in lines[:2]))
    report = ingest([corpus], settings, store, embedder, progress=False)
    assert report.removed == ["2"] and report.unchanged == 2


BAD_FILES = {
    "binary.md": b"\x89PNG\r\n\x1a\n\x00\x00\x00IHDR" + bytes(range(256)),
    "latin1.txt": "Caf\xe9 notes\n\nSome text.".encode("latin-1"),
    "empty.md": b"",
    "blank.txt": b"   \n\n  ",
    "frontmatter.md": b"---\ntitle: [oops\n---\nBody.",
}


def test_bad_files_are_skipped_with_a_reason(settings, store, embedder, seeds_copy, caplog):
    for name, data in BAD_FILES.items():
        (seeds_copy / name).write_bytes(data)
    big = seeds_copy / "huge.txt"
    with big.open("wb") as handle:
        handle.write(b"Title\n\n")
        handle.write((b"word " * 200 + b"\n") * 50_000)  # ~50 MB
    os.symlink(seeds_copy / "missing-target.md", seeds_copy / "unreadable.md")
    with caplog.at_level(logging.WARNING):
        report = ingest(None, settings, store, embedder, progress=False)
    reasons = {Path(s.path).name: s.reason for s in report.skipped}
    assert reasons.keys() == set(BAD_FILES) | {"huge.txt", "unreadable.md"}
    assert "binary" in reasons["binary.md"]
    assert "not UTF-8" in reasons["latin1.txt"]
    assert "empty" in reasons["empty.md"] and "empty" in reasons["blank.txt"]
    assert "malformed YAML" in reasons["frontmatter.md"]
    assert "too large" in reasons["huge.txt"] and "BOT_MAX_NOTE_BYTES" in reasons["huge.txt"]
    assert "cannot be read" in reasons["unreadable.md"]
    assert report.notes == 25 and len(report.added) == 25
    for name in reasons:  # one warning line names each file
        assert sum(name in r.getMessage() for r in caplog.records if r.levelno == logging.WARNING) == 1


def test_unreadable_file_permissions(settings, store, embedder, seeds_copy):
    if os.geteuid() == 0:
        pytest.skip("root reads any file; the broken-symlink case above covers unreadable files")
    locked = seeds_copy / "locked.md"
    locked.write_text("# Locked\n\nSecret.")
    locked.chmod(0)
    report = ingest(None, settings, store, embedder, progress=False)
    assert any("cannot be read" in s.reason for s in report.skipped)


def test_changing_the_model_builds_a_new_collection(settings, embedder, tmp_path, caplog):
    with Store.open(settings, embedder.fingerprint) as store:
        ingest(None, settings, store, embedder, progress=False)
        first = store.name
    with Store.open(settings, "another-model-fingerprint") as other:
        assert other.name != first and not other.exists()
        with caplog.at_level(logging.WARNING):
            ingest(None, settings, other, embedder, progress=False)
        assert any("left untouched" in r.getMessage() for r in caplog.records)
        assert other.version() == 1
    with Store.open(settings, embedder.fingerprint) as store:
        assert store.version() == 1  # the first index is intact


def test_an_index_from_an_older_schema_asks_for_a_rebuild(settings, store, embedder):
    ingest(None, settings, store, embedder, progress=False)
    store.chunks().modify(metadata={"index_version": 1, "schema": 0})
    store._chunks = None
    with pytest.raises(IndexSchemaError, match="bot ingest --rebuild"):
        store.chunks()
    report = ingest(None, settings, store, embedder, rebuild=True, progress=False)
    assert report.version == 1 and report.notes == 25


def test_a_second_process_gets_a_clear_message(settings, embedder):
    import subprocess
    import sys

    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time; from bot.settings import Settings; from bot.index.store import Store; "
         "s = Store.open(Settings(), 'fp', purpose='app (test)'); print('ready', flush=True); time.sleep(60)"],
        env={**os.environ, "BOT_DATA_DIR": str(settings.data_dir)}, stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "ready"
        with pytest.raises(StoreLocked) as raised:
            Store.open(settings, embedder.fingerprint)
        message = str(raised.value)
        assert f"process {holder.pid}" in message and "BOT_CHROMA_HOST" in message
        assert "re-index" in message  # the holder is the app: point at its own re-indexing
    finally:
        holder.kill()
        holder.wait()


def test_the_file_report_is_stored_beside_the_index_and_unchanged_files_keep_their_entry(settings, store, embedder, seeds_copy):
    from bot.index.report import read_report, report_path

    (seeds_copy / "blank.md").write_text("   \n", encoding="utf-8")
    ingest(None, settings, store, embedder, progress=False)
    first = read_report(report_path(settings, store.name))
    assert first["last_ingest"]["added"] == 25 and first["last_ingest"]["skipped"] == 1
    assert first["last_ingest"]["failed"] == 0 and first["last_ingest"]["error"] is None
    entries = {Path(e["path"]).name: e for e in first["files"]}
    assert entries["blank.md"]["status"] == "skipped" and entries["blank.md"]["reason"].startswith("empty file")
    indexed = [e for e in first["files"] if e["status"] == "indexed"]
    assert sum(e["chunks"] for e in indexed) == store.live_chunk_count(1)
    page = seeds_copy / "001_bae4b2363521288b.txt"
    page.write_text(page.read_text().replace("This divergence under the same training signal is the key finding.",
                                             "This divergence is the whole point."))
    ingest(None, settings, store, embedder, progress=False)
    second = {Path(e["path"]).name: e for e in read_report(report_path(settings, store.name))["files"]}
    assert second["001_bae4b2363521288b.txt"]["hash"] != entries["001_bae4b2363521288b.txt"]["hash"]
    unchanged = [name for name in entries if name not in ("001_bae4b2363521288b.txt", "blank.md")]
    assert all(second[name] == entries[name] for name in unchanged)


def test_on_progress_counts_texts_up_to_the_total(settings, store, embedder):
    calls = []
    report = ingest(None, settings, store, embedder, progress=False, on_progress=lambda d, t: calls.append((d, t)))
    assert calls and all(done <= total for done, total in calls)
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)
    assert calls[-1][0] == calls[-1][1] >= report.chunks  # every chunk and quotable sentence
    assert 0 < report.encode_seconds <= report.write_seconds <= report.seconds
