"""The key registry: who may sign what, folded from the signed events of the trial stream.

The registry is itself a chain of signed events rooted in the sponsor's key: ``TrialCreated``
(position 1) names the sponsor's key and the ledger's checkpoint key and is signed by that
sponsor key; every ``KeyRegistered``/``KeyRotated``/``KeyRevoked`` after it must be signed by a
sponsor key that is valid at that position. The writer and the verifier use this one fold, so
what the product refuses and what ``verify`` flags are the same rule (21 CFR 11.10(d), 11.100).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from datetime import date
from functools import cached_property

from ledger.errors import AuthorisationError
from ledger.events import (
    ROLES_BY_TOPIC,
    SITE_BOUND_ROLES,
    KeyRegistered,
    KeyRevoked,
    KeyRotated,
    LedgerEvent,
    PersonKey,
    TrialCreated,
    event_name,
)


@dataclass
class RegisteredKey:
    key: PersonKey
    registered_at: int
    retired_at: int | None = None
    retired_by: str | None = None  # "rotated" or "revoked"
    retired_reason: str | None = None

    @cached_property
    def public_raw(self) -> bytes:
        return base64.b64decode(self.key.public_key)

    def describe(self) -> str:
        return f"{self.key.key_id} ({self.key.printed_name}, {self.key.role}, site {self.key.site})"


@dataclass
class KeyRegistry:
    """Registry state at some position. ``apply`` folds one trial-stream event into it."""

    trial: TrialCreated | None = None
    keys: dict[str, RegisteredKey] = field(default_factory=dict)
    version: int = 0

    @property
    def ledger_public_raw(self) -> bytes:
        if self.trial is None:
            raise AuthorisationError(
                "the ledger has no TrialCreated event: it was never initialised"
            )
        return base64.b64decode(self.trial.ledger_public_key)

    def apply(self, event: LedgerEvent, position: int) -> None:
        self.version = event.originator_version
        if isinstance(event, TrialCreated):
            self.trial = event
            self.keys[event.sponsor.key_id] = RegisteredKey(event.sponsor, position)
        elif isinstance(event, KeyRegistered):
            self.keys[event.key.key_id] = RegisteredKey(event.key, position)
        elif isinstance(event, KeyRotated):
            old = self.keys.get(event.old_key_id)
            if old is not None and old.retired_at is None:
                old.retired_at, old.retired_by, old.retired_reason = (
                    position,
                    "rotated",
                    event.reason,
                )
            self.keys[event.new_key.key_id] = RegisteredKey(event.new_key, position)
        elif isinstance(event, KeyRevoked):
            revoked = self.keys.get(event.key_id)
            if revoked is not None and revoked.retired_at is None:
                revoked.retired_at = position
                revoked.retired_by = "revoked"
                revoked.retired_reason = event.reason

    def signer(self, key_id: str, position: int, on: date) -> RegisteredKey:
        """The registered key ``key_id`` if it may sign at ``position`` (recorded on ``on``)."""
        registered = self.keys.get(key_id)
        if registered is None or registered.registered_at >= position:
            raise AuthorisationError(
                f"key {key_id} is not registered in this ledger's key registry"
            )
        if registered.retired_at is not None and registered.retired_at < position:
            how = registered.retired_by or "retired"
            # Writers ask "as the registry stands now" with a position past every stored one
            # (ledger.service.AT_HEAD, 2**62): no person should read that number.
            where = (
                "a new commit at the head of the ledger"
                if position >= 2**62
                else f"at position {position}"
            )
            raise AuthorisationError(
                f"key {registered.describe()} was {how} at position {registered.retired_at} "
                f"({registered.retired_reason}); it may not sign {where}"
            )
        expires = registered.key.expires_on
        if expires is not None and on > expires:
            raise AuthorisationError(
                f"key {registered.describe()} expired on {expires.isoformat()}; "
                f"it may not sign on {on.isoformat()}"
            )
        return registered

    @staticmethod
    def check_may_record(registered: RegisteredKey, topic: str, subject_site: str | None) -> None:
        """Role and site rule of one event type for one key."""
        allowed = ROLES_BY_TOPIC.get(topic)
        if allowed is None:
            raise AuthorisationError(f"event topic {topic!r} is not part of this ledger's schema")
        role = registered.key.role
        if role not in allowed:
            raise AuthorisationError(
                f"role {role!r} of {registered.key.printed_name} ({registered.key.key_id}) may not "
                f"record {event_name(topic)}; allowed roles: {', '.join(sorted(allowed))}"
            )
        if (
            role in SITE_BOUND_ROLES
            and subject_site is not None
            and registered.key.site != subject_site
        ):
            raise AuthorisationError(
                f"{registered.key.printed_name} ({role}, site {registered.key.site}) "
                "may not record "
                f"{event_name(topic)} for a subject of site {subject_site}"
            )
