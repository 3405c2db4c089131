"""The app without a browser: note pages and health routes through the real FastAPI app, the chat's
logic (`conversation.respond`) against a real index, feedback, re-index and rescans."""

from __future__ import annotations

import re
from html import unescape

import pytest
from fastapi.testclient import TestClient

from bot.web.conversation import Conversation, EMPTY_QUESTION, SEARCHING, respond
from bot.web.feedback import FeedbackLog
from bot.web.runtime import AppRuntime

from .test_render import parse
from .web_helpers import HOSTILE_NOTE, THINK_NOTE, web_collection, web_runtime, web_settings  # noqa: F401

pytestmark = pytest.mark.integration

THERAPY_QUESTION = "Do LLM therapists respond to emotions like low-quality human therapists?"
SOURCE_NOTE = "does-empathy-training-make-ai-systems-less-reliable"


@pytest.fixture(scope="module")
def client(web_runtime, web_settings):  # noqa: F811
    from bot.web.app import create_app

    with TestClient(create_app(web_settings, runtime=web_runtime)) as client:
        yield client


@pytest.fixture(scope="module")
def proxied_client(web_runtime, web_settings):  # noqa: F811
    """The same app configured to be served under /bot behind a reverse proxy."""
    from bot.web.app import create_app

    settings = web_settings.model_copy(update={"root_path": "/bot", "auth": "open"})  # BOT_ROOT_PATH: login, unless open
    with TestClient(create_app(settings, runtime=web_runtime), root_path="/bot") as client:
        yield client


def text_of(html: str) -> str:
    return unescape(re.sub(r"<[^>]+>", "", html))


# --- note pages --------------------------------------------------------------------------------


def test_all_notes_are_listed_and_filtered(client):
    page = client.get("/notes")
    assert page.status_code == 200 and "27 notes." in page.text
    inquiries = client.get("/notes", params={"kind": "inquiry"})
    assert "4 notes of kind inquiry." in inquiries.text
    tagged = client.get("/notes", params={"tag": "benchmarks"})
    assert "1 note tagged #benchmarks." in tagged.text and "Field notes on empathy benchmarks" in tagged.text


def test_search_finds_notes_by_words_in_their_text(client):
    page = client.get("/notes", params={"q": "emotional accuracy"})
    first = re.search(r'<ul class="notes">\s*<li>\s*<a href="([^"]+)"', page.text).group(1)
    assert first == "/notes/field-notes-on-empathy-benchmarks"


def test_a_note_page_highlights_the_quoted_passage(client, web_runtime):  # noqa: F811
    note = web_runtime.library.note(THINK_NOTE)
    start = note.text.index("Thinking models")
    end = note.text.index("conversational plans") + len("conversational plans")
    page = client.get(f"/notes/{THINK_NOTE}", params={"hl": f"{start}-{end}"})
    assert page.status_code == 200
    marked = re.search(r'<mark id="hl">(.*?)</mark>', page.text, re.S).group(1)
    assert text_of(marked) == note.text[start:end]
    assert "&lt;think&gt;...&lt;/think&gt;" in marked  # shown literally, never a tag
    assert "<think>" not in page.text


def test_a_note_page_shows_what_cites_it_what_it_relates_to_and_similar_notes(client, web_runtime):  # noqa: F811
    page = client.get(f"/notes/{THINK_NOTE}").text
    cited_by = re.search(r'<section id="cited-by">(.*?)</section>', page, re.S).group(1)
    citing = re.findall(r'href="/notes/([^"]+)"', cited_by)
    assert citing and set(citing) == {n.id for n in web_runtime.library.cited_by(THINK_NOTE)}
    assert "Does RL teach reasoning or just when to use it?" in page  # a related concept
    assert "RLVER: Reinforcement Learning with Verifiable Emotion Rewards" in page  # a related paper
    similar = re.search(r'<section id="similar">(.*?)</section>', page, re.S).group(1)
    assert len(re.findall(r"<li>", similar)) == 5
    assert "<mark" not in page  # no ?hl, no highlight


