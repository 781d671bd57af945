"""The OpenAPI document describes the read routes as they answer: schemathesis calls every
GET route of the log and the projections with generated parameters (as a monitor) and checks
that nothing is a server error and every answer, 200 or problem, conforms to the schema."""

from __future__ import annotations

import re
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from ledger.server.app import create_app
from tests.server.support import Served
from tests.server.test_api_matches_cli import caller_of

READ_ROUTES = (
    r"^/v1/(ledger|log/events|log/commits|checkpoints?|proof/inclusion|proof/consistency|genesis"
    r"|registry|subjects(/\{subject_id\}(/responses|/events)?)?|audit-trail|summary)$"
)


@pytest.fixture
def api_schema(served: Served) -> schemathesis.BaseSchema:
    monitor = caller_of(served, "monitor")
    app = create_app(served.config(), authenticate=lambda _request: monitor)
    return schemathesis.openapi.from_asgi("/v1/openapi.json", app)


def read_operations(api_schema: schemathesis.BaseSchema) -> list[Any]:
    """The GET operations of the log and the projections routes."""
    found = [result.ok() for result in api_schema.get_all_operations()]  # type: ignore[union-attr]
    return [op for op in found if op.method.upper() == "GET" and re.match(READ_ROUTES, op.path)]


def test_read_routes_conform_to_their_schema(api_schema: schemathesis.BaseSchema) -> None:
    operations = read_operations(api_schema)
    assert len(operations) == 15
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=8,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def conforms(case: schemathesis.Case[Any]) -> None:
            # A parameter the schema types but the rules refuse (position 0, a malformed
            # date) is a documented 400 problem, so generated "valid" data may be refused.
            case.call_and_validate(excluded_checks=[positive_data_acceptance])

        conforms()


def test_every_read_route_declares_its_200_body_and_problems(
    api_schema: schemathesis.BaseSchema,
) -> None:
    document = api_schema.raw_schema
    routes = [p for p in document["paths"] if re.match(READ_ROUTES, p)]
    assert len(routes) == 15
    for path in routes:
        answers = document["paths"][path]["get"]["responses"]
        assert answers["200"]["content"], path
        assert {"400", "403", "404"} <= set(answers), path


STREAMS = ("/v1/feed",)
"""Server-sent events never end by themselves: not called here (tests/server/test_feed.py)."""


def test_every_other_route_conforms_to_its_schema_and_never_answers_500(
    api_schema: schemathesis.BaseSchema,
) -> None:
    found = [result.ok() for result in api_schema.get_all_operations()]  # type: ignore[union-attr]
    others = [
        op
        for op in found
        if op.path not in STREAMS
        and not (op.method.upper() == "GET" and re.match(READ_ROUTES, op.path))
    ]
    names = {f"{op.method.upper()} {op.path}" for op in others}
    assert {"POST /v1/commands/prepare", "POST /v1/commands/commit", "GET /v1/health"} <= names
    for operation in others:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=8,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def conforms(case: schemathesis.Case[Any]) -> None:
            if case.path == "/v1/feed/poll":
                case.query = {**(case.query or {}), "timeout": 0}
            case.call_and_validate(excluded_checks=[positive_data_acceptance])

        conforms()
