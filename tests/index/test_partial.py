"""Partial versions during a first build (bot/index/partial.py), on a real embedded store with the
real model: what each partial version holds, the complete version at the end, a first build cut
short and resumed, and no partial versions for an ordinary update."""

from __future__ import annotations

import uuid

import pytest

import bot.index.ingest as ingest_module
import bot.index.partial as partial_module
from bot.index.ingest import ingest
from bot.index.partial import committed
from bot.index.served import Index
from bot.index.snapshot import load_snapshot
from bot.index.store import Store
from bot.settings import Settings

pytestmark = pytest.mark.integration

NOTES = 40


@pytest.fixture
def notes(tmp_path):
    folder = tmp_path / "notes"
    folder.mkdir()
    run = uuid.uuid4().hex[:8]
    for i in range(NOTES):
        (folder / f"walk-{i:02d}.md").write_text(
            f"# Walk {i} ({run})\n\nOn walk {i} a kingfisher was seen by the weir. It was counted twice.\n",
            encoding="utf-8")
    return folder


@pytest.fixture
def settings(tmp_path, notes):
    return Settings(data_dir=tmp_path / "data", notes_dir=str(notes))


@pytest.fixture
def store(settings, embedder):
    with Store.open(settings, embedder.fingerprint, purpose="test") as opened:
        yield opened


@pytest.fixture(autouse=True)
def every_group(monkeypatch):
    """Groups of 8 notes, and a partial version after every one of them (no time between)."""
    monkeypatch.setattr(ingest_module, "BATCH_CHUNKS", 8)
    monkeypatch.setattr(partial_module, "default_checkpoint", lambda: lambda done, total: True)
    monkeypatch.setattr(partial_module, "SERVE_SHARE", 1.0)


def test_a_first_build_serves_partial_versions_then_a_complete_one(settings, store, embedder):
    seen = []

    def on_commit(version: int) -> None:
        metadata = committed(store)
        index = Index.load(settings, store, embedder)
        seen.append((version, metadata, index.partial, len(index.snapshot.notes)))

    report = ingest(None, settings, store, embedder, progress=False, on_commit=on_commit)

    assert len(seen) >= 3, seen  # 5 groups; none after the last one (the complete version follows)
    versions = [version for version, *_ in seen]
    assert versions == list(range(1, len(seen) + 1))
    for version, metadata, partial, served in seen:
        assert metadata["index_version"] == version and metadata["partial"] is True
        assert metadata["notes_total"] == NOTES and 0 < metadata["notes"] <= served < NOTES
        assert partial.notes_indexed == served and partial.notes_total == NOTES
    assert [served for *_, served in seen] == sorted(served for *_, served in seen)
    assert report.version == versions[-1] + 1 and report.notes == NOTES and len(report.added) == NOTES
    final = committed(store)
    assert "partial" not in final and "notes_total" not in final and final["notes"] == NOTES
    whole = Index.load(settings, store, embedder)
    assert whole.partial is None and len(whole.snapshot.notes) == NOTES
    # an earlier partial version is still readable, and holds whole notes only
    early = load_snapshot(store, versions[0], embedder.dimension, None)
    assert 0 < len(early.notes) <= NOTES and len(early.chunk_ids) == len(early.notes)


def test_a_first_build_cut_short_is_resumed_with_partial_versions(settings, store, embedder):
    calls = []

    def crash_on_second(version: int) -> None:
        calls.append(version)
        if len(calls) == 2:
            raise RuntimeError("killed")

    with pytest.raises(RuntimeError, match="killed"):
        ingest(None, settings, store, embedder, progress=False, on_commit=crash_on_second)
    cut = Index.load(settings, store, embedder)
    assert cut.snapshot.version == 2 and cut.partial is not None and cut.partial.notes_total == NOTES

    resumed = []
    report = ingest(None, settings, store, embedder, progress=False, on_commit=resumed.append)
    assert resumed and resumed[0] == 3  # partial versions go on from where it stopped
    assert report.notes == NOTES and report.version == resumed[-1] + 1
    assert len(report.added) == NOTES - cut.partial.notes_indexed and report.unchanged == cut.partial.notes_indexed
    whole = Index.load(settings, store, embedder)
    assert whole.partial is None and len(whole.snapshot.notes) == NOTES
    assert len({note.id for note in whole.snapshot.notes}) == NOTES


def test_a_build_cut_short_after_its_last_note_completes_as_a_new_version(settings, store, embedder):
    report = ingest(None, settings, store, embedder, progress=False, on_commit=lambda version: None)
    # as if killed between the last note and the complete commit: the last commit is a partial one
    store.commit(report.version, partial=True, notes=NOTES - 1, notes_total=NOTES, ingest_started="then")
    assert Index.load(settings, store, embedder).partial is not None

    again = ingest(None, settings, store, embedder, progress=False, on_commit=lambda version: None)
    assert again.version == report.version + 1 and again.unchanged == NOTES and not again.changed
    assert "partial" not in committed(store)
    assert Index.load(settings, store, embedder).partial is None


def test_an_update_of_a_complete_index_commits_no_partial_versions(settings, store, embedder, notes):
    ingest(None, settings, store, embedder, progress=False)
    for i in range(NOTES, NOTES + 20):
        (notes / f"walk-{i:02d}.md").write_text(f"# Walk {i}\n\nA heron on walk {i}.\n", encoding="utf-8")
    commits = []
    report = ingest(None, settings, store, embedder, progress=False, on_commit=commits.append)
    assert commits == [] and report.version == 2 and len(report.added) == 20
    assert "partial" not in committed(store)
