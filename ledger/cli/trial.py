"""Recording commands for site staff, ``import``, ``log`` and ``schema``.

Every recording command is signed with the caller's key (``--key`` and ``--passphrase-file`` or
``$TRIAL_LEDGER_PASSPHRASE``), takes the clinical date of the fact as ``--date`` (default today,
UTC) and prints the position of every event it wrote (``--json``: one JSON document). A refused
command exits 2 with one message naming the field, the value and the rule, and writes nothing.
"""

from __future__ import annotations

import json
from bisect import bisect_right
from collections import deque
from collections.abc import Callable, Iterable
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

import typer

from ledger.chain import CommitHeader, EventRow
from ledger.cli.common import (
    DbOption,
    JsonFlag,
    KeyOption,
    PassphraseFileOption,
    console,
    emit_json,
    load_signer,
    parse_date,
)
from ledger.domain import Findings
from ledger.domain.guards import check_subject_id
from ledger.errors import UsageError, ValidationError
from ledger.events import (
    ANALYTE_UNITS,
    BaselineLabs,
    Deviation,
    event_name,
    subject_stream_id,
)
from ledger.input_limits import load_json_file, parse_decimal
from ledger.integrity.signing import Signer
from ledger.jsonl import import_line_schema_text
from ledger.protocol.eligibility import EligibilityInput
from ledger.recording import Recorded, TrialRecorder
from ledger.registry import KeyRegistry
from ledger.service import TrialLedger, today
from ledger.store import LedgerReader
from ledger.verify import CommitProver

schema_app = typer.Typer(help="Print the JSON Schemas of the files trial-ledger reads.")

SubjectOption = Annotated[
    str, typer.Option("--subject", help="Pseudonymous subject id, e.g. MC0282-001-017.")
]
DateOption = Annotated[
    str | None,
    typer.Option("--date", help="Clinical date of the fact, YYYY-MM-DD (default: today, UTC)."),
]
ReasonOption = Annotated[str, typer.Option("--reason", help="Why (recorded in the ledger).")]
DeviationRuleOption = Annotated[
    str | None,
    typer.Option("--deviation-rule", help="Protocol rule departed from (records a deviation)."),
]
DeviationReasonOption = Annotated[
    str | None, typer.Option("--deviation-reason", help="Why the protocol was departed from.")
]


# --------------------------------------------------------------------------- helpers


def _on(value: str | None) -> date:
    """--date, or today when the option is not given (an empty --date is refused)."""
    return parse_date(value, "--date") if value is not None else today()


def _decimal(value: str | None, option: str) -> Decimal | None:
    if value is None:
        return None
    number = parse_decimal(option, value)
    if number is None:
        raise ValidationError(option, value, "expected a decimal number such as 2.45")
    return number


def _required_decimal(value: str, option: str) -> Decimal:
    number = _decimal(value, option)
    if number is None:  # pragma: no cover - typer requires the option
        raise UsageError(f"{option} is required")
    return number


OtherMonth6ReadingOption = Annotated[
    str | None,
    typer.Option(
        "--other-month6-reading",
        help="Decide month 6 by the other reading of REG-M6-BASIS (confirmed categories "
        "only), and why: recorded as a deviation on the regimen change.",
    ),
]


StartNextMonthOption = Annotated[
    str | None,
    typer.Option(
        "--start-next-month",
        help="Start high-dose dexamethasone on day 1 of the next protocol month (the other "
        "reading of REG-PD-START), and why: recorded as a deviation.",
    ),
]


def _reading(rule: str, reason: str | None) -> Deviation | None:
    return Deviation(rule_id=rule, reason=reason) if reason is not None else None


def _deviation(rule: str | None, reason: str | None, option: str) -> Deviation | None:
    if rule is None and reason is None:
        return None
    if rule is None or reason is None:
        raise UsageError(f"give both {option}-rule and {option}-reason, or neither")
    return Deviation(rule_id=rule, reason=reason)


