"""bot.web.server: a port that can't be used is reported before the slow start."""

from __future__ import annotations

import socket

from bot.web.server import port_problem


def test_a_port_in_use_is_named_with_the_fix():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        problem = port_problem("127.0.0.1", port)
    assert problem and f"127.0.0.1:{port}" in problem and "in use" in problem and "BOT_PORT" in problem


def test_a_free_port_is_fine():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    assert port_problem("127.0.0.1", port) is None


def test_an_unknown_host_is_named():
    problem = port_problem("no-such-host.invalid", 7860)
    assert problem and "BOT_HOST" in problem
