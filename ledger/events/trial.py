"""The trial stream: the trial itself (genesis) and the registry of its sites and keys."""

from __future__ import annotations

from datetime import date
from typing import ClassVar, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict

from ledger.events.base import LedgerEvent
from ledger.events.identifiers import KeyId, PublicKeyB64, Role, Site, SiteCode
from ledger.events.text import PrintedName, Reason, ShortText


class PersonKey(BaseModel):
    """A registered person's public key and what it entitles them to sign."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    key_id: KeyId
    public_key: PublicKeyB64
    printed_name: PrintedName
    role: Role
    site: SiteCode
    expires_on: date | None = None


class TrialCreated(LedgerEvent):
    """Genesis: the trial, its ledger id and the sponsor's root key (self-certifying)."""

    TOPIC: ClassVar[str] = "trial.TrialCreated.v1"
    RECORDED_BY: ClassVar[frozenset[str]] = frozenset({"sponsor"})

    trial_id: Literal["NCT00635154"] = "NCT00635154"
    protocol_id: Literal["MC0282"] = "MC0282"
    ledger_id: UUID
    title: ShortText
    protocol_amendment: ShortText
    sponsor: PersonKey
    ledger_key_id: KeyId
    ledger_public_key: PublicKeyB64
    effective_date: date


class KeyRegistered(LedgerEvent):
    """A person's key joins the registry; it may sign from the next position on."""

    TOPIC: ClassVar[str] = "trial.KeyRegistered.v1"
    RECORDED_BY: ClassVar[frozenset[str]] = frozenset({"sponsor"})

    key: PersonKey
    reason: Reason
    effective_date: date


class KeyRotated(LedgerEvent):
    """A person's old key is retired and a new one takes over the same name, role and site."""

    TOPIC: ClassVar[str] = "trial.KeyRotated.v1"
    RECORDED_BY: ClassVar[frozenset[str]] = frozenset({"sponsor"})

    old_key_id: KeyId
    new_key: PersonKey
    reason: Reason
    effective_date: date


class SiteRegistered(LedgerEvent):
    """A trial site joins the registry; from the next position on, keys may be registered for
    it and subjects screened at it. ``label`` is a neutral, pseudonymous name ("Site 004"):
    the ledger needs no institution's name. A site is registered once."""

    TOPIC: ClassVar[str] = "trial.SiteRegistered.v1"
    RECORDED_BY: ClassVar[frozenset[str]] = frozenset({"sponsor"})

    site: Site
    label: ShortText
    reason: Reason
    effective_date: date


class KeyRevoked(LedgerEvent):
    """A key may sign nothing after this position (e.g. compromised, person left the trial)."""

    TOPIC: ClassVar[str] = "trial.KeyRevoked.v1"
    RECORDED_BY: ClassVar[frozenset[str]] = frozenset({"sponsor"})

    key_id: KeyId
    reason: Reason
    effective_date: date
