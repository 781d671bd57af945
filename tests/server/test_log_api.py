"""The signed log's routes: the head, the latest checkpoint as its stored note, pages that
end with next_after null, and refused parameters."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger.bundle.export import commit_line, event_line
from ledger.integrity.checkpoint import parse_checkpoint
from ledger.store import LedgerReader
from tests.server.support import Served
from tests.server.test_api_matches_cli import ClientAs, clients_as, served_json


@pytest.fixture
def client_as(served: Served) -> Iterator[ClientAs]:
    yield from clients_as(served)


def test_ledger_head_tells_the_size_commits_and_the_latest_checkpoint(
    served: Served, client_as: ClientAs
) -> None:
    head = served_json(client_as("consumer"), "/v1/ledger")
    with LedgerReader(served.db) as reader:
        size, note, _ = reader.checkpoints()[-1]
        assert head["tree_size"] == reader.size()
        assert head["commits"] == len(list(reader.iter_commits()))
        assert head["ledger_id"] == reader.meta("ledger_id")
    checkpoint, _ = parse_checkpoint(note)
    assert head["latest_checkpoint"] == {
        "tree_size": size,
        "root": base64.b64encode(checkpoint.root).decode(),
    }


def test_checkpoint_is_the_stored_note_byte_for_byte(served: Served, client_as: ClientAs) -> None:
    response = client_as("investigator-001").get("/v1/checkpoint")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    with LedgerReader(served.db) as reader:
        assert response.content == reader.checkpoints()[-1][1].encode()


def test_checkpoints_after_the_latest_size_are_none(served: Served, client_as: ClientAs) -> None:
    client = client_as("consumer")
    size = served_json(client, "/v1/ledger")["latest_checkpoint"]["tree_size"]
    assert served_json(client, "/v1/checkpoints", after_size=size) == {"checkpoints": []}
    assert len(served_json(client, "/v1/checkpoints", after_size=size - 1)["checkpoints"]) == 1


def test_the_last_page_has_next_after_null_and_no_link(client_as: ClientAs) -> None:
    client = client_as("consumer")
    size = served_json(client, "/v1/ledger")["tree_size"]
    response = client.get("/v1/log/events", params={"after": size - 2})
    page = response.json()
    assert [e["position"] for e in page["events"]] == [size - 1, size]
    assert page["next_after"] is None
    assert "link" not in response.headers
    beyond = served_json(client, "/v1/log/events", after=size + 5)
    assert beyond == {"events": [], "tree_size": size, "next_after": None}


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(after=st.integers(0, 40), limit=st.integers(1, 12))
def test_a_page_is_the_events_after_the_position_in_order(
    client_as: ClientAs, after: int, limit: int
) -> None:
    client = client_as("auditor")
    page = served_json(client, "/v1/log/events", after=after, limit=limit)
    size = page["tree_size"]
    wanted = list(range(after + 1, min(after + limit, size) + 1))
    assert [e["position"] for e in page["events"]] == wanted
    assert page["next_after"] == (wanted[-1] if wanted and wanted[-1] < size else None)


def test_proof_parameters_out_of_the_tree_are_400_problems(client_as: ClientAs) -> None:
    client = client_as("auditor")
    size = served_json(client, "/v1/ledger")["tree_size"]
    for url, params, field in [
        ("/v1/proof/inclusion", {"position": size + 1}, "position"),
        ("/v1/proof/inclusion", {"position": 1, "tree_size": 0}, "tree_size"),
        ("/v1/proof/consistency", {"from": 5, "to": 4}, "from"),
        ("/v1/proof/consistency", {"from": 1, "to": size + 1}, "to"),
        ("/v1/log/commits", {"after_seq": -1}, "after_seq"),
        ("/v1/log/events", {"limit": 0}, "limit"),
    ]:
        response = client.get(url, params=params)
        assert response.status_code == 400, (url, params)
        assert response.json()["field"] == field


@pytest.mark.parametrize("label", ["coordinator-001", "investigator-002", "consumer"])
def test_every_caller_gets_the_proofs_and_the_genesis_which_name_no_subject(
    client_as: ClientAs, label: str
) -> None:
    client = client_as(label)
    size = served_json(client, "/v1/ledger")["tree_size"]
    inclusion = served_json(client, "/v1/proof/inclusion", position=1, tree_size=size)
    assert (inclusion["leafIdx"], inclusion["treeSize"]) == (0, size)
    consistency = served_json(client, "/v1/proof/consistency", **{"from": 1, "to": size})
    assert (consistency["size1"], consistency["size2"]) == (1, size)
    genesis = served_json(client, "/v1/genesis")
    assert genesis["event"]["position"] == 1
    assert genesis["event"]["topic"] == "trial.TrialCreated.v1"
    assert "subject_id" not in genesis["event"]["state"]
    assert (genesis["commit"]["seq"], genesis["commit"]["last_position"]) == (1, 1)
    assert genesis["event"]["leaf_hash"] == base64.b64decode(inclusion["leafHash"]).hex()


def test_the_genesis_is_position_1_and_commit_1_as_a_bundle_holds_them(
    served: Served, client_as: ClientAs
) -> None:
    genesis = served_json(client_as("coordinator-002"), "/v1/genesis")
    with LedgerReader(served.db) as reader:
        row, first = reader.event_at(1), reader.commit_at(1)
        assert row is not None
        assert first is not None
        assert genesis == {"event": event_line(row), "commit": commit_line(first)}


@pytest.mark.parametrize("url", ["/v1/log/events", "/v1/log/commits"])
def test_site_staff_are_still_refused_the_raw_log(client_as: ClientAs, url: str) -> None:
    response = client_as("coordinator-001").get(url)
    assert response.status_code == 403
    assert "sees only the subjects of site 001" in response.json()["detail"]