def describe(topic: str, p: dict[str, Any]) -> str:
    """A one-line summary of an event's payload, for people reading ``log`` and receipts."""
    name = event_name(topic)
    if name == "SubjectScreened":
        return f"site {p['site']}, age {p['age_years']}, sex {p['sex']}"
    if name == "EligibilityAssessed":
        failing = [c["criterion_id"] for c in p["criteria"] if not c["passed"]]
        return "eligible" if p["eligible"] else "NOT eligible: " + ", ".join(failing)
    if name == "ConsentObtained":
        return f"consent version {p['consent_version']}"
    if name == "SubjectEnrolled":
        waiver = p.get("waiver")
        waived = f"; WAIVER {waiver['rule_id']}: {waiver['reason']}" if waiver else ""
        return f"site {p['site']}, treatment from {p['treatment_start']}{waived}"
    if name == "DoseAdministered":
        deviation = p.get("deviation")
        dev = f"; DEVIATION {deviation['rule_id']}: {deviation['reason']}" if deviation else ""
        return f"{p['drug']} {p['dose']} {p['unit']} {p['route']}{dev}"
    if name == "DoseMissed":
        return f"{p['drug']} {'held' if p['held'] else 'missed'}: {p['reason']}"
    if name == "LabResulted":
        return f"{p['analyte']} {p['value']} {p['unit']}"
    if name == "ResponseAssessed":
        flag = "" if p["agrees"] else " (DIFFERS)"
        return (
            f"month {p['protocol_month']}: investigator {p['investigator_category']}, "
            f"rules {p['derived_category']}{flag}"
        )
    if name == "ProgressionConfirmed":
        deviation = p.get("deviation")
        dev = f"; DEVIATION {deviation['rule_id']}" if deviation else ""
        return f"{', '.join(p['rule_ids'])}: {p['basis']}{dev}"
    if name == "RegimenChanged":
        decided = f", decided {p['decided_on']}" if p.get("decided_on") else ""
        return f"{p['from_regimen']} -> {p['to_regimen']} [{p['rule_id']}{decided}]"
    if name == "AdverseEventReported":
        serious = f", SERIOUS ({', '.join(p['seriousness_criteria'])})" if p["serious"] else ""
        return (
            f"{p['ae_id']} {p['term']}, grade {p['grade']}, {p['attribution']}, "
            f"action {p['action_taken']}{serious}"
        )
    if name == "AdverseEventResolved":
        return f"{p['ae_id']} {p['outcome']}"
    if name == "FollowUpVisit":
        return str(p["disease_status"]) + (f": {p['note']}" if p.get("note") else "")
    if name == "SubjectWithdrawn":
        what = "consent withdrawn" if p["consent_withdrawn"] else "withdrawn from treatment"
        return f"{what}: {p['reason']}"
    if name == "SubjectOffStudy":
        return str(p["reason"])
    if name == "SubjectDied":
        return str(p["cause"])
    if name == "CorrectionRecorded":
        return (
            f"corrects position {p['corrects_position']} {p['field']}: "
            f"{p['old_value']!r} -> {p['new_value']!r} ({p['reason']})"
        )
    if name == "RecordSigned":
        positions = ", ".join(str(x) for x in p["positions"])
        return f"{p['meaning']} of positions {positions}: {p['statement']}"
    if name in ("KeyRegistered", "KeyRotated"):
        key = p.get("key") or p["new_key"]
        return f"{key['printed_name']} ({key['role']}, site {key['site']})"
    if name == "KeyRevoked":
        return f"{p['key_id']}: {p['reason']}"
    if name == "TrialCreated":
        return f"{p['trial_id']} ({p['protocol_amendment']})"
    return ""


def _signer_of(registry: KeyRegistry, header: CommitHeader) -> tuple[str, str]:
    known = registry.keys.get(header.signer)
    return (known.key.printed_name, known.key.role) if known else (header.signer, "?")


def _print_recorded(ledger: TrialLedger, recorded: Recorded, json_out: bool) -> None:
    header = recorded.commit.header
    name, role = _signer_of(ledger.registry(), header)
    entries = [
        {
            "position": position,
            "event": event_name(event.TOPIC),
            "subject_id": event.subject_id,
            "effective_date": event.effective_date.isoformat(),
            "detail": describe(event.TOPIC, event.payload()),
            "payload": event.payload(),
        }
        for position, event in recorded.positioned()
    ]
    if json_out:
        emit_json(
            {
                "commit": header.seq,
                "positions": list(recorded.positions),
                "recorded_at": header.recorded_at,
                "signer_key_id": header.signer,
                "signer_name": name,
                "role": role,
                "meaning": header.meaning,
                "events": entries,
            }
        )
        return
    span = (
        f"position {header.first_position}"
        if header.first_position == header.last_position
        else f"positions {header.first_position}-{header.last_position}"
    )
    console.print(
        f"Recorded at {span} (commit {header.seq}, {header.meaning} signed by {name}, {role}):",
        markup=False,
    )
    for entry in entries:
        console.print(
            f"  {entry['position']}  {entry['effective_date']}  {entry['event']}  "
            f"{entry['subject_id']}  {entry['detail']}",
            markup=False,
        )


def _record(
    db: Path,
    key: Path,
    passphrase_file: Path | None,
    json_out: bool,
    action: Callable[[TrialRecorder, Signer], Recorded],
) -> None:
    with TrialLedger.open(db) as ledger:
        signer = load_signer(key, passphrase_file)
        recorded = action(TrialRecorder(ledger), signer)
        _print_recorded(ledger, recorded, json_out)


