"""The trial's registry: its sites and who may sign what, folded from the trial stream.

The registry is itself a chain of signed events rooted in the sponsor's key: ``TrialCreated``
(position 1) names the sponsor's key and the ledger's checkpoint key and is signed by that
sponsor key; every ``SiteRegistered``/``KeyRegistered``/``KeyRotated``/``KeyRevoked`` after it
must be signed by a sponsor key that is valid at that position. The writer and the verifier use
this one fold, so what the product refuses and what ``verify`` flags are the same rule (21 CFR
11.10(d), 11.100).

Sites come from the trial's own registry: a site is registered once (``SiteRegistered``); a key
names a registered site, or ``*`` (all sites) for a role that is not site-bound; a subject is
recorded only at a registered site (:meth:`KeyRegistry.check_may_record`,
:meth:`KeyRegistry.check_registry_event`).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from datetime import date
from functools import cached_property

from ledger.errors import AuthorisationError, ValidationError
from ledger.events import (
    ALL_SITES,
    ROLES,
    ROLES_BY_TOPIC,
    SITE_BOUND_ROLES,
    KeyRegistered,
    KeyRevoked,
    KeyRotated,
    LedgerEvent,
    PersonKey,
    SiteRegistered,
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


@dataclass(frozen=True)
class RegisteredSite:
    site: str
    label: str
    registered_at: int
    reason: str
    effective_date: date

    def describe(self) -> str:
        return f"site {self.site} ({self.label}, registered at position {self.registered_at})"


@dataclass
class KeyRegistry:
    """Registry state at some position. ``apply`` folds one trial-stream event into it."""

    trial: TrialCreated | None = None
    keys: dict[str, RegisteredKey] = field(default_factory=dict)
    sites: dict[str, RegisteredSite] = field(default_factory=dict)
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
        elif isinstance(event, SiteRegistered) and event.site not in self.sites:
            # A second registration of a site is refused at write time and flagged by verify;
            # the fold keeps the first.
            self.sites[event.site] = RegisteredSite(
                event.site, event.label, position, event.reason, event.effective_date
            )

    def _registered_sites(self) -> str:
        return ", ".join(sorted(self.sites)) or "none"

    def check_site(self, site: str, what: str) -> None:
        """Refuse ``site`` unless the trial's registry holds it (``what``: what is recorded)."""
        if site not in self.sites:
            raise AuthorisationError(
                f"site={site!r} refused: {what} is recorded only for a subject of a site in "
                "this trial's registry (SiteRegistered, signed by the sponsor); registered "
                f"sites: {self._registered_sites()}"
            )

    def check_key_site(self, key: PersonKey) -> None:
        """A key names a registered site, or ``*`` (all sites) when its role is not site-bound."""
        if key.site == ALL_SITES:
            if key.role in SITE_BOUND_ROLES:
                everywhere = ", ".join(r for r in ROLES if r not in SITE_BOUND_ROLES)
                raise ValidationError(
                    "site",
                    key.site,
                    f"the key of a site-bound role ({key.role}) signs for one registered site; "
                    f"* (all sites) is for {everywhere} keys",
                )
            return
        if key.site not in self.sites:
            raise ValidationError(
                "site",
                key.site,
                "a key is registered for a site of this trial's registry (SiteRegistered, "
                f"signed by the sponsor) or * for all sites; registered sites: "
                f"{self._registered_sites()}",
            )

    def check_registry_event(self, event: LedgerEvent) -> None:
        """The rules a registry event must meet against the registry as it stands before it:
        a site is registered once; a registered or rotated-in key names a registered site."""
        if isinstance(event, SiteRegistered) and event.site in self.sites:
            raise ValidationError(
                "site",
                event.site,
                f"a site is registered once; {self.sites[event.site].describe()}",
            )
        if isinstance(event, KeyRegistered):
            self.check_key_site(event.key)
        elif isinstance(event, KeyRotated):
            self.check_key_site(event.new_key)

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

    def check_may_record(
        self,
        registered: RegisteredKey,
        topic: str,
        subject_site: str | None,
        event: LedgerEvent | None = None,
    ) -> None:
        """Role and site rule of one event type for one key: the role may record it, a subject's
        site is registered and, for a site-bound role, is the key's own site. Given the
        ``event`` of a registry topic, its :meth:`check_registry_event` rules too."""
        allowed = ROLES_BY_TOPIC.get(topic)
        if allowed is None:
            raise AuthorisationError(f"event topic {topic!r} is not part of this ledger's schema")
        role = registered.key.role
        if role not in allowed:
            raise AuthorisationError(
                f"role {role!r} of {registered.key.printed_name} ({registered.key.key_id}) may not "
                f"record {event_name(topic)}; allowed roles: {', '.join(sorted(allowed))}"
            )
        if subject_site is not None:
            self.check_site(subject_site, event_name(topic))
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
        if event is not None:
            self.check_registry_event(event)
