"""Signing in with a real browser (Debian's Chromium): the chat sends you to the sign-in page and
back, the chat answers, a citation clicked in the chat opens its note (the sign-in cookie opens the
note pages), and signing out closes them again. The app runs with a users file, so login is on."""

from __future__ import annotations

import sqlite3
from urllib.parse import urlsplit

import pytest

from bot.auth.accounts import Accounts

from .browser_helpers import ARTIFACTS, chromium, require_browser, running_app
from ..conftest import SEEDS
from .test_browser import ANSWER_TIMEOUT_MS, BOT

pytestmark = [pytest.mark.browser, pytest.mark.integration]

QUESTION = "Does warmth training make language models less reliable?"


def test_sign_in_ask_and_open_a_cited_note_in_a_browser(tmp_path):
    executable = require_browser()
    data = tmp_path / "data"
    Accounts(data / "users.json").add_user("ada", "ada's long password")
    with running_app(SEEDS, data, name="login-app") as app, chromium(executable) as browser:
        page = browser.new_page()
        page.goto(app.url + "/")
        page.wait_for_selector("form.login")
        assert urlsplit(page.url).path == "/login"
        page.fill("input[name=username]", "ada")
        page.fill("input[name=password]", "not it")
        page.click("form.login button")
        page.wait_for_selector("p.notice")
        assert "Wrong user name or password." in page.inner_text("p.notice")
        page.fill("input[name=password]", "ada's long password")
        page.click("form.login button")
        page.wait_for_selector("#nb-question textarea")
        assert urlsplit(page.url).path == "/"
        page.wait_for_selector("form.nb-signout button")  # signing out is a POST (a form), never a link
        assert "Sign out (ada)" in page.inner_text("form.nb-signout")

        page.fill("#nb-question textarea", QUESTION)
        page.press("#nb-question textarea", "Enter")
        page.wait_for_function("s => [...document.querySelectorAll(s)].some(e => /Sources:/.test(e.innerText))",
                               arg=BOT, timeout=ANSWER_TIMEOUT_MS)
        with browser.expect_page() as opened:
            page.locator(f"{BOT} a[href*='?hl=']").first.click()
        note = opened.value
        note.wait_for_load_state()
        assert urlsplit(note.url).path.startswith("/notes/")
        assert note.locator("mark#hl").count() == 1
        assert "Sign out (ada)" in note.inner_text("header.site")
        note.screenshot(path=str(ARTIFACTS / "note-signed-in.png"))

        page.locator(f"{BOT}").last.hover()
        page.locator("#nb-chat button[aria-label='Like']").last.click()
        rows = []
        for _ in range(50):
            rows = sqlite3.connect(data / "feedback.sqlite").execute("SELECT user, rating FROM feedback").fetchall()
            if rows:
                break
            page.wait_for_timeout(100)
        assert rows == [("ada", "up")]  # the vote carries who signed in

        note.click("header.site form.signout button")
        note.wait_for_selector("form.login")
        note.goto(app.url + "/notes")
        assert urlsplit(note.url).path == "/login"  # signed out: the pages are closed again
