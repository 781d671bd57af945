"""The ledger as its users meet it: create, register sites and keys, append signed commits,
checkpoint.

Every append is authorised against the key registry as it stands at the head (the same rule
``verify`` applies afterwards), then handed to the recorder, which re-checks the registry
version inside the insert transaction, chains and signs. Nothing is written on any refusal.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from uuid import uuid4

from ledger.chain import CommitRecord
from ledger.errors import (
    AuthorisationError,
    ConcurrencyError,
    NotFoundError,
    UsageError,
    ValidationError,
    VerificationError,
)
from ledger.events import (
    MEANINGS,
    REGISTRY_TOPICS,
    KeyRegistered,
    KeyRevoked,
    KeyRotated,
    LedgerEvent,
    PersonKey,
    SiteRegistered,
    SubjectEvent,
    SubjectScreened,
    TrialCreated,
    site_of,
    trial_stream_id,
)
from ledger.integrity.checkpoint import Checkpoint, sign_checkpoint
from ledger.integrity.signing import Signer
from ledger.registry import KeyRegistry
from ledger.store import CommitSeal, LedgerReader, LedgerStore, check_new_store, save_checkpoint
from ledger.store.location import StoreTarget
from ledger.verify import TRIAL_ID, checkpoint_origin, proved_registry, verify_ledger

TRIAL_TITLE = (
    "Anakinra With or Without Dexamethasone in Treating Patients With Smoldering or Indolent "
    "Multiple Myeloma"
)
TRIAL_STREAM = trial_stream_id(TRIAL_ID)
AT_HEAD = 2**62  # a position after every stored one: "as the registry stands now"


def person_key(
    signer_public: bytes,
    key_id: str,
    printed_name: str,
    role: str,
    site: str,
    expires_on: date | None = None,
) -> PersonKey:
    return PersonKey.model_validate(
        {
            "key_id": key_id,
            "public_key": base64.b64encode(signer_public).decode(),
            "printed_name": printed_name,
            "role": role,
            "site": site,
            "expires_on": expires_on,
        }
    )


def site_registered(
    site: str, label: str, reason: str, effective_date: date, version: int = 1
) -> SiteRegistered:
    """A ``SiteRegistered`` event at trial-stream ``version`` (pydantic refuses a malformed site
    code, label or reason, naming the field, the value and the rule)."""
    return SiteRegistered.model_validate(
        {
            "originator_id": TRIAL_STREAM,
            "originator_version": version,
            "site": site,
            "label": label,
            "reason": reason,
            "effective_date": effective_date,
        }
    )


def check_expiry(expires_on: date | None, effective_date: date, field: str = "expires_on") -> None:
    """A key's last signing day is not before the day it is registered (its effective date)."""
    if expires_on is not None and expires_on < effective_date:
        raise ValidationError(
            field,
            expires_on.isoformat(),
            "a key's expiry (its last signing day) may not be before the day it is registered "
            f"({effective_date.isoformat()})",
        )