def test_inline_citations_in_an_inquiry_are_links_to_their_notes(client, web_runtime):  # noqa: F811
    inquiry = web_runtime.library.cited_by(THINK_NOTE)[0]
    page = client.get(f"/notes/{inquiry.id}").text
    bodies = "".join(re.findall(r'<div class="body"[^>]*>(.*?)</div>', page, re.S))
    links = re.findall(r'<a href="/notes/([^"]+)">([^<]+)</a>', bodies)
    assert (THINK_NOTE, "Do reasoning scaffolds reshape which empathy skills models develop?") in links
    # every mention: inline citations in the body and the titles of its Sources list
    assert len(links) == len(web_runtime.library.note(inquiry.id).link_spans)
    sources = re.search(r'<section id="section-sources"[^>]*>(.*?)</section>', page, re.S).group(1)
    assert (THINK_NOTE, "Do reasoning scaffolds reshape which empathy skills models develop?") in re.findall(
        r'<a href="/notes/([^"]+)">([^<]+)</a>', sources)


def test_a_source_note_shows_its_summary_and_every_inquiry_citing_it(client, web_runtime):  # noqa: F811
    page = client.get(f"/notes/{SOURCE_NOTE}").text
    assert "<h2>Summary</h2>" in page
    section = re.search(r'<section id="cited-by">(.*?)</section>', page, re.S).group(1)
    assert "Inquiries citing this source" in section
    citing = set(re.findall(r'href="/notes/([^"]+)"', section))
    assert citing == {n.id for n in web_runtime.library.cited_by(SOURCE_NOTE)} and len(citing) >= 2


CHARACTER_NOTE = "why-does-effective-empathy-require-deep-character-knowledge-of-the-person"


def test_a_note_page_shows_every_section_and_highlights_a_quote_in_one(client, web_runtime):  # noqa: F811
    citation = web_runtime.ask("What is the arXiv id of the RLVER paper?").citations[0]
    assert citation.note_id == CHARACTER_NOTE
    page = client.get(citation.url.split("#")[0]).text
    headings = [text_of(h) for h in re.findall(r"<section id=\"section-[^\"]+\"[^>]*>\s*<h2>(.*?)</h2>", page, re.S)]
    assert headings == ["Sources 9", "Research prompt for your LLM", "Next inquiring lines"]
    prompt = re.search(r'<section id="section-research-prompt"[^>]*>(.*?)</section>', page, re.S).group(1)
    marked = re.search(r'<mark id="hl">(.*?)</mark>', prompt, re.S).group(1)
    assert text_of(marked) == citation.quote and "arXiv:2507.03112" in marked
    assert page.count("<mark") == 1
    assert "Research prompt for your LLMexpand" not in page  # the heading line is shown as a heading
    assert "findings span 2019–2025" in text_of(prompt)
    # the sticky header repeats the note's title, so a page scrolled to the quote still names its note
    here = re.search(r'<span class="here"[^>]*>(.*?)</span>', page, re.S).group(1)
    assert text_of(here) == "Why does effective empathy require deep character knowledge of the person?"


def test_a_note_page_shows_related_concepts_papers_inquiring_lines_and_original_title(client, web_runtime):  # noqa: F811
    page = client.get(f"/notes/{THINK_NOTE}").text
    headings = [text_of(h) for h in re.findall(r"<section id=\"section-[^\"]+\"[^>]*>\s*<h2>(.*?)</h2>", page, re.S)]
    assert headings == ["Inquiring lines that use this note as a source 5", "Related concepts in this collection 3",
                        "Related papers in this collection 8", "Original note title"]
    concepts = re.search(r'<section id="section-related-concepts"[^>]*>(.*?)</section>', page, re.S).group(1)
    assert len(re.findall(r'<div class="concept">', concepts)) == 3
    assert "Click a node to walk" not in page
    lines = re.search(r'<section id="section-inquiring-lines"[^>]*>(.*?)</section>', page, re.S).group(1)
    linked = re.findall(r'<a href="/notes/([^"]+)">', lines)
    assert linked == ["do-extended-thinking-blocks-access-latent-empathetic-capabilities-in-models",
                      "can-pretrained-priors-set-exploration-ceilings-for-empathetic-capability"]
    original = re.search(r'<section id="section-original-title"[^>]*>(.*?)</section>', page, re.S).group(1)
    assert "Thinking and non-thinking models develop distinct empathy profiles" in original


def test_seed_000_source_summaries_link_to_their_source_notes(client, web_runtime):  # noqa: F811
    inquiry = "do-extended-thinking-blocks-access-latent-empathetic-capabilities-in-models"
    page = client.get(f"/notes/{inquiry}").text
    sources = re.search(r'<section id="section-sources"[^>]*>(.*?)</section>', page, re.S).group(1)
    linked = re.findall(r'<a href="/notes/([^"]+)">', sources)
    assert len(linked) == 7 and "does-extended-thinking-help-or-hurt-model-reasoning" in linked


