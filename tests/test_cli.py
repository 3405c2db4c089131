"""The `bot` command through click's CliRunner, in process, on real components: exit codes (0 done,
2 input that can't be used, 1 the rest), every error one line without a traceback, and the JSON
that other programs read (`bot ask --json` is an `Answer`, key for key)."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from bot.cli import cli
from bot.index.store import Store
from bot.models import Answer
from bot.settings import Settings
from bot.tools.docs import settings_table

from .conftest import SEEDS

NOTES = {
    "tides.md": "# Tides and the moon\n\nThe moon's pull raises the tides twice a day.\n",
    "sleep.md": "# Sleep and memory\n\nSleep consolidates the memories of the day.\n",
}
# The keys scripts read keep their names and order; synthesis (issue 12) only appended its own.
ANSWER_KEYS = ["question", "answer", "abstained", "citations", "suggestions", "related",
               "mode", "sentences", "dropped", "fallback_reason", "partial"]


@pytest.fixture
def notes(tmp_path, monkeypatch):
    folder = tmp_path / "notes"
    folder.mkdir()
    for name, text in NOTES.items():
        (folder / name).write_text(text, encoding="utf-8")
    monkeypatch.setenv("BOT_NOTES_DIR", str(folder))
    return folder


def run(*args: str, input: str | None = None):
    return CliRunner().invoke(cli, list(args), input=input)


def one_error_line(result, *, code: int) -> str:
    """The result failed with `code`, saying so in one `Error: ...` line and no traceback."""
    assert result.exit_code == code, result.output
    assert isinstance(result.exception, SystemExit)  # ended on purpose, not by an exception
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    assert "Traceback" not in result.output
    return lines[0]


# --- bad settings: one line naming the variable, exit 2, for every command that reads them -------


@pytest.mark.parametrize("command", [
    ["settings"], ["ingest", "--no-progress"], ["ask", "Why sleep?"], ["users", "list"],
    ["eval", "--beir", "."], ["serve"],
])
def test_a_bad_setting_is_one_line_naming_it_and_exit_2(monkeypatch, command):
    monkeypatch.setenv("BOT_PORT", "abc")
    line = one_error_line(run(*command), code=2)
    assert line.startswith("Error: BOT_PORT='abc': Input should be a valid integer")


def test_a_missing_env_file_is_one_line_and_exit_2(monkeypatch, tmp_path):
    monkeypatch.setenv("BOT_ENV_FILE", str(tmp_path / "missing.env"))
    assert one_error_line(run("settings"), code=2).startswith("Error: BOT_ENV_FILE=")


# --- bot settings ---------------------------------------------------------------------------------


def test_settings_lists_every_setting_with_its_value(monkeypatch):
    monkeypatch.setenv("BOT_PORT", "8123")
    result = run("settings")
    assert result.exit_code == 0
    shown = dict(line.split("=", 1) for line in result.stdout.splitlines())
    assert list(shown) == [f"BOT_{name.upper()}" for name in Settings.model_fields]
    assert shown["BOT_PORT"] == "8123" and shown["BOT_HOST"] == "127.0.0.1"


def test_settings_markdown_is_the_readmes_table():
    result = run("settings", "--markdown")
    assert result.exit_code == 0 and result.stdout.strip() == settings_table().strip()


# --- bot ingest -----------------------------------------------------------------------------------


@pytest.mark.integration
def test_ingest_succeeds_then_has_nothing_to_do(notes, embedder):
    first = run("ingest", "--no-progress")
    assert first.exit_code == 0, first.output
    assert "2 notes: 2 added, 0 updated, 0 unchanged, 0 removed" in first.stdout
    again = run("ingest", "--no-progress", "--json")
    assert again.exit_code == 0, again.output
    report = json.loads(again.stdout)
    assert report["notes"] == 2 and report["added"] == 0 and report["unchanged"] == 2 and report["version"] == 1


@pytest.mark.integration
def test_ingest_names_skipped_files_on_stderr_and_still_succeeds(notes, embedder):
    (notes / "broken.md").write_bytes(b"\x00\x01binary")
    result = run("ingest", "--no-progress")
    assert result.exit_code == 0
    assert f"skipped {notes / 'broken.md'}: binary file, not text" in result.stderr
    assert "3 files: 2 indexed, 1 skipped, 0 failed" in result.stdout


def test_ingest_of_a_path_that_does_not_exist_is_one_line_and_exit_2(tmp_path):
    line = one_error_line(run("ingest", "--no-progress", str(tmp_path / "nowhere")), code=2)
    assert line == f"Error: no such file or folder: {tmp_path / 'nowhere'}"


@pytest.mark.integration
def test_ingest_with_a_failed_file_is_exit_1_and_json_lists_every_file(notes, embedder, monkeypatch):
    import bot.notes.files as files

    real_parse = files.parse_file

    def parse(text, path, **kwargs):  # a parser bug on one file: failed, not skipped
        if path.endswith("bug.md"):
            raise RuntimeError("parser bug")
        return real_parse(text, path, **kwargs)

    monkeypatch.setattr(files, "parse_file", parse)
    (notes / "bug.md").write_text("# Bug\n\nThis one trips the parser.\n", encoding="utf-8")
    (notes / "empty.md").write_text("", encoding="utf-8")
    result = run("ingest", "--no-progress", "--json")
    assert result.exit_code == 1, result.output
    report = json.loads(result.stdout)
    by_name = {entry["path"].rsplit("/", 1)[1]: entry for entry in report["files"]}
    assert set(by_name) == {"tides.md", "sleep.md", "bug.md", "empty.md"}
    assert by_name["bug.md"]["status"] == "failed" and "parser bug" in by_name["bug.md"]["reason"]
    assert by_name["empty.md"] == {**by_name["empty.md"], "status": "skipped", "reason": "empty file", "notes": 0}
    assert by_name["tides.md"]["status"] == "indexed" and by_name["tides.md"]["notes"] == 1
    assert by_name["tides.md"]["chunks"] >= 1 and by_name["tides.md"]["hash"] and by_name["tides.md"]["indexed_at"]
    assert [f["path"] for f in report["failed"]] == [str(notes / "bug.md")]
    assert "1 file(s) failed" in result.stderr


@pytest.mark.integration
def test_ingest_beside_a_process_that_owns_the_store_is_exit_1_with_the_reason(notes, embedder):
    settings = Settings()
    with Store.open(settings, embedder.fingerprint, purpose="app on http://127.0.0.1:7860"):
        line = one_error_line(run("ingest", "--no-progress"), code=1)
    assert "is in use by process" in line and "re-index button" in line


# --- bot ask --------------------------------------------------------------------------------------


@pytest.mark.parametrize("question", ["", "   ", "x" * 2001])
def test_ask_refuses_an_empty_or_over_long_question_with_exit_2(question):
    line = one_error_line(run("ask", question), code=2)
    assert "the question is empty" in line or "BOT_MAX_QUESTION_CHARS" in line


def test_the_question_limit_is_the_setting(monkeypatch):
    monkeypatch.setenv("BOT_MAX_QUESTION_CHARS", "10")
    assert "the limit is 10" in one_error_line(run("ask", "a question longer than ten"), code=2)


@pytest.mark.integration
def test_ask_json_is_an_answer_key_for_key(notes, embedder):
    result = run("ask", "--json", "What raises the tides?")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert list(data) == ANSWER_KEYS == list(Answer.model_fields)
    answer = Answer.model_validate(data)
    assert answer.question == "What raises the tides?" and not answer.abstained
    assert answer.citations[0].note_id == "tides-and-the-moon"
    # the keys scripts read keep their names and order; issue 11 added each quote's links
    assert list(data["citations"][0]) == ["n", "note_id", "title", "url", "quote", "start", "end", "score", "links"]
    assert answer.citations[0].quote in (notes / "tides.md").read_text()


def test_ask_json_says_when_the_index_is_a_partial_one(notes, embedder):
    """A first build cut short leaves a partial version; answers from it say so (issue 14)."""
    from bot.service import Bot

    assert run("ingest", "--no-progress").exit_code == 0
    with Bot.open(Settings(), build_if_missing=False) as opened:  # as if its build had stopped at 2 of 5 notes
        version = opened.store.metadata()["index_version"]
        opened.store.commit(version, partial=True, notes=2, notes_total=5, ingest_started="then")
    result = run("ask", "--json", "What raises the tides?")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["partial"] == {"notes_indexed": 2, "notes_total": 5} and data["citations"]
    assert data["answer"].startswith("*Answered from a partial index: 2 of 5 notes indexed so far.*")


@pytest.mark.integration
def test_ask_prints_the_answer_and_filters_by_note(notes, embedder):
    plain = run("ask", "What raises the tides?")
    assert plain.exit_code == 0 and "The moon's pull raises the tides" in plain.stdout
    only_sleep = run("ask", "--json", "--note", "sleep-and-memory", "What raises the tides?")
    assert only_sleep.exit_code == 0
    cited = {c["note_id"] for c in json.loads(only_sleep.stdout)["citations"]}
    assert cited <= {"sleep-and-memory"}


def test_ask_refuses_an_unknown_kind_with_exit_2():
    result = run("ask", "--kind", "poem", "Why?")
    assert result.exit_code == 2 and "Invalid value for '--kind'" in result.stderr


# --- bot eval -------------------------------------------------------------------------------------


def test_eval_on_a_folder_that_isnt_beir_is_exit_2_naming_what_is_missing(tmp_path):
    (tmp_path / "notes.md").write_text("# Not a dataset\n\nJust a note.\n")
    line = one_error_line(run("eval", "--beir", str(tmp_path)), code=2)
    assert "corpus.jsonl is missing" in line


def test_eval_on_a_folder_that_doesnt_exist_is_exit_2(tmp_path):
    result = run("eval", "--beir", str(tmp_path / "nowhere"))
    assert result.exit_code == 2 and "Traceback" not in result.output


# --- help -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("command", [[], ["ingest"], ["ask"], ["eval"], ["serve"], ["adapt"], ["users"],
                                     ["users", "add"], ["tokens"], ["tokens", "create"], ["settings"]])
def test_every_command_has_help(command):
    result = run(*command, "--help")
    assert result.exit_code == 0 and result.stdout.startswith("Usage: ")
    assert len(result.stdout.splitlines()) > 4  # a description, not just the usage line


# --- links absolute under BOT_PUBLIC_URL ---------------------------------------------------------

ARXIV_QUESTION = "What is the arXiv id of the RLVER paper?"


@pytest.mark.integration
def test_ask_json_links_are_relative_or_absolute_under_the_public_url(monkeypatch):
    monkeypatch.setenv("BOT_NOTES_DIR", str(SEEDS))
    runner = CliRunner()
    relative = json.loads(runner.invoke(cli, ["ask", "--json", ARXIV_QUESTION], catch_exceptions=False).stdout)
    first = relative["citations"][0]
    assert "arXiv:2507.03112" in first["quote"] and first["url"].startswith("/notes/")
    assert first["links"] == []  # the anchor-paper line names no note of the collection

    monkeypatch.setenv("BOT_PUBLIC_URL", "https://notes.example.org/bot/")
    result = runner.invoke(cli, ["ask", "--json", ARXIV_QUESTION], catch_exceptions=False)
    absolute = json.loads(result.stdout)
    assert absolute["citations"][0]["url"] == "https://notes.example.org/bot" + first["url"]
    assert "](/notes/" not in absolute["answer"] and "](https://notes.example.org/bot/notes/" in absolute["answer"]
    text = runner.invoke(cli, ["ask", ARXIV_QUESTION], catch_exceptions=False).stdout
    assert "(https://notes.example.org/bot/notes/" in text


def test_a_public_url_that_is_not_an_address_is_refused(monkeypatch):
    monkeypatch.setenv("BOT_PUBLIC_URL", "notes.example.org")
    result = CliRunner().invoke(cli, ["ask", ARXIV_QUESTION])
    assert result.exit_code != 0 and "BOT_PUBLIC_URL" in result.output and "https://" in result.output
