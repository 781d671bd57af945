"""Recording over HTTP with each commit signed on the caller's side (ledger.proposals, the
recording routes and ledger.remote.record): the same commands give the same events as the
local recorder; refusals are the local refusals; a moved head, a hostile proposal, a wrong,
foreign, revoked or replayed signature, an expired proposal all write nothing."""

from __future__ import annotations

import base64
import copy
import json
import threading
import time
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

import cli
from ledger.chain import CommitHeader, leaf_hash_of
from ledger.domain.commands import (
    AssessEligibility,
    Command,
    Consent,
    Correct,
    Enrol,
    RecordDose,
    RecordLab,
    RecordMissedDose,
    Screen,
    Sign,
)
from ledger.errors import LedgerError
from ledger.events import subject_stream_id
from ledger.integrity import merkle
from ledger.integrity.canonical import canonical_json
from ledger.integrity.signing import Signer
from ledger.jsonl import parse_line
from ledger.proposals import PROPOSAL_LIFETIME_S
from ledger.recording import TrialRecorder
from ledger.remote.record import (
    Expected,
    ProposalRefused,
    RemoteRecorder,
    RemoteRefusal,
    check_matches,
    check_proposal,
)
from ledger.server.api.recording import writers_of
from ledger.service import TrialLedger
from tests.domain.trial_helpers import baseline, eligible_inputs
from tests.server.conftest import ClientFor
from tests.server.support import Served

SUBJECT = "MC0282-001-017"
NEW = "MC0282-001-019"
ONE_DOSE = RecordDose(
    subject_id=SUBJECT, date=date(2003, 1, 14), drug="anakinra", dose=Decimal(100), route="SC"
)


def _rows(db: Path) -> list[tuple[Any, ...]]:
    with TrialLedger.open(db) as ledger:
        return [
            (r.position, r.originator_id, r.originator_version, r.topic, r.state, r.leaf_hash)
            for r in ledger.reader.iter_events()
        ]


def _size(served: Served) -> int:
    with served.open() as ledger:
        return ledger.reader.size()


def _script(served: Served) -> list[tuple[str, Command]]:
    """Commands by label: a new subject screened to enrolment, doses, a lab, a missed dose
    and the monitor's signed review."""
    return [
        (
            "coordinator-001",
            Screen(subject_id=NEW, date=date(2003, 2, 3), site="001", age_years=61, sex="F"),
        ),
        (
            "coordinator-001",
            Consent(subject_id=NEW, date=date(2003, 2, 4), consent_version="2002-10"),
        ),
        (
            "investigator-001",
            AssessEligibility(subject_id=NEW, date=date(2003, 2, 5), inputs=eligible_inputs()),
        ),
        (
            "investigator-001",
            Enrol(
                subject_id=NEW,
                date=date(2003, 2, 6),
                treatment_start=date(2003, 2, 10),
                baseline=baseline(),
            ),
        ),
        ("coordinator-001", ONE_DOSE),
        (
            "coordinator-001",
            RecordLab(
                subject_id=SUBJECT,
                date=date(2003, 1, 15),
                analyte="hs_crp",
                value=Decimal("3.9"),
                unit="mg/L",
            ),
        ),
        (
            "coordinator-001",
            RecordMissedDose(
                subject_id=SUBJECT,
                date=date(2003, 1, 16),
                drug="anakinra",
                reason="forgot the injection",
            ),
        ),
    ]


def _review(positions: list[int]) -> Sign:
    return Sign(
        subject_id=SUBJECT,
        date=date(2003, 1, 17),
        positions=tuple(positions),
        signature_meaning="review",
        statement="source data verified",
    )


def _recorder(client_for: ClientFor, served: Served, label: str, **kw: Any) -> RemoteRecorder:
    return RemoteRecorder(client_for(label), served.signer(label), **kw)


def test_remote_and_local_recording_store_identical_events_and_the_remote_ledger_verifies(
    served: Served, client_for: ClientFor, tmp_path: Path
) -> None:
    (tmp_path / "local").mkdir()
    local = served.copy_to(tmp_path / "local")
    before = _size(served)
    script = _script(served)
    written = 0
    for label, command in script:
        receipt = _recorder(client_for, served, label).record(command)
        assert receipt["signer_key_id"] == served.key_id(label)
        assert receipt["meaning"] == command.meaning
        written += len(receipt["positions"])
    review = _review(receipt["positions"])
    written += len(_recorder(client_for, served, "monitor").record(review)["positions"])
    with local.open() as ledger:
        recorder = TrialRecorder(ledger)
        for label, command in [*script, ("monitor", review)]:
            recorder.record(served.signer(label), command)
    remote_rows, local_rows = _rows(served.db), _rows(local.db)
    assert len(remote_rows) == before + written
    assert remote_rows == local_rows  # payloads and leaves, position for position
    assert cli.run(["verify", "--db", str(served.db)]) == 0


