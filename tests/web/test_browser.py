"""The app in a real browser: `python app.py` on a free loopback port, Debian's Chromium via Playwright.

Ask a seed question, wait for the streamed answer, check its quotes and numbered links, click
citation [1] to the note with the passage highlighted, follow a "cited by" link, see `<think>`
shown literally, and check that a hostile note's markup never runs. Screenshots go to
test-artifacts/.
"""

from __future__ import annotations

import re
import sqlite3
from urllib.parse import unquote, urlsplit

import pytest

from .browser_helpers import ARTIFACTS, chromium, require_browser, running_app
from .web_helpers import HOSTILE_NOTE, HOSTILE_TITLE, THINK_NOTE, make_collection

pytestmark = [pytest.mark.browser, pytest.mark.integration]

THINK_QUESTION = "What do <think>...</think> blocks before each response do for empathy?"
THERAPY_QUESTION = "Do LLM therapists respond to emotions like low-quality human therapists?"
HOSTILE_QUESTION = "Can hostile markup in a note run script?"
ANSWER_TIMEOUT_MS = 60_000

BOT = "#nb-chat [data-testid='bot']"
USER = "#nb-chat [data-testid='user']"


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    require_browser()
    root = tmp_path_factory.mktemp("browser")
    with running_app(make_collection(root), root / "data", name="browser-app") as app:
        yield app


@pytest.fixture(scope="module")
def browser(app):
    with chromium(require_browser()) as context:
        context.requests = []  # every URL the browser asked for, to prove the page needs no outside network
        context.on("request", lambda request: context.requests.append(request.url))
        context.dialogs = []
        context.on("dialog", lambda dialog: (context.dialogs.append(dialog.message), dialog.dismiss()))
        yield context


@pytest.fixture
def page(browser):
    page = browser.new_page()
    page.on("dialog", lambda dialog: (browser.dialogs.append(dialog.message), dialog.dismiss()))
    yield page
    page.close()


def open_chat(page, app):
    page.goto(app.url + "/")
    page.wait_for_selector("#nb-question textarea")
    page.wait_for_selector("#nb-chat button:has-text('?')")  # the example questions have loaded


def ask(page, question: str) -> str:
    """Type a question, press Enter, wait for the whole streamed answer; its visible text."""
    answers_before = page.locator(BOT).count()
    page.fill("#nb-question textarea", question)
    page.press("#nb-question textarea", "Enter")
    last = page.locator(BOT).nth(answers_before)
    last.wait_for(timeout=ANSWER_TIMEOUT_MS)
    page.wait_for_function(
        """([selector, n]) => {
            const answer = document.querySelectorAll(selector)[n];
            return answer && /Sources:|None of the notes|Nothing new|unavailable|went wrong|can't be used/.test(answer.innerText);
        }""",
        arg=[BOT, answers_before], timeout=ANSWER_TIMEOUT_MS,
    )
    return last.inner_text()


def normalise(text: str) -> str:
    return " ".join(text.split())


