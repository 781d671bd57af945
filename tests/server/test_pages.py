"""The monitor's pages, in process: who sees them, what they show (compared with the CLI's
``--json`` for the same ledger), the as-of controls, escaping, refusals, the log of reads,
and the timeline's geometry (the segments are the regimen periods, the points the results)."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import date, timedelta
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

import cli
from ledger.domain.commands import ReportAdverseEvent
from ledger.recording import TrialRecorder
from ledger.server.pages.status import checkpoint_status
from ledger.store import LedgerReader
from ledger.verify import proved_registry
from tests.domain.trial_helpers import TODAY
from tests.server.support import SUBJECTS, Served

ClientFor = Callable[..., httpx.Client]
SUBJECT = "MC0282-001-017"  # enrolled, a dose, a lab of 3.1 corrected to 3.0


class Elements(HTMLParser):
    """Every start tag of a page with its attributes, and the text inside each id'd element."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.text: dict[str, str] = {}
        self._open: list[str] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = {k: v or "" for k, v in attrs}
        self.tags.append((tag, found))
        if "id" in found:
            self._open.append(found["id"])
            self.text.setdefault(found["id"], "")

    def handle_data(self, data: str) -> None:
        for element in self._open:
            self.text[element] += data

    def handle_endtag(self, tag: str) -> None:
        if self._open and tag in ("p", "dd", "h1", "strong", "section", "table", "span"):
            self._open.pop()

    def having(self, cls: str) -> list[dict[str, str]]:
        return [a for _t, a in self.tags if cls in a.get("class", "").split()]


def logged_in(client_for: ClientFor, label: str) -> httpx.Client:
    """A browser-like client: a token obtained by a signed request, posted to /login."""
    token = client_for(label).post("/v1/auth/token").json()["token"]
    browser = client_for(None)
    answer = browser.post("/login", data={"token": token}, follow_redirects=False)
    assert answer.status_code == 303, answer.text
    return browser


def report_ae(served: Served, term: str) -> None:
    """An adverse event of SUBJECT with ``term``, recorded by the site-001 coordinator."""
    with served.open() as ledger:
        TrialRecorder(ledger, clock=lambda: TODAY).record(
            served.signer("coordinator-001"),
            ReportAdverseEvent(
                subject_id=SUBJECT,
                date=date(2003, 1, 20),
                term=term,
                grade=1,
                attribution="possible",
                action_taken="none",
            ),
        )


def cli_json(capsys: pytest.CaptureFixture[str], *argv: str) -> Any:
    capsys.readouterr()
    code = cli.run([*argv, "--json"])
    out = capsys.readouterr().out
    assert code == 0, out
    return json.loads(out)


# --------------------------------------------------------------------------- who sees pages


