"""Roles, signature meanings and identifiers (ASCII digits only), and the stream ids derived
from them."""

from __future__ import annotations

import re
from typing import Annotated, Literal
from uuid import UUID, uuid5

from pydantic import StringConstraints

Role = Literal[
    "sponsor", "investigator", "coordinator", "monitor", "data-manager", "auditor", "consumer"
]
ROLES: tuple[Role, ...] = (
    "sponsor",
    "investigator",
    "coordinator",
    "monitor",
    "data-manager",
    "auditor",
    "consumer",
)
"""``consumer``: a downstream system (statistics, safety, a warehouse) that reads the served
ledger and records nothing."""
SITE_BOUND_ROLES: frozenset[str] = frozenset({"investigator", "coordinator"})
Meaning = Literal["authorship", "review", "approval", "responsibility"]
MEANINGS: tuple[Meaning, ...] = ("authorship", "review", "approval", "responsibility")

SUBJECT_ID_PATTERN = r"^MC0282-[0-9]{3}-[0-9]{3}$"
"""A pseudonymous subject id: ``MC0282-<site>-<number>``, ASCII digits only."""
SITE_PATTERN = r"^[0-9]{3}$"
"""A trial site's code (``001``), ASCII digits only."""
ALL_SITES = "*"
"""The site of a key that may sign for every site (sponsor, monitor, data manager, auditor)."""
AE_ID_PATTERN = r"^AE-[0-9]{3,}$"
_SUBJECT_ID = re.compile(SUBJECT_ID_PATTERN)

SubjectId = Annotated[str, StringConstraints(pattern=SUBJECT_ID_PATTERN)]
Site = Annotated[str, StringConstraints(pattern=SITE_PATTERN)]
SiteCode = Annotated[str, StringConstraints(pattern=r"^([0-9]{3}|\*)$")]
"""A site code, or :data:`ALL_SITES` (the site of a key that signs for every site)."""
AeId = Annotated[str, StringConstraints(pattern=AE_ID_PATTERN)]
KeyId = Annotated[str, StringConstraints(pattern=r"^ed25519:[0-9a-f]{32}$")]

PublicKeyB64 = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9+/]{43}=$")]

SUBJECT_NAMESPACE = UUID("5b0c7c4e-2a51-4f55-9d59-2f3d7f1f0a28")
TRIAL_NAMESPACE = UUID("a1d4e0f2-6c1b-4f7e-8d02-3c9b8e0b7d11")


def subject_stream_id(subject_id: str) -> UUID:
    """The originator id of a subject's stream: stable, derived from the pseudonymous id."""
    return uuid5(SUBJECT_NAMESPACE, subject_id)


def trial_stream_id(trial_id: str) -> UUID:
    """The originator id of the trial stream (trial record and key registry)."""
    return uuid5(TRIAL_NAMESPACE, trial_id)


def is_subject_id(value: str) -> bool:
    """Whether ``value`` is a subject id (whole string, ASCII digits; no trailing newline)."""
    return _SUBJECT_ID.fullmatch(value) is not None


def site_of(subject_id: str) -> str:
    """The site code embedded in a subject id (``MC0282-001-017`` -> ``001``)."""
    return subject_id.split("-")[1]
