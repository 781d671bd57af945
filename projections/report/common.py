"""What the ``patient`` JSON shares between its parts: the subject's amendment and formatting."""

from __future__ import annotations

from datetime import date
from decimal import ROUND_HALF_EVEN, Decimal

from ledger.errors import ValidationError
from ledger.protocol.parameters import MC0282_ORIGINAL, ProtocolParameters, parameters_for
from ledger.subject.history import SubjectHistory

_CENT = Decimal("0.01")


def params_of(h: SubjectHistory) -> ProtocolParameters:
    """The subject's protocol amendment (the original protocol before enrolment)."""
    amendment = h.enrolment.protocol_amendment if h.enrolment else None
    if amendment is None and h.eligibility is not None:
        amendment = h.eligibility.protocol_amendment
    if amendment:
        try:
            return parameters_for(amendment)
        except ValidationError:
            pass
    return MC0282_ORIGINAL


def _iso(value: date | None) -> str | None:
    return value.isoformat() if value else None


def percent_change(reference: Decimal | None, current: Decimal | None) -> str | None:
    """(current - reference) / reference in percent, rounded half-even to 0.01, as a string."""
    if reference is None or current is None or reference == 0:
        return None
    return str(((current - reference) * 100 / reference).quantize(_CENT, ROUND_HALF_EVEN))
