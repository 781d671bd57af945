"""Every role and site against a route of each kind (whole log, one subject, the log of
reads), and the token lifecycle (issue, use as bearer or cookie, expiry, revoked key, end)."""

from __future__ import annotations

import time
from datetime import date

import pytest
from fastapi import APIRouter, FastAPI, Request

from ledger.remote.auth import BearerToken, obtain_token
from ledger.server.access import CallerDep, require_subject, require_whole_log
from ledger.server.access.access_log import record_read
from ledger.server.access.tokens import TOKEN_COOKIE
from ledger.server.app import create_app
from tests.server.conftest import ClientFor, LiveServer
from tests.server.support import PEOPLE, Served

probe = APIRouter()


@probe.get("/v1/probe/log")
def whole_log(caller: CallerDep) -> dict[str, str]:
    require_whole_log(caller)
    return {"role": caller.role}


@probe.get("/v1/probe/subjects/{subject_id}")
def one_subject(subject_id: str, request: Request, caller: CallerDep) -> dict[str, str]:
    require_subject(caller, subject_id)
    record_read(request, caller, [subject_id], "probe subject")
    return {"subject_id": subject_id}


@pytest.fixture
def probed(served: Served) -> FastAPI:
    app = create_app(served.config())
    app.include_router(probe)
    return app


SITE_BOUND = {"investigator-001", "investigator-002", "coordinator-001", "coordinator-002"}
READS_ACCESS_LOG = {"sponsor", "monitor", "auditor"}


@pytest.mark.parametrize("label", sorted(PEOPLE))
def test_whole_log_is_refused_to_site_staff_only(
    label: str, probed: FastAPI, client_for: ClientFor
) -> None:
    response = client_for(label, on=probed).get("/v1/probe/log")
    assert response.status_code == (403 if label in SITE_BOUND else 200), response.text


@pytest.mark.parametrize("label", sorted(PEOPLE))
@pytest.mark.parametrize("subject", ["MC0282-001-017", "MC0282-002-001"])
def test_subject_of_another_site_is_not_found_for_site_staff(
    label: str, subject: str, probed: FastAPI, client_for: ClientFor
) -> None:
    site = PEOPLE[label][2]
    response = client_for(label, on=probed).get(f"/v1/probe/subjects/{subject}")
    visible = site == "*" or subject.split("-")[1] == site
    assert response.status_code == (200 if visible else 404), response.text


@pytest.mark.parametrize("label", sorted(PEOPLE))
def test_access_log_is_for_sponsor_monitors_and_auditors(label: str, client_for: ClientFor) -> None:
    response = client_for(label).get("/v1/access-log")
    assert response.status_code == (200 if label in READS_ACCESS_LOG else 403), response.text


def test_real_routes_apply_the_site_rules(client_for: ClientFor) -> None:
    coordinator = client_for("coordinator-001")
    assert coordinator.get("/v1/log/events").status_code == 403
    assert coordinator.get("/v1/subjects/MC0282-001-017").status_code == 200
    assert coordinator.get("/v1/subjects/MC0282-002-001").status_code == 404
    monitor = client_for("monitor")
    assert monitor.get("/v1/log/events").status_code == 200
    assert monitor.get("/v1/subjects/MC0282-002-001").status_code == 200


def _token(client_for: ClientFor, label: str) -> str:
    response = client_for(label).post("/v1/auth/token")
    assert response.status_code == 200, response.text
    token: str = response.json()["token"]
    return token


def test_token_stands_for_its_key_as_bearer_and_cookie(
    client_for: ClientFor, served: Served
) -> None:
    token = _token(client_for, "investigator-002")
    plain = client_for(None)
    bearer = plain.get("/v1/auth/whoami", headers={"Authorization": f"Bearer {token}"})
    assert bearer.json() == {
        "key_id": served.key_id("investigator-002"),
        "printed_name": "Dr. Ben Investigator",
        "role": "investigator",
        "site": "002",
        "via": "token",
    }
    plain.cookies.set(TOKEN_COOKIE, token)
    assert plain.get("/v1/auth/whoami").json() == bearer.json()


def test_token_is_refused_after_it_is_ended(client_for: ClientFor) -> None:
    token = _token(client_for, "monitor")
    plain = client_for(None)
    headers = {"Authorization": f"Bearer {token}"}
    assert plain.delete("/v1/auth/token", headers=headers).status_code == 204
    refused = plain.get("/v1/auth/whoami", headers=headers)
    assert refused.status_code == 401
    assert "unknown token" in refused.json()["detail"]


def test_token_does_not_obtain_another_token(client_for: ClientFor) -> None:
    token = _token(client_for, "monitor")
    response = client_for(None).post("/v1/auth/token", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 403
    assert "obtained by a signed request" in response.json()["detail"]


def test_token_expires_after_its_lifetime(served: Served, client_for: ClientFor) -> None:
    short = create_app(served.config(token_lifetime=1))
    token = client_for("auditor", on=short).post("/v1/auth/token").json()["token"]
    plain = client_for(None, on=short)
    headers = {"Authorization": f"Bearer {token}"}
    assert plain.get("/v1/auth/whoami", headers=headers).status_code == 200
    time.sleep(1.1)
    expired = plain.get("/v1/auth/whoami", headers=headers)
    assert expired.status_code == 401
    assert "expired" in expired.json()["detail"]


def test_token_of_a_revoked_key_is_refused_from_the_next_request_on(
    served: Served, client_for: ClientFor
) -> None:
    token = _token(client_for, "coordinator-001")
    plain = client_for(None)
    headers = {"Authorization": f"Bearer {token}"}
    assert plain.get("/v1/auth/whoami", headers=headers).status_code == 200
    with served.open() as ledger:
        ledger.revoke_key(
            served.signer("sponsor"), served.key_id("coordinator-001"), "left", date.today()
        )
    refused = plain.get("/v1/auth/whoami", headers=headers)
    assert refused.status_code == 401
    assert "was revoked" in refused.json()["detail"]


def test_tokens_end_with_a_server_restart(served: Served, client_for: ClientFor) -> None:
    token = _token(client_for, "monitor")
    restarted = create_app(served.config())
    response = client_for(None, on=restarted).get(
        "/v1/auth/whoami", headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 401


def test_live_server_takes_signed_requests_and_tokens(
    served: Served, client_for: ClientFor, live_server: LiveServer
) -> None:
    url = live_server(served.config())
    assert client_for("sponsor", base_url=url).get("/v1/auth/whoami").json()["role"] == "sponsor"
    token = obtain_token(url, served.signer("data-manager"))
    plain = client_for(None, base_url=url)
    plain.auth = BearerToken(token)
    assert plain.get("/v1/auth/whoami").json()["role"] == "data-manager"