# --------------------------------------------------------------------------- screening


def screen(
    db: DbOption,
    key: KeyOption,
    subject: SubjectOption,
    site: Annotated[str, typer.Option("--site", help="Site code, e.g. 001 (as in the id).")],
    age: Annotated[int, typer.Option("--age", help="Age in years at screening.")],
    sex: Annotated[str, typer.Option("--sex", help="F, M or U.")],
    on: DateOption = None,
    passphrase_file: PassphraseFileOption = None,
    json_out: JsonFlag = False,
) -> None:
    """Screen a subject at a site (the first event of every subject).

    Example: trial-ledger screen --db trial.db --key cole.key --subject MC0282-001-017
    --site 001 --age 61 --sex F --date 2003-01-06
    """
    _record(
        db,
        key,
        passphrase_file,
        json_out,
        lambda r, s: r.screen(s, subject, site, age, sex, _on(on)),
    )


def eligibility(
    db: DbOption,
    key: KeyOption,
    subject: SubjectOption,
    inputs: Annotated[
        Path,
        typer.Option(
            "--inputs",
            help="JSON file with every criterion's value (fields of EligibilityInput).",
            dir_okay=False,
        ),
    ],
    on: DateOption = None,
    passphrase_file: PassphraseFileOption = None,
    json_out: JsonFlag = False,
) -> None:
    """Assess eligibility (investigator): every criterion, its value, threshold and result.

    The inputs file holds one JSON object: age_years, smoldering_or_indolent_myeloma,
    marrow_plasma_cells_pct, serum_m_protein_g_dl, serum_m_protein_isotype,
    urine_light_chain_g_24h, measurable_disease, ecog, wbc_per_mm3, anc_per_mm3,
    creatinine_x_uln, pregnancy_test, ... (see `trial-ledger schema import-line`,
    EligibilityInput).

    Example: trial-ledger eligibility --db trial.db --key ada.key --subject MC0282-001-017
    --inputs elig-017.json --date 2003-01-08
    """
    document = load_json_file(inputs, "--inputs")
    answers = EligibilityInput.model_validate(document)
    _record(
        db,
        key,
        passphrase_file,
        json_out,
        lambda r, s: r.assess_eligibility(s, subject, answers, _on(on)),
    )


def consent(
    db: DbOption,
    key: KeyOption,
    subject: SubjectOption,
    version: Annotated[str, typer.Option("--version", help="Consent form version signed.")],
    on: DateOption = None,
    passphrase_file: PassphraseFileOption = None,
    json_out: JsonFlag = False,
) -> None:
    """Record informed consent obtained (needed before enrolment).

    Example: trial-ledger consent --db trial.db --key cole.key --subject MC0282-001-017
    --version 2002-10 --date 2003-01-07
    """
    _record(
        db, key, passphrase_file, json_out, lambda r, s: r.consent(s, subject, version, _on(on))
    )


def enrol(
    db: DbOption,
    key: KeyOption,
    subject: SubjectOption,
    treatment_start: Annotated[
        str, typer.Option("--treatment-start", help="First day of treatment, YYYY-MM-DD.")
    ],
    serum_m_protein: Annotated[
        str | None, typer.Option("--serum-m-protein", help="Baseline serum M-protein, g/dL.")
    ] = None,
    urine_m_protein: Annotated[
        str | None, typer.Option("--urine-m-protein", help="Baseline urine M-protein, mg/24h.")
    ] = None,
    marrow_plasma_cells: Annotated[
        str | None,
        typer.Option("--marrow-plasma-cells", help="Baseline marrow plasma cells, %."),
    ] = None,
    hs_crp: Annotated[str | None, typer.Option("--hs-crp", help="Baseline hs-CRP, mg/L.")] = None,
    waive_rule: Annotated[
        str | None,
        typer.Option("--waiver-rule", help="Failing criteria waived, e.g. ELIG-ANC,ELIG-WBC."),
    ] = None,
    waive_reason: Annotated[
        str | None, typer.Option("--waiver-reason", help="Why the criteria are waived.")
    ] = None,
    on: DateOption = None,
    passphrase_file: PassphraseFileOption = None,
    json_out: JsonFlag = False,
) -> None:
    """Enrol an eligible, consented subject (investigator); induction starts on --treatment-start.

    An ineligible subject is refused with every failing criterion listed, unless a waiver
    names them all with a reason: the enrolment then records a protocol deviation.

    Example: trial-ledger enrol --db trial.db --key ada.key --subject MC0282-001-017
    --treatment-start 2003-01-13 --serum-m-protein 3.2 --urine-m-protein 250
    --marrow-plasma-cells 15 --hs-crp 4.1 --date 2003-01-10
    """
    baseline = BaselineLabs(
        serum_m_protein_g_dl=_decimal(serum_m_protein, "--serum-m-protein"),
        urine_m_protein_mg_24h=_decimal(urine_m_protein, "--urine-m-protein"),
        marrow_plasma_cells_pct=_decimal(marrow_plasma_cells, "--marrow-plasma-cells"),
        hs_crp_mg_l=_decimal(hs_crp, "--hs-crp"),
    )
    waiver = _deviation(waive_rule, waive_reason, "--waiver")
    start = parse_date(treatment_start, "--treatment-start")
    _record(
        db,
        key,
        passphrase_file,
        json_out,
        lambda r, s: r.enrol(s, subject, start, baseline, _on(on), waiver),
    )