class TrialLedger:
    """One ledger file: the write side (``store``) and a read-only view (``reader``)."""

    def __init__(self, db_path: StoreTarget) -> None:
        self.target = db_path
        """Where the ledger is stored: its file, or its PostgreSQL database."""
        self.reader = LedgerReader(db_path)
        self.store = LedgerStore(db_path)
        self._registry: KeyRegistry | None = None

    # ------------------------------------------------------------------ lifecycle

    @classmethod
    def create(
        cls,
        db_path: StoreTarget,
        *,
        sponsor: Signer,
        sponsor_name: str,
        ledger_public: bytes,
        ledger_key_id: str,
        protocol_amendment: str,
        effective_date: date,
        ledger_id: str | None = None,
    ) -> TrialLedger:
        """Create the file, write the ledger id and the signed genesis event.

        ``ledger_id`` defaults to a random UUID; the demo derives it from its seed so that the
        same seed gives the same ledger content (the same leaves and Merkle root)."""
        create = check_new_store(db_path)
        ledger_id = ledger_id or str(uuid4())
        store = LedgerStore(db_path, create=create)
        try:
            genesis = TrialCreated(
                originator_id=TRIAL_STREAM,
                originator_version=1,
                ledger_id=ledger_id,  # type: ignore[arg-type]
                title=TRIAL_TITLE,
                protocol_amendment=protocol_amendment,
                sponsor=person_key(
                    sponsor.public_key, sponsor.key_id, sponsor_name, "sponsor", "*"
                ),
                ledger_key_id=ledger_key_id,
                ledger_public_key=base64.b64encode(ledger_public).decode(),
                effective_date=effective_date,
            )
            store.append(
                [genesis],
                CommitSeal(signer=sponsor, meaning="responsibility"),
                new_ledger_id=ledger_id,
            )
        finally:
            store.close()
        return cls(db_path)

    @classmethod
    def open(cls, db_path: StoreTarget) -> TrialLedger:
        ledger = cls(db_path)
        if ledger.reader.meta("ledger_id") is None:
            ledger.close()
            raise UsageError(f"--db {db_path}: not an initialised trial ledger")
        return ledger

    @property
    def db_path(self) -> Path:
        """The ledger file (a PostgreSQL ledger has none: refused)."""
        return self.reader.file_path

    def close(self) -> None:
        self.store.close()
        self.reader.close()

    def __enter__(self) -> TrialLedger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ registry

    def registry(self, *, cached: bool = False) -> KeyRegistry:
        """The key registry as it stands at the head, each event re-proved with its commit
        (re-folded only when it has changed).

        ``cached``: skip the change check; for appends, whose recorder re-checks the registry
        version inside the insert transaction anyway.
        """
        if cached and self._registry is not None:
            return self._registry
        version = self.reader.stream_version(TRIAL_STREAM.hex)
        if self._registry is not None and self._registry.version == version:
            return self._registry
        with self.reader.snapshot():
            registry = proved_registry(self.reader)
        self._registry = registry
        return registry

    @property
    def ledger_id(self) -> str:
        return self.reader.meta("ledger_id") or ""

    def _registry_event_base(self, registry: KeyRegistry) -> dict[str, object]:
        return {"originator_id": TRIAL_STREAM, "originator_version": registry.version + 1}

    def register_site(
        self, sponsor: Signer, site: str, label: str, reason: str, effective_date: date
    ) -> CommitRecord:
        """Add a site to the trial's registry (once): from then on keys may be registered for
        it and subjects screened at it. Not dated after today or before the trial's creation."""
        registry = self.registry()
        event = site_registered(site, label, reason, effective_date, registry.version + 1)
        if effective_date > today():
            raise ValidationError(
                "effective_date",
                effective_date.isoformat(),
                f"a site is not registered ahead of time: no date after today ({today()})",
            )
        if registry.trial is not None and effective_date < registry.trial.effective_date:
            raise ValidationError(
                "effective_date",
                effective_date.isoformat(),
                "a site is registered on or after the trial's creation "
                f"({registry.trial.effective_date.isoformat()})",
            )
        registry.check_registry_event(event)
        return self.append(sponsor, [event], registry=registry)

    def register_key(
        self, sponsor: Signer, key: PersonKey, reason: str, effective_date: date
    ) -> CommitRecord:
        """Add a person's key: once, for a registered site (or ``*`` for a role that is not
        site-bound), expiring no earlier than ``effective_date``."""
        registry = self.registry()
        if key.key_id in registry.keys:
            raise UsageError(f"key {key.key_id} is already registered; a key is registered once")
        check_expiry(key.expires_on, effective_date)
        event = KeyRegistered(
            **self._registry_event_base(registry),  # type: ignore[arg-type]
            key=key,
            reason=reason,
            effective_date=effective_date,
        )
        registry.check_registry_event(event)
        return self.append(sponsor, [event], registry=registry)

    def rotate_key(
        self, sponsor: Signer, old_key_id: str, new_key: PersonKey, reason: str, on: date
    ) -> CommitRecord:
        registry = self.registry()
        old = registry.keys.get(old_key_id)
        if old is None:
            raise NotFoundError(f"key {old_key_id} is not registered")
        if old.retired_at is not None:
            raise UsageError(f"key {old.describe()} was already {old.retired_by}")
        if new_key.key_id in registry.keys:
            raise UsageError(f"key {new_key.key_id} is already registered")
        if (new_key.printed_name, new_key.role, new_key.site) != (
            old.key.printed_name,
            old.key.role,
            old.key.site,
        ):
            raise UsageError("a rotated key keeps the person's printed name, role and site")
        event = KeyRotated(
            **self._registry_event_base(registry),  # type: ignore[arg-type]
            old_key_id=old_key_id,
            new_key=new_key,
            reason=reason,
            effective_date=on,
        )
        registry.check_registry_event(event)
        return self.append(sponsor, [event], registry=registry)

    def revoke_key(self, sponsor: Signer, key_id: str, reason: str, on: date) -> CommitRecord:
        registry = self.registry()
        old = registry.keys.get(key_id)
        if old is None:
            raise NotFoundError(f"key {key_id} is not registered")
        if old.retired_at is not None:
            raise UsageError(f"key {old.describe()} was already {old.retired_by}")
        if old.key.role == "sponsor" and key_id == sponsor.key_id:
            raise UsageError("the sponsor cannot revoke the key it signs with")
        event = KeyRevoked(
            **self._registry_event_base(registry),  # type: ignore[arg-type]
            key_id=key_id,
            reason=reason,
            effective_date=on,
        )
        return self.append(sponsor, [event], registry=registry)

    # ------------------------------------------------------------------ append

    def subject_site(self, event: LedgerEvent) -> str | None:
        if isinstance(event, SubjectScreened):
            return event.site
        if isinstance(event, SubjectEvent):
            return site_of(event.subject_id)
        return None

    def append(
        self,
        signer: Signer,
        events: Sequence[LedgerEvent],
        *,
        meaning: str = "authorship",
        registry: KeyRegistry | None = None,
    ) -> CommitRecord:
        """Authorise ``signer`` for every event, then store them as one signed commit.

        Authorisation uses the registry as last read; if it changed since, the recorder refuses
        inside the transaction and the append is re-authorised once against the fresh registry.
        """
        if registry is not None:
            return self._append(signer, events, meaning, registry)
        try:
            return self._append(signer, events, meaning, self.registry(cached=True))
        except (ConcurrencyError, AuthorisationError):
            # The cached registry may be behind the ledger (another process registered or
            # revoked a key): decide again on the registry as it stands now.
            return self._append(signer, events, meaning, self.registry())

    def _append(
        self,
        signer: Signer,
        events: Sequence[LedgerEvent],
        meaning: str,
        registry: KeyRegistry,
    ) -> CommitRecord:
        if meaning not in MEANINGS:
            raise ValidationError(
                "meaning", meaning, f"a signature means one of {', '.join(MEANINGS)}"
            )
        registered = registry.signer(signer.key_id, AT_HEAD, datetime.now(UTC).date())
        if registered.public_raw != signer.public_key:
            raise AuthorisationError(
                f"the key file's public key does not match registered key {signer.key_id}"
            )
        for event in events:
            registry.check_may_record(registered, event.TOPIC, self.subject_site(event))
            if event.TOPIC in REGISTRY_TOPICS and event.originator_id != TRIAL_STREAM:
                raise UsageError("key registry events belong to the trial stream")
        seal = CommitSeal(
            signer=signer,
            meaning=meaning,
            registry_stream=TRIAL_STREAM,
            registry_version=registry.version,
            registry=registry,
        )
        return self.store.append(events, seal)

    # ------------------------------------------------------------------ checkpoints

    def checkpoint(self, ledger_signer: Signer, state_dir: Path | None = None) -> str:
        """Verify the ledger, then sign and keep a checkpoint of exactly what was verified.

        The verification is a full pass from position 1 (nothing kept in the file is taken on
        trust), or incremental from ``state_dir`` if the signer keeps verifier state there. It
        and the tree head come from one read snapshot, so an append racing the checkpoint is
        simply not in it.
        """
        registry = self.registry()
        if registry.trial is None:
            raise UsageError("the ledger has no TrialCreated event")
        if ledger_signer.key_id != registry.trial.ledger_key_id:
            raise AuthorisationError(
                f"checkpoints are signed by the ledger key {registry.trial.ledger_key_id}, "
                f"not {ledger_signer.key_id}"
            )
        with self.reader.snapshot():
            report = verify_ledger(self.reader, state_dir=state_dir)
        failure = report.first_failure
        if failure is not None or report.frontier is None:
            where = failure.position if failure else "?"
            why = failure.reason if failure else "no tree was computed"
            raise VerificationError(
                f"refusing to sign a checkpoint over a ledger that fails verification at "
                f"position {where}: {why}"
            )
        frontier = report.frontier
        cp = Checkpoint(
            origin=checkpoint_origin(str(registry.trial.ledger_id)),
            tree_size=frontier.size,
            root=frontier.root(),
            time=datetime.now(UTC).replace(microsecond=0),
        )
        note = sign_checkpoint(cp, cp.origin, ledger_signer)
        save_checkpoint(self.target, cp.tree_size, note, json.dumps(frontier.to_json()))
        return note


def today() -> date:
    return datetime.now(UTC).date()
