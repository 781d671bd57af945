"""One root for every error the ledger raises.

Each error says what was expected and what was found, so that the CLI can print it as it is and
exit non-zero without a traceback (``cli.main`` catches :class:`LedgerError`).
"""

from __future__ import annotations


class LedgerError(Exception):
    """Root of all trial-ledger errors. ``exit_code`` is what the CLI exits with."""

    exit_code = 2

    def diagnostics(self) -> str:
        """A one-paragraph explanation suitable for printing to a user."""
        return str(self)


class UsageError(LedgerError):
    """The caller asked for something that cannot be done as asked (bad path, bad option)."""


class ValidationError(LedgerError):
    """Input refused before anything was written: names the field, the value and the rule."""

    def __init__(self, field: str, value: object, rule: str) -> None:
        self.field = field
        self.value = value
        self.rule = rule
        super().__init__(f"{field}={value!r} refused: {rule}")


class RuleViolation(LedgerError):
    """A protocol rule refuses the command (eligibility, schedule, subject status)."""


class NotFoundError(LedgerError):
    """A subject, event, key or file that was named does not exist."""


class ConcurrencyError(LedgerError):
    """Someone else appended to the same record at the same time; nothing was written."""


class KeyFileError(LedgerError):
    """A private or public key file is missing, unreadable, too permissive or wrongly locked."""


class AuthorisationError(LedgerError):
    """The signing key may not record this event (unregistered, revoked, expired, role, site)."""


class CanonicalEncodingError(LedgerError):
    """A value has no RFC 8785 canonical form (NaN, infinity, lone surrogate, non-str key)."""


class VerificationError(LedgerError):
    """Integrity failure: the ledger, a bundle, a proof or a checkpoint does not verify."""

    exit_code = 1


class ProofError(VerificationError):
    """An RFC 9162 inclusion or consistency proof does not verify."""


class CheckpointError(VerificationError):
    """A signed checkpoint is malformed, wrongly signed, or not extended by the ledger."""


class SignatureError(VerificationError):
    """An Ed25519 signature does not verify with the named public key."""
