"""Who sees what of the read models, and refused query parameters: site staff see their own
site only, consumers see people by key id only, and every bad parameter is a 400 problem
naming the parameter, the value and the rule."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

import pytest

from tests.server.support import Served
from tests.server.test_api_matches_cli import ClientAs, clients_as, served_json


@pytest.fixture
def client_as(served: Served) -> Iterator[ClientAs]:
    yield from clients_as(served)


def test_site_staff_list_only_their_own_sites_subjects(client_as: ClientAs) -> None:
    listed = served_json(client_as("coordinator-002"), "/v1/subjects")
    assert {s["subject_id"] for s in listed["subjects"]} == {"MC0282-002-001", "MC0282-002-002"}
    everyone = served_json(client_as("monitor"), "/v1/subjects")
    assert {s["site"] for s in everyone["subjects"]} == {"001", "002"}
    assert everyone["position"] == listed["position"]


def test_site_staff_asking_for_another_sites_list_is_forbidden(client_as: ClientAs) -> None:
    response = client_as("investigator-001").get("/v1/subjects", params={"site": "002"})
    assert response.status_code == 403
    assert "site 001" in response.json()["detail"]


@pytest.mark.parametrize("route", ["", "/responses"])
def test_site_staff_do_not_learn_of_another_sites_subject(client_as: ClientAs, route: str) -> None:
    response = client_as("coordinator-001").get(f"/v1/subjects/MC0282-002-001{route}")
    assert response.status_code == 404
    assert response.json()["detail"] == "subject MC0282-002-001 not found at site 001"


def test_site_staff_audit_trail_holds_only_their_sites_subject_rows(client_as: ClientAs) -> None:
    rows = served_json(client_as("coordinator-001"), "/v1/audit-trail")["events"]
    assert rows
    assert {r["subject_id"][7:10] for r in rows} == {"001"}
    everything = served_json(client_as("monitor"), "/v1/audit-trail")["events"]
    ours = [r for r in everything if r["subject_id"] and r["subject_id"][7:10] == "001"]
    assert rows == ours


@pytest.mark.parametrize("url", ["/v1/summary", "/v1/log/events", "/v1/log/commits"])
def test_site_staff_are_refused_whole_log_reads(client_as: ClientAs, url: str) -> None:
    response = client_as("investigator-002").get(url)
    assert response.status_code == 403
    assert "sees only the subjects of site 002" in response.json()["detail"]


def test_consumers_see_people_by_key_id_and_role_only(served: Served, client_as: ClientAs) -> None:
    consumer, auditor = client_as("consumer"), client_as("auditor")
    trail = served_json(consumer, "/v1/audit-trail")["events"]
    assert {r["printed_name"] for r in trail} == {None}
    named = served_json(auditor, "/v1/audit-trail")["events"]
    assert [{**r, "printed_name": None} for r in named] == trail
    keys = served_json(consumer, "/v1/registry")["keys"]
    assert {k["printed_name"] for k in keys} == {None}
    assert {k["key_id"] for k in keys} >= {served.key_id("monitor")}
    lines = csv.DictReader(io.StringIO(consumer.get("/v1/audit-trail?format=csv").text))
    assert {row["printed_name"] for row in lines} == {""}
    named_lines = csv.DictReader(io.StringIO(auditor.get("/v1/audit-trail?format=csv").text))
    assert "Cole Coordinator" in {row["printed_name"] for row in named_lines}


def test_consumers_filter_people_by_key_id_not_by_name(served: Served, client_as: ClientAs) -> None:
    consumer = client_as("consumer")
    refused = consumer.get("/v1/audit-trail", params={"person": "Cole"})
    assert refused.status_code == 400
    assert refused.json()["field"] == "person"
    key = served.key_id("coordinator-001")
    rows = served_json(consumer, "/v1/audit-trail", person=key)["events"]
    assert rows
    assert {r["key_id"] for r in rows} == {key}


REFUSED: list[tuple[str, dict[str, str], str, str]] = [
    ("/v1/subjects/MC0282-1-17", {}, "subject_id", "expected a subject id"),
    ("/v1/subjects/MC0282-001-017", {"position": "0"}, "position", "between 1"),
    ("/v1/subjects/MC0282-001-017", {"position": "999999"}, "position", "the ledger holds 1.."),
    (
        "/v1/subjects/MC0282-001-017",
        {"position": "3", "as_of": "2003-01-01T00:00:00Z"},
        "position",
        "at most one of as_of and position",
    ),
    ("/v1/subjects/MC0282-001-017", {"on": "2003-02-30"}, "on", "no such calendar day"),
    ("/v1/subjects/MC0282-001-017/responses", {"on": "1/2/2003"}, "on", "YYYY-MM-DD"),
    ("/v1/subjects/MC0282-001-017", {"as_of": "yesterday"}, "as_of", "ISO 8601"),
    ("/v1/audit-trail", {"type": "DoseGiven"}, "type", "not an event type"),
    ("/v1/audit-trail", {"from": "soon"}, "from", "ISO 8601"),
    ("/v1/audit-trail", {"limit": "1001"}, "limit", "page size 1000"),
    ("/v1/audit-trail", {"after": "-1"}, "after", "between 0"),
    ("/v1/audit-trail", {"format": "xml"}, "format", "json or csv"),
    ("/v1/audit-trail", {"subject": "017"}, "subject_id", "expected a subject id"),
]


@pytest.mark.parametrize(("url", "params", "field", "rule"), REFUSED)
def test_bad_query_parameters_are_400_problems_naming_them(
    client_as: ClientAs, url: str, params: dict[str, str], field: str, rule: str
) -> None:
    response = client_as("monitor").get(url, params=params)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["field"] == field
    assert rule in problem["detail"]


def test_an_unknown_subject_is_a_404_problem(client_as: ClientAs) -> None:
    response = client_as("monitor").get("/v1/subjects/MC0282-001-999")
    assert response.status_code == 404
    assert "MC0282-001-999" in response.json()["detail"]


def test_audit_trail_pages_join_to_the_whole_trail_with_next_links(client_as: ClientAs) -> None:
    client = client_as("auditor")
    whole = served_json(client, "/v1/audit-trail")["events"]
    joined: list[dict[str, object]] = []
    url: str | None = "/v1/audit-trail?limit=4"
    while url is not None:
        response = client.get(url)
        page = response.json()
        joined += page["events"]
        link = response.headers.get("link")
        assert (link is None) == (page["next_after"] is None)
        url = link.split(">")[0].lstrip("<") if link else None
    assert joined == whole
    assert len(whole) > 4