# --------------------------------------------------------------------------- treatment


def dose(
    db: DbOption,
    key: KeyOption,
    subject: SubjectOption,
    drug: Annotated[str, typer.Option("--drug", help="anakinra or dexamethasone.")],
    amount: Annotated[str, typer.Option("--dose", help="Dose given, in mg (e.g. 100).")],
    route: Annotated[str, typer.Option("--route", help="SC or PO.")],
    deviation_rule: DeviationRuleOption = None,
    deviation_reason: DeviationReasonOption = None,
    on: DateOption = None,
    passphrase_file: PassphraseFileOption = None,
    json_out: JsonFlag = False,
) -> None:
    """Record a dose given (refused if the regimen does not call for it, unless a deviation).

    The current regimen's dosing calendar must call for the drug, dose and route on --date;
    otherwise the dose is refused, naming the rule, unless it is recorded as a protocol
    deviation (--deviation-rule RULE --deviation-reason TEXT). A second dose of a drug on one
    day is refused.

    Example: trial-ledger dose --db trial.db --key cole.key --subject MC0282-001-017
    --drug anakinra --dose 100 --route SC --date 2003-01-13
    """
    given = _required_decimal(amount, "--dose")
    deviation = _deviation(deviation_rule, deviation_reason, "--deviation")
    _record(
        db,
        key,
        passphrase_file,
        json_out,
        lambda r, s: r.record_dose(s, subject, drug, given, route, _on(on), deviation),
    )


def missed_dose(
    db: DbOption,
    key: KeyOption,
    subject: SubjectOption,
    drug: Annotated[str, typer.Option("--drug", help="anakinra or dexamethasone.")],
    reason: ReasonOption,
    held: Annotated[
        bool, typer.Option("--held", help="Held by the investigator (not just missed).")
    ] = False,
    on: DateOption = None,
    passphrase_file: PassphraseFileOption = None,
    json_out: JsonFlag = False,
) -> None:
    """Record a dose the calendar called for that was missed or held.

    Example: trial-ledger missed-dose --db trial.db --key cole.key --subject MC0282-001-017
    --drug anakinra --reason "injection-site reaction" --held --date 2003-02-04
    """
    _record(
        db,
        key,
        passphrase_file,
        json_out,
        lambda r, s: r.record_missed_dose(s, subject, drug, reason, _on(on), held),
    )


def lab(
    db: DbOption,
    key: KeyOption,
    subject: SubjectOption,
    analyte: Annotated[str, typer.Option("--analyte", help=", ".join(ANALYTE_UNITS))],
    value: Annotated[str, typer.Option("--value", help="Measured value (decimal).")],
    unit: Annotated[
        str,
        typer.Option(
            "--unit",
            help="Unit: "
            + ", ".join(f"{a} {u}" for a, u in ANALYTE_UNITS.items())
            + " (IFE: 1 negative, 0 positive).",
        ),
    ],
    on: DateOption = None,
    passphrase_file: PassphraseFileOption = None,
    json_out: JsonFlag = False,
) -> None:
    """Record a lab result in its analyte's unit (wrong units and implausible values refused).

    Example: trial-ledger lab --db trial.db --key cole.key --subject MC0282-001-017
    --analyte serum_m_protein --value 2.9 --unit g/dL --date 2003-02-10
    """
    measured = _required_decimal(value, "--value")
    _record(
        db,
        key,
        passphrase_file,
        json_out,
        lambda r, s: r.record_lab(s, subject, analyte, measured, unit, _on(on)),
    )


