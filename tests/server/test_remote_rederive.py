"""The remote client runs the rules again on the served history before it signs
(ledger.remote.rederive, the route GET /v1/subjects/{subject_id}/events): a rule event whose
contents a hostile server altered, added or dropped is refused, nothing signed and nothing
written; honest commands through the real server store the rows local recording stores."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from ledger.domain.commands import AssessResponse, Command, RecordDose, RecordLab, handler_for
from ledger.events import subject_stream_id
from ledger.recording import TrialRecorder
from ledger.remote.record import ProposalRefused, RemoteRecorder
from ledger.remote.rederive import compare
from tests.domain.trial_helpers import enrol_command
from tests.server.conftest import ClientFor
from tests.server.support import Served
from tests.server.test_access_log import stored_rows
from tests.server.test_remote_head_proof import Proxy
from tests.server.test_remote_recording import _reseal, _rows, _spliced, _state

ENROLLED, ELIGIBLE = "MC0282-001-017", "MC0282-001-018"
ENROL = enrol_command(ELIGIBLE)
ASSESS = AssessResponse(
    subject_id=ENROLLED, date=date(2003, 2, 10), investigator_category="SD", new_bone_lesions=False
)
PROGRESSING = ASSESS.model_copy(update={"investigator_category": "PD", "new_bone_lesions": True})
DOSE = RecordDose(
    subject_id=ENROLLED, date=date(2003, 1, 14), drug="anakinra", dose=Decimal(100), route="SC"
)
LAB = RecordLab(
    subject_id=ENROLLED, date=date(2003, 2, 10), analyte="hs_crp", value=Decimal("3.2"),
    unit="mg/L",
)  # fmt: skip
PREPARE, COMMIT = "/v1/commands/prepare", "/v1/commands/commit"
Alter = Callable[[dict[str, Any]], None]


def _through(
    client_for: ClientFor, served: Served, label: str, alter: Alter | None = None
) -> tuple[RemoteRecorder, Proxy]:
    """``label``'s recorder through a proxy serving ``alter``'s version of each proposal
    (every request forwarded as the recorder signed it)."""
    upstream = client_for(None)

    def altered(request: httpx.Request, status: int, body: bytes) -> tuple[int, bytes] | None:
        if alter is None or request.url.path != PREPARE or status != 200:
            return None
        document = json.loads(body)
        alter(document)
        return status, json.dumps(document).encode()

    proxy = Proxy(lambda _request: upstream, altered)
    client = httpx.Client(base_url="http://testserver", transport=proxy)
    return RemoteRecorder(client, served.signer(label)), proxy


def _prepared(client: httpx.Client, command: Command) -> dict[str, Any]:
    answer = client.post(PREPARE, json={"command": json.loads(command.model_dump_json())})
    assert answer.status_code == 200, answer.text
    document: dict[str, Any] = answer.json()
    return document


def _of(document: dict[str, Any], kind: str) -> dict[str, Any]:
    return next(e for e in document["events"] if e["topic"] == f"trial.{kind}.v1")


def _changed(kind: str, **changes: Any) -> Alter:
    def alter(document: dict[str, Any]) -> None:
        _state(_of(document, kind), **changes)
        _reseal(document)

    return alter


def _dropped(kind: str) -> Alter:
    def alter(document: dict[str, Any]) -> None:
        document["events"].remove(_of(document, kind))
        first = document["header"]["first_position"]
        for number, event in enumerate(document["events"]):
            event["position"] = first + number
        document["header"]["last_position"] = first + len(document["events"]) - 1
        _reseal(document)

    return alter


def _refused(
    served: Served, client_for: ClientFor, label: str, command: Command, alter: Alter, match: str
) -> None:
    before = _rows(served.db)
    recorder, proxy = _through(client_for, served, label, alter)
    with pytest.raises(ProposalRefused, match=match) as refused:
        recorder.record(command)
    assert refused.value.exit_code == 1
    assert not [line for line in proxy.seen if line.startswith(f"POST {COMMIT}")]
    assert f"GET /v1/subjects/{command.subject_id}/events?" in proxy.seen
    assert _rows(served.db) == before


CHANGED = {
    "enrolment's regimen": (
        "investigator-001", ENROL, _changed("RegimenChanged", to_regimen="high_dose_dex"),
        r"position \d+ \(trial\.RegimenChanged\.v1\): to_regimen is 'high_dose_dex', the "
        r"rules give 'induction'",
    ),
    "enrolment's regimen date": (
        "investigator-001", ENROL, _changed("RegimenChanged", effective_date="2003-01-20"),
        r"\(trial\.RegimenChanged\.v1\): effective_date is '2003-01-20', the rules give "
        r"'2003-01-13'",
    ),
    "assessment's derived category": (
        "investigator-001", ASSESS, _changed("ResponseAssessed", derived_category="PR"),
        r"\(trial\.ResponseAssessed\.v1\): derived_category is 'PR', the rules give 'SD'",
    ),
    "enrolment's regimen change dropped": (
        "investigator-001", ENROL, _dropped("RegimenChanged"),
        r"it holds 1 of the 2 events the rules give: it leaves out trial\.RegimenChanged\.v1 of "
        + ELIGIBLE,
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", CHANGED, ids=str)
def test_a_rule_event_the_server_altered_is_refused_before_signing(
    served: Served, client_for: ClientFor, case: str
) -> None:
    label, command, alter, match = CHANGED[case]
    _refused(served, client_for, label, command, alter, match)


def test_a_progression_the_server_adds_to_an_assessment_is_refused_before_signing(
    served: Served, client_for: ClientFor
) -> None:
    """The progression (of this subject, on this date: what the event sets allow) comes
    from a genuine proposal of a progressing assessment; the rules give none here."""
    progression = _of(
        _prepared(client_for("investigator-001"), PROGRESSING), "ProgressionConfirmed"
    )
    _refused(
        served, client_for, "investigator-001", ASSESS,
        lambda d: _spliced(d, progression),
        r"position \d+ \(trial\.ProgressionConfirmed\.v1\) is not an event the rules give",
    )  # fmt: skip


def test_a_history_on_which_the_rules_refuse_the_command_is_refused_before_signing(
    served: Served, client_for: ClientFor
) -> None:
    """The server serves the subject's history without its enrolment: the rules refuse a
    dose on it, so the client refuses the proposal the server made anyway."""
    upstream = client_for(None)
    path = f"/v1/subjects/{ENROLLED}/events"

    def unenrolled(request: httpx.Request, status: int, body: bytes) -> tuple[int, bytes] | None:
        if request.url.path != path:
            return None
        document = json.loads(body)
        kept = [e for e in document["events"] if "Enrolled" not in e["topic"]]
        for version, event in enumerate(kept, start=1):
            event["originator_version"] = version
        return status, json.dumps({**document, "events": kept}).encode()

    proxy = Proxy(lambda _request: upstream, unenrolled)
    client = httpx.Client(base_url="http://testserver", transport=proxy)
    before = _rows(served.db)
    with pytest.raises(ProposalRefused, match="the rules refuse the dose of " + ENROLLED):
        RemoteRecorder(client, served.signer("coordinator-001")).record(DOSE)
    assert not [line for line in proxy.seen if line.startswith(f"POST {COMMIT}")]
    assert _rows(served.db) == before


def test_a_served_event_of_another_stream_is_refused(served: Served, client_for: ClientFor) -> None:
    def foreign(request: httpx.Request, status: int, body: bytes) -> tuple[int, bytes] | None:
        if not request.url.path.endswith("/events"):
            return None
        document = json.loads(body)
        document["events"][-1]["originator_id"] = subject_stream_id(ELIGIBLE).hex
        return status, json.dumps(document).encode()

    upstream = client_for(None)
    client = httpx.Client(
        base_url="http://testserver", transport=Proxy(lambda _r: upstream, foreign)
    )
    with pytest.raises(ProposalRefused, match=f"is not an event of {ENROLLED}'s stream"):
        RemoteRecorder(client, served.signer("coordinator-001")).record(DOSE)


def test_the_comparison_names_a_changed_event_kind(served: Served, client_for: ClientFor) -> None:
    honest = _prepared(client_for("investigator-001"), ENROL)
    swapped = copy.deepcopy(honest["events"])
    swapped[1]["topic"] = "trial.ProgressionConfirmed.v1"
    with served.open() as ledger:
        recorder = TrialRecorder(ledger)
        events = handler_for(ENROL)(recorder.patient(ELIGIBLE), recorder.context(), ENROL)
    compare(honest["events"], events)  # the honest proposal is what the rules give
    with pytest.raises(ProposalRefused, match=r"the rules give trial\.RegimenChanged\.v1 there"):
        compare(swapped, events)


# --------------------------------------------------------------------------- honest


def test_honest_commands_and_an_import_store_the_rows_local_recording_stores(
    served: Served, client_for: ClientFor, tmp_path: Path
) -> None:
    (tmp_path / "local").mkdir()
    local = served.copy_to(tmp_path / "local")
    script: list[tuple[str, Command]] = [
        ("investigator-001", ENROL),
        ("coordinator-001", DOSE),
        ("coordinator-001", LAB),
        ("investigator-001", PROGRESSING),
    ]
    lines = [
        json.dumps({"command": "lab", "subject_id": ELIGIBLE, "date": "2003-01-15",
                    "analyte": "hs_crp", "value": "3.9", "unit": "mg/L"}),
        json.dumps({"command": "dose", "subject_id": ELIGIBLE, "date": "2003-01-15",
                    "drug": "anakinra", "dose": "100", "route": "SC"}),
    ]  # fmt: skip
    for label, command in script:
        remote, proxy = _through(client_for, served, label)
        remote.record(command)
        assert f"GET /v1/subjects/{command.subject_id}/events?" in proxy.seen
    importer, _ = _through(client_for, served, "coordinator-001")
    importer.import_lines("day.jsonl", lines)
    with local.open() as ledger:
        recorder = TrialRecorder(ledger)
        for label, command in script:
            recorder.record(served.signer(label), command)
        recorder.import_jsonl(served.signer("coordinator-001"), lines)
    assert _rows(served.db) == _rows(local.db)


# --------------------------------------------------------------------------- the route


def test_the_events_route_serves_the_stream_to_its_site_and_not_to_another(
    served: Served, client_for: ClientFor
) -> None:
    path = f"/v1/subjects/{ENROLLED}/events"
    answer = client_for("coordinator-001").get(path)
    assert answer.status_code == 200, answer.text
    with served.open() as ledger:
        stored = ledger.reader.stream_rows(subject_stream_id(ENROLLED).hex)
    events = answer.json()["events"]
    assert [(e["position"], e["state"]) for e in events] == [
        (r.position, r.state.decode()) for r in stored
    ]
    (read,) = [r for r in stored_rows(served) if r["what"] == "subject events"]
    assert read["subjects"] == [ENROLLED]
    assert client_for("coordinator-002").get(path).status_code == 404
    assert client_for("monitor").get(path).status_code == 200
    assert client_for("coordinator-001").get("/v1/subjects/nobody/events").status_code == 400
