"""The recording commands as site staff run them: exit codes, messages, what is written."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.main import get_command

import cli
from ledger.domain.commands import AssessEligibility, Consent
from ledger.integrity.signing import Signer, generate_private_key, write_private_key
from ledger.jsonl import import_line_schema_text
from ledger.recording import TrialRecorder
from ledger.service import TrialLedger, person_key
from ledger.store import LedgerReader
from tests.domain.trial_helpers import (
    ENROLLED_ON,
    SCREENED_ON,
    START,
    SUBJECT,
    day,
    eligible_inputs,
    enrol_command,
    screen_command,
)
from tests.support import GENESIS_DATE, Cast, create_ledger, register_sites

PASSPHRASE = "correct horse battery staple"
STAFF = {
    "ada": ("Dr. Ada Lee", "investigator", "001"),
    "cole": ("Cole Hart", "coordinator", "001"),
    "mona": ("Mona Reyes", "monitor", "*"),
}


@dataclass(frozen=True)
class Staff:
    folder: Path
    passphrase_file: Path
    signers: dict[str, Signer]

    def key(self, who: str) -> str:
        return str(self.folder / f"{who}.key")


@dataclass(frozen=True)
class Result:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


@pytest.fixture(scope="module")
def staff(tmp_path_factory: pytest.TempPathFactory) -> Staff:
    """Encrypted key files of three synthetic staff, written once for the module."""
    folder = tmp_path_factory.mktemp("keys")
    passphrase_file = folder / "passphrase"
    passphrase_file.write_text(PASSPHRASE + "\n", encoding="utf-8")
    passphrase_file.chmod(0o600)  # held to the key files' mode rule
    signers = {}
    for who in STAFF:
        private = generate_private_key()
        write_private_key(folder / f"{who}.key", private, PASSPHRASE.encode())
        signers[who] = Signer(private)
    return Staff(folder, passphrase_file, signers)


@pytest.fixture
def db(tmp_path: Path, cast: Cast, staff: Staff) -> Path:
    path = tmp_path / "trial.db"
    with create_ledger(path, cast, staff=False) as ledger:
        register_sites(ledger, cast.sponsor)
        for who, (name, role, site) in STAFF.items():
            signer = staff.signers[who]
            key = person_key(signer.public_key, signer.key_id, name, role, site)
            ledger.register_key(cast.sponsor, key, "trial staff", GENESIS_DATE)
    return path


@pytest.fixture
def enrolled(db: Path, staff: Staff) -> Path:
    """SUBJECT enrolled through the domain API (the CLI path has its own test)."""
    with TrialLedger.open(db) as ledger:
        recorder = TrialRecorder(ledger)
        ada, cole = staff.signers["ada"], staff.signers["cole"]
        recorder.record(cole, screen_command())
        recorder.record(
            cole, Consent(subject_id=SUBJECT, date=SCREENED_ON, consent_version="2002-10")
        )
        recorder.record(
            ada, AssessEligibility(subject_id=SUBJECT, date=SCREENED_ON, inputs=eligible_inputs())
        )
        recorder.record(ada, enrol_command())
    return db


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> Result:
    code = cli.run(list(argv))
    captured = capsys.readouterr()
    return Result(code, captured.out, captured.err)


def record(
    capsys: pytest.CaptureFixture[str], db: Path, staff: Staff, who: str, *argv: str
) -> Result:
    """Run a recording command signed by ``who``, with --json."""
    return run(
        capsys,
        *argv,
        "--db",
        str(db),
        "--key",
        staff.key(who),
        "--passphrase-file",
        str(staff.passphrase_file),
        "--json",
    )


def size(db: Path) -> int:
    with LedgerReader(db) as reader:
        return reader.size()


def refused(result: Result, *fragments: str) -> None:
    assert result.code == 2, result
    # with --json the refusal again as one JSON error object on stdout; without, nothing
    if result.out:
        error = json.loads(result.out)
        message = result.err.removeprefix("error: ").strip()
        assert (error["error"], error["exit_code"]) == (message, 2)
    assert result.err.startswith("error: ")
    for fragment in fragments:
        assert fragment in result.err, (fragment, result.err)


def dose_args(
    on: date, drug: str = "anakinra", amount: str = "100", route: str = "SC"
) -> list[str]:
    return [
        "dose",
        "--subject",
        SUBJECT,
        "--drug",
        drug,
        "--dose",
        amount,
        "--route",
        route,
        "--date",
        on.isoformat(),
    ]


# --------------------------------------------------------------------------- a whole session


def test_a_site_records_screening_to_first_dose_and_the_ledger_verifies(
    capsys: pytest.CaptureFixture[str], db: Path, staff: Staff, tmp_path: Path
) -> None:
    inputs = tmp_path / "elig.json"
    inputs.write_text(eligible_inputs().model_dump_json(), encoding="utf-8")
    steps = [
        (
            "cole",
            [
                "screen",
                "--subject",
                SUBJECT,
                "--site",
                "001",
                "--age",
                "61",
                "--sex",
                "F",
                "--date",
                "2003-01-06",
            ],
        ),
        ("cole", ["consent", "--subject", SUBJECT, "--version", "2002-10", "--date", "2003-01-07"]),
        (
            "ada",
            ["eligibility", "--subject", SUBJECT, "--inputs", str(inputs), "--date", "2003-01-08"],
        ),
        (
            "ada",
            [
                "enrol",
                "--subject",
                SUBJECT,
                "--treatment-start",
                START.isoformat(),
                "--serum-m-protein",
                "3.2",
                "--marrow-plasma-cells",
                "15",
                "--hs-crp",
                "4.1",
                "--date",
                ENROLLED_ON.isoformat(),
            ],
        ),
        ("cole", dose_args(START)),
        (
            "cole",
            [
                "lab",
                "--subject",
                SUBJECT,
                "--analyte",
                "serum_m_protein",
                "--value",
                "2.3",
                "--unit",
                "g/dL",
                "--date",
                day(30).isoformat(),
            ],
        ),
        (
            "ada",
            [
                "assess",
                "--subject",
                SUBJECT,
                "--category",
                "MR",
                "--no-new-bone-lesions",
                "--date",
                day(30).isoformat(),
            ],
        ),
    ]
    written: list[list[str]] = []
    for who, argv in steps:
        result = record(capsys, db, staff, who, *argv)
        assert result.code == 0, result
        written.append([e["event"] for e in result.json()["events"]])
    assert written == [
        ["SubjectScreened"],
        ["ConsentObtained"],
        ["EligibilityAssessed"],
        ["SubjectEnrolled", "RegimenChanged"],
        ["DoseAdministered"],
        ["LabResulted"],
        ["ResponseAssessed"],
    ]
    assert run(capsys, "verify", "--db", str(db)).code == 0


def test_a_recording_command_prints_positions_signer_role_and_meaning(
    capsys: pytest.CaptureFixture[str], enrolled: Path, staff: Staff
) -> None:
    head = size(enrolled)
    result = record(capsys, enrolled, staff, "cole", *dose_args(day(2)))
    assert result.code == 0, result
    document = result.json()
    assert document["positions"] == [head + 1]
    assert (document["signer_name"], document["role"], document["meaning"]) == (
        "Cole Hart",
        "coordinator",
        "authorship",
    )
    assert document["events"][0]["detail"] == "anakinra 100 mg SC"
    plain = run(
        capsys,
        *dose_args(day(3)),
        "--db",
        str(enrolled),
        "--key",
        staff.key("cole"),
        "--passphrase-file",
        str(staff.passphrase_file),
    )
    assert plain.code == 0
    assert f"Recorded at position {head + 2}" in plain.out
    assert "signed by Cole Hart, coordinator" in plain.out


# --------------------------------------------------------------------------- refusals


def test_dose_the_regimen_does_not_call_for_exits_2_and_writes_nothing(
    capsys: pytest.CaptureFixture[str], enrolled: Path, staff: Staff
) -> None:
    head = size(enrolled)
    result = record(
        capsys, enrolled, staff, "cole", *dose_args(day(2), "dexamethasone", "20", "PO")
    )
    refused(result, "DOSE-NOT-IN-REGIMEN", "2003-01-14", "dexamethasone 20 mg PO", "deviation")
    assert size(enrolled) == head


def test_dose_recorded_as_a_deviation_is_accepted(
    capsys: pytest.CaptureFixture[str], enrolled: Path, staff: Staff
) -> None:
    result = record(
        capsys,
        enrolled,
        staff,
        "cole",
        *dose_args(day(2), "dexamethasone", "20", "PO"),
        "--deviation-rule",
        "DOSE-NOT-IN-REGIMEN",
        "--deviation-reason",
        "given by mistake",
    )
    assert result.code == 0, result
    assert "DEVIATION DOSE-NOT-IN-REGIMEN" in result.json()["events"][0]["detail"]


def test_duplicate_dose_exits_2_naming_the_first_position(
    capsys: pytest.CaptureFixture[str], enrolled: Path, staff: Staff
) -> None:
    first = record(capsys, enrolled, staff, "cole", *dose_args(day(2))).json()["positions"][0]
    head = size(enrolled)
    refused(
        record(capsys, enrolled, staff, "cole", *dose_args(day(2))),
        "REC-DUPLICATE-DOSE",
        f"position {first}",
    )
    assert size(enrolled) == head


def test_enrol_of_an_ineligible_subject_lists_every_failing_criterion(
    capsys: pytest.CaptureFixture[str], db: Path, staff: Staff
) -> None:
    with TrialLedger.open(db) as ledger:
        recorder = TrialRecorder(ledger)
        recorder.record(staff.signers["cole"], screen_command())
        recorder.record(
            staff.signers["cole"],
            Consent(subject_id=SUBJECT, date=SCREENED_ON, consent_version="2002-10"),
        )
        recorder.record(
            staff.signers["ada"],
            AssessEligibility(
                subject_id=SUBJECT,
                date=SCREENED_ON,
                inputs=eligible_inputs(ecog=1, open_wounds=True),
            ),
        )
    head = size(db)
    argv = [
        "enrol",
        "--subject",
        SUBJECT,
        "--treatment-start",
        START.isoformat(),
        "--serum-m-protein",
        "3.2",
        "--date",
        ENROLLED_ON.isoformat(),
    ]
    refused(
        record(capsys, db, staff, "ada", *argv),
        "not eligible",
        "ELIG-ECOG measured 1, required <= 0",
        "ELIG-NO-OPEN-WOUNDS measured yes, required no",
    )
    assert size(db) == head
    waived = record(
        capsys,
        db,
        staff,
        "ada",
        *argv,
        "--waiver-rule",
        "ELIG-ECOG,ELIG-NO-OPEN-WOUNDS",
        "--waiver-reason",
        "PI judgement, documented in source",
    )
    assert waived.code == 0, waived
    assert "WAIVER ELIG-ECOG,ELIG-NO-OPEN-WOUNDS" in waived.json()["events"][0]["detail"]


@pytest.mark.parametrize(
    ("argv", "fragments"),
    [
        (
            ["--analyte", "serum_m_protein", "--value", "3.1", "--unit", "g/L"],
            ["unit='g/L' refused", "[LAB-UNIT]", "g/dL"],
        ),
        (
            ["--analyte", "serum_m_protein", "--value", "31", "--unit", "g/dL"],
            ["value='31' refused", "[LAB-RANGE]"],
        ),
        (
            ["--analyte", "serum_m_protein", "--value", "3,1", "--unit", "g/dL"],
            ["--value='3,1' refused", "decimal"],
        ),
        (
            ["--analyte", "calcium", "--value", "2.4", "--unit", "mmol/L"],
            ["analyte='calcium' refused"],
        ),
    ],
)
def test_lab_with_a_wrong_unit_or_value_exits_2(
    capsys: pytest.CaptureFixture[str],
    enrolled: Path,
    staff: Staff,
    argv: list[str],
    fragments: list[str],
) -> None:
    head = size(enrolled)
    result = record(
        capsys,
        enrolled,
        staff,
        "cole",
        "lab",
        "--subject",
        SUBJECT,
        *argv,
        "--date",
        day(10).isoformat(),
    )
    refused(result, *fragments)
    assert size(enrolled) == head


def test_a_clinical_date_in_the_future_exits_2(
    capsys: pytest.CaptureFixture[str], enrolled: Path, staff: Staff
) -> None:
    result = record(capsys, enrolled, staff, "cole", *dose_args(date(2199, 1, 1)))
    refused(result, "date='2199-01-01' refused", "[REC-DATE-FUTURE]")
    result = record(capsys, enrolled, staff, "cole", *dose_args(date(2999, 1, 1)))
    refused(result, "--date '2999-01-01': a date between 1900-01-01 and 2199-12-31")


def test_a_clinical_date_before_screening_exits_2(
    capsys: pytest.CaptureFixture[str], enrolled: Path, staff: Staff
) -> None:
    result = record(
        capsys,
        enrolled,
        staff,
        "cole",
        "ae",
        "--subject",
        SUBJECT,
        "--term",
        "Rash",
        "--grade",
        "1",
        "--attribution",
        "possible",
        "--action",
        "none",
        "--date",
        "2003-01-01",
    )
    refused(result, "[REC-DATE-BEFORE-SCREENING]", "2003-01-06")


def test_an_event_for_a_subject_never_enrolled_exits_2(
    capsys: pytest.CaptureFixture[str], db: Path, staff: Staff
) -> None:
    head = size(db)
    refused(record(capsys, db, staff, "cole", *dose_args(day(1))), "[REC-SCREENED]", SUBJECT)
    with TrialLedger.open(db) as ledger:
        TrialRecorder(ledger).record(staff.signers["cole"], screen_command())
    refused(record(capsys, db, staff, "cole", *dose_args(day(1))), "[REC-ENROLLED]")
    assert size(db) == head + 1


def test_dose_after_withdrawal_exits_2(
    capsys: pytest.CaptureFixture[str], enrolled: Path, staff: Staff
) -> None:
    withdrawn = record(
        capsys,
        enrolled,
        staff,
        "cole",
        "withdraw",
        "--subject",
        SUBJECT,
        "--reason",
        "moved abroad",
        "--date",
        day(20).isoformat(),
    )
    assert withdrawn.code == 0, withdrawn
    assert [e["event"] for e in withdrawn.json()["events"]] == [
        "SubjectWithdrawn",
        "RegimenChanged",
    ]
    head = size(enrolled)
    refused(record(capsys, enrolled, staff, "cole", *dose_args(day(21))), "[REC-AFTER-WITHDRAWAL]")
    assert size(enrolled) == head


def test_lab_after_death_exits_2_but_correction_is_accepted(
    capsys: pytest.CaptureFixture[str], enrolled: Path, staff: Staff
) -> None:
    given = record(capsys, enrolled, staff, "cole", *dose_args(day(2))).json()["positions"][0]
    died = record(
        capsys,
        enrolled,
        staff,
        "ada",
        "death",
        "--subject",
        SUBJECT,
        "--cause",
        "myocardial infarction",
        "--date",
        day(30).isoformat(),
    )
    assert died.code == 0, died
    refused(
        record(
            capsys,
            enrolled,
            staff,
            "cole",
            "lab",
            "--subject",
            SUBJECT,
            "--analyte",
            "wbc",
            "--value",
            "4000",
            "--unit",
            "/mm3",
            "--date",
            day(31).isoformat(),
        ),
        "[REC-AFTER-DEATH]",
    )
    corrected = record(
        capsys,
        enrolled,
        staff,
        "cole",
        "correct",
        "--subject",
        SUBJECT,
        "--position",
        str(given),
        "--field",
        "effective_date",
        "--new",
        day(3).isoformat(),
        "--reason",
        "diary misread",
        "--date",
        day(40).isoformat(),
    )
    assert corrected.code == 0, corrected
    detail = corrected.json()["events"][0]["detail"]
    assert detail.startswith(f"corrects position {given} effective_date")


def test_correction_of_an_event_that_does_not_exist_exits_2(
    capsys: pytest.CaptureFixture[str], enrolled: Path, staff: Staff
) -> None:
    head = size(enrolled)
    result = record(
        capsys,
        enrolled,
        staff,
        "cole",
        "correct",
        "--subject",
        SUBJECT,
        "--position",
        "999",
        "--field",
        "dose",
        "--new",
        "50",
        "--reason",
        "typo",
    )
    refused(result, "[REC-CORRECT-TARGET] position 999 holds no event of subject")
    assert size(enrolled) == head


def test_a_role_that_may_not_record_an_event_exits_2(
    capsys: pytest.CaptureFixture[str], enrolled: Path, staff: Staff
) -> None:
    result = record(
        capsys,
        enrolled,
        staff,
        "cole",
        "assess",
        "--subject",
        SUBJECT,
        "--category",
        "SD",
        "--date",
        day(30).isoformat(),
    )
    refused(result, "role 'coordinator'", "may not record ResponseAssessed")


def test_a_half_given_deviation_exits_2(
    capsys: pytest.CaptureFixture[str], enrolled: Path, staff: Staff
) -> None:
    result = record(
        capsys,
        enrolled,
        staff,
        "cole",
        *dose_args(day(2)),
        "--deviation-rule",
        "DOSE-NOT-IN-REGIMEN",
    )
    refused(result, "--deviation-rule and --deviation-reason")


# --------------------------------------------------------------------------- other commands


def test_progression_and_advance_write_the_regimen_change_in_the_same_commit(
    capsys: pytest.CaptureFixture[str], enrolled: Path, staff: Staff
) -> None:
    refused(
        record(
            capsys,
            enrolled,
            staff,
            "ada",
            "progression",
            "--subject",
            SUBJECT,
            "--basis",
            "new lytic lesion",
            "--date",
            day(40).isoformat(),
        ),
        "[CONF-PD]",
    )
    result = record(
        capsys,
        enrolled,
        staff,
        "ada",
        "progression",
        "--subject",
        SUBJECT,
        "--basis",
        "new lytic lesion",
        "--deviation-reason",
        "MRI shows new lesion",
        "--date",
        day(40).isoformat(),
    )
    assert result.code == 0, result
    events = result.json()["events"]
    assert [e["event"] for e in events] == ["ProgressionConfirmed", "RegimenChanged"]
    assert events[1]["detail"] == "induction -> high_dose_dex [REG-PD-ANYTIME]"
    refused(
        record(
            capsys,
            enrolled,
            staff,
            "ada",
            "advance",
            "--subject",
            SUBJECT,
            "--date",
            day(41).isoformat(),
        ),
        "[REC-NOTHING-DUE]",
        "end of the high-dose course",
    )
    ended = record(
        capsys,
        enrolled,
        staff,
        "ada",
        "advance",
        "--subject",
        SUBJECT,
        "--date",
        day(40 + 168).isoformat(),
    )
    assert ended.json()["events"][0]["detail"].endswith("[REG-HIGHDEX-COURSE-END]")


def test_adverse_event_missed_dose_follow_up_and_signature(
    capsys: pytest.CaptureFixture[str], enrolled: Path, staff: Staff
) -> None:
    ae = record(
        capsys,
        enrolled,
        staff,
        "cole",
        "ae",
        "--subject",
        SUBJECT,
        "--term",
        "Neutropenia",
        "--grade",
        "3",
        "--attribution",
        "probable",
        "--action",
        "dose-held",
        "--serious",
        "hospitalisation",
        "--date",
        day(20).isoformat(),
    )
    assert ae.code == 0, ae
    assert "AE-001 Neutropenia, grade 3" in ae.json()["events"][0]["detail"]
    assert "SERIOUS (hospitalisation)" in ae.json()["events"][0]["detail"]
    missed = record(
        capsys,
        enrolled,
        staff,
        "cole",
        "missed-dose",
        "--subject",
        SUBJECT,
        "--drug",
        "anakinra",
        "--reason",
        "neutropenia",
        "--held",
        "--date",
        day(21).isoformat(),
    )
    assert missed.code == 0, missed
    resolved = record(
        capsys,
        enrolled,
        staff,
        "cole",
        "ae-resolve",
        "--subject",
        SUBJECT,
        "--ae-id",
        "AE-001",
        "--outcome",
        "recovered",
        "--date",
        day(28).isoformat(),
    )
    assert resolved.code == 0, resolved
    stopped = record(
        capsys,
        enrolled,
        staff,
        "ada",
        "stop-treatment",
        "--subject",
        SUBJECT,
        "--reason",
        "recurrent neutropenia",
        "--date",
        day(29).isoformat(),
    )
    assert stopped.code == 0, stopped
    visit = record(
        capsys,
        enrolled,
        staff,
        "cole",
        "follow-up",
        "--subject",
        SUBJECT,
        "--status",
        "no-progression",
        "--date",
        day(200).isoformat(),
    )
    assert visit.code == 0, visit
    positions = f"{ae.json()['positions'][0]}-{resolved.json()['positions'][0]}"
    signed = record(
        capsys,
        enrolled,
        staff,
        "mona",
        "sign",
        "--subject",
        SUBJECT,
        "--positions",
        positions,
        "--meaning",
        "review",
        "--statement",
        "source data verified",
        "--date",
        day(210).isoformat(),
    )
    assert signed.code == 0, signed
    assert signed.json()["meaning"] == "review"
    assert signed.json()["signer_name"] == "Mona Reyes"
    off = record(
        capsys,
        enrolled,
        staff,
        "cole",
        "off-study",
        "--subject",
        SUBJECT,
        "--reason",
        "lost to follow-up",
        "--date",
        day(400).isoformat(),
    )
    assert off.code == 0, off
    refused(
        record(
            capsys,
            enrolled,
            staff,
            "cole",
            "follow-up",
            "--subject",
            SUBJECT,
            "--status",
            "unknown",
            "--date",
            day(401).isoformat(),
        ),
        "[REC-AFTER-OFF-STUDY]",
    )


def test_withdrawal_from_treatment_only_keeps_follow_up(
    capsys: pytest.CaptureFixture[str], enrolled: Path, staff: Staff
) -> None:
    result = record(
        capsys,
        enrolled,
        staff,
        "cole",
        "withdraw",
        "--subject",
        SUBJECT,
        "--reason",
        "injections refused",
        "--treatment-only",
        "--date",
        day(20).isoformat(),
    )
    assert result.code == 0, result
    assert [e["detail"] for e in result.json()["events"]][1:] == [
        "induction -> off_treatment [REG-OFF-TREATMENT]",
        "off_treatment -> follow_up [REG-EOT-FOLLOW-UP]",
    ]


# --------------------------------------------------------------------------- import


def test_import_appends_a_whole_file_as_one_signed_commit(
    capsys: pytest.CaptureFixture[str], enrolled: Path, staff: Staff, tmp_path: Path
) -> None:
    diary = tmp_path / "diary.jsonl"
    diary.write_text(
        "".join(
            json.dumps(
                {
                    "command": "dose",
                    "subject_id": SUBJECT,
                    "date": day(n).isoformat(),
                    "drug": "anakinra",
                    "dose": "100",
                    "route": "SC",
                }
            )
            + "\n"
            for n in range(1, 8)
        ),
        encoding="utf-8",
    )
    head = size(enrolled)
    result = record(capsys, enrolled, staff, "cole", "import", str(diary))
    assert result.code == 0, result
    assert result.json()["positions"] == list(range(head + 1, head + 8))
    assert len({e["position"] for e in result.json()["events"]}) == 7


def test_import_refuses_a_file_with_an_invalid_line_naming_it(
    capsys: pytest.CaptureFixture[str], enrolled: Path, staff: Staff, tmp_path: Path
) -> None:
    diary = tmp_path / "diary.jsonl"
    lines = [
        {
            "command": "dose",
            "subject_id": SUBJECT,
            "date": day(1).isoformat(),
            "drug": "anakinra",
            "dose": "100",
            "route": "SC",
        },
        {
            "command": "dose",
            "subject_id": SUBJECT,
            "date": day(2).isoformat(),
            "drug": "anakinra",
            "dose": "100",
            "route": "SC",
            "nurse": "Kim",
        },
        {
            "command": "dose",
            "subject_id": SUBJECT,
            "date": day(3).isoformat(),
            "drug": "dexamethasone",
            "dose": "20",
            "route": "PO",
        },
    ]
    diary.write_text("".join(json.dumps(x) + "\n" for x in lines), encoding="utf-8")
    head = size(enrolled)
    result = record(capsys, enrolled, staff, "cole", "import", str(diary))
    refused(
        result,
        "nothing written: 2 of 3 lines invalid",
        "line 2: nurse='Kim' refused",
        "line 3: DOSE-NOT-IN-REGIMEN",
    )
    assert size(enrolled) == head


def test_schema_prints_the_committed_import_line_schema(
    capsys: pytest.CaptureFixture[str],
) -> None:
    result = run(capsys, "schema", "import-line")
    assert result.code == 0
    assert result.out == import_line_schema_text()
    committed = Path(__file__).resolve().parents[2] / "schemas" / "import-line.schema.json"
    assert committed.read_text(encoding="utf-8") == result.out


# --------------------------------------------------------------------------- log


def test_log_lists_events_with_dates_signer_role_and_meaning(
    capsys: pytest.CaptureFixture[str], enrolled: Path, staff: Staff
) -> None:
    record(capsys, enrolled, staff, "cole", *dose_args(day(2)))
    result = run(capsys, "log", "--db", str(enrolled), "--subject", SUBJECT, "--json")
    assert result.code == 0, result
    events = result.json()["events"]
    assert [e["event"] for e in events] == [
        "SubjectScreened",
        "ConsentObtained",
        "EligibilityAssessed",
        "SubjectEnrolled",
        "RegimenChanged",
        "DoseAdministered",
    ]
    last = events[-1]
    assert (last["effective_date"], last["signer_name"], last["role"], last["meaning"]) == (
        day(2).isoformat(),
        "Cole Hart",
        "coordinator",
        "authorship",
    )
    assert last["recorded_at"].endswith("Z")
    assert last["subject_id"] == SUBJECT


def test_log_limit_shows_the_last_events_of_the_whole_ledger(
    capsys: pytest.CaptureFixture[str], enrolled: Path
) -> None:
    everything = run(capsys, "log", "--db", str(enrolled), "--json").json()["events"]
    assert everything[0]["event"] == "TrialCreated"
    assert everything[0]["subject_id"] == ""
    last_two = run(capsys, "log", "--db", str(enrolled), "--limit", "2", "--json").json()["events"]
    assert last_two == everything[-2:]
    table = run(capsys, "log", "--db", str(enrolled), "--limit", "2")
    assert table.code == 0
    assert "RegimenChanged" in table.out


def test_log_of_a_malformed_subject_id_exits_2(
    capsys: pytest.CaptureFixture[str], enrolled: Path
) -> None:
    refused(run(capsys, "log", "--db", str(enrolled), "--subject", "17"), "[REC-SUBJECT-ID]")


# --------------------------------------------------------------------------- help


def _commands(group: Any, prefix: str = "") -> list[tuple[str, Any]]:
    found = []
    for name, command in sorted(group.commands.items()):
        found.append((f"{prefix}{name}", command))
        if hasattr(command, "commands"):
            found.extend(_commands(command, f"{prefix}{name} "))
    return found


def test_every_registered_command_has_help_text_with_an_example() -> None:
    commands = _commands(get_command(cli.app))
    assert len(commands) > 20
    missing = [name for name, command in commands if not (command.help or "").strip()]
    assert missing == []
    recording = [
        name
        for name, command in commands
        if name
        in {
            "screen",
            "enrol",
            "dose",
            "lab",
            "assess",
            "ae",
            "follow-up",
            "withdraw",
            "correct",
            "sign",
            "import",
            "log",
        }
        and "Example: trial-ledger" not in (command.help or "")
    ]
    assert recording == []


@pytest.mark.parametrize("name", ["dose", "import", "log", "schema"])
def test_help_of_a_command_exits_0(capsys: pytest.CaptureFixture[str], name: str) -> None:
    result = run(capsys, name, "--help")
    assert result.code == 0
    assert "Usage" in result.out


def test_the_app_is_a_typer_app() -> None:
    assert isinstance(cli.app, typer.Typer)
