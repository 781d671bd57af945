"""Verifying a request signed per RFC 9421 (HTTP Message Signatures) with a registered key.

A request is taken as its signer's only if its signature (the ``Signature-Input`` and
``Signature`` member whose ``tag`` is ``trial-ledger``):

* covers ``@method``, ``@authority``, ``@target-uri`` and, when the request has a body,
  ``content-digest``; the ``Content-Digest`` (RFC 9530, sha-256 or sha-512) matches the body;
* has ``alg`` ed25519 (if given), a ``keyid`` the key registry lets sign today (registered, not
  rotated or revoked, not past its ``expires_on``), ``created`` within ``signature_max_age``
  seconds of now (either way: clock skew), ``expires`` not passed, and a ``nonce``;
* verifies with that key (http-message-signatures' ``HTTPMessageVerifier``), and its nonce was
  not seen in the window (a replayed request is refused; a nonce is remembered until its
  signature could no longer be accepted anyway).

Each refusal is a 401 problem naming the component or parameter, the key id and the rule.
"""

from __future__ import annotations

import threading
import time
from collections.abc import MutableMapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import http_sf
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from http_message_signatures import HTTPMessageVerifier, InvalidSignature, MappingKeyResolver
from http_message_signatures.algorithms import ED25519
from starlette.requests import Request

from ledger.errors import AuthorisationError
from ledger.registry import KeyRegistry, RegisteredKey
from ledger.server.problems import ProblemError

TAG = "trial-ledger"
REQUIRED = ("@method", "@authority", "@target-uri")
DIGEST = "content-digest"
ACCEPT_SIGNATURE = (
    'trial-ledger=("@method" "@authority" "@target-uri" "content-digest");'
    'alg="ed25519";tag="trial-ledger"'
)
"""What the server asks for (RFC 9421 §5.1 ``Accept-Signature``), sent with every 401."""


def refused(detail: str, *, field: str | None = None, value: str | None = None) -> ProblemError:
    """A 401 problem (the request is not taken as anyone's)."""
    return ProblemError(
        401,
        "unauthenticated",
        detail,
        headers={
            "WWW-Authenticate": 'Bearer realm="trial-ledger"',
            "Accept-Signature": ACCEPT_SIGNATURE,
        },
        field=field,
        value=value,
    )


@dataclass(frozen=True)
class RequestView:
    """A received request as the signature verifier reads it: the target URI as sent (the raw
    path, not its decoded form), the method and the header lines."""

    method: str
    url: str
    headers: Any

    @classmethod
    def of(cls, request: Request) -> RequestView:
        scope = request.scope
        raw = scope.get("raw_path") or scope["path"].encode()
        path = raw.decode("latin-1").split("?", 1)[0] or "/"
        query = scope.get("query_string", b"").decode("latin-1")
        host = request.headers.get("host") or _server_authority(scope)
        url = f"{scope.get('scheme', 'http')}://{host}{path}" + (f"?{query}" if query else "")
        return cls(request.method, url, request.headers)


def _server_authority(scope: MutableMapping[str, Any]) -> str:
    server = scope.get("server") or ("localhost", 80)
    return f"{server[0]}:{server[1]}"


class NonceCache:
    """Nonces of accepted signatures, each kept until its signature would be refused as too
    old: a second request with the same nonce is a replay."""

    def __init__(self) -> None:
        self._seen: dict[str, float] = {}
        self._lock = threading.Lock()

    def claim(self, key_id: str, nonce: str, keep_until: float, now: float) -> bool:
        """Whether ``nonce`` of ``key_id`` is new (it is then remembered until ``keep_until``)."""
        name = f"{key_id} {nonce}"
        with self._lock:
            if len(self._seen) > 1024:
                self._seen = {k: t for k, t in self._seen.items() if t >= now}
            seen = self._seen.get(name)
            if seen is not None and seen >= now:
                return False
            self._seen[name] = keep_until
            return True


@dataclass(frozen=True)
class VerifiedSignature:
    """A signature that proves the request came from ``key``."""

    key: RegisteredKey
    nonce: str
    evidence: str
    """``@method``, ``@target-uri``, ``Signature-Input`` and ``Signature`` as received, one
    ``name: value`` line each (with the reader's public key, enough to re-verify a request
    without a body)."""


def _parse(headers: Any, name: str) -> dict[str, Any]:
    value = headers.get(name)
    if value is None:
        raise refused(
            f"request not signed: no {name} header (sign every request with your registered "
            "key per RFC 9421, or send a token obtained by a signed request)",
            field=name,
        )
    try:
        parsed = http_sf.parse(value.encode("latin-1"), tltype="dictionary")
    except (ValueError, TypeError, UnicodeEncodeError):
        raise refused(f"{name} refused: not an RFC 8941 dictionary", field=name) from None
    if not isinstance(parsed, dict):
        raise refused(f"{name} refused: not an RFC 8941 dictionary", field=name)
    return parsed


