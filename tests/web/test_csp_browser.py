"""The Content-Security-Policy in a real browser (Debian's Chromium): signing in, the chat answering,
a cited note, the API docs and signing out all work under the policy with no violation reported,
and an inline script the server did not send is refused (the policy is enforced, and the listener
would have heard a violation)."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from bot.auth.accounts import Accounts

from ..conftest import SEEDS
from .browser_helpers import ARTIFACTS, chromium, require_browser, running_app
from .test_browser import ANSWER_TIMEOUT_MS, BOT

pytestmark = [pytest.mark.browser, pytest.mark.integration]

QUESTION = "Does warmth training make language models less reliable?"
# runs before any script of each page (Playwright injects it over DevTools, outside the policy)
RECORD_VIOLATIONS = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", e => window.__csp.push(
    `${e.violatedDirective} blocked ${e.blockedURI || "inline"} at ${e.sourceFile}:${e.lineNumber}`));
"""


def violations(page) -> list[str]:
    return page.evaluate("() => window.__csp || []")


def test_the_chat_works_under_the_content_security_policy(tmp_path):
    executable = require_browser()
    data = tmp_path / "data"
    Accounts(data / "users.json").add_user("ada", "ada's long password")
    console: list[str] = []
    with running_app(SEEDS, data, name="csp-app") as app, chromium(executable) as browser:
        browser.add_init_script(RECORD_VIOLATIONS)
        browser.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
        page = browser.new_page()
        policy = page.goto(app.url + "/login").headers["content-security-policy"]
        assert "default-src 'self'" in policy and "'unsafe-inline'" not in policy.split("script-src")[1].split(";")[0]
        page.fill("input[name=username]", "ada")
        page.fill("input[name=password]", "ada's long password")
        page.click("form.login button")
        page.wait_for_selector("#nb-question textarea")
        assert violations(page) == []

        page.fill("#nb-question textarea", QUESTION)
        page.press("#nb-question textarea", "Enter")
        page.wait_for_function("s => [...document.querySelectorAll(s)].some(e => /Sources:/.test(e.innerText))",
                               arg=BOT, timeout=ANSWER_TIMEOUT_MS)
        page.wait_for_selector("#nb-sources a")  # the sources panel filled in too
        page.screenshot(path=str(ARTIFACTS / "chat-under-csp.png"))
        assert violations(page) == [], violations(page)

        with browser.expect_page() as opened:
            page.locator(f"{BOT} a[href*='?hl=']").first.click()
        note = opened.value
        note.wait_for_load_state()
        assert note.locator("mark#hl").count() == 1 and violations(note) == []

        docs = browser.new_page()
        docs.goto(app.url + "/docs")
        docs.wait_for_selector(".swagger-ui .info", timeout=30_000)  # rendered by the page's inline script
        assert violations(docs) == [], violations(docs)

        # an inline script the server did not send is refused, and the refusal is heard
        page.evaluate("""() => { const s = document.createElement("script");
                                 s.textContent = "window.__injected = true"; document.body.appendChild(s); }""")
        page.wait_for_function("() => window.__csp.length > 0", timeout=5_000)
        assert page.evaluate("() => window.__injected") is None
        assert any(v.startswith("script-src") for v in violations(page))

        page.click("form.nb-signout button")  # signing out is a POST from the chat's header
        page.wait_for_selector("form.login")
        assert urlsplit(page.url).path == "/login"
        page.goto(app.url + "/notes")
        assert urlsplit(page.url).path == "/login"  # that session is over
    reported = [m for m in console if "Content Security Policy" in m and "__injected" not in m]
    # the one injected above is the only violation the console may mention
    assert len(reported) <= 1 and all("inline script" in m for m in reported), reported