def assess(
    db: DbOption,
    key: KeyOption,
    subject: SubjectOption,
    category: Annotated[
        str, typer.Option("--category", help="Investigator's category: CR VGPR PR MR SD PD.")
    ],
    new_bone_lesions: Annotated[
        bool | None,
        typer.Option(
            "--new-bone-lesions/--no-new-bone-lesions",
            help="New or growing lytic lesions (progression by itself, CONF-PD-SINGLE); MR "
            "needs --no-new-bone-lesions.",
        ),
    ] = None,
    plasmacytoma: Annotated[
        bool | None,
        typer.Option(
            "--plasmacytoma/--no-plasmacytoma",
            help="A soft-tissue plasmacytoma is present (or not). Present after an assessment "
            "that recorded none: a new plasmacytoma, progression by itself (CONF-PD-SINGLE).",
        ),
    ] = None,
    hypercalcaemia: Annotated[
        bool | None,
        typer.Option(
            "--hypercalcaemia/--no-hypercalcaemia",
            help="Hypercalcaemia attributed to myeloma (progression by itself, CONF-PD-SINGLE).",
        ),
    ] = None,
    other_month6_reading: OtherMonth6ReadingOption = None,
    start_next_month: StartNextMonthOption = None,
    on: DateOption = None,
    passphrase_file: PassphraseFileOption = None,
    json_out: JsonFlag = False,
) -> None:
    """Assess response (investigator): your category and the rule-derived one, side by side.

    The rules (IMWG 2006 + EBMT minimal response) derive a category from the labs since the
    last assessment; a difference from yours is flagged, not hidden. The month-6 assessment
    (protocol month 6, still on induction) makes the month-6 regimen decision in the same
    commit (REG-M6-BASIS: on the category derived then; progression only when confirmed):
    continuation or low-dose dexamethasone from month 7 day 1. At any assessment where the rules
    confirm progression (CONF-PD, CONF-PD-SINGLE) it is recorded in the same commit, dated when
    its criteria were first met, with high-dose dexamethasone from that day (REG-PD-START;
    --start-next-month REASON for the other reading). Findings left unset count as not
    assessed (they can lower the category).

    Example: trial-ledger assess --db trial.db --key ada.key --subject MC0282-001-017
    --category MR --no-new-bone-lesions --date 2003-06-30
    """
    findings = Findings(
        new_bone_lesions=new_bone_lesions, plasmacytoma=plasmacytoma, hypercalcaemia=hypercalcaemia
    )
    _record(
        db,
        key,
        passphrase_file,
        json_out,
        lambda r, s: r.assess_response(
            s,
            subject,
            category,
            _on(on),
            findings,
            _reading("REG-M6-BASIS", other_month6_reading),
            _reading("REG-PD-START", start_next_month),
        ),
    )


def progression(
    db: DbOption,
    key: KeyOption,
    subject: SubjectOption,
    basis: Annotated[str, typer.Option("--basis", help="What shows the progression.")],
    deviation_reason: Annotated[
        str | None,
        typer.Option(
            "--deviation-reason",
            help="Confirm although the rules do not (yet): a deviation from CONF-PD, and why.",
        ),
    ] = None,
    progression_date: Annotated[
        str | None,
        typer.Option(
            "--progression-date",
            help="With --deviation-reason: when the criteria were first met (default --date). "
            "Progression the rules confirm is dated by them.",
        ),
    ] = None,
    start_next_month: StartNextMonthOption = None,
    on: DateOption = None,
    passphrase_file: PassphraseFileOption = None,
    json_out: JsonFlag = False,
) -> None:
    """Confirm progression (investigator); on treatment, moves to high-dose dexamethasone.

    The regimen change (REG-PD-ANYTIME) is written in the same commit and starts that day
    (REG-PD-START). The rules must confirm PD on the corrected assessments (two consecutive
    derived PD, CONF-PD; or one PD by marrow plasma cells, new bone lesions, plasmacytoma or
    hypercalcaemia, CONF-PD-SINGLE) unless --deviation-reason records the investigator's
    judgement as a protocol deviation. Progression is dated when its criteria were first met.

    Example: trial-ledger progression --db trial.db --key ada.key --subject MC0282-001-017
    --basis "serum M-protein up 40% from nadir on two assessments" --date 2003-04-28
    """
    deviation = Deviation(rule_id="CONF-PD", reason=deviation_reason) if deviation_reason else None
    _record(
        db,
        key,
        passphrase_file,
        json_out,
        lambda r, s: r.confirm_progression(
            s,
            subject,
            basis,
            _on(on),
            deviation,
            parse_date(progression_date, "--progression-date")
            if progression_date is not None
            else None,
            _reading("REG-PD-START", start_next_month),
        ),
    )