DEXAMETHASONE = RecordDose(
    subject_id=SUBJECT, date=date(2003, 1, 14), drug="dexamethasone", dose=Decimal(20), route="PO"
)


def test_a_refusal_over_http_is_the_local_refusal_and_writes_nothing(
    served: Served, client_for: ClientFor
) -> None:
    before = _size(served)
    with served.open() as ledger, pytest.raises(LedgerError, match="DOSE-NOT-IN-REGIMEN") as local:
        TrialRecorder(ledger).record(served.signer("coordinator-001"), DEXAMETHASONE)
    with pytest.raises(RemoteRefusal, match="DOSE-NOT-IN-REGIMEN") as remote:
        _recorder(client_for, served, "coordinator-001").record(DEXAMETHASONE)
    assert str(remote.value) == local.value.diagnostics()
    answer = client_for("coordinator-001").post(
        "/v1/commands/prepare", json={"command": json.loads(DEXAMETHASONE.model_dump_json())}
    )
    assert answer.status_code == 422
    assert answer.json()["rule"] == "DOSE-NOT-IN-REGIMEN"
    assert _size(served) == before


def test_a_site_bound_caller_is_refused_another_sites_subject_as_locally(
    served: Served, client_for: ClientFor
) -> None:
    other_site = RecordDose(
        subject_id="MC0282-002-001",
        date=date(2003, 1, 14),
        drug="anakinra",
        dose=Decimal(100),
        route="SC",
    )
    with served.open() as ledger, pytest.raises(LedgerError, match="site") as local:
        TrialRecorder(ledger).record(served.signer("coordinator-001"), other_site)
    with pytest.raises(LedgerError, match="site") as remote:
        _recorder(client_for, served, "coordinator-001").record(other_site)
    assert str(remote.value) == local.value.diagnostics()


def _interloper(served: Served) -> None:
    """Another commit lands: a lab of site 002's enrolled subject."""
    lab = RecordLab(
        subject_id="MC0282-002-001",
        date=date(2003, 1, 15),
        analyte="hs_crp",
        value=Decimal("4.0"),
        unit="mg/L",
    )
    with served.open() as ledger:
        TrialRecorder(ledger).record(served.signer("coordinator-002"), lab)


def _prepared(client: httpx.Client, command: Command) -> dict[str, Any]:
    answer = client.post(
        "/v1/commands/prepare", json={"command": json.loads(command.model_dump_json())}
    )
    assert answer.status_code == 200, answer.text
    document: dict[str, Any] = answer.json()
    return document


def _signed(document: dict[str, Any], signer: Signer, data: bytes | None = None) -> dict[str, str]:
    signed = signer.sign(base64.b64decode(document["sign"]) if data is None else data)
    return {"proposal": document["proposal"], "signature": base64.b64encode(signed).decode()}


def test_a_head_moved_between_prepare_and_commit_is_409_and_nothing_is_written(
    served: Served, client_for: ClientFor
) -> None:
    client = client_for("coordinator-001")
    document = _prepared(client, ONE_DOSE)
    _interloper(served)
    before = _size(served)
    answer = client.post(
        "/v1/commands/commit", json=_signed(document, served.signer("coordinator-001"))
    )
    assert answer.status_code == 409
    assert answer.json()["type"].endswith("/head-moved")
    assert _size(served) == before


def test_the_client_prepares_again_when_the_head_moved_and_then_commits(
    served: Served, client_for: ClientFor
) -> None:
    moved: list[int] = []

    def move_once(header: CommitHeader) -> None:
        if not moved:
            moved.append(header.first_position)
            _interloper(served)

    recorder = _recorder(client_for, served, "coordinator-001", check=move_once)
    receipt = recorder.record(ONE_DOSE)
    assert recorder.attempts == 2
    assert receipt["positions"] == [moved[0] + 1]
    assert cli.run(["verify", "--db", str(served.db)]) == 0


