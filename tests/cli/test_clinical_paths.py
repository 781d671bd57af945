"""Protocol paths of NCT00635154, each recorded for one synthetic subject through the
`trial-ledger` command line as site staff run it, and read back as monitors read it.

Every scenario starts from one template ledger made by `init` (genesis 2002-11-01, so the 2003
clinical dates are neither before the trial nor in the future), `sites add` and `keys add` (an
investigator and a coordinator of site 001), copied per scenario. The subject is screened,
consented, assessed eligible and enrolled (baseline serum M-protein 3.2 g/dL, marrow plasma
cells 15%), treatment starting 2003-01-13 (protocol day 1; 28-day months: month 6 is days
141-168, month 7 starts on day 169, 2003-06-30). Each test asserts on `patient --json` (also
`--on DATE` and `--position N`), `summary --json` and on refusals: exit 2, one message naming
the rule, the date or value, and nothing written (the tree size and root `verify --json`
reports are unchanged).
"""

from __future__ import annotations

import contextlib
import io
import json
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import pytest

import cli
from tests.adversarial.ledgers import PASSPHRASE, init_ledger, passphrase_env
from tests.domain.trial_helpers import (
    ENROLLED_ON,
    SCREENED_ON,
    START,
    day,
    eligible_inputs,
    month_start,
)
from tests.support import GENESIS_DATE

MONTH_7 = month_start(7)  # day 169
LAST_OF_MONTH_6 = day(168)
MONTH_6_VISIT = day(155)  # protocol month 6, day 15 of the month
ANAKINRA = ("anakinra", "100", "SC")
LOW_DEX = ("dexamethasone", "20", "PO")
HIGH_DEX = ("dexamethasone", "40", "PO")


def iso(on: date) -> str:
    return on.isoformat()


@dataclass(frozen=True)
class Result:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


@dataclass(frozen=True)
class Attempt:
    """A command expected to be refused, with the ledger's (tree size, root) around it."""

    result: Result
    before: tuple[int, str]
    after: tuple[int, str]


def run(*argv: object) -> Result:
    """One `trial-ledger` command line, in-process (`cli.run` is what the console script runs)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.run([str(a) for a in argv])
    return Result(code, out.getvalue(), err.getvalue())


def names(events: list[dict[str, Any]]) -> list[str]:
    return [e["event"] for e in events]


def check_refused(attempt: Attempt, *fragments: str) -> None:
    """Exit 2, one error line naming every fragment, nothing written."""
    result = attempt.result
    assert result.code == 2, result
    # --json: the same refusal as one JSON error object on stdout, nothing else
    assert json.loads(result.out)["error"] == result.err.removeprefix("error: ").strip()
    assert result.err.startswith("error: "), result.err
    for fragment in fragments:
        assert fragment in result.err, (fragment, result.err)
    assert attempt.after == attempt.before, "a refused command wrote to the ledger"


@dataclass
class Trial:
    """A scenario's ledger folder: the ledger, the staff key files and their passphrase."""

    folder: Path
    subject: str = ""
    notes: dict[str, Any] = field(default_factory=dict)

    @property
    def db(self) -> Path:
        return self.folder / "trial.db"

    # ------------------------------------------------------------------ commands

    def record(self, who: str, *argv: object) -> Result:
        return run(
            *argv,
            "--db",
            self.db,
            "--key",
            self.folder / f"{who}.key",
            "--passphrase-file",
            self.folder / "passphrase",
            "--json",
        )

    def ok(self, who: str, *argv: object) -> list[dict[str, Any]]:
        """Record and return the events written (the command must succeed)."""
        result = self.record(who, *argv)
        assert result.code == 0, result
        events: list[dict[str, Any]] = result.json()["events"]
        return events

    def attempt(self, who: str, *argv: object) -> Attempt:
        before = self.tree()
        result = self.record(who, *argv)
        return Attempt(result, before, self.tree())

    def refuse(self, who: str, *argv: object, fragments: tuple[str, ...]) -> Attempt:
        attempt = self.attempt(who, *argv)
        check_refused(attempt, *fragments)
        return attempt

    def tree(self) -> tuple[int, str]:
        result = run("verify", "--db", self.db, "--json")
        assert result.code == 0, result
        report = result.json()
        return int(report["tree_size"]), str(report["root"])

    # ------------------------------------------------------------------ reading

    def patient(self, *options: object) -> Any:
        result = run("patient", self.subject, "--db", self.db, "--json", *options)
        assert result.code == 0, result
        return result.json()

    def summary(self) -> Any:
        result = run("summary", "--db", self.db, "--json")
        assert result.code == 0, result
        return result.json()

    # ------------------------------------------------------------------ clinical steps

    def enrol(self, subject: str) -> None:
        """Screened, consented, eligible, enrolled; the first anakinra dose on day 1."""
        self.subject = subject
        inputs = self.folder / f"elig-{subject}.json"
        inputs.write_text(eligible_inputs().model_dump_json(), encoding="utf-8")
        s = ("--subject", subject)
        self.ok("cole", "screen", *s, "--site", "001", "--age", "61", "--sex", "F",
                "--date", iso(SCREENED_ON))  # fmt: skip
        self.ok("cole", "consent", *s, "--version", "2002-10", "--date", "2003-01-07")
        self.ok("ada", "eligibility", *s, "--inputs", inputs, "--date", "2003-01-08")
        enrolled = self.ok(
            "ada", "enrol", *s, "--treatment-start", iso(START), "--serum-m-protein", "3.2",
            "--marrow-plasma-cells", "15", "--hs-crp", "4.1", "--date", iso(ENROLLED_ON),
        )  # fmt: skip
        assert names(enrolled) == ["SubjectEnrolled", "RegimenChanged"]
        self.dose(START, *ANAKINRA)

    def dose_args(self, on: date, drug: str, amount: str, route: str) -> tuple[object, ...]:
        return ("dose", "--subject", self.subject, "--drug", drug, "--dose", amount,
                "--route", route, "--date", iso(on))  # fmt: skip

    def dose(self, on: date, drug: str, amount: str, route: str) -> list[dict[str, Any]]:
        return self.ok("cole", *self.dose_args(on, drug, amount, route))

    def lab(self, on: date, analyte: str, value: str) -> int:
        unit = {"serum_m_protein": "g/dL", "marrow_plasma_cells": "%"}[analyte]
        events = self.ok("cole", "lab", "--subject", self.subject, "--analyte", analyte,
                         "--value", value, "--unit", unit, "--date", iso(on))  # fmt: skip
        position: int = events[0]["position"]
        return position

    def assess(
        self, on: date, category: str, *, serum: str | None = None, marrow: str | None = None
    ) -> list[dict[str, Any]]:
        """The labs of the visit, then the investigator's assessment (no new bone lesions)."""
        if serum is not None:
            self.lab(on, "serum_m_protein", serum)
        if marrow is not None:
            self.lab(on, "marrow_plasma_cells", marrow)
        return self.ok("ada", "assess", "--subject", self.subject, "--category", category,
                       "--no-new-bone-lesions", "--date", iso(on))  # fmt: skip

    def progression_args(self, on: date, basis: str) -> tuple[object, ...]:
        return ("progression", "--subject", self.subject, "--basis", basis, "--date", iso(on))