def advance(
    db: DbOption,
    key: KeyOption,
    subject: SubjectOption,
    physician_continues: Annotated[
        bool,
        typer.Option(
            "--physician-continues", help="Continue beyond month 12/18 (physician's discretion)."
        ),
    ] = False,
    other_month6_reading: OtherMonth6ReadingOption = None,
    on: DateOption = None,
    passphrase_file: PassphraseFileOption = None,
    json_out: JsonFlag = False,
) -> None:
    """Apply the regimen transitions the protocol makes due by --date.

    Month 6 without a month-6 assessment (treated as stable disease, REG-M6-NOT-ASSESSED),
    month 12, month 18, the end of the high-dose course, the end of follow-up (5 years after
    treatment, last visit window included): each takes effect on its due date.

    Example: trial-ledger advance --db trial.db --key ada.key --subject MC0282-001-017
    --date 2003-12-15
    """
    _record(
        db,
        key,
        passphrase_file,
        json_out,
        lambda r, s: r.advance_regimen(
            s,
            subject,
            _on(on),
            physician_continues=physician_continues,
            m6_deviation=_reading("REG-M6-BASIS", other_month6_reading),
        ),
    )


def stop_treatment(
    db: DbOption,
    key: KeyOption,
    subject: SubjectOption,
    reason: ReasonOption,
    on: DateOption = None,
    passphrase_file: PassphraseFileOption = None,
    json_out: JsonFlag = False,
) -> None:
    """End study treatment early (toxicity, the physician's decision); follow-up starts.

    Example: trial-ledger stop-treatment --db trial.db --key ada.key --subject MC0282-001-017
    --reason "grade 3 neutropenia" --date 2003-05-02
    """
    _record(
        db,
        key,
        passphrase_file,
        json_out,
        lambda r, s: r.stop_treatment(s, subject, reason, _on(on)),
    )


# --------------------------------------------------------------------------- safety


def ae(
    db: DbOption,
    key: KeyOption,
    subject: SubjectOption,
    term: Annotated[
        str, typer.Option("--term", help="CTCAE term, e.g. 'Injection site reaction'.")
    ],
    grade: Annotated[int, typer.Option("--grade", help="CTCAE grade 1-5.")],
    attribution: Annotated[
        str,
        typer.Option("--attribution", help="unrelated, unlikely, possible, probable, definite."),
    ],
    action: Annotated[
        str,
        typer.Option(
            "--action",
            help="none, dose-held, dose-reduced, drug-withdrawn, not-applicable.",
        ),
    ],
    serious: Annotated[
        list[str] | None,
        typer.Option(
            "--serious",
            help="Seriousness criterion (repeatable): death, life-threatening, "
            "hospitalisation, disability, congenital-anomaly, important-medical-event.",
        ),
    ] = None,
    ae_id: Annotated[
        str | None, typer.Option("--ae-id", help="AE id (default: the next AE-NNN).")
    ] = None,
    on: DateOption = None,
    passphrase_file: PassphraseFileOption = None,
    json_out: JsonFlag = False,
) -> None:
    """Report an adverse event (onset on --date); it is serious when a criterion is given.

    Example: trial-ledger ae --db trial.db --key cole.key --subject MC0282-001-017
    --term "Injection site reaction" --grade 1 --attribution definite --action none
    --date 2003-01-20
    """
    criteria = tuple(serious or ())
    _record(
        db,
        key,
        passphrase_file,
        json_out,
        lambda r, s: r.report_adverse_event(
            s, subject, term, grade, attribution, action, _on(on), criteria, ae_id
        ),
    )


def ae_resolve(
    db: DbOption,
    key: KeyOption,
    subject: SubjectOption,
    ae_id: Annotated[str, typer.Option("--ae-id", help="The AE resolved, e.g. AE-001.")],
    outcome: Annotated[
        str,
        typer.Option("--outcome", help="recovered, recovered-with-sequelae, fatal or unknown."),
    ],
    on: DateOption = None,
    passphrase_file: PassphraseFileOption = None,
    json_out: JsonFlag = False,
) -> None:
    """Record the resolution of a reported adverse event.

    Example: trial-ledger ae-resolve --db trial.db --key cole.key --subject MC0282-001-017
    --ae-id AE-001 --outcome recovered --date 2003-01-27
    """
    _record(
        db,
        key,
        passphrase_file,
        json_out,
        lambda r, s: r.resolve_adverse_event(s, subject, ae_id, outcome, _on(on)),
    )


# --------------------------------------------------------------------------- end of study


def follow_up(
    db: DbOption,
    key: KeyOption,
    subject: SubjectOption,
    status: Annotated[
        str, typer.Option("--status", help="no-progression, progression or unknown.")
    ],
    note: Annotated[str, typer.Option("--note", help="Free-text note.")] = "",
    on: DateOption = None,
    passphrase_file: PassphraseFileOption = None,
    json_out: JsonFlag = False,
) -> None:
    """Record a follow-up visit (after study treatment ended).

    Example: trial-ledger follow-up --db trial.db --key cole.key --subject MC0282-001-017
    --status no-progression --date 2004-07-01
    """
    _record(
        db,
        key,
        passphrase_file,
        json_out,
        lambda r, s: r.follow_up(s, subject, status, _on(on), note),
    )


