"""Killing ingest with SIGKILL at any point leaves an index that answers, and the next run finishes."""

from __future__ import annotations

import json
import os
import random
import re
import signal
import subprocess
import sys
import threading

import pytest

from bot.query.answer import answer_question
from bot.service import Bot
from bot.index.ingest import ingest
from bot.settings import Settings
from bot.index.store import Store

pytestmark = pytest.mark.integration

WORDS = ("protein cell gene signal receptor neuron tissue enzyme pathway mutation therapy immune "
         "response cancer tumor virus brain memory learning model reward policy agent empathy").split()

SCRIPT = """
import sys
import bot.index.ingest as ingest_module
ingest_module.BATCH_CHUNKS = 8  # many small write batches, so the kill lands between and inside them
from bot.index.embedder import Embedder
from bot.settings import Settings
from bot.index.store import Store
settings = Settings()
embedder = Embedder.load(settings)
with Store.open(settings, embedder.fingerprint, purpose="bot ingest") as store:
    ingest_module.ingest([sys.argv[1]], settings, store, embedder, progress=True)
"""


def write_corpus(path, count):
    rng = random.Random(7)
    with path.open("w") as handle:
        for i in range(count):
            sentences = [" ".join(rng.choice(WORDS) for _ in range(12)).capitalize() + "." for _ in range(4)]
            handle.write(json.dumps({"_id": f"doc{i}", "title": f"Study {i} of {rng.choice(WORDS)}",
                                     "text": " ".join(sentences)}) + "\n")


def run_until(settings, corpus, fraction):
    """Start ingest in a subprocess and SIGKILL it once `fraction` of the texts are embedded."""
    env = {**os.environ, "BOT_DATA_DIR": str(settings.data_dir), "BOT_NOTES_DIR": settings.notes_dir}
    process = subprocess.Popen([sys.executable, "-c", SCRIPT, str(corpus)], env=env,
                               stderr=subprocess.PIPE, stdout=subprocess.DEVNULL)
    killed = threading.Event()

    def watch():
        buffer = ""
        while True:
            char = process.stderr.read(1)
            if not char:
                return
            buffer = (buffer + char.decode(errors="replace"))[-200:]
            match = re.findall(r"(\d+)/(\d+) ", buffer)  # complete numbers only
            if match:
                done, total = map(int, match[-1])
                if total and done >= fraction * total:
                    process.send_signal(signal.SIGKILL)
                    killed.set()
                    return

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    process.wait(timeout=300)
    watcher.join(timeout=5)
    return killed.is_set(), process.returncode


@pytest.mark.parametrize("fraction", [0.15, 0.6])
def test_kill_mid_ingest(tmp_path, seeds_copy, embedder, fraction):
    settings = Settings(data_dir=tmp_path / "data", notes_dir=str(seeds_copy))
    with Store.open(settings, embedder.fingerprint) as store:
        assert ingest(None, settings, store, embedder, progress=False).version == 1
    corpus = tmp_path / "big" / "corpus.jsonl"
    corpus.parent.mkdir()
    write_corpus(corpus, 150)

    killed, code = run_until(settings, corpus, fraction)
    assert killed and code == -signal.SIGKILL

    # The store opens (the lock died with its holder), still serves version 1, and answers.
    index = Bot.open(settings, build_if_missing=False, progress=False).index
    try:
        assert index.snapshot.version == 1
        assert len(index.snapshot.notes) == 25
        answer = answer_question(index, "Does warmth training make language models less reliable?")
        assert not answer.abstained
        for citation in answer.citations:
            note = index.snapshot.note(citation.note_id)
            assert note.text[citation.start:citation.end] == citation.quote
        # The next run completes the work, reusing what the killed run embedded.
        report = ingest([corpus], settings, index.store, index.embedder, progress=False)
        assert report.version == 2 and report.notes == 175 and len(report.added) == 150
        assert report.embedded_texts < 150 * 5
        assert index.refresh()
        assert len(index.snapshot.notes) == 175
        live_keys = {r.key for r in index.store.note_records() if r.live_at(2)}
        chunk_keys = {cid.rsplit("#", 1)[0] for cid in index.store.chunk_ids()}
        assert chunk_keys <= live_keys | {r.key for r in index.store.note_records()}
        assert len(index.snapshot.chunk_ids) == report.chunks
    finally:
        index.close()
