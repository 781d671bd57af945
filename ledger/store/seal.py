"""What an append is signed with (:class:`CommitSeal`), and the refusal of one without."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from ledger.errors import LedgerError
from ledger.integrity.signing import Signer
from ledger.registry import KeyRegistry


class UnsignedAppendError(LedgerError):
    """An append reached the recorder without a signer: refused, nothing stored."""


@dataclass(frozen=True)
class CommitSeal:
    """Who signs a commit and what the signature means.

    ``registry_stream``/``registry_version``: the key registry as the caller checked it; the
    recorder re-reads its version inside the insert transaction and refuses the commit if a key
    was registered, rotated or revoked in between (so authorisation is never checked against a
    stale registry).

    ``registry``: the registry itself, with which the recorder re-proves the signature of the
    tip commit it extends. Without one (the library's own recorder tests) the tip's events,
    links and root are still re-proved, but not who signed it.
    """

    signer: Signer
    meaning: str = "authorship"
    registry_stream: UUID | None = None
    registry_version: int | None = None
    registry: KeyRegistry | None = None