@pytest.mark.parametrize("path", ["/", f"/subjects/{SUBJECT}", "/audit"])
def test_every_page_redirects_to_login_without_a_token(client_for: ClientFor, path: str) -> None:
    answer = client_for(None).get(path, follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/login"


def test_login_keeps_the_token_in_an_httponly_strict_cookie(client_for: ClientFor) -> None:
    token = client_for("monitor").post("/v1/auth/token").json()["token"]
    answer = client_for(None).post("/login", data={"token": token}, follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/"
    cookie = answer.headers["set-cookie"].lower()
    assert "httponly" in cookie
    assert "samesite=strict" in cookie


@pytest.mark.parametrize(("token", "says"), [("A" * 43, "token refused"), ("A" * 500, "token")])
def test_login_refuses_an_unknown_token_and_sets_no_cookie(
    client_for: ClientFor, token: str, says: str
) -> None:
    answer = client_for(None).post("/login", data={"token": token}, follow_redirects=False)
    assert answer.status_code == 401
    assert "set-cookie" not in answer.headers
    assert says in Elements(answer.text).text["login-error"]


def test_consumer_is_refused_the_pages(client_for: ClientFor) -> None:
    token = client_for("consumer").post("/v1/auth/token").json()["token"]
    browser = client_for(None)
    answer = browser.post("/login", data={"token": token}, follow_redirects=False)
    assert answer.status_code == 403
    assert "consumer reads the JSON API" in answer.text
    signed = client_for("consumer").get("/", follow_redirects=False)
    assert signed.status_code == 403


def test_logout_ends_the_token_on_the_server(client_for: ClientFor) -> None:
    token = client_for("auditor").post("/v1/auth/token").json()["token"]
    browser = client_for(None)
    browser.post("/login", data={"token": token})
    assert browser.get("/", follow_redirects=False).status_code == 200
    answer = browser.post("/logout", follow_redirects=False)
    assert answer.headers["location"] == "/login"
    assert browser.get("/", follow_redirects=False).status_code == 303
    bearer = client_for(None).get("/v1/auth/whoami", headers={"Authorization": f"Bearer {token}"})
    assert bearer.status_code == 401


# --------------------------------------------------------------------------- the subjects


def listed(html: str) -> set[str]:
    return {a["data-subject"] for a in Elements(html).having("subject")}


@pytest.mark.parametrize("label", ["monitor", "auditor", "data-manager", "sponsor"])
def test_subject_list_shows_every_site_to_whole_trial_roles(
    client_for: ClientFor, label: str
) -> None:
    page = logged_in(client_for, label).get("/")
    assert listed(page.text) == {s for subjects in SUBJECTS.values() for s in subjects}


@pytest.mark.parametrize("site", ["001", "002"])
def test_site_staff_see_only_their_site(client_for: ClientFor, site: str) -> None:
    browser = logged_in(client_for, f"coordinator-{site}")
    assert listed(browser.get("/").text) == set(SUBJECTS[site])
    other = next(s for code, subjects in SUBJECTS.items() if code != site for s in subjects)
    refused = browser.get(f"/subjects/{other}")
    assert refused.status_code == 404
    assert other in Elements(refused.text).text["problem"]


def test_subject_list_rows_agree_with_patient_json(
    client_for: ClientFor, served: Served, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = Elements(logged_in(client_for, "monitor").get("/").text).having("subject")
    assert rows
    for row in rows:
        report = cli_json(capsys, "patient", row["data-subject"], "--db", str(served.db))
        assert (row["data-regimen"], row["data-enrolled"]) == (
            report["regimen"],
            report["enrolled_on"] or "",
        )
        if report["enrolled_on"]:
            assert row["data-since"] == report["regimen_since"]


# --------------------------------------------------------------------------- one subject


def test_subject_page_shows_what_patient_json_says(
    client_for: ClientFor, served: Served, capsys: pytest.CaptureFixture[str]
) -> None:
    report = cli_json(capsys, "patient", SUBJECT, "--db", str(served.db))
    page = Elements(logged_in(client_for, "monitor").get(f"/subjects/{SUBJECT}").text)
    assert page.text["as-of-position"] == str(report["as_of"]["position"])
    segments = [s for s in page.having("segment") if s["data-regimen"] != "screening"]
    assert [(s["data-regimen"], s["data-start"], s["data-position"]) for s in segments] == [
        (p["regimen"], p["effective_date"], str(p["position"])) for p in report["regimen_history"]
    ]
    points = page.having("point")
    marker = report["response"]["markers"]["serum_m_protein"]
    assert len(points) == marker["results"]
    assert points[-1]["data-value"] == marker["latest"]
    assert len(page.having("dose")) == report["doses"]["anakinra"]["taken"]


def test_as_of_position_before_the_correction_shows_the_recorded_value(
    client_for: ClientFor, served: Served, capsys: pytest.CaptureFixture[str]
) -> None:
    now = cli_json(capsys, "patient", SUBJECT, "--db", str(served.db))
    (correction,) = now["corrections"]
    before = correction["position"] - 1
    browser = logged_in(client_for, "monitor")
    then = Elements(browser.get(f"/subjects/{SUBJECT}", params={"position": before}).text)
    current = Elements(browser.get(f"/subjects/{SUBJECT}").text)
    assert [p["data-value"] for p in then.having("point")] == [correction["old_value"]]
    assert [p["data-value"] for p in current.having("point")] == [correction["new_value"]]
    assert then.text["as-of-position"] == str(before)
    assert then.having("correction") == []
    assert [c["data-position"] for c in current.having("correction")] == [
        str(correction["position"])
    ]


def test_on_date_and_as_of_time_give_what_the_cli_gives(
    client_for: ClientFor, served: Served, capsys: pytest.CaptureFixture[str]
) -> None:
    now = cli_json(capsys, "patient", SUBJECT, "--db", str(served.db))
    first_dose = now["doses"]["anakinra"]["first"]
    browser = logged_in(client_for, "monitor")
    day_before = (date.fromisoformat(first_dose) - timedelta(days=1)).isoformat()
    on = Elements(browser.get(f"/subjects/{SUBJECT}", params={"on": day_before}).text)
    cli_on = cli_json(capsys, "patient", SUBJECT, "--db", str(served.db), "--on", day_before)
    assert on.having("dose") == []
    assert "anakinra" not in cli_on["doses"]
    stamp = now["as_of"]["recorded_at"]
    at = Elements(browser.get(f"/subjects/{SUBJECT}", params={"as_of": stamp}).text)
    cli_at = cli_json(capsys, "patient", SUBJECT, "--db", str(served.db), "--as-of", stamp)
    assert at.text["as-of-position"] == str(cli_at["as_of"]["position"])


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"position": "0"}, "position"),
        ({"position": "x1"}, "position"),
        ({"position": "99999"}, "position"),
        ({"on": "2003-13-01"}, "on"),
        ({"as_of": "yesterday"}, "as_of"),
        ({"as_of": "2003-01-01T00:00:00Z", "position": "3"}, "position"),
    ],
)
def test_bad_as_of_controls_are_a_problem_page_naming_the_field(
    client_for: ClientFor, query: dict[str, str], field: str
) -> None:
    answer = logged_in(client_for, "monitor").get(f"/subjects/{SUBJECT}", params=query)
    assert answer.status_code == 400
    assert field in Elements(answer.text).text["problem"]
    assert "Traceback" not in answer.text


