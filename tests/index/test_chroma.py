"""Telling Chroma's failures apart: unreachable, not found, Chroma's own, or not Chroma's at all."""

from __future__ import annotations

import httpx
import pytest

from bot.errors import StoreUnavailable
from bot.index.chroma import http_client, is_chroma_error, is_connection_error, is_not_found, short
from bot.settings import Settings

from ..conftest import free_port


@pytest.mark.parametrize("exc", [
    httpx.ConnectError("[Errno 111] Connection refused"), httpx.ReadTimeout("timed out"),
    ConnectionRefusedError(), TimeoutError(), OSError("network is unreachable"),
    RuntimeError("Could not connect to tenant default_tenant"),
])
def test_unreachable_is_recognised(exc):
    assert is_connection_error(exc)


@pytest.mark.parametrize("exc", [ValueError("bad value"), KeyError("x"), RuntimeError("index out of range")])
def test_other_failures_are_not_unreachable(exc):
    assert not is_connection_error(exc)


def test_not_found_is_recognised_by_type_name_or_message():
    class NotFoundError(Exception):
        pass

    assert is_not_found(NotFoundError("nope"))
    assert is_not_found(ValueError("Collection notes-abc does not exist."))
    assert not is_not_found(ValueError("dimension mismatch"))


def test_chromas_own_errors_are_recognised_by_where_they_come_from():
    from chromadb.errors import InvalidArgumentError

    assert is_chroma_error(InvalidArgumentError("bad"))
    assert is_chroma_error(httpx.ConnectError("refused"))
    assert not is_chroma_error(ValueError("ours"))


def test_short_is_the_first_line_at_most_200_characters():
    assert short(ValueError("first line\nsecond line")) == "first line"
    assert short(ValueError("x" * 500)) == "x" * 200
    assert short(KeyError()) == "KeyError" and short(ValueError("  ")) == "ValueError"


def test_a_server_that_isnt_there_is_unavailable_naming_where_it_was_looked_for():
    port = free_port()
    with pytest.raises(StoreUnavailable, match=f"Chroma server at https://127.0.0.1:{port}"):
        http_client(Settings(chroma_url=f"https://127.0.0.1:{port}"))