def test_a_cited_answer_leads_to_the_highlighted_passage_and_on_to_what_cites_it(page, app, browser):
    open_chat(page, app)
    answer_text = ask(page, THERAPY_QUESTION)

    answer = page.locator(BOT).last
    quotes = answer.locator("blockquote")
    assert quotes.count() >= 1, answer_text
    citations = answer.locator("a[href*='?hl=']")
    numbers = [normalise(citations.nth(i).inner_text()) for i in range(citations.count())]
    assert numbers and numbers[0] in ("[1]", "1"), numbers
    assert re.fullmatch(r"/notes/[^?]+\?hl=\d+-\d+#hl", citations.first.get_attribute("href"))
    first_quote = normalise(quotes.first.inner_text())
    first_quote = re.sub(r"\s*\[?1\]?$", "", first_quote)  # the citation number follows the quote
    sources_panel = page.locator("#nb-sources")
    assert "[1]" in sources_panel.inner_text()
    page.screenshot(path=str(ARTIFACTS / "chat.png"), full_page=True)

    with browser.expect_page() as opened:  # chat links open in a new tab
        citations.first.click()
    note_page = opened.value
    note_page.wait_for_load_state()
    url = urlsplit(note_page.url)
    cited_id = unquote(url.path.rsplit("/", 1)[-1])
    assert url.path.startswith("/notes/") and url.fragment == "hl"
    mark = note_page.locator("mark#hl")
    assert normalise(mark.inner_text()) == first_quote
    top = mark.evaluate("m => m.getBoundingClientRect().top")
    assert 0 <= top < note_page.viewport_size["height"], "the highlighted passage is scrolled into view"
    note_page.screenshot(path=str(ARTIFACTS / "note.png"))

    if note_page.locator("#cited-by a").count() == 0:
        # [1] is an inquiring line nothing cites: go on to a note it cites inline, whose page
        # then lists it under "cited by"
        inline = note_page.locator(".body a").first
        assert inline.count() == 1, "every inquiring line in the seeds cites notes inline"
        inline.click()
        note_page.wait_for_load_state()
        cited_id = unquote(urlsplit(note_page.url).path.rsplit("/", 1)[-1])
    cited_by = note_page.locator("#cited-by a")
    assert cited_by.count() >= 1, f"{cited_id} is cited by an inquiry in the seeds"
    cited_by.first.click()
    note_page.wait_for_load_state()
    citing_id = unquote(urlsplit(note_page.url).path.rsplit("/", 1)[-1])
    assert citing_id != cited_id
    assert note_page.locator(f".body a[href='/notes/{cited_id}']").count() >= 1
    note_page.screenshot(path=str(ARTIFACTS / "note-cited-by.png"))
    note_page.close()


MENTION_QUESTION = "Does empathy training make AI systems less reliable when users are sad?"


def test_a_note_a_quote_mentions_is_a_link_that_opens_that_note(page, app, browser):
    """An inline citation inside a quote is shown as a link (the quote's words unchanged) and opens
    the note it names; the note's own *emphasis* shows as emphasis."""
    open_chat(page, app)
    ask(page, MENTION_QUESTION)
    answer = page.locator(BOT).last
    mentions = answer.locator("blockquote a[href^='/notes/']:not([href*='?hl='])")
    assert mentions.count() >= 1, answer.inner_text()
    mention = mentions.first
    title = normalise(mention.inner_text())
    href = mention.get_attribute("href")
    assert title.endswith("?") and re.fullmatch(r"/notes/[a-z0-9-]+", href)
    panel = page.locator(f"#nb-sources blockquote a[href='{href}']")  # the sources panel links it too
    assert panel.count() >= 1 and normalise(panel.first.inner_text()) == title
    assert answer.locator("blockquote em").count() >= 1  # "*worse*" in the notes, shown as emphasis
    assert "*worse*" not in answer.inner_text()
    page.screenshot(path=str(ARTIFACTS / "chat-mention.png"))

    with browser.expect_page() as opened:
        mention.click()
    note_page = opened.value
    note_page.wait_for_load_state()
    assert urlsplit(note_page.url).path == href
    assert normalise(note_page.locator("h1").inner_text()) == title
    note_page.close()


def test_the_question_and_the_chat_buttons_stay_clear_of_a_long_answer(page, app):
    """Scrolled, the asked question stays in view above its answer, and the chat's own buttons
    (clear, copy all) sit on a band of their own instead of over the top message."""
    open_chat(page, app)
    ask(page, MENTION_QUESTION)
    page.locator("#nb-chat .bubble-wrap").evaluate("box => box.scrollTo(0, box.scrollHeight)")
    page.wait_for_timeout(300)
    box = page.locator("#nb-chat .bubble-wrap").bounding_box()
    question = page.locator("#nb-chat .user-row").last.bounding_box()
    buttons = page.locator("#nb-chat .top-panel").bounding_box()
    assert box["y"] <= question["y"] < box["y"] + box["height"] / 2, (box, question)
    assert question["y"] >= buttons["y"] + buttons["height"] - 1, (question, buttons)
    page.screenshot(path=str(ARTIFACTS / "chat-scrolled.png"))


