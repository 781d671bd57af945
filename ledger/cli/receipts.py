"""What a recording command prints: the events it wrote, who signed them, as text or JSON."""

from __future__ import annotations

from typing import Any

from ledger.chain import CommitHeader
from ledger.cli.common import console, emit_json
from ledger.events import event_name
from ledger.recording import Recorded
from ledger.registry import KeyRegistry
from ledger.service import TrialLedger


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


def signer_of(registry: KeyRegistry, header: CommitHeader) -> tuple[str, str]:
    known = registry.keys.get(header.signer)
    return (known.key.printed_name, known.key.role) if known else (header.signer, "?")


def print_recorded(ledger: TrialLedger, recorded: Recorded, json_out: bool) -> None:
    header = recorded.commit.header
    name, role = signer_of(ledger.registry(), header)
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