def test_an_unknown_note_is_a_friendly_404_with_a_search_box(client):
    page = client.get("/notes/warmth-and-reliabilty-typo")
    assert page.status_code == 404
    assert "No such note" in page.text
    assert 'name="q" value="warmth and reliabilty typo"' in page.text


@pytest.mark.parametrize("note_id", ["../../../../etc/passwd", "..%2F..%2Fetc%2Fpasswd", "%00", "seeds/001_bae4b2363521288b.txt"])
def test_ids_are_never_paths(client, note_id):
    page = client.get("/notes/" + note_id)
    assert page.status_code == 404
    assert "root:" not in page.text and "Do reasoning scaffolds" not in page.text


def test_a_stale_highlight_says_so_instead_of_marking_the_wrong_text(client):
    page = client.get(f"/notes/{THINK_NOTE}", params={"hl": "10-999999"})
    assert page.status_code == 200 and "<mark" not in page.text
    assert "not at that place in this note" in page.text


def test_a_hostile_note_renders_as_text(client):
    for url in (f"/notes/{HOSTILE_NOTE}", "/notes?q=hostile+markup", "/notes"):
        page = client.get(url).text
        tags = parse(page)
        assert not {t for t, _ in tags.tags} & {"script", "img", "iframe", "b"}, url
        assert not any(k.startswith("on") for _, attrs in tags.tags for k in attrs), url
        assert not any(v.startswith("javascript:") for _, attrs in tags.tags for v in attrs.values() if v), url
    assert "&lt;script&gt;window.__xss = &#39;script&#39;&lt;/script&gt;" in client.get(f"/notes/{HOSTILE_NOTE}").text


def test_pages_behind_a_proxy_link_under_the_root_path(proxied_client):
    # uvicorn --root-path /bot hands the app /bot + the path the proxy forwarded (prefix stripped)
    page = proxied_client.get(f"/bot/notes/{THINK_NOTE}").text
    hrefs = re.findall(r'href="([^"]+)"', page)
    assert hrefs and all(h.startswith("/bot/") for h in hrefs), hrefs
    assert '<link rel="stylesheet" href="/bot/_static/notes.css">' in page
    assert proxied_client.get("/bot/_static/notes.css").status_code == 200


