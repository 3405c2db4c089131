"""Behind a reverse proxy at /bot (BOT_ROOT_PATH=/bot): the chat streams, and its citation links,
the note pages and their links all stay under /bot.

The proxy here does what the usual nginx `location /bot/ { proxy_pass http://app/; }` does:
strips the prefix, passes the Host header, streams responses.
"""

from __future__ import annotations

import threading
import time
from urllib.parse import urlsplit

import httpx
import pytest

from .browser_helpers import ARTIFACTS, chromium, require_browser, running_app
from ..conftest import SEEDS, free_port
from .test_browser import ANSWER_TIMEOUT_MS, BOT

pytestmark = [pytest.mark.browser, pytest.mark.integration]

PREFIX = "/bot"
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade",
              "proxy-authorization", "proxy-authenticate", "content-length"}


def proxy_app(upstream: str):
    from starlette.applications import Starlette
    from starlette.background import BackgroundTask
    from starlette.responses import PlainTextResponse, StreamingResponse
    from starlette.routing import Route

    client = httpx.AsyncClient(base_url=upstream, timeout=None)

    async def forward(request):
        path = request.url.path
        if path != PREFIX and not path.startswith(PREFIX + "/"):
            return PlainTextResponse("not under /bot", status_code=404)
        headers = [(k, v) for k, v in request.headers.raw if k.decode().lower() not in HOP_BY_HOP]
        headers.append((b"x-forwarded-proto", b"http"))
        outgoing = client.build_request(
            request.method, path[len(PREFIX):] or "/", params=request.url.query or None,
            headers=headers, content=await request.body(),
        )
        response = await client.send(outgoing, stream=True)
        kept = {k: v for k, v in response.headers.items() if k.lower() not in HOP_BY_HOP}
        return StreamingResponse(response.aiter_raw(), status_code=response.status_code, headers=kept,
                                 background=BackgroundTask(response.aclose))

    return Starlette(routes=[Route("/{path:path}", forward, methods=["GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS"])])


@pytest.fixture(scope="module")
def proxied(tmp_path_factory):
    import uvicorn

    require_browser()
    root = tmp_path_factory.mktemp("proxy")
    # behind a proxy (BOT_ROOT_PATH) sign-in would be on; this test is about the prefix, so open by name
    with running_app(SEEDS, root / "data", root_path=PREFIX, name="proxied-app", settings={"BOT_AUTH": "open"}) as app:
        port = free_port()
        server = uvicorn.Server(uvicorn.Config(proxy_app(app.url), host="127.0.0.1", port=port,
                                               log_level="warning", timeout_graceful_shutdown=1))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 30
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        try:
            yield f"http://127.0.0.1:{port}{PREFIX}"
        finally:
            server.should_exit = True
            thread.join(timeout=10)


def test_the_chat_and_note_pages_work_under_a_path_prefix(proxied):
    with chromium(require_browser()) as browser:
        page = browser.new_page()
        page.goto(proxied + "/")
        page.wait_for_selector("#nb-question textarea")
        page.fill("#nb-question textarea", "Does warmth training make language models less reliable?")
        page.press("#nb-question textarea", "Enter")
        page.wait_for_function("s => [...document.querySelectorAll(s)].some(e => /Sources:/.test(e.innerText))",
                               arg=BOT, timeout=ANSWER_TIMEOUT_MS)
        links = page.locator(f"{BOT} a")
        hrefs = [links.nth(i).get_attribute("href") for i in range(links.count())]
        assert hrefs and all(h.startswith(PREFIX + "/notes/") for h in hrefs), hrefs
        panel = page.locator("#nb-sources a")
        assert all(panel.nth(i).get_attribute("href").startswith(PREFIX + "/notes/") for i in range(panel.count()))

        with browser.expect_page() as opened:
            page.locator(f"{BOT} a[href*='?hl=']").first.click()
        note = opened.value
        note.wait_for_load_state()
        assert urlsplit(note.url).path.startswith(PREFIX + "/notes/")
        assert note.locator("mark#hl").count() == 1
        # the page's stylesheet came through the proxy too: the highlight is styled
        assert note.locator("mark#hl").evaluate("m => getComputedStyle(m).borderBottomStyle") == "solid"
        note.screenshot(path=str(ARTIFACTS / "note-behind-proxy.png"))
        note.locator("header.site a", has_text="All notes").click()
        note.wait_for_load_state()
        assert urlsplit(note.url).path == PREFIX + "/notes" and "25 notes." in note.inner_text("main")
