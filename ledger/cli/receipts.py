"""What a recording command prints: the events it wrote, who signed them, as text or JSON."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ledger.chain import CommitHeader
from ledger.cli.common import console, emit_json
from ledger.events import event_name
from ledger.recording import Recorded
from ledger.registry import KeyRegistry
from ledger.service import TrialLedger

Payload = dict[str, Any]


def _subject_screened(p: Payload) -> str:
    return f"site {p['site']}, age {p['age_years']}, sex {p['sex']}"


def _eligibility_assessed(p: Payload) -> str:
    failing = [c["criterion_id"] for c in p["criteria"] if not c["passed"]]
    return "eligible" if p["eligible"] else "NOT eligible: " + ", ".join(failing)


def _consent_obtained(p: Payload) -> str:
    return f"consent version {p['consent_version']}"


def _subject_enrolled(p: Payload) -> str:
    waiver = p.get("waiver")
    waived = f"; WAIVER {waiver['rule_id']}: {waiver['reason']}" if waiver else ""
    return f"site {p['site']}, treatment from {p['treatment_start']}{waived}"


def _dose_administered(p: Payload) -> str:
    deviation = p.get("deviation")
    dev = f"; DEVIATION {deviation['rule_id']}: {deviation['reason']}" if deviation else ""
    return f"{p['drug']} {p['dose']} {p['unit']} {p['route']}{dev}"


def _dose_missed(p: Payload) -> str:
    return f"{p['drug']} {'held' if p['held'] else 'missed'}: {p['reason']}"


def _lab_resulted(p: Payload) -> str:
    return f"{p['analyte']} {p['value']} {p['unit']}"


def _response_assessed(p: Payload) -> str:
    flag = "" if p["agrees"] else " (DIFFERS)"
    return (
        f"month {p['protocol_month']}: investigator {p['investigator_category']}, "
        f"rules {p['derived_category']}{flag}"
    )


def _progression_confirmed(p: Payload) -> str:
    deviation = p.get("deviation")
    dev = f"; DEVIATION {deviation['rule_id']}" if deviation else ""
    return f"{', '.join(p['rule_ids'])}: {p['basis']}{dev}"


def _regimen_changed(p: Payload) -> str:
    decided = f", decided {p['decided_on']}" if p.get("decided_on") else ""
    return f"{p['from_regimen']} -> {p['to_regimen']} [{p['rule_id']}{decided}]"


def _adverse_event_reported(p: Payload) -> str:
    serious = f", SERIOUS ({', '.join(p['seriousness_criteria'])})" if p["serious"] else ""
    return (
        f"{p['ae_id']} {p['term']}, grade {p['grade']}, {p['attribution']}, "
        f"action {p['action_taken']}{serious}"
    )


def _adverse_event_resolved(p: Payload) -> str:
    return f"{p['ae_id']} {p['outcome']}"


def _follow_up_visit(p: Payload) -> str:
    return str(p["disease_status"]) + (f": {p['note']}" if p.get("note") else "")


def _subject_withdrawn(p: Payload) -> str:
    what = "consent withdrawn" if p["consent_withdrawn"] else "withdrawn from treatment"
    return f"{what}: {p['reason']}"


def _subject_off_study(p: Payload) -> str:
    return str(p["reason"])


def _subject_died(p: Payload) -> str:
    return str(p["cause"])


def _correction_recorded(p: Payload) -> str:
    return (
        f"corrects position {p['corrects_position']} {p['field']}: "
        f"{p['old_value']!r} -> {p['new_value']!r} ({p['reason']})"
    )


def _record_signed(p: Payload) -> str:
    positions = ", ".join(str(x) for x in p["positions"])
    return f"{p['meaning']} of positions {positions}: {p['statement']}"


def _key_registered(p: Payload) -> str:
    key = p.get("key") or p["new_key"]
    return f"{key['printed_name']} ({key['role']}, site {key['site']})"


def _key_revoked(p: Payload) -> str:
    return f"{p['key_id']}: {p['reason']}"


def _trial_created(p: Payload) -> str:
    return f"{p['trial_id']} ({p['protocol_amendment']})"


def _site_registered(p: Payload) -> str:
    return f"site {p['site']} ({p['label']}): {p['reason']}"


_DESCRIBE: dict[str, Callable[[Payload], str]] = {
    "SiteRegistered": _site_registered,
    "SubjectScreened": _subject_screened,
    "EligibilityAssessed": _eligibility_assessed,
    "ConsentObtained": _consent_obtained,
    "SubjectEnrolled": _subject_enrolled,
    "DoseAdministered": _dose_administered,
    "DoseMissed": _dose_missed,
    "LabResulted": _lab_resulted,
    "ResponseAssessed": _response_assessed,
    "ProgressionConfirmed": _progression_confirmed,
    "RegimenChanged": _regimen_changed,
    "AdverseEventReported": _adverse_event_reported,
    "AdverseEventResolved": _adverse_event_resolved,
    "FollowUpVisit": _follow_up_visit,
    "SubjectWithdrawn": _subject_withdrawn,
    "SubjectOffStudy": _subject_off_study,
    "SubjectDied": _subject_died,
    "CorrectionRecorded": _correction_recorded,
    "RecordSigned": _record_signed,
    "KeyRegistered": _key_registered,
    "KeyRotated": _key_registered,
    "KeyRevoked": _key_revoked,
    "TrialCreated": _trial_created,
}


def describe(topic: str, p: Payload) -> str:
    """A one-line summary of an event's payload, for people reading ``log`` and receipts."""
    found = _DESCRIBE.get(event_name(topic))
    return found(p) if found is not None else ""


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
