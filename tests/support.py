"""Test support: a cast of synthetic trial staff and event builders."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from ledger.events import DoseAdministered, SubjectScreened, subject_stream_id
from ledger.integrity.signing import Signer, generate_private_key
from ledger.service import TrialLedger, person_key
from ledger.store.location import StoreTarget

GENESIS_DATE = date(2002, 11, 1)


@dataclass(frozen=True)
class Cast:
    sponsor: Signer
    ledger_key: Signer
    investigator: Signer
    coordinator: Signer
    coordinator_site2: Signer
    monitor: Signer
    auditor: Signer


def new_signer() -> Signer:
    return Signer(generate_private_key())


SITES: tuple[str, ...] = ("001", "002", "003")
"""The trial's sites in test ledgers: registered before any key is registered for them."""


def register_sites(ledger: TrialLedger, sponsor: Signer, sites: tuple[str, ...] = SITES) -> None:
    """Register ``sites`` in the trial's registry, as ``trial-ledger sites add`` does."""
    for site in sites:
        ledger.register_site(sponsor, site, f"Site {site}", "site activated", GENESIS_DATE)


def register_cast(ledger: TrialLedger, cast: Cast) -> None:
    """The trial's sites, then the cast's keys."""
    register_sites(ledger, cast.sponsor)
    staff = [
        (cast.investigator, "Dr. Ada Investigator", "investigator", "001"),
        (cast.coordinator, "Cole Coordinator", "coordinator", "001"),
        (cast.coordinator_site2, "Sita Coordinator", "coordinator", "002"),
        (cast.monitor, "Mona Monitor", "monitor", "*"),
        (cast.auditor, "Aud Auditor", "auditor", "*"),
    ]
    for signer, name, role, site in staff:
        key = person_key(signer.public_key, signer.key_id, name, role, site)
        ledger.register_key(cast.sponsor, key, "trial staff", GENESIS_DATE)


def screening(subject_id: str, version: int = 1, site: str = "001") -> SubjectScreened:
    return SubjectScreened(
        originator_id=subject_stream_id(subject_id),
        originator_version=version,
        subject_id=subject_id,
        effective_date=date(2003, 1, 6),
        site=site,
        age_years=61,
        sex="F",
    )


def dose(subject_id: str, version: int, day: int = 0) -> DoseAdministered:
    return DoseAdministered(
        originator_id=subject_stream_id(subject_id),
        originator_version=version,
        subject_id=subject_id,
        effective_date=date(2003, 2, 1 + day % 28),
        drug="anakinra",
        dose=Decimal("100"),
        unit="mg",
        route="SC",
    )


def append_doses(
    ledger: TrialLedger, signer: Signer, subject_id: str, count: int, start_version: int = 2
) -> None:
    """Append ``count`` doses of one subject in commits of up to 3 events."""
    version = start_version
    while count > 0:
        batch = [dose(subject_id, version + i, version + i) for i in range(min(3, count))]
        ledger.append(signer, batch)
        version += len(batch)
        count -= len(batch)


def create_ledger(
    db: StoreTarget, cast: Cast, *, staff: bool = True, ledger_key: Signer | None = None
) -> TrialLedger:
    """A new test ledger rooted in the cast's sponsor key (the cast's ledger key signs its
    checkpoints unless ``ledger_key`` is given); ``staff``: the sites and the cast registered."""
    checkpoints = ledger_key or cast.ledger_key
    ledger = TrialLedger.create(
        db,
        sponsor=cast.sponsor,
        sponsor_name="Sponsor Office",
        ledger_public=checkpoints.public_key,
        ledger_key_id=checkpoints.key_id,
        protocol_amendment="MC0282-original",
        effective_date=GENESIS_DATE,
    )
    if staff:
        register_cast(ledger, cast)
    return ledger