def withdraw(
    db: DbOption,
    key: KeyOption,
    subject: SubjectOption,
    reason: ReasonOption,
    treatment_only: Annotated[
        bool,
        typer.Option(
            "--treatment-only",
            help="Withdrawn from study treatment only: consent kept, follow-up continues.",
        ),
    ] = False,
    on: DateOption = None,
    passphrase_file: PassphraseFileOption = None,
    json_out: JsonFlag = False,
) -> None:
    """Record a withdrawal: of consent (off study), or with --treatment-only of treatment.

    Example: trial-ledger withdraw --db trial.db --key cole.key --subject MC0282-001-017
    --reason "moved away" --date 2003-03-01
    """
    _record(
        db,
        key,
        passphrase_file,
        json_out,
        lambda r, s: r.withdraw(s, subject, reason, _on(on), consent_withdrawn=not treatment_only),
    )


def off_study(
    db: DbOption,
    key: KeyOption,
    subject: SubjectOption,
    reason: ReasonOption,
    on: DateOption = None,
    passphrase_file: PassphraseFileOption = None,
    json_out: JsonFlag = False,
) -> None:
    """Take a subject off study (screen failure, follow-up complete, lost to follow-up).

    Example: trial-ledger off-study --db trial.db --key cole.key --subject MC0282-001-018
    --reason "screen failure: ANC below threshold" --date 2003-01-09
    """
    _record(
        db,
        key,
        passphrase_file,
        json_out,
        lambda r, s: r.off_study(s, subject, reason, _on(on)),
    )


def death(
    db: DbOption,
    key: KeyOption,
    subject: SubjectOption,
    cause: Annotated[str, typer.Option("--cause", help="Cause of death.")],
    on: DateOption = None,
    passphrase_file: PassphraseFileOption = None,
    json_out: JsonFlag = False,
) -> None:
    """Record a subject's death (investigator); only corrections and signatures may follow.

    Example: trial-ledger death --db trial.db --key ada.key --subject MC0282-001-017
    --cause "myocardial infarction" --date 2006-02-11
    """
    _record(
        db,
        key,
        passphrase_file,
        json_out,
        lambda r, s: r.record_death(s, subject, cause, _on(on)),
    )


# --------------------------------------------------------------------------- audit


def correct(
    db: DbOption,
    key: KeyOption,
    subject: SubjectOption,
    position: Annotated[int, typer.Option("--position", help="Position of the event corrected.")],
    field: Annotated[
        str,
        typer.Option(
            "--field",
            help="Field corrected (e.g. dose, effective_date, baseline.hs_crp_mg_l), or "
            "record_status to mark the event entered in error.",
        ),
    ],
    new: Annotated[
        str, typer.Option("--new", help="New value ('entered-in-error' for record_status).")
    ],
    reason: ReasonOption,
    old: Annotated[
        str | None,
        typer.Option("--old", help="Value you expect it to have now (refused if it differs)."),
    ] = None,
    on: DateOption = None,
    passphrase_file: PassphraseFileOption = None,
    json_out: JsonFlag = False,
) -> None:
    """Correct one field of an event; the original stays in the ledger and in every audit view.

    Example: trial-ledger correct --db trial.db --key cole.key --subject MC0282-001-017
    --position 42 --field value --old 29 --new 2.9 --reason "decimal point missed"
    """
    _record(
        db,
        key,
        passphrase_file,
        json_out,
        lambda r, s: r.correct(s, subject, position, field, new, reason, _on(on), old),
    )


def sign(
    db: DbOption,
    key: KeyOption,
    subject: SubjectOption,
    positions: Annotated[
        str, typer.Option("--positions", help="Positions signed, e.g. 40,41,42 or 40-42.")
    ],
    meaning: Annotated[str, typer.Option("--meaning", help="review, approval or responsibility.")],
    statement: Annotated[str, typer.Option("--statement", help="What you attest.")],
    on: DateOption = None,
    passphrase_file: PassphraseFileOption = None,
    json_out: JsonFlag = False,
) -> None:
    """Sign a subject's records with a meaning (review, approval, responsibility).

    Example: trial-ledger sign --db trial.db --key mona.key --subject MC0282-001-017
    --positions 40-45 --meaning review --statement "source data verified"
    """
    wanted = _positions(positions)
    _record(
        db,
        key,
        passphrase_file,
        json_out,
        lambda r, s: r.sign(s, subject, wanted, meaning, statement, _on(on)),
    )


def _positions(text: str) -> list[int]:
    found: list[int] = []
    try:
        for part in (p.strip() for p in text.split(",")):
            if "-" in part:
                low, high = (int(x) for x in part.split("-", 1))
                found.extend(range(low, high + 1))
            elif part:
                found.append(int(part))
    except ValueError:
        raise ValidationError(
            "--positions", text, "expected positions such as 40,41 or 40-45"
        ) from None
    return found


