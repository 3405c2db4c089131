"""Fuzz the API from its own OpenAPI schema (schemathesis): whatever the schema allows, and the
invalid inputs it generates around it, never gets a 500 and never hangs."""

from __future__ import annotations

import base64
import time

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from bot.auth.accounts import Accounts

from .web_helpers import web_collection, web_runtime, web_settings  # noqa: F401

pytestmark = pytest.mark.integration

NO_HANG_SECONDS = 30.0
CREDENTIALS = ("fuzzer", "fuzzer's password")
HEADERS = {"Authorization": "Basic " + base64.b64encode(":".join(CREDENTIALS).encode()).decode()}


@pytest.fixture(scope="module")
def fuzzed_app(web_runtime, web_settings, tmp_path_factory):  # noqa: F811
    from fastapi.testclient import TestClient

    from bot.web.app import create_app

    users = tmp_path_factory.mktemp("fuzz-users") / "users.json"
    Accounts(users).add_user(*CREDENTIALS)
    settings = web_settings.model_copy(update={"users_file": users, "rate_limit_user": 0, "rate_limit_address": 0,
                                               "data_dir": users.parent})
    app = create_app(settings, runtime=web_runtime)
    with TestClient(app):  # runs the lifespan
        yield app


@pytest.fixture(scope="module")
def api_schema(fuzzed_app):
    return schemathesis.openapi.from_asgi("/openapi.json", fuzzed_app, headers=HEADERS)


OPERATIONS = ["GET /healthz", "GET /readyz", "POST /api/ask", "GET /api/search", "GET /api/notes",
              "GET /api/notes/{note_id}", "GET /api/feedback", "POST /api/feedback", "GET /api/status", "GET /api/index",
              "GET /api/me"]


def test_the_fuzzed_operations_are_all_of_the_api(api_schema):
    assert sorted(r.ok().label for r in api_schema.get_all_operations()) == sorted(OPERATIONS)


WITH_INPUT = ["POST /api/ask", "GET /api/search", "GET /api/notes", "GET /api/notes/{note_id}", "GET /api/feedback",
              "POST /api/feedback"]
CASES = [(label, "positive") for label in OPERATIONS] + [(label, "negative") for label in WITH_INPUT]


@pytest.mark.parametrize("label,mode", CASES)
def test_no_input_gets_a_500_or_hangs(api_schema, label, mode):
    """Valid inputs (positive) and inputs that break the schema (negative), 30 of each per route."""
    from hypothesis import given
    from schemathesis import GenerationMode

    operation = next(r.ok() for r in api_schema.get_all_operations() if r.ok().label == label)
    strategy = operation.as_strategy(generation_mode=GenerationMode(mode))
    statuses: list[int] = []

    @given(case=strategy)
    @settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True,
              database=None)
    def check(case):
        started = time.monotonic()
        response = case.call(headers=HEADERS)
        assert time.monotonic() - started < NO_HANG_SECONDS
        case.validate_response(response, checks=[not_a_server_error])
        if response.status_code >= 400:
            detail = response.json()["detail"]
            assert isinstance(detail, str) and detail, response.text[:300]
        statuses.append(response.status_code)

    check()
    assert statuses and max(statuses) < 500