# --------------------------------------------------------------------------- a hostile server


def _reseal(document: dict[str, Any]) -> dict[str, Any]:
    """What a hostile server that keeps its lie consistent sends: every leaf, the root and
    the bytes to sign recomputed over its altered events and header."""
    header, prev, leaves = document["header"], bytes.fromhex(document["header"]["prev_leaf"]), []
    for line in document["events"]:
        line["commit"] = header["seq"]
        leaf = leaf_hash_of(
            commit=line["commit"],
            originator_id=line["originator_id"],
            originator_version=line["originator_version"],
            position=line["position"],
            prev=prev,
            state=line["state"].encode(),
            topic=line["topic"],
        )
        line["leaf_hash"], prev = leaf.hex(), leaf
        leaves.append(leaf)
    header["events_root"] = merkle.root(leaves).hex()
    rebuilt = CommitHeader(
        **{k: header[k] for k in ("seq", "first_position", "last_position", "ledger_id")},
        prev_leaf=bytes.fromhex(header["prev_leaf"]),
        events_root=merkle.root(leaves),
        **{k: header[k] for k in ("signer", "meaning", "recorded_at")},
    )
    document["sign"] = base64.b64encode(rebuilt.to_bytes()).decode()
    return document


def _state(line: dict[str, Any], **changes: Any) -> None:
    """The event's state changed, still RFC 8785 JSON (so the check that refuses it is the
    one about its content)."""
    line["state"] = canonical_json({**json.loads(line["state"]), **changes}).decode()


def _member_twice(line: dict[str, Any]) -> None:
    """The dose twice in the state: one reader takes the first, another the last."""
    line["state"] = line["state"].replace('"dose":', '"dose":"900","dose":', 1)


def _spaced(line: dict[str, Any]) -> None:
    line["state"] = json.dumps(json.loads(line["state"]), sort_keys=True)


def _other_subject(doc: dict[str, Any]) -> None:
    _state(doc["events"][0], subject_id="MC0282-001-018")
    doc["events"][0]["originator_id"] = subject_stream_id("MC0282-001-018").hex


HOSTILE: dict[str, tuple[Callable[[dict[str, Any]], None], bool]] = {
    # what the server alters: (the alteration, whether it keeps leaves and root consistent)
    "event state": (lambda d: _state(d["events"][0], dose="200"), False),
    "event state, resealed": (lambda d: _state(d["events"][0], dose="200"), True),
    "event date, resealed": (lambda d: _state(d["events"][0], effective_date="2003-01-20"), True),
    "event of another subject, resealed": (_other_subject, True),
    "event state with a member twice, resealed": (lambda d: _member_twice(d["events"][0]), True),
    "event state not canonical, resealed": (lambda d: _spaced(d["events"][0]), True),
    "event position": (
        lambda d: d["events"][0].update(position=d["events"][0]["position"] + 1),
        False,
    ),
    "header seq": (lambda d: d["header"].update(seq=d["header"]["seq"] + 1), False),
    "header prev_leaf": (lambda d: d["header"].update(prev_leaf="11" * 32), False),
    "header meaning, resealed": (lambda d: d["header"].update(meaning="approval"), True),
    "header signer, resealed": (lambda d: d["header"].update(signer="ed25519:" + "0" * 32), True),
    "header backdated, resealed": (
        lambda d: d["header"].update(recorded_at="2003-01-14T09:00:00.000000Z"),
        True,
    ),
    "bytes to sign": (lambda d: d.update(sign=base64.b64encode(b"{}").decode()), False),
}


def _checked(document: dict[str, Any], expected: Expected) -> None:
    """What the client checks before it signs (RemoteRecorder._run)."""
    check_proposal(document, expected)
    check_matches([ONE_DOSE], document)


@pytest.mark.parametrize("alteration", HOSTILE, ids=str)
def test_a_proposal_altered_by_the_server_is_refused_before_signing(
    served: Served, client_for: ClientFor, alteration: str
) -> None:
    genuine = _prepared(client_for("coordinator-001"), ONE_DOSE)
    expected = Expected(served.key_id("coordinator-001"), "authorship", frozenset({SUBJECT}))
    _checked(copy.deepcopy(genuine), expected)  # the genuine one passes
    alter, reseal = HOSTILE[alteration]
    hostile = copy.deepcopy(genuine)
    alter(hostile)
    if reseal:
        _reseal(hostile)
    with pytest.raises(ProposalRefused, match="not signed"):
        _checked(hostile, expected)


