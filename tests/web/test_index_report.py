"""The index report through the real app (embedded Chroma, the bundled model, a real runtime):
`GET /api/index`, the `/index` page and the chat's Index panel, with a skipped file whose name is
markup and a file that failed."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from bot.index.progress import BuildProgress
from bot.settings import Settings

pytestmark = pytest.mark.integration

HOSTILE_NAME = "<script>alert(1).md"  # a file name can't hold the closing tag's slash
KEYS = ["version", "notes", "chunks", "building", "partial", "last_ingest", "files"]


@pytest.fixture(scope="module")
def reported(tmp_path_factory):
    from bot.web.app import create_app
    from bot.web.runtime import AppRuntime

    root = tmp_path_factory.mktemp("report")
    notes = root / "notes"
    notes.mkdir()
    (notes / "tides.md").write_text("# Tides and the moon\n\nThe moon's pull raises the tides twice a day.\n")
    (notes / "sleep.md").write_text("# Sleep and memory\n\nSleep consolidates the memories of the day.\n")
    (notes / HOSTILE_NAME).write_bytes(b"\x00\x01 binary, not a note")
    (notes / "latin1.txt").write_bytes("caf\xe9 au lait".encode("latin-1"))
    settings = Settings(notes_dir=str(notes), data_dir=root / "data", rescan_seconds=0,
                        allowed_hosts="testserver,localhost,127.0.0.1", rate_limit_user=0, rate_limit_address=0)
    runtime = AppRuntime(settings, purpose="app (tests)", progress=False)
    runtime.start()
    assert runtime.wait_ready(300), runtime.error
    runtime.reindex(wait=True, timeout=300)
    with TestClient(create_app(settings, runtime=runtime)) as client:
        yield client, runtime, notes
    runtime.close()


def test_api_index_has_exactly_its_keys_and_problem_files_first(reported):
    client, _, notes = reported
    body = client.get("/api/index").json()
    assert list(body) == KEYS
    assert body["version"] >= 1 and body["notes"] == 2 and body["chunks"] >= 2 and body["building"] is None
    last = body["last_ingest"]
    assert set(last) == {"started", "finished", "added", "updated", "removed", "skipped", "failed", "error"}
    assert last["skipped"] == 2 and last["failed"] == 0 and last["error"] is None
    statuses = [f["status"] for f in body["files"]]
    assert statuses == ["skipped", "skipped", "indexed", "indexed"]
    by_name = {f["path"].rsplit("/", 1)[1]: f for f in body["files"]}
    assert by_name[HOSTILE_NAME]["reason"] == "binary file, not text"
    assert by_name["latin1.txt"]["reason"].startswith("not UTF-8 text")
    assert by_name["tides.md"]["notes"] == 1 and by_name["tides.md"]["chunks"] >= 1


def test_the_index_page_lists_the_same_files_and_escapes_their_names(reported):
    client, _, _ = reported
    page = client.get("/index")
    assert page.status_code == 200
    assert "<script>alert(1)" not in page.text
    assert "&lt;script&gt;alert(1).md" in page.text
    assert page.text.index("binary file, not text") < page.text.index("tides.md")
    assert "2 skipped, 0 failed" in page.text


def test_the_chat_panel_shows_the_problem_files_and_the_build(reported):
    from bot.web.chat import _status_markdown
    from bot.web.index_view import building_line

    _, runtime, _ = reported
    panel = _status_markdown(runtime)
    assert "Files: 2 indexed, 2 skipped, 0 failed" in panel
    assert "`" + str(reported[2] / HOSTILE_NAME) + "`: binary file, not text" in panel
    assert building_line(None) == ""


def test_build_progress_gives_an_eta_from_the_rate_so_far():
    now = [100.0]
    progress = BuildProgress(clock=lambda: now[0])
    assert progress.view() is None
    progress.update(0, 300)
    now[0] += 10
    progress.update(100, 300)
    assert progress.view() == {"done": 100, "total": 300, "eta_seconds": 20.0}
    progress.finish()
    assert progress.view() is None
