"""Response categories, the rule ids of the response table, and the assessment models.

:class:`Measurement` is what one disease assessment measured; :class:`DerivedResponse` the
category :func:`~ledger.protocol.response.derivation.derive_response` derives from it;
:class:`ConfirmedResponse` what a run of assessments confirms
(:mod:`ledger.protocol.response.confirmation`).
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum

from pydantic import BaseModel, ConfigDict

from ledger.protocol.parameters import NonNegativeDecimal, Percent


class Category(StrEnum):
    """Response categories, declared best (CR) to worst (PD)."""

    CR = "CR"
    VGPR = "VGPR"
    PR = "PR"
    MR = "MR"
    SD = "SD"
    PD = "PD"

    @property
    def rank(self) -> int:
        """0 for CR (best) up to 5 for PD (worst)."""
        return list(Category).index(self)

    def is_better_than(self, other: Category) -> bool:
        """True when ``self`` is a strictly better response than ``other``."""
        return self.rank < other.rank


def best(*categories: Category) -> Category:
    """The best of the given categories (CR best)."""
    return min(categories, key=lambda c: c.rank)


def worst(*categories: Category) -> Category:
    """The worst of the given categories (PD worst): "the lowest category wins"."""
    return max(categories, key=lambda c: c.rank)


RESPONSE_RULE_IDS = frozenset(
    {
        "RESP-CR",
        "RESP-VGPR-SERUM",
        "RESP-VGPR-URINE",
        "RESP-PR-SERUM",
        "RESP-PR-URINE",
        "RESP-MR-SERUM",
        "RESP-MR-URINE",
        "RESP-MR-BONE",
        "RESP-SD",
        "RESP-LOWEST-WINS",
        "RESP-MISSING-DROP",
        "RESP-NOT-MEASURABLE",
        "RESP-PD-SERUM",
        "RESP-PD-URINE",
        "RESP-PD-MARROW",
        "RESP-PD-BONE",
        "RESP-PD-PLASMACYTOMA",
        "RESP-PD-CALCIUM",
    }
)
CONFIRMATION_RULE_IDS = frozenset(
    {"CONF-CONSECUTIVE", "CONF-MAINTAINED", "CONF-PD", "CONF-PD-SINGLE"}
)
RULE_IDS = RESPONSE_RULE_IDS | CONFIRMATION_RULE_IDS


class Measurement(BaseModel):
    """One disease assessment. ``None`` means not measured at that assessment.

    ``plasmacytoma``: a soft-tissue plasmacytoma is present. ``new_bone_lesions``: new or
    growing lytic lesions. ``hypercalcaemia``: hypercalcaemia attributed to myeloma.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    assessed_on: date
    serum_m_protein_g_dl: NonNegativeDecimal | None = None
    urine_m_protein_mg_24h: NonNegativeDecimal | None = None
    serum_ife_negative: bool | None = None
    urine_ife_negative: bool | None = None
    marrow_plasma_cells_pct: Percent | None = None
    plasmacytoma: bool | None = None
    new_bone_lesions: bool | None = None
    hypercalcaemia: bool | None = None


class DerivedResponse(BaseModel):
    """The rule-derived category of one assessment, with the rules and values that gave it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    amendment: str
    assessed_on: date
    category: Category
    rule_ids: tuple[str, ...]
    values_used: dict[str, str]
    reasons: tuple[str, ...]


class ConfirmedResponse(BaseModel):
    """A category confirmed by consecutive assessments (IMWG 2006; EBMT 1998 maintenance).

    ``first_on`` is the first assessment of the confirming run (for PD: the date of
    progression); ``confirmed_on`` the last.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    category: Category
    first_on: date
    confirmed_on: date
    rule_ids: tuple[str, ...]
    reason: str