# --------------------------------------------------------------------------- commit refusals


def _commit(client: httpx.Client, body: dict[str, str]) -> httpx.Response:
    return client.post("/v1/commands/commit", json=body)


def test_a_signature_over_other_bytes_or_by_another_key_is_refused_and_nothing_written(
    served: Served, client_for: ClientFor
) -> None:
    client = client_for("coordinator-001")
    cole = served.signer("coordinator-001")
    for body in (
        _signed(_prepared(client, ONE_DOSE), cole, b"other bytes"),
        _signed(_prepared(client, ONE_DOSE), served.signer("monitor")),
    ):
        before = _size(served)
        answer = _commit(client, body)
        assert answer.status_code == 403, answer.text
        assert "does not verify" in answer.json()["detail"]
        assert _size(served) == before


def test_another_caller_cannot_commit_someone_elses_proposal_which_stays_usable(
    served: Served, client_for: ClientFor
) -> None:
    document = _prepared(client_for("coordinator-001"), ONE_DOSE)
    before = _size(served)
    mona = served.signer("monitor")
    answer = _commit(client_for("monitor"), _signed(document, mona))
    assert answer.status_code == 403
    assert "prepared for key" in answer.json()["detail"]
    assert _size(served) == before
    owner = _commit(
        client_for("coordinator-001"), _signed(document, served.signer("coordinator-001"))
    )
    assert owner.status_code == 200, owner.text
    assert owner.json()["positions"] == [before + 1]


def test_a_replayed_commit_of_the_same_proposal_is_refused(
    served: Served, client_for: ClientFor
) -> None:
    client = client_for("coordinator-001")
    body = _signed(_prepared(client, ONE_DOSE), served.signer("coordinator-001"))
    assert _commit(client, body).status_code == 200
    before = _size(served)
    again = _commit(client, body)
    assert again.status_code == 422
    assert "used once" in again.json()["detail"]
    assert _size(served) == before


def test_an_expired_proposal_is_refused_and_nothing_written(
    served: Served, client_for: ClientFor, app: FastAPI
) -> None:
    client = client_for("coordinator-001")
    body = _signed(_prepared(client, ONE_DOSE), served.signer("coordinator-001"))
    book = writers_of(app.state.server).book
    book.clock = lambda: time.time() + PROPOSAL_LIFETIME_S + 1
    before = _size(served)
    answer = _commit(client, body)
    assert answer.status_code == 422
    assert "expired" in answer.json()["detail"]
    assert _size(served) == before


def test_a_key_revoked_after_prepare_cannot_commit(served: Served, client_for: ClientFor) -> None:
    client = client_for("coordinator-001")
    body = _signed(_prepared(client, ONE_DOSE), served.signer("coordinator-001"))
    with served.open() as ledger:
        ledger.revoke_key(
            served.signer("sponsor"), served.key_id("coordinator-001"), "left", date.today()
        )
    before = _size(served)
    answer = _commit(client, body)
    assert answer.status_code in (401, 403), answer.text
    assert "revoked" in answer.json()["detail"]
    assert _size(served) == before


# --------------------------------------------------------------------------- concurrency


