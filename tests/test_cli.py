"""`bot ask`: the answer as Markdown or JSON, with links absolute under BOT_PUBLIC_URL."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from bot.cli import cli

from .conftest import SEEDS

pytestmark = pytest.mark.integration

QUESTION = "What is the arXiv id of the RLVER paper?"


def test_ask_json_links_are_relative_or_absolute_under_the_public_url(monkeypatch):
    monkeypatch.setenv("BOT_NOTES_DIR", str(SEEDS))
    runner = CliRunner()
    relative = json.loads(runner.invoke(cli, ["ask", "--json", QUESTION], catch_exceptions=False).stdout)
    first = relative["citations"][0]
    assert "arXiv:2507.03112" in first["quote"] and first["url"].startswith("/notes/")
    assert first["links"] == []  # the anchor-paper line names no note of the collection

    monkeypatch.setenv("BOT_PUBLIC_URL", "https://notes.example.org/bot/")
    result = runner.invoke(cli, ["ask", "--json", QUESTION], catch_exceptions=False)
    absolute = json.loads(result.stdout)
    assert absolute["citations"][0]["url"] == "https://notes.example.org/bot" + first["url"]
    assert "](/notes/" not in absolute["answer"] and "](https://notes.example.org/bot/notes/" in absolute["answer"]
    text = runner.invoke(cli, ["ask", QUESTION], catch_exceptions=False).stdout
    assert "(https://notes.example.org/bot/notes/" in text


def test_a_public_url_that_is_not_an_address_is_refused(monkeypatch):
    monkeypatch.setenv("BOT_PUBLIC_URL", "notes.example.org")
    result = CliRunner().invoke(cli, ["ask", QUESTION])
    assert result.exit_code != 0 and "BOT_PUBLIC_URL" in result.output and "https://" in result.output
