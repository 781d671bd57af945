"""What an audit row says an event records (``what``) and why (``why``), from its payload."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from ledger.events import event_name
from projections.decoding import Payload

Get = Callable[[str], Any]
"""A payload's ``get``: the member, or None when absent."""


def _key_line(g: Get, prefix: str) -> str:
    key = g("key") or g("new_key") or {}
    return (
        f"{prefix}{key.get('key_id')} for {key.get('printed_name')} "
        f"({key.get('role')}, site {key.get('site')})"
    )


def _trial_created(g: Get) -> str:
    return (
        f"trial {g('trial_id')} created ({g('title')}); protocol {g('protocol_amendment')}; "
        f"sponsor key {(g('sponsor') or {}).get('key_id')}"
    )


_WHAT: dict[str, Callable[[Get], str]] = {
    "TrialCreated": _trial_created,
    "KeyRegistered": lambda g: _key_line(g, "key "),
    "KeyRotated": lambda g: _key_line(g, f"key {g('old_key_id')} rotated to "),
    "KeyRevoked": lambda g: f"key {g('key_id')} revoked",
    "SiteRegistered": lambda g: f"site {g('site')} registered ({g('label')})",
    "SubjectScreened": lambda g: (
        f"screened at site {g('site')}: age {g('age_years')}, sex {g('sex')}"
    ),
    "EligibilityAssessed": lambda g: (
        f"{'eligible' if g('eligible') else 'not eligible'}: "
        f"{sum(1 for c in g('criteria') or () if c.get('passed'))}/"
        f"{len(g('criteria') or ())} criteria passed ({g('protocol_amendment')})"
    ),
    "ConsentObtained": lambda g: f"consent version {g('consent_version')}",
    "SubjectEnrolled": lambda g: (
        f"enrolled at site {g('site')}; treatment start {g('treatment_start')}; "
        f"protocol {g('protocol_amendment')}"
    ),
    "DoseAdministered": lambda g: f"{g('drug')} {g('dose')} {g('unit')} {g('route')}",
    "DoseMissed": lambda g: f"{g('drug')} dose {'held' if g('held') else 'missed'}",
    "LabResulted": lambda g: f"{g('analyte')} {g('value')} {g('unit')}",
    "ResponseAssessed": lambda g: (
        f"month {g('protocol_month')}: investigator {g('investigator_category')}, derived "
        f"{g('derived_category')}"
        + (" (disagree)" if g("investigator_category") != g("derived_category") else "")
    ),
    "ProgressionConfirmed": lambda g: f"progression confirmed ({', '.join(g('rule_ids') or ())})",
    "RegimenChanged": lambda g: (
        f"regimen {g('from_regimen')} -> {g('to_regimen')} ({g('rule_id')})"
    ),
    "AdverseEventReported": lambda g: (
        f"{g('ae_id')} {g('term')} grade {g('grade')}, {g('attribution')}"
        + (", serious" if g("serious") else "")
        + f"; action {g('action_taken')}"
    ),
    "AdverseEventResolved": lambda g: f"{g('ae_id')} resolved: {g('outcome')}",
    "FollowUpVisit": lambda g: f"follow-up visit: {g('disease_status')}",
    "SubjectWithdrawn": lambda g: (
        "withdrawn" + (" (consent withdrawn)" if g("consent_withdrawn") else "")
    ),
    "SubjectOffStudy": lambda g: "off study",
    "SubjectDied": lambda g: "died",
    "CorrectionRecorded": lambda g: (
        f"correction of position {g('corrects_position')} "
        f"({event_name(str(g('corrected_topic')))}): {g('field')}"
    ),
    "RecordSigned": lambda g: (
        f"{g('meaning')} of position(s) {', '.join(str(x) for x in g('positions') or ())}"
    ),
}
"""One line per event type; any other type is shown as its payload (canonical JSON)."""


def what(name: str, p: Payload) -> str:
    """One line saying what the event records."""
    make = _WHAT.get(name)
    if make is None:
        return json.dumps(p, sort_keys=True, ensure_ascii=False)
    return make(p.get)


def why(p: Payload) -> str | None:
    for name in ("reason", "cause", "basis", "statement"):
        value = p.get(name)
        if value:
            return str(value)
    for nested in ("deviation", "waiver"):
        value = p.get(nested)
        if isinstance(value, dict) and value.get("reason"):
            return f"{value.get('rule_id')}: {value['reason']}"
    return None