def test_concurrent_remote_writers_on_one_subject_all_commit_or_get_the_rules_refusal(
    served: Served, live_server: Callable[[Any], str]
) -> None:
    url = live_server(served.config())
    cole = served.signer("coordinator-001")
    outcomes: list[str] = []

    def write(first_day: int) -> None:
        with httpx.Client(base_url=url, timeout=60.0) as client:
            recorder = RemoteRecorder(client, cole)
            for day in range(first_day, first_day + 3):
                dose = ONE_DOSE.model_copy(update={"date": date(2003, 1, 14 + day % 12)})
                try:
                    recorder.record(dose)
                    outcomes.append("committed")
                except LedgerError as e:
                    outcomes.append("refused: " + str(e))

    threads = [threading.Thread(target=write, args=(n * 3,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(outcomes) == 12
    assert all(o == "committed" or "DOSE-DUPLICATE" in o or "REC-" in o for o in outcomes), outcomes
    assert outcomes.count("committed") >= 1
    assert cli.run(["verify", "--db", str(served.db)]) == 0


# --------------------------------------------------------------------------- added events


class HostileProposals(httpx.BaseTransport):
    """A proxy in front of the served ledger: forwards every request as it came (signed by
    the recorder) and serves ``alter``'s version of each proposal. ``seen``: the paths."""

    def __init__(self, upstream: httpx.Client, alter: Callable[[int, dict[str, Any]], None]):
        self.upstream, self.alter = upstream, alter
        self.seen: list[str] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.seen.append(request.url.path)
        answer = self.upstream.send(request)
        status, body = answer.status_code, answer.read()
        if request.url.path == "/v1/commands/prepare" and status == 200:
            document = json.loads(body)
            self.alter(self.seen.count(request.url.path), document)
            body = json.dumps(document).encode()
        headers = [(k, v) for k, v in answer.headers.multi_items() if k != "content-length"]
        return httpx.Response(status, headers=headers, content=body)


def _hostile(
    client_for: ClientFor, served: Served, alter: Callable[[int, dict[str, Any]], None]
) -> tuple[RemoteRecorder, HostileProposals]:
    proxy = HostileProposals(client_for(None), alter)
    client = httpx.Client(base_url="http://testserver", transport=proxy)
    return RemoteRecorder(client, served.signer("coordinator-001")), proxy


def _spliced(document: dict[str, Any], line: dict[str, Any], at: int | None = None) -> None:
    """``line`` added to the proposal's events (at the end unless ``at``), as the next event
    of its stream, positions renumbered, everything resealed."""
    added = copy.deepcopy(line)
    stream = [e for e in document["events"] if e["originator_id"] == added["originator_id"]]
    if stream:
        added["originator_version"] = stream[-1]["originator_version"] + 1
    events = document["events"]
    events.insert(len(events) if at is None else at, added)
    first = document["header"]["first_position"]
    for number, event in enumerate(events):
        event["position"] = first + number
    document["header"]["last_position"] = first + len(events) - 1
    _reseal(document)


HS_CRP = RecordLab(
    subject_id=SUBJECT, date=date(2003, 1, 15), analyte="hs_crp", value=Decimal("3.2"), unit="mg/L"
)


def _lab_position(served: Served, subject: str = SUBJECT) -> int:
    with served.open() as ledger:
        rows = [r for r in ledger.reader.iter_events() if r.topic.endswith("LabResulted.v1")]
    return next(r.position for r in rows if subject.encode() in bytes(r.state))


def _refused_before_signing(
    served: Served, client_for: ClientFor, alter: Callable[[int, dict[str, Any]], None],
    match: str, record: Callable[[RemoteRecorder], object],
) -> None:  # fmt: skip
    before = _rows(served.db)
    recorder, proxy = _hostile(client_for, served, alter)
    with pytest.raises(ProposalRefused, match=match) as refused:
        record(recorder)
    assert refused.value.exit_code == 1
    assert "/v1/commands/commit" not in proxy.seen
    assert _rows(served.db) == before


def test_a_correction_added_to_a_lab_is_refused_before_signing_and_nothing_is_written(
    served: Served, client_for: ClientFor
) -> None:
    """The review's case: a proxy adds a CorrectionRecorded of the same subject changing an
    old lab value, leaves, root and header recomputed; one event still matches the lab."""
    correction = Correct(
        subject_id=SUBJECT, date=date(2003, 1, 15), position=_lab_position(served),
        field="value", old_value="3.0", new_value="9.9", reason="source document re-read",
    )  # fmt: skip
    added = _prepared(client_for("coordinator-001"), correction)["events"][0]
    _refused_before_signing(
        served, client_for, lambda _n, d: _spliced(d, added),
        r"position \d+ \(trial\.CorrectionRecorded\.v1\) is not an event the lab asked for "
        "records, nor one its rules may add",
        lambda r: r.record(HS_CRP),
    )  # fmt: skip


def test_a_correction_put_before_the_lab_is_refused_naming_its_position_and_topic(
    served: Served, client_for: ClientFor
) -> None:
    correction = Correct(
        subject_id=SUBJECT, date=date(2003, 1, 15), position=_lab_position(served),
        field="value", old_value="3.0", new_value="9.9", reason="source document re-read",
    )  # fmt: skip
    added = _prepared(client_for("coordinator-001"), correction)["events"][0]
    _refused_before_signing(
        served, client_for, lambda _n, d: _spliced(d, added, at=0),
        r"position \d+ \(trial\.CorrectionRecorded\.v1\) is not the LabResulted the lab",
        lambda r: r.record(HS_CRP),
    )  # fmt: skip


def test_a_duplicated_own_event_is_refused_before_signing(
    served: Served, client_for: ClientFor
) -> None:
    _refused_before_signing(
        served, client_for, lambda _n, d: _spliced(d, d["events"][0]),
        r"position \d+ \(trial\.LabResulted\.v1\) is not an event the lab asked for records",
        lambda r: r.record(HS_CRP),
    )  # fmt: skip


def test_an_added_event_of_another_type_is_refused_before_signing(
    served: Served, client_for: ClientFor
) -> None:
    dose = _prepared(client_for("coordinator-001"), ONE_DOSE)["events"][0]
    _refused_before_signing(
        served, client_for, lambda _n, d: _spliced(d, dose),
        r"position \d+ \(trial\.DoseAdministered\.v1\) is not an event the lab asked for",
        lambda r: r.record(HS_CRP),
    )  # fmt: skip


def test_an_own_event_holding_other_values_is_refused_naming_the_value(
    served: Served, client_for: ClientFor
) -> None:
    def other_value(_n: int, document: dict[str, Any]) -> None:
        _state(document["events"][0], value="32")
        _reseal(document)

    _refused_before_signing(
        served, client_for, other_value,
        r"position \d+ \(trial\.LabResulted\.v1\) holds value=\"32\", the lab asked for \"3.2\"",
        lambda r: r.record(HS_CRP),
    )  # fmt: skip


def _withdraw_and_lab() -> list[str]:
    """An import: site 001's screened subject withdraws (the rules add its regimen change,
    off study), and a lab of the enrolled one."""
    withdraw = {"command": "withdraw", "subject_id": "MC0282-001-018", "date": "2003-01-15",
                "reason": "moved away"}  # fmt: skip
    return [json.dumps(withdraw), HS_CRP.model_dump_json()]


def test_a_regimen_change_added_for_another_subject_is_refused_before_signing(
    served: Served, client_for: ClientFor
) -> None:
    """The withdrawal's rules may add a regimen change, of the withdrawn subject only: the
    proxy adds one for the lab's subject (the import's other subject)."""

    def foreign_change(_n: int, document: dict[str, Any]) -> None:
        change = copy.deepcopy(document["events"][1])
        assert change["topic"] == "trial.RegimenChanged.v1"
        _state(change, subject_id=SUBJECT)
        change["originator_id"] = subject_stream_id(SUBJECT).hex
        _spliced(document, change)

    lines = _withdraw_and_lab()
    answer = client_for("coordinator-001").post(
        "/v1/commands/prepare", json={"import": {"source": "withdraw.jsonl", "lines": lines}}
    )
    assert answer.status_code == 200, answer.text
    honest = answer.json()
    assert [e["topic"].split(".")[1] for e in honest["events"]] == [
        "SubjectWithdrawn", "RegimenChanged", "LabResulted",
    ]  # fmt: skip
    commands = [parse_line(line) for line in lines]
    check_matches(commands, honest)  # the honest proposal passes
    _refused_before_signing(
        served, client_for, foreign_change,
        rf"position \d+ \(trial\.RegimenChanged\.v1\) is of subject {SUBJECT}: the rules of "
        "the withdraw of MC0282-001-018 add events of that subject only",
        lambda r: r.import_lines("withdraw.jsonl", lines),
    )  # fmt: skip


def test_a_ledger_id_changed_on_a_later_proposal_is_refused_before_signing(
    served: Served, client_for: ClientFor
) -> None:
    def second_of_another_ledger(number: int, document: dict[str, Any]) -> None:
        if number == 2:
            document["header"]["ledger_id"] = document["header"]["ledger_id"][::-1]
            _reseal(document)

    recorder, proxy = _hostile(client_for, served, second_of_another_ledger)
    first = recorder.record(HS_CRP)
    before = _rows(served.db)
    with pytest.raises(
        ProposalRefused,
        match=r"it is for ledger [-\w]+, not [-\w]+ \(the ledger of this recorder's first",
    ) as refused:
        recorder.record(ONE_DOSE)
    assert refused.value.exit_code == 1
    assert proxy.seen.count("/v1/commands/commit") == 1
    assert _rows(served.db) == before
    assert first["positions"] == [before[-1][0]]
