"""What the server refuses of a careless or hostile request's size and shape: a body beyond
its route's limit (413, before it is read whole, declared or chunked), and a malformed one
(400 naming the field, a shortened value and the rule; the answer stays small)."""

from __future__ import annotations

from collections.abc import Iterator

from tests.server.conftest import ClientFor

MIB = 1024 * 1024


def test_refuses_a_declared_body_beyond_the_limit_with_a_short_problem(
    client_for: ClientFor,
) -> None:
    answer = client_for("monitor").post("/v1/auth/token", content=b"x" * (2 * MIB))
    assert answer.status_code == 413
    assert answer.headers["content-type"] == "application/problem+json"
    problem = answer.json()
    assert problem["type"].endswith("/too-large")
    assert "2,097,152 bytes refused" in problem["detail"]
    assert "at most 1,048,576 bytes" in problem["detail"]
    assert len(answer.content) < 1000


def test_refuses_a_chunked_body_as_soon_as_it_passes_the_limit(client_for: ClientFor) -> None:
    sent = 0

    def chunks() -> Iterator[bytes]:
        nonlocal sent
        for _ in range(64):
            sent += 64 * 1024
            yield b"y" * (64 * 1024)

    answer = client_for(None).post("/v1/commands/commit", content=chunks())
    assert answer.status_code == 413
    assert "more than 1,048,576 bytes" in answer.json()["detail"]


def test_a_body_that_is_not_json_names_the_body_a_shortened_value_and_the_rule(
    client_for: ClientFor,
) -> None:
    junk = b"not json " * 20_000
    answer = client_for("coordinator-001").post(
        "/v1/commands/prepare", content=junk, headers={"content-type": "application/json"}
    )
    assert answer.status_code == 400
    problem = answer.json()
    assert problem["field"] == "body"
    assert problem["rule"] == "json_invalid"
    assert len(answer.content) < 2000  # the body is not echoed back


def test_a_query_parameter_of_the_wrong_type_names_the_parameter_and_the_rule(
    client_for: ClientFor,
) -> None:
    answer = client_for("monitor").get("/v1/log/events", params={"limit": "9" * 5000})
    assert answer.status_code == 400
    problem = answer.json()
    assert problem["field"] == "query.limit"
    assert problem["rule"]
    assert len(problem["detail"]) < 400
