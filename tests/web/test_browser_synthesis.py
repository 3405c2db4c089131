"""A synthesized answer in a real browser: `python app.py` pointed at the scripted OpenAI-compatible
server (BOT_LLM_URL), Debian's Chromium via Playwright. The LLM's checked sentences lead the answer
with their numbered links, the quotes follow, a dropped sentence is nowhere in the answer, and the
"checked against the quotes" note opens on click to say what was left out and why. The screenshot
goes to test-artifacts/chat-synthesized.png (the README's docs/chat-synthesized.png)."""

from __future__ import annotations

import pytest

from ..conftest import SEEDS
from ..synthesis.llm_server import ScriptedLLM
from ..synthesis.synth_helpers import FAITHFUL, QUESTION
from .browser_helpers import ARTIFACTS, chromium, require_browser, running_app

pytestmark = [pytest.mark.browser, pytest.mark.integration]

BOT = "#nb-chat [data-testid='bot']"
ANSWER_TIMEOUT_MS = 60_000
INVENTED = "LLMs give solution-focused advice in 73% of emotional disclosures [1]."


@pytest.fixture(scope="module")
def llm():
    with ScriptedLLM(models=["notes-model"]) as server:
        yield server


@pytest.fixture(scope="module")
def app(llm, tmp_path_factory):
    require_browser()
    root = tmp_path_factory.mktemp("browser-synthesis")
    env = {"BOT_LLM_URL": llm.url, "BOT_LLM_MODEL": "notes-model", "BOT_LLM_TIMEOUT_SECONDS": "20"}
    with running_app(SEEDS, root / "data", name="browser-synthesis-app", settings=env) as app:
        yield app


def test_a_synthesized_answer_shows_checked_sentences_then_quotes_and_what_was_dropped(app, llm):
    llm.reset()
    llm.script({"reply": f"{FAITHFUL[0]} {INVENTED} {FAITHFUL[1]} {FAITHFUL[2]}", "chunk": 12})
    with chromium(require_browser()) as context:
        page = context.new_page()
        page.goto(app.url + "/")
        page.wait_for_selector("#nb-question textarea")
        page.fill("#nb-question textarea", QUESTION)
        page.press("#nb-question textarea", "Enter")
        page.wait_for_function(
            "selector => { const a = document.querySelector(selector); return a && /Sources:/.test(a.innerText); }",
            arg=BOT, timeout=ANSWER_TIMEOUT_MS)
        answer = page.locator(BOT).last
        text = " ".join(answer.inner_text().split())
        assert text.startswith("When people disclose emotions, LLMs tend to give solution-focused advice"), text
        assert "The quotes it rests on:" in text and answer.locator("blockquote").count() >= 2
        links = answer.locator("a[href*='?hl=']")
        assert links.count() >= 5  # three sentences' links, then each quote's
        note = answer.locator("details.nb-checked")
        assert note.count() == 1, answer.inner_html()
        assert "73%" not in text.split("Checked against the quotes")[0]  # the dropped sentence: never in the answer
        assert not note.locator("li").first.is_visible()  # closed until clicked
        note.locator("summary").click()
        dropped = note.locator("li").first
        dropped.wait_for(state="visible")
        assert "73% of emotional disclosures" in dropped.inner_text()
        assert "the number 73% is in none of the cited passages" in dropped.inner_text()
        assert "73%" in (note.locator("summary").get_attribute("title") or "")  # and on hover
        page.set_viewport_size({"width": 1400, "height": 1500})  # room for the whole answer
        page.locator("#nb-chat [data-testid='user']").last.evaluate("el => el.scrollIntoView({block: 'start'})")
        page.wait_for_timeout(300)
        page.screenshot(path=str(ARTIFACTS / "chat-synthesized.png"), clip={"x": 0, "y": 0, "width": 1400, "height": 1180})
        page.close()
    sent = llm.requests()[-1]["body"]
    assert sent["model"] == "notes-model" and sent["messages"][-1]["content"].endswith(f"Question: {QUESTION}")
