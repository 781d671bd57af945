"""Sites come from the trial's own registry: keys and subjects at registered sites only.

Refused at write time (nothing is written) and flagged by ``verify`` when a store holds them
anyway (appended here straight through the store, bypassing the service's checks, as a rogue
writer would).
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError as PydanticValidationError

from ledger.errors import AuthorisationError, UsageError, ValidationError
from ledger.events import (
    KeyRegistered,
    KeyRotated,
    PersonKey,
    SiteRegistered,
)
from ledger.recording import TrialRecorder
from ledger.registry import KeyRegistry
from ledger.service import TRIAL_STREAM, TrialLedger, person_key, site_registered, today
from ledger.store import CommitSeal, LedgerReader
from ledger.verify import verify_ledger
from projections.audit import AuditFilter, audit_trail
from projections.engine import ProjectionEngine
from tests.domain.trial_helpers import screen_command
from tests.support import GENESIS_DATE, SITES, Cast, create_ledger, new_signer, screening


def size(ledger: TrialLedger) -> int:
    return ledger.reader.size()


def first_failure(db: Path) -> tuple[int, str]:
    with LedgerReader(db) as reader:
        report = verify_ledger(reader)
    assert not report.ok
    assert report.first_failure is not None
    return report.first_failure.position, report.first_failure.reason


def registry_event(ledger: TrialLedger, **fields: object) -> dict[str, object]:
    version = ledger.registry().version + 1
    return {"originator_id": TRIAL_STREAM, "originator_version": version, **fields}


# --------------------------------------------------------------------------- the site registry


def test_refuses_a_site_registered_with_non_ascii_digits() -> None:
    with pytest.raises(PydanticValidationError, match="String should match pattern"):
        site_registered("00\u0664", "Site 004", "site activated", GENESIS_DATE)


def test_the_registry_folds_the_registered_sites(ledger: TrialLedger) -> None:
    sites = ledger.registry().sites
    assert sorted(sites) == list(SITES)
    assert (sites["002"].label, sites["002"].effective_date) == ("Site 002", GENESIS_DATE)
    assert sites["001"].registered_at == 2


def test_a_registered_site_accepts_keys_and_screenings(ledger: TrialLedger, cast: Cast) -> None:
    ledger.register_site(cast.sponsor, "004", "Site 004", "fourth site activated", GENESIS_DATE)
    coordinator = new_signer()
    key = person_key(
        coordinator.public_key, coordinator.key_id, "Noor Coordinator", "coordinator", "004"
    )
    ledger.register_key(cast.sponsor, key, "site 004 staff", GENESIS_DATE)
    ledger.append(coordinator, [screening("MC0282-004-001", site="004")])
    report = verify_ledger(ledger.reader)
    assert report.ok, report.first_failure


def test_refuses_registering_a_site_twice(ledger: TrialLedger, cast: Cast) -> None:
    before = size(ledger)
    with pytest.raises(ValidationError, match=r"site='001' refused: a site is registered once"):
        ledger.register_site(cast.sponsor, "001", "Site 001 again", "re-activated", GENESIS_DATE)
    assert size(ledger) == before


def test_refuses_a_site_dated_after_today_or_before_the_trial(
    ledger: TrialLedger, cast: Cast
) -> None:
    before = size(ledger)
    tomorrow = today() + timedelta(days=1)
    with pytest.raises(ValidationError, match=r"effective_date=.* refused: .*no date after today"):
        ledger.register_site(cast.sponsor, "004", "Site 004", "activated early", tomorrow)
    with pytest.raises(ValidationError, match=r"effective_date=.* refused: .*trial's creation"):
        ledger.register_site(cast.sponsor, "004", "Site 004", "activated", date(2002, 10, 31))
    assert size(ledger) == before


def test_only_the_sponsor_registers_a_site(ledger: TrialLedger, cast: Cast) -> None:
    before = size(ledger)
    with pytest.raises(AuthorisationError, match="may not record SiteRegistered"):
        ledger.register_site(cast.monitor, "004", "Site 004", "fourth site", GENESIS_DATE)
    assert size(ledger) == before


def test_refuses_key_for_unregistered_site(ledger: TrialLedger, cast: Cast) -> None:
    before = size(ledger)
    newcomer = new_signer()
    key = person_key(newcomer.public_key, newcomer.key_id, "Nia Newcomer", "coordinator", "999")
    with pytest.raises(
        ValidationError,
        match=r"site='999' refused: a key is registered for a site of this trial's registry"
        r".*registered sites: 001, 002, 003",
    ):
        ledger.register_key(cast.sponsor, key, "new staff", GENESIS_DATE)
    assert size(ledger) == before


@pytest.mark.parametrize("role", ["investigator", "coordinator"])
def test_refuses_an_all_sites_key_for_a_site_bound_role(
    ledger: TrialLedger, cast: Cast, role: str
) -> None:
    before = size(ledger)
    newcomer = new_signer()
    key = person_key(newcomer.public_key, newcomer.key_id, "Nia Newcomer", role, "*")
    with pytest.raises(
        ValidationError, match=rf"site='\*' refused: the key of a site-bound role \({role}\)"
    ):
        ledger.register_key(cast.sponsor, key, "new staff", GENESIS_DATE)
    assert size(ledger) == before


@pytest.mark.parametrize("role", ["sponsor", "monitor", "data-manager", "auditor"])
def test_an_all_sites_key_stays_allowed_for_roles_not_bound_to_a_site(
    ledger: TrialLedger, cast: Cast, role: str
) -> None:
    newcomer = new_signer()
    key = person_key(newcomer.public_key, newcomer.key_id, "Nia Newcomer", role, "*")
    ledger.register_key(cast.sponsor, key, "new staff", GENESIS_DATE)
    assert ledger.registry().keys[newcomer.key_id].key.site == "*"


def test_refuses_rotating_in_a_key_for_an_unregistered_site() -> None:
    """A key of a site that was never registered (a ledger from before the site registry)
    cannot be carried on by rotation."""
    signer = new_signer()
    rotated = KeyRotated(
        originator_id=TRIAL_STREAM,
        originator_version=2,
        old_key_id="ed25519:" + "0" * 32,
        new_key=person_key(signer.public_key, signer.key_id, "Nia Newcomer", "coordinator", "005"),
        reason="scheduled rotation",
        effective_date=GENESIS_DATE,
    )
    with pytest.raises(ValidationError, match=r"site='005' refused: .*registered sites: none"):
        KeyRegistry().check_registry_event(rotated)


def test_refuses_screening_at_an_unregistered_site(recorder: TrialRecorder, cast: Cast) -> None:
    before = size(recorder.ledger)
    with pytest.raises(
        AuthorisationError,
        match=r"site='004' refused: SubjectScreened is recorded only for a subject of a site in "
        r"this trial's registry .*registered sites: 001, 002, 003",
    ):
        recorder.record(
            cast.coordinator,
            screen_command("MC0282-004-001", site="004"),
        )
    assert size(recorder.ledger) == before


def test_refuses_a_key_expiring_before_its_registration(ledger: TrialLedger, cast: Cast) -> None:
    before = size(ledger)
    newcomer = new_signer()
    key = person_key(
        newcomer.public_key, newcomer.key_id, "Tim Temporary", "coordinator", "001",
        date(2003, 1, 31),
    )  # fmt: skip
    with pytest.raises(
        ValidationError,
        match=r"expires_on='2003-01-31' refused: a key's expiry .* may not be before the day it "
        r"is registered \(2003-02-01\)",
    ):
        ledger.register_key(cast.sponsor, key, "cover for February", date(2003, 2, 1))
    assert size(ledger) == before
    ledger.register_key(cast.sponsor, key, "cover for the last day of January", date(2003, 1, 31))
    assert ledger.registry().keys[newcomer.key_id].key.expires_on == date(2003, 1, 31)


def test_a_key_is_still_registered_once(ledger: TrialLedger, cast: Cast) -> None:
    key = ledger.registry().keys[cast.coordinator.key_id].key
    with pytest.raises(UsageError, match="a key is registered once"):
        ledger.register_key(cast.sponsor, key, "again", GENESIS_DATE)


# --------------------------------------------------------------------------- verify flags


def test_verify_flags_screening_at_unregistered_site(ledger: TrialLedger, cast: Cast) -> None:
    head = size(ledger)
    ledger.store.append(
        [screening("MC0282-004-001", site="004")], CommitSeal(signer=cast.coordinator)
    )
    position, reason = first_failure(ledger.db_path)
    assert position == head + 1
    assert "site='004' refused: SubjectScreened is recorded only for a subject of a site" in reason
    assert "registered sites: 001, 002, 003" in reason


def test_verify_flags_a_key_registered_for_an_unregistered_site(
    ledger: TrialLedger, cast: Cast
) -> None:
    head = size(ledger)
    rogue = new_signer()
    key = person_key(rogue.public_key, rogue.key_id, "Rex Rogue", "coordinator", "999")
    forged = KeyRegistered.model_validate(
        registry_event(ledger, key=key, reason="new staff", effective_date=GENESIS_DATE)
    )
    ledger.store.append([forged], CommitSeal(signer=cast.sponsor))
    position, reason = first_failure(ledger.db_path)
    assert position == head + 1
    assert "site='999' refused: a key is registered for a site of this trial's registry" in reason


def test_verify_flags_a_site_registered_twice(ledger: TrialLedger, cast: Cast) -> None:
    head = size(ledger)
    again = SiteRegistered.model_validate(
        registry_event(
            ledger, site="002", label="Site 002", reason="again", effective_date=GENESIS_DATE
        )
    )
    ledger.store.append([again], CommitSeal(signer=cast.sponsor))
    position, reason = first_failure(ledger.db_path)
    assert position == head + 1
    assert "site='002' refused: a site is registered once; site 002 (Site 002, registered" in reason
    assert "at position 3)" in reason


def test_verify_flags_a_site_registered_by_someone_not_the_sponsor(
    ledger: TrialLedger, cast: Cast
) -> None:
    head = size(ledger)
    forged = site_registered(
        "004", "Site 004", "activated", GENESIS_DATE, ledger.registry().version + 1
    )
    ledger.store.append([forged], CommitSeal(signer=cast.monitor))
    position, reason = first_failure(ledger.db_path)
    assert position == head + 1
    assert "role 'monitor'" in reason
    assert "may not record SiteRegistered" in reason


def test_a_ledger_without_site_registrations_is_flagged_at_its_first_key(
    db_path: Path, cast: Cast
) -> None:
    """A ledger written before sites were registered does not verify: its keys name sites the
    trial's registry does not hold."""
    with create_ledger(db_path, cast, staff=False) as ledger:
        key = person_key(
            cast.coordinator.public_key, cast.coordinator.key_id, "Cole Coordinator",
            "coordinator", "001",
        )  # fmt: skip
        forged = KeyRegistered.model_validate(
            registry_event(ledger, key=key, reason="staff", effective_date=GENESIS_DATE)
        )
        ledger.store.append([forged], CommitSeal(signer=cast.sponsor))
    position, reason = first_failure(db_path)
    assert position == 2
    assert "site='001' refused" in reason
    assert "registered sites: none" in reason