def test_health_and_readiness(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    body = ready.json()
    assert body == {"state": "ready", "version": body["version"]} and body["version"] >= 1  # nothing else
    status = client.get("/api/status").json()  # the details, for whoever may use the app (open here)
    assert status["state"] == "ready" and status["notes"] == 27 and status["version"] == body["version"]
    assert status["collection"].startswith("notes-")


def test_the_chat_page_is_served_at_the_root(client):
    page = client.get("/")
    assert page.status_code == 200 and "gradio" in page.text.lower()
    config = client.get("/config").json()
    assert config["title"] == "notes-bot"
    # "Use via API" opened Gradio's client page, not the documented REST API: the header links /docs
    assert "api" not in config["footer_links"]
    header = next(c for c in config["components"] if c.get("props", {}).get("elem_id") == "nb-header")
    assert 'href="/docs"' in header["props"]["value"]
    assert "fonts.googleapis.com" not in client.get("/theme.css").text


# --- the chat's logic --------------------------------------------------------------------------


def run(runtime, conversation, question, filters=None, root=""):
    return list(respond(runtime, conversation, question, filters or {}, root))


def test_an_empty_question_gets_a_gentle_prompt_and_asks_nothing(web_runtime):  # noqa: F811
    conversation = Conversation()
    steps = run(web_runtime, conversation, "   ")
    assert len(steps) == 1 and steps[0].notice == EMPTY_QUESTION
    assert conversation.turns == [] and steps[0].messages == []


def test_a_question_over_the_limit_is_refused_with_the_limit_named(web_runtime):  # noqa: F811
    conversation = Conversation()
    question = "why " * 600
    steps = run(web_runtime, conversation, question)
    assert len(steps) == 1 and conversation.turns == []
    assert "2,000" in steps[0].notice and "BOT_MAX_QUESTION_CHARS" in steps[0].notice
    assert steps[0].keep_question == question  # left in the box to shorten


def test_an_answer_streams_block_by_block_with_quotes_and_numbered_links(web_runtime):  # noqa: F811
    conversation = Conversation()
    steps = run(web_runtime, conversation, THERAPY_QUESTION, root="/bot")
    assert steps[0].messages[-1]["content"] == SEARCHING
    assert steps[0].keep_question == ""  # the box empties as soon as the question is taken
    replies = [s.messages[-1]["content"] for s in steps[1:]]
    assert len(replies) >= 3 and all(b.startswith(a) for a, b in zip(replies, replies[1:]))  # grows, never rewrites
    final = replies[-1]
    answer = conversation.turns[-1].answer
    assert answer is not None and not answer.abstained
    assert final.count("\n> ") + final.startswith("> ") >= 1
    for citation in answer.citations:
        assert f"[[{citation.n}]](/bot{citation.url})" in final
    assert steps[1].sources is not None and "[1]" in steps[1].sources
    assert all(s.sources is None for s in steps[2:])


def test_the_user_message_is_shown_escaped_and_kept_raw_for_the_answer_layer(web_runtime):  # noqa: F811
    conversation = Conversation()
    question = "What do <think>...</think> blocks before each response do for empathy?"
    run(web_runtime, conversation, question)
    assert conversation.messages()[0]["content"] == "What do &lt;think&gt;...&lt;/think&gt; blocks before each response do for empathy?"
    assert conversation.history()[0] == {"role": "user", "content": question}
    assert conversation.history()[1]["content"] == conversation.turns[0].answer.answer


def test_follow_ups_carry_the_conversation_and_sessions_are_separate(web_runtime):  # noqa: F811
    mine, theirs = Conversation(), Conversation()
    run(web_runtime, mine, THERAPY_QUESTION)
    run(web_runtime, mine, "and why is that?")
    assert len(mine.history()) == 4 and mine.turns[1].answer is not None
    assert theirs.history() == [] and theirs.messages() == []
    # the follow-up was searched with the previous question and adds to it: no passage again, and
    # the chat answers exactly as bot.ask and POST /api/ask do with the same history
    follow_up = mine.turns[1].answer
    assert follow_up == web_runtime.ask("and why is that?", mine.history()[:2])
    first = {(c.note_id, c.start, c.end) for c in mine.turns[0].answer.citations}
    assert follow_up.citations and not {(c.note_id, c.start, c.end) for c in follow_up.citations} & first


def test_filters_reach_the_answer_layer(web_runtime):  # noqa: F811
    conversation = Conversation()
    run(web_runtime, conversation, THERAPY_QUESTION, {"kinds": ["source"], "tags": []})
    answer = conversation.turns[-1].answer
    assert answer.citations and {web_runtime.library.note(c.note_id).kind for c in answer.citations} == {"source"}
    assert conversation.turns[-1].filters == {"kinds": ["source"]}


def test_a_tag_filter_keeps_to_the_tagged_notes(web_runtime):  # noqa: F811
    conversation = Conversation()
    run(web_runtime, conversation, "What do empathy benchmarks measure?", {"kinds": [], "tags": ["benchmarks"]})
    answer = conversation.turns[-1].answer
    assert answer.citations and {c.note_id for c in answer.citations} == {"field-notes-on-empathy-benchmarks"}


def test_a_bad_filter_is_explained(web_runtime):  # noqa: F811
    conversation = Conversation()
    steps = run(web_runtime, conversation, THERAPY_QUESTION, {"kinds": ["essay"]})
    assert "That filter can't be used" in steps[-1].messages[-1]["content"] and "essay" in steps[-1].messages[-1]["content"]
    assert conversation.history() == []


# --- feedback ----------------------------------------------------------------------------------


def test_feedback_is_stored_with_question_answer_and_citations_and_survives_a_restart(web_runtime, tmp_path):  # noqa: F811
    conversation = Conversation()
    run(web_runtime, conversation, THERAPY_QUESTION)
    turn = conversation.turns[0]
    log = FeedbackLog(tmp_path)
    log.record(rating="up", question=turn.question, answer=turn.answer, session="s1", answer_key=turn.key,
               index_version=turn.index_version, filters=turn.filters)
    log.record(rating="none", question=turn.question, answer=turn.answer, session="s1", answer_key=turn.key)
    reopened = FeedbackLog(tmp_path).all()  # a new process would see the same
    assert [r["rating"] for r in reopened] == ["up", "none"]
    assert reopened[0]["user"] == "local" and reopened[0]["question"] == THERAPY_QUESTION
    assert reopened[0]["answer"] == turn.answer.answer
    assert [c["note_id"] for c in reopened[0]["citations"]] == [c.note_id for c in turn.answer.citations]
    assert reopened[0]["index_version"] == turn.index_version
    with pytest.raises(ValueError, match="rating"):
        log.record(rating="meh", question="q", answer=turn.answer)


# --- keeping the index current ------------------------------------------------------------------


def _small_collection(tmp_path):
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "a.md").write_text("# Sleep and memory\n\nSleep consolidates memories of the day.\n")
    (notes / "b.md").write_text("# Coffee and focus\n\nCaffeine sharpens attention for a few hours.\n")
    return notes