def test_a_highlight_in_a_section_lands_below_the_sticky_header_with_the_title_in_view(page, app):
    page.goto(f"{app.url}/notes/why-does-effective-empathy-require-deep-character-knowledge-of-the-person")
    text = page.locator("#section-research-prompt .body").inner_text()
    assert "arXiv:2507.03112" in text
    response = page.request.post(f"{app.url}/api/ask", data={"question": "What is the arXiv id of the RLVER paper?"})
    citation = response.json()["citations"][0]
    page.goto(app.url + citation["url"])
    page.wait_for_timeout(300)
    mark = page.locator("mark#hl").bounding_box()
    header = page.locator("header.site").bounding_box()
    assert header["y"] + header["height"] <= mark["y"] < page.viewport_size["height"], (header, mark)
    assert normalise(page.locator("header.site .here").inner_text()) == citation["title"]
    assert page.locator("header.site .here").is_visible()
    assert "arXiv:2507.03112" in page.locator("mark#hl").inner_text()
    page.screenshot(path=str(ARTIFACTS / "note-section-highlight.png"))


def test_think_tags_show_literally_in_the_chat_and_on_the_note_page(page, app):
    open_chat(page, app)
    page.click("#nb-filters")  # only notes of kind "note": the seed with <think> in it answers
    page.get_by_label("note", exact=True).check()
    answer_text = ask(page, THINK_QUESTION)
    assert THINK_QUESTION in page.locator(USER).last.inner_text()
    assert "<think>...</think>" in answer_text
    assert page.locator("#nb-chat think").count() == 0  # text, never an element
    page.screenshot(path=str(ARTIFACTS / "chat-think.png"), full_page=True)

    page.goto(f"{app.url}/notes/{THINK_NOTE}")
    assert "<think>...</think>blocks before each response" in page.locator("#body").inner_text()
    assert page.locator("think").count() == 0


def test_nothing_from_a_hostile_note_or_question_ever_runs(page, app, browser):
    page.add_init_script("window.__xss = undefined;")
    open_chat(page, app)
    # the hostile note's title is one of the example questions: shown, and asked when clicked
    example = page.locator("#nb-chat button", has_text="title run script?")
    assert example.count() == 1
    example.click()
    page.wait_for_function(
        "s => [...document.querySelectorAll(s)].some(e => /Sources:|None of the notes/.test(e.innerText))",
        arg=BOT, timeout=ANSWER_TIMEOUT_MS,
    )
    assert HOSTILE_TITLE in page.locator(USER).last.inner_text()
    answer_text = ask(page, HOSTILE_QUESTION + ' <img src=x onerror="window.__xss=\'question\'"><script>window.__xss="q"</script>')
    assert "<script>" in page.locator(USER).last.inner_text()
    assert "window.__xss" in answer_text  # the note's markup is quoted, as text
    sources = page.locator("#nb-sources").inner_text()
    assert "window.__xss" in sources
    page.wait_for_timeout(500)  # an onerror would have fired by now
    assert page.evaluate("window.__xss") is None
    for selector in ("#nb-chat img", "#nb-chat script", "#nb-chat iframe", "#nb-sources img", "#nb-sources script"):
        assert page.locator(selector).count() == 0, selector

    for url in (f"/notes/{HOSTILE_NOTE}", "/notes?q=hostile+markup", "/notes", "/notes/%3Cscript%3Ewindow.__xss=1%3C%2Fscript%3E"):
        page.goto(app.url + url)
        page.wait_for_timeout(200)
        assert page.evaluate("window.__xss") is None, url
        assert page.locator("main img, main script, main iframe").count() == 0, url
    page.goto(f"{app.url}/notes/{HOSTILE_NOTE}")
    assert "<script>window.__xss = 'script'</script>" in page.locator("#body").inner_text()
    page.screenshot(path=str(ARTIFACTS / "note-hostile.png"))
    assert browser.dialogs == []


def test_a_follow_up_quotes_passages_the_previous_answer_did_not(page, app):
    """Issue 11: "why is that?" used to repeat two of the same three quotes word for word."""
    open_chat(page, app)
    ask(page, "Does warmth training make language models less reliable?")
    ask(page, "why is that?")
    first, follow_up = page.locator(BOT).nth(0), page.locator(BOT).nth(1)

    def quotes(answer) -> set[str]:
        texts = answer.locator("blockquote")
        return {re.sub(r"\s*\[?\d+\]?$", "", normalise(texts.nth(i).inner_text())) for i in range(texts.count())}

    def passages(answer) -> set[str]:
        links = answer.locator("a[href*='?hl=']")
        return {links.nth(i).get_attribute("href") for i in range(links.count())}

    assert quotes(first) and quotes(follow_up), follow_up.inner_text()
    assert not quotes(first) & quotes(follow_up)
    assert not passages(first) & passages(follow_up)


