"""What an append is signed with (:class:`CommitSeal`), and the refusal of one without.

A commit is signed by the recorder with the caller's key (``CommitSeal.signer``), or it was
signed beforehand on the caller's own machine (``CommitSeal.presigned``: a served ledger's
recording commands, where the server never holds a person's private key). A pre-signed commit
is stored only if the header the recorder computes from the head it actually extends is
byte-identical to the header that was signed (:func:`check_presigned_head`,
:func:`presigned_signature`); otherwise nothing is written.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID

from ledger.chain import CommitHeader
from ledger.errors import ConcurrencyError, LedgerError, UsageError
from ledger.integrity.signing import Signer, verify_signature
from ledger.registry import KeyRegistry

PRESIGNED_MAX_AGE_S = 120.0
"""A pre-signed commit's ``recorded_at`` is at most this old when it is stored."""
PRESIGNED_MAX_AHEAD_S = 5.0
"""... and at most this far ahead of the recorder's clock (recorded times are the server's)."""


class UnsignedAppendError(LedgerError):
    """An append reached the recorder without a signer: refused, nothing stored."""


class HeadMovedError(ConcurrencyError):
    """Another commit landed after a pre-signed commit was prepared: nothing was written; the
    caller prepares it again on the new head (and the rules decide again)."""


class PresignedMismatchError(UsageError):
    """A pre-signed header that the events, the clock or the signature do not bear out."""


@dataclass(frozen=True)
class PresignedHeader:
    """A commit header signed by its signer elsewhere, the signature over ``header.to_bytes()``
    and the signer's registered public key (the recorder checks the signature again)."""

    header: CommitHeader
    signature: bytes
    public_key: bytes


@dataclass(frozen=True)
class CommitSeal:
    """Who signs a commit and what the signature means.

    ``signer``: the key the recorder signs the header with; None when the commit is
    ``presigned`` (then the header's signer and meaning are the pre-signed ones).

    ``registry_stream``/``registry_version``: the key registry as the caller checked it; the
    recorder re-reads its version inside the insert transaction and refuses the commit if a key
    was registered, rotated or revoked in between (so authorisation is never checked against a
    stale registry).

    ``registry``: the registry itself, with which the recorder re-proves the signature of the
    tip commit it extends. Without one (the library's own recorder tests) the tip's events,
    links and root are still re-proved, but not who signed it.
    """

    signer: Signer | None
    meaning: str = "authorship"
    registry_stream: UUID | None = None
    registry_version: int | None = None
    registry: KeyRegistry | None = None
    presigned: PresignedHeader | None = None

    @property
    def key_id(self) -> str:
        """The key id the commit header names."""
        if self.presigned is not None:
            return self.presigned.header.signer
        if self.signer is None:
            raise UnsignedAppendError("a seal needs a signer or a pre-signed header")
        return self.signer.key_id

    @property
    def signed_meaning(self) -> str:
        return self.presigned.header.meaning if self.presigned is not None else self.meaning

    def sign(self, header: CommitHeader) -> bytes:
        """The signature over ``header``: made now, or the pre-signed one if ``header`` is
        byte for byte what was signed."""
        if self.presigned is not None:
            return presigned_signature(self.presigned, header)
        if self.signer is None:
            raise UnsignedAppendError("a seal needs a signer or a pre-signed header")
        return self.signer.sign(header.to_bytes())


def check_presigned_head(
    presigned: PresignedHeader,
    *,
    seq: int,
    last_position: int,
    prev: bytes,
    last_recorded: str | None,
    now: datetime | None = None,
) -> str:
    """Refuse a pre-signed commit before anything is written unless it extends exactly the
    head found under the write lock (:class:`HeadMovedError`) and its ``recorded_at`` is not
    before the head's, at most :data:`PRESIGNED_MAX_AGE_S` old and not ahead of the clock;
    returns that ``recorded_at``."""
    h = presigned.header
    if (h.seq, h.first_position, h.prev_leaf) != (seq, last_position + 1, prev):
        raise HeadMovedError(
            f"the ledger's head moved since this commit was prepared (it was to be commit "
            f"{h.seq} from position {h.first_position}; the head is now commit {seq - 1} at "
            f"position {last_position}); nothing was written, prepare it again"
        )
    try:
        recorded = datetime.fromisoformat(h.recorded_at.removesuffix("Z")).replace(tzinfo=UTC)
    except ValueError:
        raise PresignedMismatchError(
            f"recorded_at {h.recorded_at!r} refused: expected an RFC 3339 UTC time"
        ) from None
    age = ((now or datetime.now(UTC)) - recorded).total_seconds()
    if last_recorded is not None and h.recorded_at < last_recorded:
        raise PresignedMismatchError(
            f"recorded_at {h.recorded_at} refused: recorded times never run backwards (the "
            f"head was recorded at {last_recorded}); nothing was written"
        )
    if age > PRESIGNED_MAX_AGE_S or age < -PRESIGNED_MAX_AHEAD_S:
        raise PresignedMismatchError(
            f"recorded_at {h.recorded_at} refused: a pre-signed commit is stored within "
            f"{PRESIGNED_MAX_AGE_S:.0f} s of its recorded time ({age:.1f} s now); nothing "
            "was written, prepare it again"
        )
    return h.recorded_at


def presigned_signature(presigned: PresignedHeader, header: CommitHeader) -> bytes:
    """The pre-signed signature, if ``header`` (computed by the recorder from the head and the
    events it is inserting) is byte-identical to the one signed and the signature verifies
    over it under the signer's registered key."""
    signed = presigned.header.to_bytes()
    computed = header.to_bytes()
    if computed != signed:
        raise PresignedMismatchError(
            f"the commit the recorder computed ({computed.decode()}) is not the commit that "
            f"was signed ({signed.decode()}); nothing was written"
        )
    try:
        verify_signature(presigned.public_key, computed, presigned.signature)
    except LedgerError:
        raise PresignedMismatchError(
            f"the signature of commit {header.seq} does not verify under the key of "
            f"{header.signer}; nothing was written"
        ) from None
    return presigned.signature
