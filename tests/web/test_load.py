"""Correctness under load (never timings): the whole stack on the seed notes, two workers behind
nginx, many simulated users at once through the API and the Gradio chat. Every reply must answer
its own question in its own session, with no errors; each chat session stays on one worker."""

from __future__ import annotations

import asyncio
import re
import shutil
from collections import defaultdict
from pathlib import Path

import pytest

from ..conftest import ROOT, SEEDS
from ..test_deploy import require_nginx
from .web_helpers import web_collection, web_runtime, web_settings  # noqa: F401

pytestmark = pytest.mark.integration

USERS = 16
SECONDS = 12.0


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    require_nginx()
    from deploy.stack import Stack

    root = tmp_path_factory.mktemp("load-stack")
    # these users ask every 0.2-1 s, faster than the per-user limit allows (it has its own tests)
    with Stack(root, SEEDS, workers=2, settings={"BOT_RATE_LIMIT_ADDRESS": "0", "BOT_RATE_LIMIT_USER": "0"}, log=lambda _: None) as stack:
        stack.start()
        yield stack
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def credentials(stack):
    import sys

    sys.path.insert(0, str(ROOT / "bench"))
    from load import make_users

    return make_users(Path(stack.env["BOT_USERS_FILE"]), USERS)


def _questions():
    titles = []  # the seed pages' titles are questions
    for page in sorted(SEEDS.glob("*.txt")):
        lines = [line.strip() for line in page.read_text().splitlines() if line.strip()]
        title = lines[1] if lines[0] == "INQUIRING LINE" else lines[0]
        titles.append(title)
    return titles + ["What is the boiling point of tungsten?", "and why is that?", "<b>bold</b> & <script>x</script>?"]


@pytest.mark.parametrize("mode", ["api", "chat"])
def test_many_users_at_once_each_get_their_own_answers(stack, credentials, mode):
    from load import run_load

    result, replies = asyncio.run(run_load(stack.url, mode, credentials, _questions(), seconds=SECONDS, warmup=0.0,
                                           think=(0.2, 1.0)))
    assert result.requests >= USERS, result  # everyone asked, most more than once
    assert result.wrong_user == 0, [r for r in replies if r.wrong_user][:3]
    assert result.errors == {}, [r.detail for r in replies if not r.ok][:3]
    assert result.ok == result.requests


def test_each_chat_session_stays_on_one_worker_and_both_workers_serve(stack, credentials):
    from load import run_load

    asyncio.run(run_load(stack.url, "chat", credentials, _questions(), seconds=4.0, warmup=0.0, think=(0.2, 0.5)))
    workers_of_session = defaultdict(set)
    for method, uri, status, upstream in stack.access_log():
        found = re.search(r"session_hash=([0-9a-f]+)", uri)
        if found and "/gradio_api/queue/data" in uri:
            workers_of_session[found.group(1)].add(upstream)
    assert len(workers_of_session) >= USERS
    assert all(len(workers) == 1 for workers in workers_of_session.values()), workers_of_session
    used = set().union(*workers_of_session.values())
    assert used == {f"127.0.0.1:{port}" for port in stack.worker_ports}  # sessions spread over both workers


def test_a_busy_worker_sends_the_rest_of_an_answer_in_one_step(web_runtime):  # noqa: F811
    """Idle: the answer streams block by block. While another answer is being produced in the
    worker: the question and "searching" step, then the whole answer at once, sources included."""
    from bot.web import chat
    from bot.web.conversation import Conversation, respond

    question = "Do LLM therapists respond to emotions like low-quality human therapists?"
    idle = list(chat._paced(respond(web_runtime, Conversation(), question, {})))
    with chat._in_flight, chat._in_flight:  # this answer and another one
        busy = list(chat._paced(respond(web_runtime, Conversation(), question, {})))
    assert len(idle) >= 4 and len(busy) == 2
    assert busy[-1].messages == idle[-1].messages  # the same answer in the end
    assert busy[-1].sources is not None and busy[-1].sources == next(s.sources for s in idle if s.sources)
    assert chat._in_flight.count == 0