# --------------------------------------------------------------------------- audit trail


def test_the_audit_trail_shows_each_site_registration(ledger: TrialLedger, tmp_path: Path) -> None:
    engine = ProjectionEngine(ledger.reader, tmp_path / "views.sqlite")
    engine.catch_up()
    conn = engine.connect()
    try:
        rows = list(audit_trail(conn, ledger.reader, AuditFilter(event_type="SiteRegistered")))
    finally:
        conn.close()
    assert [(r["position"], r["what"], r["why"], r["role"]) for r in rows] == [
        (2, "site 001 registered (Site 001)", "site activated", "sponsor"),
        (3, "site 002 registered (Site 002)", "site activated", "sponsor"),
        (4, "site 003 registered (Site 003)", "site activated", "sponsor"),
    ]
    assert all(r["clinical_date"] == GENESIS_DATE.isoformat() for r in rows)


def test_refuses_a_key_site_that_is_not_three_digits_or_all_sites() -> None:
    with pytest.raises(PydanticValidationError, match="String should match pattern"):
        PersonKey.model_validate(
            {
                "key_id": "ed25519:" + "0" * 32,
                "public_key": "A" * 43 + "=",
                "printed_name": "Dr. Ada Lee",
                "role": "investigator",
                "site": "1",
            }
        )
