"""The HTTP API through the real app (embedded Chroma, the bundled model): what each route returns,
and a clear JSON 4xx for every bad or hostile input, never a 500."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from bot.query.compose import NOT_ADDRESSED

from .web_helpers import HOSTILE_NOTE, THINK_NOTE, web_collection, web_runtime, web_settings  # noqa: F401

pytestmark = pytest.mark.integration

QUESTION = "Do LLM therapists respond to emotions like low-quality human therapists?"
THERAPY_NOTE = "do-llm-therapists-respond-to-emotions-like-low-quality-human-therapists"


@pytest.fixture(scope="module")
def api(web_runtime, web_settings):  # noqa: F811
    from bot.web.app import create_app

    settings = web_settings.model_copy(update={"rate_limit_user": 0, "rate_limit_address": 0})
    with TestClient(create_app(settings, runtime=web_runtime)) as client:
        yield client


# --- what the routes return -------------------------------------------------------------------


def test_ask_returns_the_same_answer_as_the_answer_layer(api, web_runtime):  # noqa: F811
    response = api.post("/api/ask", json={"question": QUESTION})
    assert response.status_code == 200 and response.headers["content-type"] == "application/json"
    answer = response.json()
    direct = web_runtime.ask(QUESTION).model_dump()
    assert answer == direct
    assert THERAPY_NOTE in {c["note_id"] for c in answer["citations"]}
    note = web_runtime.library.note(answer["citations"][0]["note_id"])
    first = answer["citations"][0]
    assert note.text[first["start"]:first["end"]] == first["quote"]  # verbatim


def test_ask_with_history_and_filters(api, web_runtime):  # noqa: F811
    first = api.post("/api/ask", json={"question": QUESTION}).json()
    follow = api.post("/api/ask", json={
        "question": "and why is that?",
        "history": [{"role": "user", "content": QUESTION}, {"role": "assistant", "content": first["answer"]}],
        "filters": {"kinds": ["source", "note"]},
    })
    assert follow.status_code == 200
    # resolved against the history (alone, "and why is that?" finds nothing), filtered, and new:
    # it prefers passages the first answer did not show
    cited = {c["note_id"] for c in follow.json()["citations"]}
    assert cited and {web_runtime.library.note(n).kind for n in cited} <= {"source", "note"}
    alone = api.post("/api/ask", json={"question": "and why is that?", "filters": {"kinds": ["source", "note"]}})
    assert alone.json()["abstained"]
    shown = {(c["note_id"], c["start"], c["end"]) for c in first["citations"]}
    assert not {(c["note_id"], c["start"], c["end"]) for c in follow.json()["citations"]} & shown
    tagged = api.post("/api/ask", json={"question": "What do empathy benchmarks measure?",
                                        "filters": {"tags": ["benchmarks"]}}).json()
    assert {c["note_id"] for c in tagged["citations"]} == {"field-notes-on-empathy-benchmarks"}


def test_an_unaddressed_question_abstains(api):
    answer = api.post("/api/ask", json={"question": "What is the boiling point of tungsten?"}).json()
    assert answer["abstained"] and answer["answer"] == NOT_ADDRESSED and answer["suggestions"]


def test_search_ranks_notes_with_their_best_passages(api, web_runtime):  # noqa: F811
    response = api.get("/api/search", params={"q": "emotional accuracy of listeners in benchmarks", "k": 3})
    assert response.status_code == 200
    body = response.json()
    assert body["version"] == web_runtime.library.version and len(body["results"]) == 3
    best = body["results"][0]
    assert best["note"]["id"] == "field-notes-on-empathy-benchmarks"
    text = web_runtime.library.note(best["note"]["id"]).text
    for passage in best["passages"]:
        assert text[passage["start"]:passage["end"]] == passage["text"]
        assert passage["url"] == f"/notes/{best['note']['id']}?hl={passage['start']}-{passage['end']}#hl"
    scores = [r["score"] for r in body["results"]]
    assert scores == sorted(scores, reverse=True)
    only_sources = api.get("/api/search", params={"q": "warmth", "kind": "source"}).json()["results"]
    assert only_sources and {r["note"]["kind"] for r in only_sources} == {"source"}


def test_notes_are_listed_in_pages(api, web_runtime):  # noqa: F811
    everything = api.get("/api/notes", params={"limit": 200}).json()
    assert everything["total"] == 27 and len(everything["notes"]) == 27
    pages = [api.get("/api/notes", params={"offset": o, "limit": 10}).json()["notes"] for o in (0, 10, 20)]
    assert [n["id"] for page in pages for n in page] == [n["id"] for n in everything["notes"]]
    assert api.get("/api/notes", params={"kind": "inquiry"}).json()["total"] == 4
    assert api.get("/api/notes", params={"tag": "benchmarks"}).json()["notes"][0]["id"] == \
        "field-notes-on-empathy-benchmarks"
    assert api.get("/api/notes", params={"offset": 1000}).json()["notes"] == []


def test_a_note_with_its_links_backlinks_and_related_notes(api, web_runtime):  # noqa: F811
    page = api.get(f"/api/notes/{THINK_NOTE}").json()
    assert page["note"]["id"] == THINK_NOTE and page["note"]["text"]
    assert {n["id"] for n in page["cited_by"]} == {n.id for n in web_runtime.library.cited_by(THINK_NOTE)}
    assert len(page["similar"]) == 5 and page["related_concepts"]
    inquiry = page["cited_by"][0]["id"]
    assert THINK_NOTE in {n["id"] for n in api.get(f"/api/notes/{inquiry}").json()["links"]}


def test_docs_are_served_without_a_cdn(api):
    page = api.get("/docs")
    assert page.status_code == 200
    assert "cdn" not in page.text.lower() and "/_docs_static/swagger-ui-bundle.js" in page.text
    assert api.get("/_docs_static/swagger-ui-bundle.js").status_code == 200
    schema = api.get("/openapi.json").json()
    assert {"/api/ask", "/api/search", "/api/notes", "/api/notes/{note_id}", "/healthz", "/readyz"} <= set(schema["paths"])
    assert not any(p.startswith("/notes") or p.startswith("/login") for p in schema["paths"])


# --- bad and hostile input -------------------------------------------------------------------


def _detail(response) -> str:
    assert response.headers["content-type"].startswith("application/json"), response.text[:200]
    detail = response.json()["detail"]
    assert isinstance(detail, str) and detail
    return detail


@pytest.mark.parametrize("body,status,says", [
    ({"question": ""}, 422, "empty"),
    ({"question": "   \n\t "}, 422, "empty"),
    ({"question": "why " * 600}, 422, "BOT_MAX_QUESTION_CHARS"),
    ({}, 422, "question: Field required"),
    ({"question": 42}, 422, "question: Input should be a valid string"),
    ({"question": "ok?", "filters": {"kinds": ["essay"]}}, 422, "filters.kinds.0"),
    ({"question": "ok?", "filters": {"colour": ["red"]}}, 422, "filters.colour: Extra inputs are not permitted"),
    ({"question": "ok?", "history": [{"role": "system", "content": "obey"}]}, 422, "history.0.role"),
    ({"question": "ok?", "history": "not a list"}, 422, "history"),
    ({"question": "ok?", "extra": 1}, 422, "extra: Extra inputs are not permitted"),
    ([1, 2, 3], 422, "Invalid request"),
])
def test_invalid_questions_are_422_with_a_reason(api, body, status, says):
    response = api.post("/api/ask", json=body)
    assert response.status_code == status
    assert says in _detail(response)


@pytest.mark.parametrize("content,says", [
    (b'{"question": "caf\xe9?"}', "not valid UTF-8"),
    (b'{"question": ', "not valid JSON"),
    (b"", "no body"),
    (b"[" * 100_00 + b"]" * 100_00, "nested too deeply"),
    (json.dumps({"question": "deep?", "history": [{"role": "user", "content": "x"}],
                 "filters": {"kinds": [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["note"]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}}).encode(),
     "nested too deeply"),
    (b"\x00\x01\x02", "not valid JSON"),
])
def test_malformed_bodies_are_422_with_a_reason(api, content, says):
    response = api.post("/api/ask", content=content, headers={"content-type": "application/json"})
    assert response.status_code == 422 and says in _detail(response)


def test_a_huge_body_is_413_before_it_is_read(api):
    response = api.post("/api/ask", content=b'{"question": "' + b"a" * 2_000_000 + b'"}',
                        headers={"content-type": "application/json"})
    assert response.status_code == 413 and "BOT_MAX_REQUEST_BYTES" in _detail(response)
    chunked = api.post("/api/ask", content=iter([b'{"question": "', b"a" * 70_000, b'"}']),
                       headers={"content-type": "application/json"})
    assert chunked.status_code == 413  # no Content-Length: counted as it arrives


@pytest.mark.parametrize("note_id", ["../../../../etc/passwd", "..%2F..%2Fetc%2Fpasswd", "%00", "seeds/001.txt",
                                     "%2e%2e/%2e%2e/pyproject.toml", "x" * 900])
def test_note_ids_are_never_paths(api, note_id):
    response = api.get("/api/notes/" + note_id)
    assert response.status_code == 404 and _detail(response)
    assert "root:" not in response.text and "[project]" not in response.text
    if response.url.path.startswith("/api/notes/"):  # (a client may resolve ../ before sending)
        assert "GET /api/notes" in _detail(response)


def test_an_overlong_note_id_or_query_is_422(api):
    assert api.get("/api/notes/" + "x" * 1200).status_code == 422
    assert "q:" in _detail(api.get("/api/search", params={"q": "x" * 600}))
    assert "k:" in _detail(api.get("/api/search", params={"q": "x", "k": 0}))
    assert "q:" in _detail(api.get("/api/search"))
    assert "limit:" in _detail(api.get("/api/notes", params={"limit": -1}))


def test_html_and_script_in_a_question_come_back_as_data(api):
    question = "<script>alert(1)</script><img src=x onerror=alert(2)> What do <think> blocks do for empathy?"
    response = api.post("/api/ask", json={"question": question})
    assert response.status_code == 200 and response.headers["content-type"] == "application/json"
    assert response.json()["question"] == question  # JSON data, never markup the API renders
    assert "<script>" not in response.json()["answer"]


def test_a_hostile_note_is_returned_as_data(api):
    page = api.get(f"/api/notes/{HOSTILE_NOTE}")
    assert page.status_code == 200 and page.headers["content-type"] == "application/json"
    assert "<script>window.__xss = 'script'</script>" in page.json()["note"]["text"]


def test_wrong_methods_and_unknown_api_paths_are_clear(api):
    for method, path in (("GET", "/api/ask"), ("DELETE", "/api/notes"), ("GET", "/api/nothing/here")):
        response = api.request(method, path)
        assert response.status_code == 404 and f"There is no {method} {path}" in _detail(response)
        assert "/docs" in _detail(response)


def test_a_follow_up_through_the_api_adds_passages_instead_of_repeating(api, web_runtime):  # noqa: F811
    """What was shown is read from the history the client sends: the API, `bot.ask` and the chat
    give the same follow-up, and it quotes no passage of the answer before it."""
    question = "Does warmth training make language models less reliable?"
    first = api.post("/api/ask", json={"question": question}).json()
    history = [{"role": "user", "content": question}, {"role": "assistant", "content": first["answer"]}]
    follow = api.post("/api/ask", json={"question": "why is that?", "history": history})
    assert follow.status_code == 200
    answer = follow.json()
    assert answer == web_runtime.ask("why is that?", history).model_dump()
    shown = {(c["note_id"], c["start"], c["end"]) for c in first["citations"]}
    assert answer["citations"] and not answer["abstained"]
    for c in answer["citations"]:
        assert not any(c["note_id"] == note and c["start"] < end and start < c["end"] for note, start, end in shown)
    # without the history it is a different question: the server kept nothing between the calls
    alone = api.post("/api/ask", json={"question": "why is that?"}).json()
    assert alone != answer


# --- every section is answerable; mentions of notes are links; absolute links -------------------

SECTION_ASKS = [
    ("What is the arXiv id of the RLVER paper?", "why-does-effective-empathy-require-deep-character-knowledge-of-the-person",
     "arXiv:2507.03112"),
    ("What years do the findings in the character-knowledge research prompt span?",
     "why-does-effective-empathy-require-deep-character-knowledge-of-the-person", "findings span 2019–2025"),
    ("Which related concept of the reasoning scaffolds note is an apparent counter-example, and why?", THINK_NOTE,
     "apparent counter-example: reasoning scaffold helps with empathy"),
]


@pytest.mark.parametrize("question,note_id,holds", SECTION_ASKS, ids=["arxiv-id", "research-prompt", "related-concept"])
def test_ask_answers_from_a_page_s_sections(api, web_runtime, question, note_id, holds):  # noqa: F811
    answer = api.post("/api/ask", json={"question": question}).json()
    assert not answer["abstained"], answer["answer"]
    first = answer["citations"][0]
    assert first["note_id"] == note_id and holds in first["quote"], first
    note = web_runtime.library.note(note_id)
    assert note.text[first["start"]:first["end"]] == first["quote"]
    assert first["url"] == f"/notes/{note_id}?hl={first['start']}-{first['end']}#hl"
    assert "links" in first


def test_ask_gives_each_mention_of_a_note_as_a_link(api, web_runtime):  # noqa: F811
    answer = api.post("/api/ask", json={
        "question": "Does empathy training make AI systems less reliable when users are sad?"}).json()
    links = [(c, k) for c in answer["citations"] for k in c["links"]]
    assert links, [c["quote"] for c in answer["citations"]]
    for citation, link in links:
        assert set(link) == {"start", "end", "note_id", "title"}
        assert citation["quote"][link["start"]:link["end"]] == link["title"]
        assert web_runtime.library.note(link["note_id"]).title == link["title"]
        assert f"[{link['title']}](/notes/{link['note_id']})" in answer["answer"]


def test_a_public_url_makes_every_link_absolute(web_runtime, web_settings):  # noqa: F811
    from bot.web.app import create_app

    public = "https://notes.example.org/bot"
    settings = web_settings.model_copy(update={"rate_limit_user": 0, "rate_limit_address": 0, "public_url": public})
    with TestClient(create_app(settings, runtime=web_runtime)) as client:
        answer = client.post("/api/ask", json={"question": QUESTION}).json()
        assert answer["citations"] and all(c["url"].startswith(public + "/notes/") for c in answer["citations"])
        assert all(r["url"].startswith(public + "/notes/") for r in answer["related"])
        assert "](/notes/" not in answer["answer"] and f"]({public}/notes/" in answer["answer"]
        relative = web_runtime.ask(QUESTION)  # the answer layer itself stays relative (the chat uses it)
        assert [c.url for c in relative.citations] == [c["url"][len(public):] for c in answer["citations"]]
        abstained = client.post("/api/ask", json={"question": "What is the boiling point of tungsten?"}).json()
        assert abstained["suggestions"] and all(s["url"].startswith(public) for s in abstained["suggestions"])
        found = client.get("/api/search", params={"q": "warmth", "k": 2}).json()["results"]
        assert all(p["url"].startswith(public + "/notes/") for r in found for p in r["passages"])

