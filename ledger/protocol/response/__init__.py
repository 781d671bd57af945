"""Rule-derived myeloma response: IMWG 2006 uniform criteria with EBMT 1998 minimal response.

* :mod:`~ledger.protocol.response.categories`: the categories (CR best to PD worst), the rule
  ids, and the models of an assessment (:class:`Measurement`), of its derived category
  (:class:`DerivedResponse`) and of a confirmed one (:class:`ConfirmedResponse`);
* :mod:`~ledger.protocol.response.derivation`: :func:`derive_response`, the category of one
  assessment from the baseline, the earlier assessments and this one (how the response table
  is read, rule by rule, is in that module's docstring);
* :mod:`~ledger.protocol.response.confirmation`: what runs of consecutive assessments confirm
  (:func:`confirmation_runs`), the first confirmed progression and the best confirmed
  response.

Every name is importable from here as well.
"""

from __future__ import annotations

from ledger.protocol.response.categories import (
    CONFIRMATION_RULE_IDS,
    RESPONSE_RULE_IDS,
    RULE_IDS,
    Category,
    ConfirmedResponse,
    DerivedResponse,
    Measurement,
    best,
    worst,
)
from ledger.protocol.response.confirmation import (
    best_confirmed_response,
    confirmation_runs,
    confirmed_alone,
    confirmed_category,
    first_progression,
)
from ledger.protocol.response.derivation import derive_response

__all__ = [
    "CONFIRMATION_RULE_IDS",
    "RESPONSE_RULE_IDS",
    "RULE_IDS",
    "Category",
    "ConfirmedResponse",
    "DerivedResponse",
    "Measurement",
    "best",
    "best_confirmed_response",
    "confirmation_runs",
    "confirmed_alone",
    "confirmed_category",
    "derive_response",
    "first_progression",
    "worst",
]