# --------------------------------------------------------------------------- ledgers


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`init` on the genesis date, site 001, an investigator (ada) and a coordinator (cole)."""
    folder = tmp_path_factory.mktemp("template")
    db, _, _ = init_ledger(folder)
    sponsor = folder / "sponsor.key"
    with passphrase_env():
        added = run("sites", "add", "--db", db, "--sponsor-key", sponsor, "--site", "001",
                    "--label", "Site 001", "--date", iso(GENESIS_DATE))  # fmt: skip
        assert added.code == 0, added
        for who, name, role in (("ada", "Dr. Ada Lee", "investigator"),
                                ("cole", "Cole Hart", "coordinator")):  # fmt: skip
            key = run("keys", "add", "--db", db, "--sponsor-key", sponsor, "--name", name,
                      "--role", role, "--site", "001", "--out", folder / f"{who}.key")  # fmt: skip
            assert key.code == 0, key
    passphrase = folder / "passphrase"
    passphrase.write_text(PASSPHRASE + "\n", encoding="utf-8")
    passphrase.chmod(0o600)
    return folder


def new_trial(template: Path, factory: pytest.TempPathFactory, name: str) -> Trial:
    target = factory.mktemp(name) / "ledger"
    shutil.copytree(template, target)  # the template is not live: every writer has finished
    return Trial(target)


@pytest.fixture(scope="module")
def mr_confirmed(template: Path, tmp_path_factory: pytest.TempPathFactory) -> Trial:
    """MR at month 4 (2.3 g/dL, -28%) and at the month-6 visit (2.2 g/dL): confirmed, 70 days."""
    t = new_trial(template, tmp_path_factory, "mr-confirmed")
    t.enrol("MC0282-001-017")
    t.assess(day(85), "MR", serum="2.3")
    t.notes["month6"] = t.assess(MONTH_6_VISIT, "MR", serum="2.2")
    return t


@pytest.fixture(scope="module")
def stable(template: Path, tmp_path_factory: pytest.TempPathFactory) -> Trial:
    """SD at month 4 and at the month-6 visit; weekly low-dose dexamethasone from month 7."""
    t = new_trial(template, tmp_path_factory, "stable")
    t.enrol("MC0282-001-018")
    t.assess(day(85), "SD", serum="3.1")
    t.notes["month6"] = t.assess(MONTH_6_VISIT, "SD", serum="3.1")
    t.notes["dex"] = [t.dose(MONTH_7, *LOW_DEX), t.dose(day(176), *LOW_DEX)]
    return t


@pytest.fixture(scope="module")
def unconfirmed_mr(template: Path, tmp_path_factory: pytest.TempPathFactory) -> Trial:
    """SD at month 4; MR (2.2 g/dL) first seen at the month-6 visit, so not confirmed."""
    t = new_trial(template, tmp_path_factory, "unconfirmed-mr")
    t.enrol("MC0282-001-019")
    t.assess(day(85), "SD", serum="3.0")
    t.notes["month6"] = t.assess(MONTH_6_VISIT, "MR", serum="2.2")
    return t


@pytest.fixture(scope="module")
def pd_at_month_6(template: Path, tmp_path_factory: pytest.TempPathFactory) -> Trial:
    """SD at month 4, PD by serum at month 5 (4.1 g/dL from nadir 3.1) and at the month-6
    visit (4.3 g/dL): confirmed by the month-6 assessment itself."""
    t = new_trial(template, tmp_path_factory, "pd-month-6")
    t.enrol("MC0282-001-020")
    t.assess(day(85), "SD", serum="3.1")
    t.notes["first_pd"] = t.assess(day(120), "PD", serum="4.1")
    t.notes["month6"] = t.assess(MONTH_6_VISIT, "PD", serum="4.3")
    t.notes["dex"] = t.dose(MONTH_6_VISIT, *HIGH_DEX)
    return t


@pytest.fixture(scope="module")
def single_pd_at_month_6(template: Path, tmp_path_factory: pytest.TempPathFactory) -> Trial:
    """SD at month 4; PD by serum (4.1 g/dL) first seen at the month-6 visit: not confirmed."""
    t = new_trial(template, tmp_path_factory, "single-pd-month-6")
    t.enrol("MC0282-001-029")
    t.assess(day(85), "SD", serum="3.1")
    t.notes["month6"] = t.assess(MONTH_6_VISIT, "PD", serum="4.1")
    return t


@pytest.fixture(scope="module")
def pd_in_induction(template: Path, tmp_path_factory: pytest.TempPathFactory) -> Trial:
    """PD by serum at months 3 and 4; `progression` refused after the first; the second
    assessment records the progression the rules confirm, and the move to high-dose."""
    t = new_trial(template, tmp_path_factory, "pd-induction")
    t.enrol("MC0282-001-021")
    t.assess(day(57), "PD", serum="4.1")
    t.notes["too_early"] = t.attempt("ada", *t.progression_args(day(57), "serum M-protein up"))
    t.notes["progression"] = t.assess(day(85), "PD", serum="4.3")[1:]
    basis = "serum M-protein up from nadir on two assessments"
    t.notes["again"] = t.attempt("ada", *t.progression_args(day(88), basis))
    return t


@pytest.fixture(scope="module")
def marrow_pd(template: Path, tmp_path_factory: pytest.TempPathFactory) -> Trial:
    """Marrow 20% at month 3 (+5 points: not PD), 26% at month 4 (+11 points, +73%: PD)."""
    t = new_trial(template, tmp_path_factory, "marrow-pd")
    t.enrol("MC0282-001-022")
    t.assess(day(57), "SD", serum="3.2", marrow="20")
    t.notes["small_rise"] = t.attempt("ada", *t.progression_args(day(57), "marrow 20%"))
    t.notes["progression"] = t.assess(day(85), "PD", serum="3.2", marrow="26")[1:]
    return t


@pytest.fixture(scope="module")
def pd_on_low_dose(template: Path, tmp_path_factory: pytest.TempPathFactory) -> Trial:
    """SD at month 6, low-dose dexamethasone from month 7, PD by serum at months 9 and 10:
    the assessment on day 253 records the progression; high-dose dexamethasone 40 mg then."""
    t = new_trial(template, tmp_path_factory, "pd-low-dose")
    t.enrol("MC0282-001-023")
    t.assess(day(85), "SD", serum="3.1")
    t.assess(MONTH_6_VISIT, "SD", serum="3.1")
    t.dose(MONTH_7, *LOW_DEX)
    t.assess(day(225), "PD", serum="4.1")
    t.notes["progression"] = t.assess(day(253), "PD", serum="4.3")[1:]
    t.notes["dex"] = t.dose(day(253), *HIGH_DEX)
    return t


@pytest.fixture(scope="module")
def declined_dex(template: Path, tmp_path_factory: pytest.TempPathFactory) -> Trial:
    """SD at month 6; the subject declines dexamethasone: treatment stopped at that visit."""
    t = new_trial(template, tmp_path_factory, "declined-dex")
    t.enrol("MC0282-001-024")
    t.assess(day(85), "SD", serum="3.1")
    t.notes["month6"] = t.assess(MONTH_6_VISIT, "SD", serum="3.0")
    t.notes["stop"] = t.ok(
        "ada", "stop-treatment", "--subject", t.subject,
        "--reason", "declined dexamethasone", "--date", iso(MONTH_6_VISIT),
    )  # fmt: skip
    return t


@pytest.fixture(scope="module")
def withdrawn(template: Path, tmp_path_factory: pytest.TempPathFactory) -> Trial:
    t = new_trial(template, tmp_path_factory, "withdrawn")
    t.enrol("MC0282-001-025")
    t.notes["withdraw"] = t.ok("cole", "withdraw", "--subject", t.subject,
                               "--reason", "moved abroad", "--date", iso(day(40)))  # fmt: skip
    return t


@pytest.fixture(scope="module")
def died(template: Path, tmp_path_factory: pytest.TempPathFactory) -> Trial:
    t = new_trial(template, tmp_path_factory, "died")
    t.enrol("MC0282-001-026")
    t.notes["death"] = t.ok("ada", "death", "--subject", t.subject,
                            "--cause", "myocardial infarction", "--date", iso(day(40)))  # fmt: skip
    return t


FU_START = day(85)  # 2003-04-07: treatment stopped, follow-up starts
FU_LAST_VISIT = date(2008, 4, 7)  # 60 calendar months later: the 10th six-monthly visit
FU_END = date(2008, 5, 5)  # the last visit's 28-day window


@pytest.fixture(scope="module")
def five_year_follow_up(template: Path, tmp_path_factory: pytest.TempPathFactory) -> Trial:
    """Treatment stopped in month 4; visits at 6 months, 4.5 years and, late in its window, the
    last one on the follow-up end; a visit a day later and `advance` before the end refused;
    `advance` after the end."""
    t = new_trial(template, tmp_path_factory, "follow-up")
    t.enrol("MC0282-001-027")
    t.ok("ada", "stop-treatment", "--subject", t.subject, "--reason", "grade 3 neutropenia",
         "--date", iso(FU_START))  # fmt: skip

    def visit(on: date) -> tuple[object, ...]:
        return ("follow-up", "--subject", t.subject, "--status", "no-progression",
                "--date", iso(on))  # fmt: skip

    t.ok("cole", *visit(date(2003, 10, 7)))
    t.ok("cole", *visit(date(2007, 10, 8)))
    t.notes["early_advance"] = t.attempt(
        "ada", "advance", "--subject", t.subject, "--date", "2008-04-10"
    )
    t.notes["last_visit"] = t.ok("cole", *visit(FU_END))
    t.notes["late_visit"] = t.attempt("cole", *visit(date(2008, 5, 6)))
    t.notes["advance"] = t.ok("ada", "advance", "--subject", t.subject, "--date", "2008-06-01")
    t.notes["after"] = t.attempt("cole", *visit(date(2008, 6, 2)))
    return t


@pytest.fixture(scope="module")
def corrected_nadir(template: Path, tmp_path_factory: pytest.TempPathFactory) -> Trial:
    """Serum 2.3 (MR) at month 3, 2.6 (SD from nadir 2.3: +0.3 g/dL) at month 4; then the
    month-3 value is corrected to 2.0, which makes 2.6 a rise of 0.6 g/dL and 30%: PD."""
    t = new_trial(template, tmp_path_factory, "correction")
    t.enrol("MC0282-001-028")
    t.notes["nadir_lab"] = t.lab(day(57), "serum_m_protein", "2.3")
    t.assess(day(57), "MR")
    t.assess(day(85), "SD", serum="2.6")
    t.notes["before_correction"] = t.tree()[0]
    t.notes["correction"] = t.ok(
        "cole", "correct", "--subject", t.subject, "--position", t.notes["nadir_lab"],
        "--field", "value", "--old", "2.3", "--new", "2.0",
        "--reason", "transcription error: the lab report says 2.0", "--date", iso(day(90)),
    )  # fmt: skip
    return t


# --------------------------------------------------------------------------- 1. MR confirmed


def test_confirmed_minor_response_by_month_6_continues_anakinra_alone_from_month_7_day_1(
    mr_confirmed: Trial,
) -> None:
    month6 = mr_confirmed.notes["month6"]
    assert names(month6) == ["ResponseAssessed", "RegimenChanged"]
    assert month6[0]["detail"] == "month 6: investigator MR, rules MR"
    change = month6[1]
    assert change["effective_date"] == iso(MONTH_7) == "2003-06-30"  # day 169: 6 x 28 days on
    assert change["detail"] == (
        f"induction -> continuation [REG-M6-RESPONSE, decided {iso(MONTH_6_VISIT)}]"
    )

    before = mr_confirmed.patient("--on", iso(LAST_OF_MONTH_6))
    assert (before["regimen"], before["protocol_month"], before["protocol_day"]) == (
        "induction",
        6,
        168,
    )
    assert before["next_visits"][0] == {
        "date": iso(MONTH_7),
        "visit": "the month-6 decision",
        "rule_id": "REG-M6-RESPONSE",
    }

    on = mr_confirmed.patient("--on", iso(MONTH_7))
    assert on["as_of"]["on"] == iso(MONTH_7)
    assert (on["regimen"], on["regimen_since"], on["regimen_rule_id"]) == (
        "continuation",
        iso(MONTH_7),
        "REG-M6-RESPONSE",
    )
    assert (on["protocol_month"], on["protocol_day"]) == (7, 169)
    assert on["next_doses"], "anakinra continues daily"
    assert {(d["drug"], d["dose"], d["route"], d["rule_id"]) for d in on["next_doses"]} == {
        ("anakinra", "100", "SC", "DOSE-ANAKINRA-DAILY")
    }
    assert on["next_visits"][0]["rule_id"] == "REG-M12-CONTINUATION-END"
    assert on["next_visits"][0]["date"] == iso(month_start(13))

    best = on["response"]["best_confirmed"]
    assert (best["category"], best["first_on"], best["confirmed_on"]) == (
        "MR",
        iso(day(85)),
        iso(MONTH_6_VISIT),
    )
    assert [(a["date"], a["derived"]) for a in on["response"]["assessments"]] == [
        (iso(day(85)), "MR"),
        (iso(MONTH_6_VISIT), "MR"),
    ]
    assert on["response"]["progression"] is None


def test_current_patient_state_of_a_confirmed_responder_is_continuation(
    mr_confirmed: Trial,
) -> None:
    now = mr_confirmed.patient()
    assert now["as_of"]["source"] == "views"
    assert now["regimen"] == "continuation"
    assert [(p["regimen"], p["rule_id"]) for p in now["regimen_history"]] == [
        ("induction", "REG-SCREEN-ELIGIBLE"),
        ("continuation", "REG-M6-RESPONSE"),
    ]
    assert now["regimen_history"][1]["decided_on"] == iso(MONTH_6_VISIT)


def test_summary_counts_a_confirmed_minor_response_as_a_primary_responder(
    mr_confirmed: Trial,
) -> None:
    summary = mr_confirmed.summary()
    subject = mr_confirmed.subject
    assert summary["populations"]["treated_subject_ids"] == [subject]
    primary = summary["primary_response_rate"]
    assert (primary["n"], primary["responders"]) == (1, 1)
    assert primary["counted"] == [
        {
            "subject_id": subject,
            "responder": True,
            "best_confirmed": "MR",
            "reason": f"confirmed MR during induction (from {iso(day(85))})",
        }
    ]
    low = summary["low_dose_dexamethasone_response_rate"]
    assert low["counted"] == []
    assert low["excluded"] == [{"subject_id": subject, "reason": "never started low_dose_dex"}]
    assert summary["adverse_events"]["with_dexamethasone"]["exposed_subject_ids"] == []


def test_dexamethasone_on_continuation_is_refused_as_not_in_the_regimen(
    mr_confirmed: Trial,
) -> None:
    mr_confirmed.refuse(
        "cole",
        *mr_confirmed.dose_args(MONTH_7, *LOW_DEX),
        fragments=(
            "DOSE-NOT-IN-REGIMEN",
            iso(MONTH_7),
            "no dexamethasone in regimen continuation",
            "dexamethasone 20 mg PO",
        ),
    )


def test_the_installed_trial_ledger_command_prints_the_same_patient_state(
    mr_confirmed: Trial,
) -> None:
    binary = Path(sys.executable).with_name("trial-ledger")
    assert binary.exists(), binary
    argv = [str(binary), "patient", mr_confirmed.subject, "--db", str(mr_confirmed.db)]
    done = subprocess.run(
        [*argv, "--on", iso(MONTH_7), "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    printed = json.loads(done.stdout)
    in_process = mr_confirmed.patient("--on", iso(MONTH_7))
    for key in ("regimen", "regimen_since", "regimen_rule_id", "protocol_month", "next_doses"):
        assert printed[key] == in_process[key], key
    assert printed["response"]["best_confirmed"] == in_process["response"]["best_confirmed"]


# --------------------------------------------------------------------------- 2. SD at month 6


def test_stable_disease_at_month_6_adds_low_dose_dexamethasone_from_month_7_day_1(
    stable: Trial,
) -> None:
    month6 = stable.notes["month6"]
    assert names(month6) == ["ResponseAssessed", "RegimenChanged"]
    assert month6[1]["effective_date"] == iso(MONTH_7)
    assert month6[1]["detail"] == (
        f"induction -> low_dose_dex [REG-M6-SD, decided {iso(MONTH_6_VISIT)}]"
    )

    at_visit = stable.patient("--on", iso(MONTH_6_VISIT))
    assert at_visit["regimen"] == "induction"
    assert at_visit["next_visits"][0] == {
        "date": iso(MONTH_7),
        "visit": "the month-6 decision",
        "rule_id": "REG-M6-SD",
    }
    assert all(d["drug"] == "anakinra" for d in at_visit["next_doses"])

    on = stable.patient("--on", iso(MONTH_7))
    assert (on["regimen"], on["regimen_since"], on["regimen_rule_id"]) == (
        "low_dose_dex",
        iso(MONTH_7),
        "REG-M6-SD",
    )
    dex_due = [d for d in on["next_doses"] if d["drug"] == "dexamethasone"]
    assert dex_due == [
        {
            "date": iso(day(176)),
            "drug": "dexamethasone",
            "dose": "20",
            "unit": "mg",
            "route": "PO",
            "rule_id": "DOSE-LOWDEX-WEEKLY",
        }
    ]


def test_weekly_dexamethasone_20_mg_po_on_low_dose_is_accepted(stable: Trial) -> None:
    given = stable.notes["dex"]
    assert [[(e["event"], e["effective_date"], e["detail"]) for e in g] for g in given] == [
        [("DoseAdministered", iso(MONTH_7), "dexamethasone 20 mg PO")],
        [("DoseAdministered", iso(day(176)), "dexamethasone 20 mg PO")],
    ]
    doses = stable.patient()["doses"]["dexamethasone"]
    assert (doses["taken"], doses["first"], doses["last"]) == (2, iso(MONTH_7), iso(day(176)))


@pytest.mark.parametrize("on", [MONTH_6_VISIT, LAST_OF_MONTH_6], ids=["month-6-visit", "day-168"])
def test_dexamethasone_before_month_7_is_refused_during_induction(stable: Trial, on: date) -> None:
    stable.refuse(
        "cole",
        *stable.dose_args(on, *LOW_DEX),
        fragments=(
            "DOSE-NOT-IN-REGIMEN",
            f"on {iso(on)}",
            "no dexamethasone in regimen induction",
            "found dexamethasone 20 mg PO",
        ),
    )


@pytest.mark.parametrize(
    ("on", "amount", "fragment"),
    [
        (day(170), "20", "no dexamethasone on this day of low_dose_dex"),
        (day(183), "40", "expected dexamethasone 20 mg PO; found dexamethasone 40 mg PO"),
    ],
    ids=["not-the-weekly-day", "high-dose-amount"],
)
def test_low_dose_dexamethasone_off_its_weekly_calendar_is_refused(
    stable: Trial, on: date, amount: str, fragment: str
) -> None:
    stable.refuse(
        "cole",
        *stable.dose_args(on, "dexamethasone", amount, "PO"),
        fragments=("DOSE-LOWDEX-WEEKLY", iso(on), fragment),
    )


def test_summary_counts_a_low_dose_subject_as_exposed_to_dexamethasone(stable: Trial) -> None:
    summary = stable.summary()
    subject = stable.subject
    assert summary["adverse_events"]["with_dexamethasone"]["exposed_subject_ids"] == [subject]
    primary = summary["primary_response_rate"]
    assert primary["counted"][0]["responder"] is False
    assert primary["counted"][0]["best_confirmed"] == "SD"
    low = summary["low_dose_dexamethasone_response_rate"]
    assert low["excluded"] == [
        {"subject_id": subject, "reason": f"not yet assessed on low_dose_dex (started {MONTH_7})"}
    ]


# --------------------------------------------------------------------------- 3. unconfirmed MR


def test_unconfirmed_minor_response_at_month_6_continues_anakinra_without_dexamethasone(
    unconfirmed_mr: Trial,
) -> None:
    month6 = unconfirmed_mr.notes["month6"]
    assert month6[0]["detail"] == "month 6: investigator MR, rules MR"
    assert month6[1]["detail"] == (
        f"induction -> continuation [REG-M6-RESPONSE, decided {iso(MONTH_6_VISIT)}]"
    )
    on = unconfirmed_mr.patient("--on", iso(MONTH_7))
    assert (on["regimen"], on["regimen_since"], on["regimen_rule_id"]) == (
        "continuation",
        iso(MONTH_7),
        "REG-M6-RESPONSE",
    )
    assert "MR at the month-6 assessment" in on["regimen_history"][-1]["reason"]
    assert [p["regimen"] for p in on["regimen_history"]] == ["induction", "continuation"]
    assert all(d["drug"] == "anakinra" for d in on["next_doses"])
    response = on["response"]
    assert [a["derived"] for a in response["assessments"]] == ["SD", "MR"]
    assert response["best_confirmed"]["category"] == "SD"  # the MR is not confirmed


def test_unconfirmed_minor_response_is_no_primary_response_and_no_dexamethasone_exposure(
    unconfirmed_mr: Trial,
) -> None:
    summary = unconfirmed_mr.summary()
    subject = unconfirmed_mr.subject
    assert summary["primary_response_rate"]["counted"] == [
        {
            "subject_id": subject,
            "responder": False,
            "best_confirmed": "SD",
            "reason": "best confirmed response SD",
        }
    ]
    assert summary["adverse_events"]["with_dexamethasone"]["exposed_subject_ids"] == []
    assert summary["low_dose_dexamethasone_response_rate"]["excluded"] == [
        {"subject_id": subject, "reason": "never started low_dose_dex"}
    ]
    unconfirmed_mr.refuse(
        "cole",
        *unconfirmed_mr.dose_args(MONTH_7, *LOW_DEX),
        fragments=("DOSE-NOT-IN-REGIMEN", "no dexamethasone in regimen continuation"),
    )


# --------------------------------------------------------------------------- 4. PD at month 6


def test_progression_confirmed_at_the_month_6_assessment_starts_high_dose_dex_on_that_date(
    pd_at_month_6: Trial,
) -> None:
    month6 = pd_at_month_6.notes["month6"]
    assert names(month6) == ["ResponseAssessed", "ProgressionConfirmed", "RegimenChanged"]
    assert all(e["effective_date"] == iso(MONTH_6_VISIT) for e in month6)
    confirmed = month6[1]["payload"]
    assert confirmed["progression_date"] == iso(day(120))
    assert confirmed["rule_ids"] == ["CONF-PD"]
    assert month6[2]["detail"] == "induction -> high_dose_dex [REG-M6-PD]"

    now = pd_at_month_6.patient()
    assert (now["regimen"], now["regimen_since"], now["regimen_rule_id"]) == (
        "high_dose_dex",
        iso(MONTH_6_VISIT),
        "REG-M6-PD",
    )
    progression = now["response"]["progression"]
    assert progression["date"] == iso(day(120))  # the first PD assessment
    assert progression["confirmed_on"] == iso(MONTH_6_VISIT)  # the confirming one
    assert progression["source"] == "ProgressionConfirmed"
    assert progression["confirmed_by_rules"] is True
    assert now["response"]["derived_progression_on"] == iso(day(120))

    on_visit = pd_at_month_6.patient("--on", iso(MONTH_6_VISIT))
    assert on_visit["regimen"] == "high_dose_dex"
    assert {
        (d["date"], d["dose"], d["rule_id"])
        for d in on_visit["next_doses"]
        if d["drug"] == "dexamethasone"
    } == {(iso(day(n)), "40", "DOSE-HIGHDEX-CALENDAR") for n in (156, 157, 158)}

    day_before = pd_at_month_6.patient("--on", iso(day(154)))
    assert day_before["regimen"] == "induction"
    assert day_before["response"]["progression"] is None  # one PD so far


def test_high_dose_dexamethasone_is_given_from_the_month_6_assessment_at_40_mg(
    pd_at_month_6: Trial,
) -> None:
    given = pd_at_month_6.notes["dex"]
    assert [(e["effective_date"], e["detail"]) for e in given] == [
        (iso(MONTH_6_VISIT), "dexamethasone 40 mg PO")
    ]
    # course day 10 is a high-dose day; 20 mg is the low-dose amount
    pd_at_month_6.refuse(
        "cole",
        *pd_at_month_6.dose_args(day(164), *LOW_DEX),
        fragments=("DOSE-HIGHDEX-CALENDAR", "expected dexamethasone 40 mg PO"),
    )


def test_a_second_progression_after_the_month_6_confirmation_is_refused(
    pd_at_month_6: Trial,
) -> None:
    pd_at_month_6.refuse(
        "ada",
        *pd_at_month_6.progression_args(day(160), "serum M-protein up"),
        fragments=("[REC-PROGRESSION-DUPLICATE]", iso(MONTH_6_VISIT)),
    )


def test_summary_dates_progression_at_month_6_from_the_first_pd_assessment(
    pd_at_month_6: Trial,
) -> None:
    summary = pd_at_month_6.summary()
    subject = pd_at_month_6.subject
    assert summary["primary_response_rate"]["counted"] == [
        {
            "subject_id": subject,
            "responder": False,
            "best_confirmed": "PD",  # the lone SD at month 4 confirms nothing
            "reason": f"progressed during induction ({iso(day(120))})",
        }
    ]
    assert summary["progression_free_at_6_months"]["counted"] == [
        {"subject_id": subject, "progression_free": False, "reason": f"progressed {day(120)}"}
    ]
    assert summary["time_to_progression"]["counted"] == [
        {"subject_id": subject, "from": iso(START), "to": iso(day(120)), "days": 119, "event": True}
    ]
    assert summary["adverse_events"]["with_dexamethasone"]["exposed_subject_ids"] == [subject]


def test_a_single_pd_at_the_month_6_assessment_is_read_as_stable_disease(
    single_pd_at_month_6: Trial,
) -> None:
    month6 = single_pd_at_month_6.notes["month6"]
    assert names(month6) == ["ResponseAssessed", "RegimenChanged"]  # no ProgressionConfirmed
    assert month6[0]["detail"] == "month 6: investigator PD, rules PD"
    assert month6[1]["effective_date"] == iso(MONTH_7)
    assert month6[1]["detail"].startswith("induction -> low_dose_dex [REG-M6-SD")
    now = single_pd_at_month_6.patient()
    assert now["response"]["progression"] is None
    single_pd_at_month_6.refuse(
        "ada",
        *single_pd_at_month_6.progression_args(day(156), "serum M-protein 4.1 g/dL"),
        fragments=("[CONF-PD]", f"latest: {day(85)} SD, {MONTH_6_VISIT} PD"),
    )


# --------------------------------------------------------------------------- 5. PD in induction


def test_progression_during_induction_moves_to_high_dose_dex_at_the_confirming_assessment(
    pd_in_induction: Trial,
) -> None:
    events = pd_in_induction.notes["progression"]
    assert names(events) == ["ProgressionConfirmed", "RegimenChanged"]
    assert events[0]["effective_date"] == iso(day(85))
    assert events[0]["payload"]["progression_date"] == iso(day(57))
    assert events[0]["payload"]["rule_ids"] == ["CONF-PD"]
    assert events[1]["effective_date"] == iso(day(85))
    assert events[1]["detail"] == "induction -> high_dose_dex [REG-PD-ANYTIME]"

    now = pd_in_induction.patient()
    assert (now["regimen"], now["regimen_since"], now["regimen_rule_id"]) == (
        "high_dose_dex",
        iso(day(85)),
        "REG-PD-ANYTIME",
    )
    progression = now["response"]["progression"]
    assert (progression["date"], progression["confirmed_on"]) == (iso(day(57)), iso(day(85)))
    assert [a["derived"] for a in now["response"]["assessments"]] == ["PD", "PD"]

    before = pd_in_induction.patient("--on", iso(day(84)))
    assert before["regimen"] == "induction"
    assert before["response"]["progression"] is None
    check_refused(pd_in_induction.notes["again"], "[REC-PROGRESSION-DUPLICATE]")


def test_progression_after_a_single_serum_pd_is_refused_citing_conf_pd(
    pd_in_induction: Trial,
) -> None:
    check_refused(
        pd_in_induction.notes["too_early"],
        "[CONF-PD]",
        pd_in_induction.subject,
        "2 consecutive assessments with derived PD",
        f"latest: {iso(day(57))} PD",
    )


def test_summary_counts_progression_during_induction_as_a_non_responder(
    pd_in_induction: Trial,
) -> None:
    summary = pd_in_induction.summary()
    counted = summary["primary_response_rate"]["counted"]
    assert [(c["responder"], c["reason"]) for c in counted] == [
        (False, f"progressed during induction ({iso(day(57))})")
    ]
    ttp = summary["time_to_progression"]["counted"]
    assert [(r["to"], r["days"], r["event"]) for r in ttp] == [(iso(day(57)), 56, True)]


# --------------------------------------------------------------------------- 6. marrow PD


def test_marrow_plasma_cell_progression_is_confirmed_at_a_single_assessment(
    marrow_pd: Trial,
) -> None:
    events = marrow_pd.notes["progression"]
    assert names(events) == ["ProgressionConfirmed", "RegimenChanged"]
    assert events[0]["payload"]["rule_ids"] == ["CONF-PD-SINGLE"]
    assert events[0]["payload"]["progression_date"] == iso(day(85))
    assert events[1]["detail"] == "induction -> high_dose_dex [REG-PD-ANYTIME]"

    now = marrow_pd.patient()
    assert (now["regimen"], now["regimen_since"]) == ("high_dose_dex", iso(day(85)))
    last = now["response"]["assessments"][-1]
    assert (last["date"], last["derived"]) == (iso(day(85)), "PD")
    assert "RESP-PD-MARROW" in last["rule_ids"]
    progression = now["response"]["progression"]
    assert (progression["date"], progression["confirmed_on"]) == (iso(day(85)), iso(day(85)))
    assert progression["rule_ids"] == ["CONF-PD-SINGLE"]


def test_a_marrow_rise_of_less_than_10_points_is_no_progression(marrow_pd: Trial) -> None:
    first = marrow_pd.patient()["response"]["assessments"][0]
    assert (first["date"], first["derived"]) == (iso(day(57)), "SD")  # 15% -> 20%: +33%, +5
    check_refused(marrow_pd.notes["small_rise"], "[CONF-PD]", f"latest: {iso(day(57))} SD")


# --------------------------------------------------------------------------- 7. PD on low dose


def test_progression_on_low_dose_dexamethasone_moves_to_high_dose_dexamethasone(
    pd_on_low_dose: Trial,
) -> None:
    events = pd_on_low_dose.notes["progression"]
    assert names(events) == ["ProgressionConfirmed", "RegimenChanged"]
    assert events[1]["detail"] == "low_dose_dex -> high_dose_dex [REG-PD-ANYTIME]"
    assert events[1]["effective_date"] == iso(day(253))

    now = pd_on_low_dose.patient()
    assert [(p["regimen"], p["rule_id"], p["effective_date"]) for p in now["regimen_history"]] == [
        ("induction", "REG-SCREEN-ELIGIBLE", iso(START)),
        ("low_dose_dex", "REG-M6-SD", iso(MONTH_7)),
        ("high_dose_dex", "REG-PD-ANYTIME", iso(day(253))),
    ]
    assert "during low_dose_dex" in now["regimen_history"][-1]["reason"]
    progression = now["response"]["progression"]
    assert (progression["date"], progression["confirmed_on"]) == (iso(day(225)), iso(day(253)))
    assert pd_on_low_dose.patient("--on", iso(day(252)))["regimen"] == "low_dose_dex"
    assert pd_on_low_dose.patient("--on", iso(day(253)))["regimen"] == "high_dose_dex"


def test_high_dose_replaces_the_weekly_low_dose_calendar_after_progression(
    pd_on_low_dose: Trial,
) -> None:
    given = pd_on_low_dose.notes["dex"]
    assert [(e["effective_date"], e["detail"]) for e in given] == [
        (iso(day(253)), "dexamethasone 40 mg PO")
    ]
    pd_on_low_dose.refuse(
        "cole",
        *pd_on_low_dose.dose_args(day(263), *LOW_DEX),  # high-dose course day 9
        fragments=("DOSE-HIGHDEX-CALENDAR", iso(day(263)), "expected dexamethasone 40 mg PO"),
    )
    summary = pd_on_low_dose.summary()
    low = summary["low_dose_dexamethasone_response_rate"]["counted"]
    assert [(c["subject_id"], c["responder"], c["started"], c["rule_id"]) for c in low] == [
        (pd_on_low_dose.subject, False, iso(MONTH_7), "REG-M6-SD")
    ]


# --------------------------------------------------------------------------- 8. declined dex


def test_declined_dexamethasone_is_followed_up_not_started_on_low_dose(
    declined_dex: Trial,
) -> None:
    month6 = declined_dex.notes["month6"]
    assert month6[1]["detail"].startswith("induction -> low_dose_dex [REG-M6-SD")
    stop = declined_dex.notes["stop"]
    assert [(e["event"], e["effective_date"]) for e in stop] == [
        ("RegimenChanged", iso(MONTH_6_VISIT)),
        ("RegimenChanged", iso(MONTH_6_VISIT)),
    ]
    assert stop[1]["detail"] == "off_treatment -> follow_up [REG-EOT-FOLLOW-UP]"

    for options in ((), ("--on", iso(MONTH_7)), ("--on", iso(day(200)))):
        shown = declined_dex.patient(*options)
        assert shown["regimen"] == "follow_up", options
        assert shown["regimen_since"] == iso(MONTH_6_VISIT)
        assert shown["next_doses"] == [], options
    now = declined_dex.patient()
    assert [p["regimen"] for p in now["regimen_history"]] == [
        "induction",
        "off_treatment",
        "follow_up",
    ]
    cancelled = now["regimen_cancelled"]
    assert [(c["regimen"], c["rule_id"], c["cancelled_by"]) for c in cancelled] == [
        ("low_dose_dex", "REG-M6-SD", stop[0]["position"])
    ]
    assert now["next_visits"][0] == {
        "date": "2003-12-16",
        "visit": "follow-up visit",
        "rule_id": "REG-EOT-FOLLOW-UP",
    }


def test_stopping_treatment_at_the_month_6_visit_records_the_change_from_induction(
    declined_dex: Trial,
) -> None:
    """On the month-6 visit the subject is on induction; low-dose dexamethasone, decided that
    day for month 7, never started. The recorded change must say where the subject was."""
    stop = declined_dex.notes["stop"]
    assert stop[0]["payload"]["from_regimen"] == "induction"
    assert stop[0]["detail"] == "induction -> off_treatment [REG-OFF-TREATMENT]"


@pytest.mark.parametrize(
    ("on", "dose"),
    [(MONTH_7, LOW_DEX), (day(176), LOW_DEX), (MONTH_7, ANAKINRA)],
    ids=["month-7-day-1", "month-7-day-8", "anakinra"],
)
def test_doses_for_a_subject_who_declined_dexamethasone_are_refused(
    declined_dex: Trial, on: date, dose: tuple[str, str, str]
) -> None:
    declined_dex.refuse(
        "cole",
        *declined_dex.dose_args(on, *dose),
        fragments=("DOSE-NOT-IN-REGIMEN", iso(on), f"no {dose[0]} in regimen follow_up"),
    )


def test_summary_does_not_count_a_declined_subject_as_exposed_to_dexamethasone(
    declined_dex: Trial,
) -> None:
    summary = declined_dex.summary()
    subject = declined_dex.subject
    adverse = summary["adverse_events"]
    assert adverse["with_dexamethasone"]["exposed_subject_ids"] == []
    assert adverse["anakinra_alone"]["exposed_subject_ids"] == [subject]
    low = summary["low_dose_dexamethasone_response_rate"]
    assert low["counted"] == []
    assert low["excluded"] == [{"subject_id": subject, "reason": "never started low_dose_dex"}]
    assert summary["primary_response_rate"]["counted"][0]["subject_id"] == subject


# --------------------------------------------------------------------------- 9-10. off study


def test_withdrawal_of_consent_takes_the_subject_off_study(withdrawn: Trial) -> None:
    events = withdrawn.notes["withdraw"]
    assert names(events) == ["SubjectWithdrawn", "RegimenChanged"]
    assert events[1]["detail"] == "induction -> off_study [REG-WITHDRAWAL]"
    now = withdrawn.patient()
    assert (now["regimen"], now["regimen_since"], now["regimen_rule_id"]) == (
        "off_study",
        iso(day(40)),
        "REG-WITHDRAWAL",
    )
    assert now["withdrawn"] == {
        "date": iso(day(40)),
        "reason": "moved abroad",
        "consent_withdrawn": True,
    }
    assert now["died"] is None
    assert now["next_doses"] == []
    assert withdrawn.patient("--on", iso(day(39)))["regimen"] == "induction"
    excluded = withdrawn.summary()["primary_response_rate"]["excluded"]
    assert excluded == [
        {"subject_id": withdrawn.subject, "reason": f"withdrawn before month 6 ({day(40)})"}
    ]


@pytest.mark.parametrize(
    ("who", "argv"),
    [
        ("cole", ("dose", "--drug", "anakinra", "--dose", "100", "--route", "SC")),
        ("cole", ("lab", "--analyte", "serum_m_protein", "--value", "3.0", "--unit", "g/dL")),
        ("ada", ("assess", "--category", "SD", "--no-new-bone-lesions")),
        ("cole", ("follow-up", "--status", "no-progression")),
    ],
    ids=["dose", "lab", "assess", "follow-up"],
)
def test_events_after_consent_withdrawal_are_refused(
    withdrawn: Trial, who: str, argv: tuple[str, ...]
) -> None:
    command, *options = argv
    withdrawn.refuse(
        who,
        command,
        "--subject",
        withdrawn.subject,
        *options,
        "--date",
        iso(day(41)),
        fragments=("[REC-AFTER-WITHDRAWAL]", f"withdrew consent on {day(40)}", iso(day(41))),
    )


def test_death_takes_the_subject_off_study_under_rule_reg_death(died: Trial) -> None:
    events = died.notes["death"]
    assert names(events) == ["SubjectDied", "RegimenChanged"]
    assert events[1]["detail"] == "induction -> off_study [REG-DEATH]"
    now = died.patient()
    assert (now["regimen"], now["regimen_since"], now["regimen_rule_id"]) == (
        "off_study",
        iso(day(40)),
        "REG-DEATH",
    )
    assert "REG-WITHDRAWAL" not in {p["rule_id"] for p in now["regimen_history"]}
    assert now["died"] == {"date": iso(day(40)), "cause": "myocardial infarction"}
    assert now["withdrawn"] is None
    assert now["next_doses"] == []
    counted = died.summary()["primary_response_rate"]["counted"]
    assert [(c["responder"], c["reason"]) for c in counted] == [
        (False, f"died during induction ({day(40)})")
    ]


@pytest.mark.parametrize(
    ("who", "argv"),
    [
        ("cole", ("lab", "--analyte", "serum_m_protein", "--value", "3.0", "--unit", "g/dL")),
        ("cole", ("dose", "--drug", "anakinra", "--dose", "100", "--route", "SC")),
        ("cole", ("withdraw", "--reason", "family request")),
    ],
    ids=["lab", "dose", "withdraw"],
)
def test_events_after_death_are_refused(died: Trial, who: str, argv: tuple[str, ...]) -> None:
    command, *options = argv
    died.refuse(
        who,
        command,
        "--subject",
        died.subject,
        *options,
        "--date",
        iso(day(41)),
        fragments=("[REC-AFTER-DEATH]", f"died on {day(40)}"),
    )


@pytest.mark.parametrize("scenario", ["withdrawn", "died"])
def test_a_subject_off_study_has_no_follow_up_visits_due(
    request: pytest.FixtureRequest, scenario: str
) -> None:
    """Off study every later event is refused, a follow-up visit too: none is due (the first
    visit six calendar months after leaving, 2003-08-21, is refused)."""
    trial: Trial = request.getfixturevalue(scenario)
    trial.refuse(
        "cole",
        "follow-up",
        "--subject",
        trial.subject,
        "--status",
        "no-progression",
        "--date",
        "2003-08-21",
        fragments=("REC-AFTER-", "no follow-up visit dated 2003-08-21"),
    )
    assert trial.patient()["next_visits"] == []


# --------------------------------------------------------------------------- 11. follow-up


def test_follow_up_visits_are_scheduled_six_monthly_up_to_the_five_year_end(
    five_year_follow_up: Trial,
) -> None:
    early = five_year_follow_up.patient("--on", iso(day(86)))
    assert (early["regimen"], early["regimen_since"]) == ("follow_up", iso(FU_START))
    assert [v["date"] for v in early["next_visits"]] == ["2003-10-07", "2004-04-07", "2004-10-07"]
    late = five_year_follow_up.patient("--on", "2008-01-01")
    assert late["next_visits"] == [
        {"date": iso(FU_LAST_VISIT), "visit": "follow-up visit", "rule_id": "REG-EOT-FOLLOW-UP"},
        {"date": iso(FU_END), "visit": "the end of follow-up", "rule_id": "REG-FU-COMPLETE"},
    ]


def test_a_follow_up_visit_after_the_five_year_follow_up_end_is_refused(
    five_year_follow_up: Trial,
) -> None:
    last = five_year_follow_up.notes["last_visit"]
    assert [(e["event"], e["effective_date"]) for e in last] == [("FollowUpVisit", iso(FU_END))]
    check_refused(
        five_year_follow_up.notes["late_visit"],
        "[REG-FU-COMPLETE]",
        f"ended on {FU_END}",
        f"study treatment ended on {FU_START}",
    )


def test_advance_before_the_follow_up_end_is_refused_naming_when_it_is_due(
    five_year_follow_up: Trial,
) -> None:
    check_refused(
        five_year_follow_up.notes["early_advance"],
        "[REC-NOTHING-DUE]",
        "2008-04-10",
        f"the end of follow-up on {FU_END}",
    )


def test_advance_takes_the_subject_off_study_no_earlier_than_the_last_visit(
    five_year_follow_up: Trial,
) -> None:
    events = five_year_follow_up.notes["advance"]
    assert names(events) == ["RegimenChanged"]
    assert events[0]["detail"] == "follow_up -> off_study [REG-FU-COMPLETE, decided 2008-06-01]"
    off_on = date.fromisoformat(events[0]["effective_date"])
    assert off_on == FU_END
    assert off_on >= FU_END  # the last visit was recorded on the follow-up end
    now = five_year_follow_up.patient()
    assert (now["regimen"], now["regimen_since"], now["regimen_rule_id"]) == (
        "off_study",
        iso(FU_END),
        "REG-FU-COMPLETE",
    )
    assert now["next_visits"] == []
    check_refused(five_year_follow_up.notes["after"], "[REC-AFTER-OFF-STUDY]", f"on {FU_END}")


# --------------------------------------------------------------------------- 12. correction


def test_correcting_the_nadir_lab_rederives_the_later_assessment_as_progression(
    corrected_nadir: Trial,
) -> None:
    correction = corrected_nadir.notes["correction"]
    lab = corrected_nadir.notes["nadir_lab"]
    assert correction[0]["detail"] == (
        f"corrects position {lab} value: '2.3' -> '2.0' "
        "(transcription error: the lab report says 2.0)"
    )
    now = corrected_nadir.patient()
    first, second = now["response"]["assessments"]
    assert (first["derived"], first["derived_as_recorded"], first["lab_positions"]) == (
        "MR",
        "MR",
        [lab],
    )
    assert (second["derived"], second["derived_as_recorded"], second["rederived"]) == (
        "PD",
        "SD",
        True,
    )
    assert "RESP-PD-SERUM" in second["rule_ids"]
    assert second["investigator"] == "SD"
    serum = now["response"]["markers"]["serum_m_protein"]
    assert (serum["nadir"], serum["nadir_date"], serum["latest"]) == ("2.0", iso(day(57)), "2.6")
    assert serum["change_from_nadir_pct"] == "30.00"
    assert now["corrections"] == [
        {
            "position": correction[0]["position"],
            "corrects_position": lab,
            "field": "value",
            "old_value": "2.3",
            "new_value": "2.0",
            "reason": "transcription error: the lab report says 2.0",
            "applied": True,
        }
    ]
    # a single PD by serum is not yet a progression
    assert now["response"]["progression"] is None

    on_visit = corrected_nadir.patient("--on", iso(day(85)))
    assert on_visit["response"]["assessments"][1]["derived"] == "PD"  # corrections applied


def test_the_ledger_before_the_correction_still_derives_stable_disease(
    corrected_nadir: Trial,
) -> None:
    then = corrected_nadir.patient("--position", corrected_nadir.notes["before_correction"])
    assert [a["derived"] for a in then["response"]["assessments"]] == ["MR", "SD"]
    assert then["response"]["markers"]["serum_m_protein"]["nadir"] == "2.3"
    assert then["corrections"] == []


def test_a_correction_naming_a_stale_old_value_is_refused(corrected_nadir: Trial) -> None:
    corrected_nadir.refuse(
        "cole",
        "correct",
        "--subject",
        corrected_nadir.subject,
        "--position",
        corrected_nadir.notes["nadir_lab"],
        "--field",
        "value",
        "--old",
        "2.3",
        "--new",
        "1.9",
        "--reason",
        "second look",
        "--date",
        iso(day(91)),
        fragments=("[REC-CORRECT-OLD]", "'2.3'", "value='2.0'"),
    )