def import_file(
    file: Annotated[Path, typer.Argument(help="JSON Lines file, one command per line.")],
    db: DbOption,
    key: KeyOption,
    passphrase_file: PassphraseFileOption = None,
    json_out: JsonFlag = False,
) -> None:
    """Append a whole JSON Lines file (a dosing diary, a lab transfer) as ONE signed commit.

    Every line is checked in order against the same rules as the single commands; if any line
    is invalid the whole file is refused, listing the invalid lines by number, and nothing is
    written. The format: `trial-ledger schema import-line`.

    Example: trial-ledger import diary-017.jsonl --db trial.db --key cole.key
    """
    _record(db, key, passphrase_file, json_out, lambda r, s: r.import_jsonl(s, file))


# --------------------------------------------------------------------------- reading


def _commit_index(reader: LedgerReader) -> tuple[list[int], list[CommitHeader]]:
    headers = [c.header for c in reader.iter_commits()]
    return [h.first_position for h in headers], headers


def _log_rows(reader: LedgerReader, subject: str | None, limit: int | None) -> Iterable[EventRow]:
    rows: Iterable[EventRow]
    if subject is not None:
        check_subject_id(subject)
        rows = reader.stream_rows(subject_stream_id(subject).hex)
    else:
        rows = reader.iter_events()
    return deque(rows, maxlen=limit) if limit else rows


def log(
    db: DbOption,
    subject: Annotated[
        str | None, typer.Option("--subject", help="Only this subject's events.")
    ] = None,
    limit: Annotated[
        int | None, typer.Option("--limit", help="Only the last N events.", min=1)
    ] = None,
    json_out: JsonFlag = False,
) -> None:
    """List events with their clinical date, recorded time, signer, role and meaning.

    Columns: position, clinical date, recorded time (UTC), event, subject, signer's printed
    name, role, signature meaning and a summary. Corrections appear as events of their own;
    the corrected event is shown as it was recorded.

    Every row shown is first re-proved with its whole commit (rehashed, rooted, signature
    under the proved key registry): an altered record is refused (exit 1), never shown.

    Example: trial-ledger log --db trial.db --subject MC0282-001-017 --limit 20
    """
    with LedgerReader(db) as reader:
        prover = CommitProver(reader)  # every row shown is re-proved with its commit first
        registry = prover.registry
        starts, headers = _commit_index(reader)
        entries = []
        for row in _log_rows(reader, subject, limit):
            prover.prove(row.position)
            payload = json.loads(row.state)
            header = headers[bisect_right(starts, row.position) - 1]
            name, role = _signer_of(registry, header)
            entries.append(
                {
                    "position": row.position,
                    "effective_date": payload.get("effective_date", ""),
                    "recorded_at": header.recorded_at,
                    "event": event_name(row.topic),
                    "subject_id": payload.get("subject_id", ""),
                    "signer_name": name,
                    "role": role,
                    "meaning": header.meaning,
                    "detail": describe(row.topic, payload),
                }
            )
    if json_out:
        emit_json({"events": entries})
        return
    console.print(
        f"{'pos':>6}  {'clinical':<10}  {'recorded (UTC)':<19}  {'event':<21}  "
        f"{'subject':<14}  signed by (role, meaning): detail",
        markup=False,
    )
    for e in entries:
        recorded = e["recorded_at"][:19].replace("T", " ")
        console.print(
            f"{e['position']:>6}  {e['effective_date']:<10}  {recorded:<19}  {e['event']:<21}  "
            f"{e['subject_id'] or '-':<14}  {e['signer_name']} ({e['role']}, {e['meaning']}): "
            f"{e['detail']}",
            markup=False,
        )


@schema_app.command("import-line")
def schema_import_line() -> None:
    """Print the JSON Schema (2020-12) of one line of an `import` file.

    Example: trial-ledger schema import-line > import-line.schema.json
    """
    typer.echo(import_line_schema_text(), nl=False)


def register(app: typer.Typer) -> None:
    for name, command in (
        ("screen", screen),
        ("eligibility", eligibility),
        ("consent", consent),
        ("enrol", enrol),
        ("dose", dose),
        ("missed-dose", missed_dose),
        ("lab", lab),
        ("assess", assess),
        ("progression", progression),
        ("advance", advance),
        ("stop-treatment", stop_treatment),
        ("ae", ae),
        ("ae-resolve", ae_resolve),
        ("follow-up", follow_up),
        ("withdraw", withdraw),
        ("off-study", off_study),
        ("death", death),
        ("correct", correct),
        ("sign", sign),
        ("import", import_file),
        ("log", log),
    ):
        app.command(name)(command)
    app.add_typer(schema_app, name="schema")