def test_a_subject_nobody_recorded_is_not_found(client_for: ClientFor) -> None:
    answer = logged_in(client_for, "monitor").get("/subjects/MC0282-001-099")
    assert answer.status_code == 404
    assert "MC0282-001-099" in Elements(answer.text).text["problem"]


def test_subject_id_that_is_not_one_is_refused(client_for: ClientFor) -> None:
    answer = logged_in(client_for, "monitor").get("/subjects/MC0282-1-17")
    assert answer.status_code == 400
    assert "subject_id" in Elements(answer.text).text["problem"]


def test_free_text_is_escaped(client_for: ClientFor, served: Served) -> None:
    term = "<script>alert('x')</script> & \"quoted\" ünïcode"
    report_ae(served, term)
    html = logged_in(client_for, "monitor").get(f"/subjects/{SUBJECT}").text
    assert "<script>" not in html
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &#34;quoted&#34; ünïcode" in html
    assert Elements(html).having("ae")[0]["data-ae"] == "AE-001"


# --------------------------------------------------------------------------- the audit trail


def test_audit_filter_changes_the_rows_and_the_csv_link_carries_it(
    client_for: ClientFor, served: Served, capsys: pytest.CaptureFixture[str]
) -> None:
    browser = logged_in(client_for, "monitor")
    every = Elements(browser.get("/audit").text).having("audit-row")
    query = {"subject": SUBJECT, "type": "CorrectionRecorded"}
    page = Elements(browser.get("/audit", params=query).text)
    rows = page.having("audit-row")
    expected = cli_json(
        capsys, "audit-trail", "--db", str(served.db), "--subject", SUBJECT,
        "--type", "CorrectionRecorded",
    )  # fmt: skip
    assert [int(r["data-position"]) for r in rows] == [e["position"] for e in expected["events"]]
    assert len(rows) < len(every)
    (link,) = [a for tag, a in page.tags if a.get("id") == "csv-link"]
    url = urlsplit(link["href"])
    assert url.path == "/v1/audit-trail"
    assert parse_qs(url.query) == {
        "subject": [SUBJECT],
        "type": ["CorrectionRecorded"],
        "format": ["csv"],
    }
    csv = browser.get(link["href"])
    assert csv.headers["content-type"].startswith("text/csv")
    header, *lines = csv.text.splitlines()
    assert header.split(",") == expected["columns"]
    assert [int(line.split(",")[0]) for line in lines] == [
        e["position"] for e in expected["events"]
    ]


