"""The one service object, on a real embedded store and the real model: `Bot.open` builds a missing
index once, ask/search/ingest/refresh go through it, and closing it frees the store for the next."""

from __future__ import annotations

import logging

import pytest

import bot
from bot.errors import IndexMissing, QuestionError, StoreLocked
from bot.index.ingest import ingest
from bot.models import Answer
from bot.service import Bot
from bot.settings import Settings

pytestmark = pytest.mark.integration

NOTES = {
    "tides.md": "# Tides and the moon\n\nThe moon's pull raises the tides twice a day. "
                "Spring tides follow the full and the new moon.\n",
    "sleep.md": "# Sleep and memory\n\nSleep consolidates the memories of the day.\n",
}


@pytest.fixture
def settings(tmp_path) -> Settings:
    notes = tmp_path / "notes"
    notes.mkdir()
    for name, text in NOTES.items():
        (notes / name).write_text(text, encoding="utf-8")
    return Settings(notes_dir=str(notes), data_dir=tmp_path / "data")


def builds(caplog) -> int:
    return sum("no index yet: building it" in r.getMessage() for r in caplog.records)


def test_open_builds_a_missing_index_once(settings, embedder, caplog):
    with caplog.at_level(logging.INFO, logger="bot.service"):
        with Bot.open(settings, embedder=embedder, progress=False) as first:
            assert first.embedder is embedder and first.snapshot.version == 1
            assert sorted(n.id for n in first.snapshot.notes) == ["sleep-and-memory", "tides-and-the-moon"]
        computed = embedder.computed
        with Bot.open(settings, embedder=embedder, progress=False) as second:
            assert second.snapshot.version == 1  # opened, not rebuilt
    assert builds(caplog) == 1 and embedder.computed == computed


def test_build_from_other_folders_than_the_settings(settings, embedder, tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    (other / "coffee.md").write_text("# Coffee\n\nCaffeine delays sleep.\n", encoding="utf-8")
    with Bot.open(settings, embedder=embedder, build_from=[other], progress=False) as notes:
        assert [n.id for n in notes.snapshot.notes] == ["coffee"]


def test_without_build_if_missing_a_fresh_store_is_index_missing_and_left_unlocked(settings, embedder):
    with pytest.raises(IndexMissing, match="bot ingest"):
        Bot.open(settings, embedder=embedder, build_if_missing=False)
    with Bot.open(settings, embedder=embedder, progress=False) as notes:  # the failed open let go of the store
        assert notes.snapshot.version == 1


def test_ask_search_and_the_library_read_the_served_index(settings, embedder):
    with Bot.open(settings, embedder=embedder, progress=False) as notes:
        answer = notes.ask("What raises the tides?")
        assert isinstance(answer, Answer) and not answer.abstained
        assert answer.citations[0].note_id == "tides-and-the-moon"
        assert answer.citations[0].quote in notes.snapshot.note("tides-and-the-moon").text
        hits = notes.search("memories and sleep", k=1)
        assert [h.note.id for h in hits] == ["sleep-and-memory"] and hits[0].passages
        assert notes.library.note("sleep-and-memory").title == "Sleep and memory"
        response = notes.respond("What raises the tides?")
        assert response.answer.model_dump() == answer.model_dump()
        with pytest.raises(QuestionError, match="empty"):
            notes.ask("   ")


def test_ingest_commits_a_new_version_and_serves_it(settings, embedder):
    with Bot.open(settings, embedder=embedder, progress=False) as notes:
        (settings.notes_dirs[0] / "coffee.md").write_text(
            "# Coffee and focus\n\nCaffeine sharpens attention for a few hours.\n", encoding="utf-8")
        report = notes.ingest(progress=False)
        assert report.added == ["coffee-and-focus"] and report.version == 2
        assert notes.snapshot.version == 2 and notes.snapshot.note("coffee-and-focus") is not None
        assert notes.refresh() is False  # already serving it
        assert notes.ingest(progress=False).version == 2  # nothing changed, nothing committed


def test_refresh_serves_a_version_committed_beside_it(settings, embedder):
    with Bot.open(settings, embedder=embedder, progress=False) as notes:
        served = notes.snapshot
        (settings.notes_dirs[0] / "sleep.md").unlink()
        # as `bot ingest` does against a Chroma server the Bot reads: the store, not the Bot
        ingest(None, settings, notes.store, embedder, progress=False)
        assert notes.snapshot is served  # nothing moves until refresh
        assert notes.refresh() is True
        assert [n.id for n in notes.snapshot.notes] == ["tides-and-the-moon"]
        assert served.note("sleep-and-memory") is not None  # the old snapshot stays whole for its readers


def test_close_releases_the_store_so_a_second_bot_can_open(settings, embedder):
    first = Bot.open(settings, embedder=embedder, progress=False, purpose="bot (first)")
    with pytest.raises(StoreLocked, match=r"\(bot \(first\)\)"):
        Bot.open(settings, embedder=embedder)
    first.close()
    with Bot.open(settings, embedder=embedder, progress=False) as second:
        assert second.snapshot.version == 1


def test_bot_ask_opens_asks_and_closes(settings, embedder):
    with Bot.open(settings, embedder=embedder, progress=False) as notes:
        expected = notes.ask("What raises the tides?")
    answer = bot.ask("What raises the tides?", settings=settings)
    assert answer.model_dump() == expected.model_dump()
    with Bot.open(settings, embedder=embedder, progress=False):  # bot.ask let go of the store
        pass