def _settings(tmp_path, notes, **extra):
    from bot.settings import Settings

    return Settings(notes_dir=str(notes), data_dir=tmp_path / "data", **extra)


def test_the_app_builds_a_missing_index_and_reindexes_on_demand(tmp_path, embedder):
    notes = _small_collection(tmp_path)
    runtime = AppRuntime(_settings(tmp_path, notes, rescan_seconds=0), progress=False)
    runtime.start()
    try:
        assert runtime.wait_ready(120), runtime.error
        assert runtime.library.stats()["notes"] == 2
        runtime.reindex(wait=True, timeout=120)  # the rescan every start begins with is done
        (notes / "c.md").write_text("# Tides and the moon\n\nThe moon's pull raises the tides twice a day.\n")
        result = runtime.reindex(wait=True, timeout=120)
        assert result.error is None and "1 added" in result.summary
        assert [n.title for n in runtime.library.find(query="tides moon")][0] == "Tides and the moon"
        answer = runtime.ask("What raises the tides?")
        assert answer.citations and answer.citations[0].title == "Tides and the moon"
    finally:
        runtime.close()


def test_bot_ingest_beside_the_app_is_pointed_at_the_re_index_button(tmp_path, embedder):
    from bot.index.store import Store
    from bot.errors import StoreLocked

    notes = _small_collection(tmp_path)
    settings = _settings(tmp_path, notes, rescan_seconds=0)
    runtime = AppRuntime(settings, progress=False)
    runtime.start()
    try:
        assert runtime.wait_ready(120), runtime.error
        with pytest.raises(StoreLocked) as raised:
            Store.open(settings, embedder.fingerprint, purpose="bot ingest")
        assert "re-index button" in str(raised.value) and "(app on http://127.0.0.1:7860)" in str(raised.value)
    finally:
        runtime.close()
    Store.open(settings, embedder.fingerprint, purpose="bot ingest").close()  # released on close


def test_a_second_app_on_the_same_store_stops_with_the_reason(tmp_path, embedder):
    notes = _small_collection(tmp_path)
    settings = _settings(tmp_path, notes, rescan_seconds=0)
    first = AppRuntime(settings, progress=False)
    first.start()
    try:
        assert first.wait_ready(120)
        second = AppRuntime(settings, progress=False)
        reasons: list[str] = []
        second.on_fatal = reasons.append
        second.start()
        assert not second.wait_ready(60)
        assert second.fatal and "is in use by process" in second.error and reasons == [second.error]
        steps = run(second, Conversation(), "anything?")
        assert "could not be opened" in steps[-1].messages[-1]["content"]
        second.close()
    finally:
        first.close()


def test_bot_serve_on_a_store_another_process_holds_stops_with_the_reason(tmp_path, embedder):
    import os
    import subprocess
    import sys

    from bot.index.store import Store

    from ..conftest import ROOT, clean_env, free_port

    notes = _small_collection(tmp_path)
    settings = _settings(tmp_path, notes)
    env = clean_env()
    env.update({"BOT_DATA_DIR": str(settings.data_dir), "BOT_NOTES_DIR": str(notes), "HF_HUB_OFFLINE": "1"})
    with Store.open(settings, embedder.fingerprint, purpose="bot ingest"):
        done = subprocess.run(
            [sys.executable, "-m", "bot", "serve", "--port", str(free_port())],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=180,
        )
    assert done.returncode == 1
    assert f"is in use by process {os.getpid()} (bot ingest)" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_question_the_notes_dont_address_says_so_and_names_the_nearest_notes(web_runtime):  # noqa: F811
    from bot.query.compose import NOT_ADDRESSED

    conversation = Conversation()
    steps = run(web_runtime, conversation, "What is the boiling point of tungsten?")
    answer = conversation.turns[-1].answer
    assert answer.abstained and not answer.citations
    shown = steps[-1].messages[-1]["content"]
    assert shown.startswith(NOT_ADDRESSED) and "**The nearest notes:**" in shown
    assert "None of the notes answered that" in steps[1].sources
