"""The pages log a browser in and out only from their own forms: a login or logout posted
from another site (Origin, Referer, Sec-Fetch-Site) is refused, and logout is not a link."""

from __future__ import annotations

import pytest

from tests.server.conftest import ClientFor


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "http://evil.example"},
        {"Referer": "http://evil.example/page"},
        {"Sec-Fetch-Site": "cross-site"},
        {"Origin": "null"},
        {"Origin": "null", "Sec-Fetch-Site": "same-site"},
    ],
    ids=["origin", "referer", "fetch-site", "opaque-origin", "sibling-site"],
)
def test_login_and_logout_posted_from_another_site_are_refused(
    client_for: ClientFor, headers: dict[str, str]
) -> None:
    token = client_for("auditor").post("/v1/auth/token").json()["token"]
    forged = client_for(None)
    answer = forged.post("/login", data={"token": token}, headers=headers, follow_redirects=False)
    assert answer.status_code == 403
    assert "login refused" in answer.text
    assert "trial_ledger_token" not in answer.headers.get("set-cookie", "")
    browser = client_for(None)
    own = browser.post(
        "/login",
        data={"token": token},
        headers={"Origin": "null", "Sec-Fetch-Site": "same-origin"},  # as chromium posts it
        follow_redirects=False,
    )
    assert own.status_code == 303
    assert browser.post("/logout", headers=headers, follow_redirects=False).status_code == 403
    assert browser.get("/", follow_redirects=False).status_code == 200  # still logged in


def test_logout_is_not_a_link(client_for: ClientFor) -> None:
    token = client_for("auditor").post("/v1/auth/token").json()["token"]
    browser = client_for(None)
    browser.post("/login", data={"token": token})
    assert browser.get("/logout", follow_redirects=False).status_code == 405
    assert browser.get("/", follow_redirects=False).status_code == 200