def test_each_browser_session_has_its_own_conversation(page, app, browser):
    open_chat(page, app)
    ask(page, THERAPY_QUESTION)
    other = browser.new_page()
    try:
        open_chat(other, app)
        assert other.locator(USER).count() == 0
        ask(other, "Does warmth training make language models less reliable?")
        assert other.locator(USER).count() == 1
    finally:
        other.close()
    assert page.locator(USER).count() == 1
    assert THERAPY_QUESTION in page.locator(USER).first.inner_text()


def test_empty_and_overlong_questions_get_a_message_not_an_answer(page, app):
    open_chat(page, app)
    page.fill("#nb-question textarea", "   ")
    page.press("#nb-question textarea", "Enter")
    page.wait_for_selector("#nb-notice:has-text('Type a question about your notes first')")
    page.fill("#nb-question textarea", "why " * 600)
    page.press("#nb-question textarea", "Enter")
    page.wait_for_selector("#nb-notice:has-text('BOT_MAX_QUESTION_CHARS')")
    assert page.locator(USER).count() == 0
    assert len(page.input_value("#nb-question textarea")) > 2000  # left in the box to shorten


def test_a_thumbs_up_is_saved_with_the_question_and_citations(page, app):
    open_chat(page, app)
    ask(page, THERAPY_QUESTION)
    page.locator("#nb-chat button[aria-label='Like']").last.click()
    database = app.data_dir / "feedback.sqlite"
    page.wait_for_timeout(300)
    for _ in range(50):
        rows = sqlite3.connect(database).execute("SELECT rating, user, question, citations FROM feedback").fetchall()
        if rows:
            break
        page.wait_for_timeout(200)
    assert rows and rows[-1][:3] == ("up", "local", THERAPY_QUESTION)
    assert "note_id" in rows[-1][3]


def test_the_page_loads_nothing_from_outside(page, app, browser):
    open_chat(page, app)
    page.goto(f"{app.url}/notes/{THINK_NOTE}")
    outside = sorted({urlsplit(u).netloc for u in browser.requests
                      if urlsplit(u).scheme in ("http", "https", "ws", "wss")} - {urlsplit(app.url).netloc})
    assert browser.requests and outside == []


def test_retry_undo_and_clear(page, app):
    open_chat(page, app)
    ask(page, THERAPY_QUESTION)
    page.locator("#nb-chat button[aria-label='Retry']").last.click()
    page.wait_for_function(
        "s => { const b = document.querySelectorAll(s); return b.length == 1 && /Sources:/.test(b[0].innerText); }",
        arg=BOT, timeout=ANSWER_TIMEOUT_MS,
    )
    assert page.locator(USER).count() == 1  # the same question, answered again, not asked twice

    page.locator("#nb-chat button[aria-label='Undo']").last.click()
    page.wait_for_function("s => document.querySelectorAll(s).length == 0", arg=USER)
    assert page.input_value("#nb-question textarea") == THERAPY_QUESTION  # back in the box to edit

    ask(page, THERAPY_QUESTION)
    page.locator("#nb-chat button[aria-label='Clear']").click()
    page.wait_for_function("s => document.querySelectorAll(s).length == 0", arg=USER)
    page.wait_for_selector("#nb-sources:has-text('Ask a question')")


def test_the_index_panel_shows_the_version_and_re_indexes(page, app):
    open_chat(page, app)
    page.click("#nb-index")
    page.wait_for_selector("#nb-status:has-text('Index version')")
    status = page.inner_text("#nb-status")
    assert "27 notes" in status
    rescans = int(re.search(r"Rescan (\d+) since start", status).group(1))
    page.click("#nb-reindex")
    page.wait_for_selector(f"#nb-status:has-text('Rescan {rescans + 1} since start')", timeout=120_000)
    assert "27 notes: 0 added, 0 updated, 27 unchanged" in page.inner_text("#nb-status")