def _ours(headers: Any) -> tuple[str, list[str], dict[str, Any]]:
    """The label, covered components and parameters of the signature tagged ``trial-ledger``."""
    inputs = _parse(headers, "Signature-Input")
    _parse(headers, "Signature")
    for label, (member, params) in inputs.items():
        if isinstance(member, list) and params.get("tag") == TAG:
            return label, [str(item) for item, _ in member], dict(params)
    raise refused(
        f'Signature-Input refused: no signature with tag="{TAG}" (every request to this ledger '
        "is signed with that tag)",
        field="Signature-Input",
        value=headers.get("Signature-Input"),
    )


def _check_params(
    params: dict[str, Any], covered: list[str], body: bytes, now: float, max_age: int
) -> str:
    key_id = params.get("keyid")
    if not isinstance(key_id, str):
        raise refused(
            "Signature-Input refused: no keyid parameter (the registered key id)", field="keyid"
        )
    who = f"signature by key {key_id}"
    if params.get("alg", "ed25519") != "ed25519":
        raise refused(
            f"{who} refused: alg={params['alg']!r}, expected ed25519",
            field="alg",
            value=str(params["alg"]),
        )
    for component in (*REQUIRED, *((DIGEST,) if body else ())):
        if component not in covered:
            why = "the request has a body" if component == DIGEST else "every signature covers it"
            raise refused(
                f"{who} refused: it does not cover {component} ({why})",
                field=component,
                value=" ".join(covered),
            )
    created, expires, nonce = params.get("created"), params.get("expires"), params.get("nonce")
    if type(created) is not int:
        raise refused(f"{who} refused: no created parameter (an integer time)", field="created")
    if abs(now - created) > max_age:
        when = "in the future" if created > now else "ago"
        raise refused(
            f"{who} refused: created={created} is {abs(int(now) - created)} s {when}; a signature "
            f"is accepted within {max_age} s of the server's clock",
            field="created",
            value=str(created),
        )
    if type(expires) is not int or expires < now:
        raise refused(
            f"{who} refused: expires={expires} "
            + ("is missing" if expires is None else "has passed"),
            field="expires",
            value=None if expires is None else str(expires),
        )
    if not isinstance(nonce, str) or not nonce:
        raise refused(
            f"{who} refused: no nonce parameter (a random value per request)", field="nonce"
        )
    return key_id


def _verify_crypto(
    request: RequestView,
    body: bytes,
    registered: RegisteredKey,
    key_id: str,
    label: str,
    covered: list[str],
    max_age: int,
) -> None:
    """The signature verifies with the registered public key, and the digest the body."""
    verifier = HTTPMessageVerifier(
        signature_algorithm=ED25519,
        key_resolver=MappingKeyResolver(
            public_keys={key_id: Ed25519PublicKey.from_public_bytes(registered.public_raw)},
            private_keys={},
        ),
    )
    verifier.max_clock_skew = timedelta(seconds=max_age)
    try:
        verifier.verify(
            request,
            max_age=None,
            expect_tag=TAG,
            expect_label=label,
            require_components=REQUIRED,
            body=body,
        )
    except InvalidSignature as e:
        why = str(e) or "the signature does not verify"
        if "digest" not in why.lower():
            why = (
                f"it does not verify over {' '.join(covered)} with that key's public key (the "
                f"request was changed after signing, or signed by another key) [{why}]"
            )
        raise refused(
            f"signature by key {key_id} refused: {why}", field="Signature", value=key_id
        ) from None


def verify_request(
    request: RequestView,
    body: bytes,
    registry: KeyRegistry,
    *,
    nonces: NonceCache,
    max_age: int,
    on: Any,
    position: int,
    now: float | None = None,
) -> VerifiedSignature:
    """The registered key that signed ``request`` (a 401 problem saying why if none did);
    ``on``: today's date, ``position``: where the registry is read (``AT_HEAD``)."""
    now = time.time() if now is None else now
    label, covered, params = _ours(request.headers)
    key_id = _check_params(params, covered, body, now, max_age)
    try:
        registered = registry.signer(key_id, position, on)
    except AuthorisationError as e:
        raise refused(f"signature refused: {e}", field="keyid", value=key_id) from None
    _verify_crypto(request, body, registered, key_id, label, covered, max_age)
    nonce = str(params["nonce"])
    if not nonces.claim(key_id, nonce, now + 2 * max_age, now):
        raise refused(
            f"signature by key {key_id} refused: nonce {nonce!r} was already used; a replayed "
            "request is refused (sign each request anew)",
            field="nonce",
            value=nonce,
        )
    evidence = (
        f"@method: {request.method}\n@target-uri: {request.url}\n"
        f"Signature-Input: {request.headers.get('Signature-Input')}\n"
        f"Signature: {request.headers.get('Signature')}"
    )
    return VerifiedSignature(key=registered, nonce=nonce, evidence=evidence)
