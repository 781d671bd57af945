"""Short-lived tokens, obtained by a signed request, for what cannot sign each request (the
monitor's browser, a long-running feed).

A token is 32 random bytes (base64url, 43 characters). The server keeps only its SHA-256, in
memory: a restart ends every token, and a copy of the server's memory does not give one. A
token lives ``ServerConfig.token_lifetime`` seconds; each use re-checks its key in the
registry as it stands (a key revoked or expired since is refused from the next request on).
Its id (the first 16 hex digits of that SHA-256) names it in the log of reads, with the
signature of the request that obtained it.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

TOKEN_BYTES = 32
TOKEN_COOKIE = "trial_ledger_token"  # noqa: S105 - the cookie's name, not a secret


@dataclass(frozen=True)
class IssuedToken:
    """What the server remembers of one token (never the token itself)."""

    token_id: str
    key_id: str
    expires_at: float
    obtained_by: str
    """The ``Signature-Input`` and ``Signature`` of the signed request that obtained it."""


def digest(token: str) -> str:
    return hashlib.sha256(token.encode("ascii", "replace")).hexdigest()


class TokenStore:
    """The live tokens, by the SHA-256 of each (``clock``: seconds since the epoch)."""

    def __init__(self, lifetime: int, clock: Callable[[], float] = time.time) -> None:
        self.lifetime = lifetime
        self.clock = clock
        self._tokens: dict[str, IssuedToken] = {}
        self._lock = threading.Lock()

    def issue(self, key_id: str, obtained_by: str) -> tuple[str, IssuedToken]:
        token = base64.urlsafe_b64encode(secrets.token_bytes(TOKEN_BYTES)).rstrip(b"=").decode()
        hashed = digest(token)
        issued = IssuedToken(hashed[:16], key_id, self.clock() + self.lifetime, obtained_by)
        with self._lock:
            now = self.clock()
            self._tokens = {h: t for h, t in self._tokens.items() if t.expires_at > now}
            self._tokens[hashed] = issued
        return token, issued

    def find(self, token: str) -> tuple[IssuedToken | None, str]:
        """The token's record, or None and why (unknown, expired)."""
        hashed = digest(token)
        with self._lock:
            issued = self._tokens.get(hashed)
            if issued is None:
                return None, "unknown token (never issued, ended, or issued before a restart)"
            if issued.expires_at <= self.clock():
                del self._tokens[hashed]
                return None, f"token {issued.token_id} expired"
        return issued, ""

    def end(self, token: str) -> IssuedToken | None:
        with self._lock:
            return self._tokens.pop(digest(token), None)

    def clear(self) -> None:
        with self._lock:
            self._tokens.clear()