def test_audit_pages_follow_on_by_position(client_for: ClientFor) -> None:
    browser = logged_in(client_for, "monitor")
    everything = [
        int(r["data-position"]) for r in Elements(browser.get("/audit").text).having("audit-row")
    ]
    pages: list[int] = []
    url = "/audit?limit=7"
    while True:
        html = browser.get(url).text
        shown = [int(r["data-position"]) for r in Elements(html).having("audit-row")]
        assert 1 <= len(shown) <= 7
        pages += shown
        nxt = [a for _t, a in Elements(html).tags if a.get("id") == "next-page"]
        if not nxt:
            break
        url = nxt[0]["href"]
    assert pages == everything
    assert len(everything) > 7


def test_site_staff_audit_rows_are_their_sites_subjects_only(client_for: ClientFor) -> None:
    html = logged_in(client_for, "coordinator-002").get("/audit").text
    subjects = {r["data-subject"] for r in Elements(html).having("audit-row")}
    assert subjects == set(SUBJECTS["002"])


def test_unknown_event_type_is_refused_naming_the_field(client_for: ClientFor) -> None:
    answer = logged_in(client_for, "monitor").get("/audit", params={"type": "Nope"})
    assert answer.status_code == 400
    problem = Elements(answer.text).text["problem"]
    assert "'Nope'" in problem
    assert "CorrectionRecorded" in problem


# --------------------------------------------------------------------------- verification


def test_status_says_the_checkpoint_covers_what_is_shown_until_the_ledger_grows(
    client_for: ClientFor, served: Served
) -> None:
    browser = logged_in(client_for, "monitor")
    page = Elements(browser.get(f"/subjects/{SUBJECT}").text)
    with LedgerReader(served.db) as reader:
        (size, _note, _frontier) = reader.checkpoints()[-1]
    assert f"size {size}" in page.text["checkpoint"]
    assert "verified" in page.text["checkpoint"]
    assert page.text["covered"].startswith("yes")
    report_ae(served, "Injection site reaction")
    grown = Elements(browser.get(f"/subjects/{SUBJECT}").text)
    assert int(grown.text["shown-position"]) > size
    assert grown.text["covered"].startswith("no")
    older = Elements(browser.get(f"/subjects/{SUBJECT}", params={"position": size}).text)
    assert older.text["covered"].startswith("yes")


def test_checkpoint_under_another_ledger_key_is_not_verified(served: Served) -> None:
    with LedgerReader(served.db) as reader:
        registry = proved_registry(reader)
        assert registry.trial is not None
        other = served.signer("monitor")
        registry.trial = registry.trial.model_copy(
            update={"ledger_public_key": base64.b64encode(other.public_key).decode()}
        )
        status = checkpoint_status(reader, registry)
    assert status is not None
    assert not status.verified
    assert "signature does not verify" in (status.problem or "")


def test_page_reads_of_a_subject_are_recorded(client_for: ClientFor) -> None:
    browser = logged_in(client_for, "monitor")
    browser.get(f"/subjects/{SUBJECT}", params={"position": 20})
    log = client_for("auditor").get("/v1/access-log", params={"subject": SUBJECT}).json()
    rows = [r for r in log["items"] if r["what"] == "pages: subject timeline"]
    assert len(rows) == 1
    assert rows[0]["route"] == f"GET /subjects/{SUBJECT}"
    assert rows[0]["query"] == "position=20"
    assert rows[0]["via"] == "token"
