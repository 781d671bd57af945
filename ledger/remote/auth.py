"""Requests to a served ledger signed with the caller's registered Ed25519 key (RFC 9421).

:class:`SignedRequests` is an ``httpx.Auth``: every request it sends carries
``Signature-Input`` and ``Signature`` (label ``trial-ledger``) over ``@method``,
``@authority``, ``@target-uri`` and, when the request has a body, ``content-digest`` (an RFC
9530 ``Content-Digest: sha-256=:...:`` of the body, added here), with the parameters
``created``, ``expires`` (created + 60 s), a random ``nonce``, ``keyid`` (the registered key
id), ``alg="ed25519"`` and ``tag="trial-ledger"``. The server refuses a signature that covers
less, is older than its window, was seen before (same nonce) or whose key the registry no
longer lets sign.

A token saves signing every request (a browser, a long feed): :func:`obtain_token` asks for
one with a signed ``POST /v1/auth/token``; :class:`BearerToken` sends it as
``Authorization: Bearer <token>``. The signing happens here, with :class:`Signer`; the
private key is never serialised or sent.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
from http_message_signatures import HTTPMessageSigner
from http_message_signatures.algorithms import ED25519

from ledger.errors import AuthorisationError, LedgerError, StorageError
from ledger.integrity.signing import Signer

SIGNATURE_LABEL = "trial-ledger"
SIGNATURE_TAG = "trial-ledger"
"""The ``tag`` parameter every signature to a served ledger carries (RFC 9421 §2.3): a
signature made for another application is never taken for one of ours."""
SIGNATURE_LIFETIME = 60
"""Seconds from ``created`` to ``expires`` of a request's signature."""
COVERED = ("@method", "@authority", "@target-uri")
"""What every request's signature covers (``content-digest`` too when it has a body)."""
TOKEN_PATH = "/v1/auth/token"  # noqa: S105 - a route, not a secret


def sign_request(
    request: httpx.Request,
    signer: Signer,
    *,
    now: float | None = None,
    nonce: str | None = None,
    lifetime: int = SIGNATURE_LIFETIME,
    covered: tuple[str, ...] = COVERED,
) -> None:
    """Sign ``request`` in place with ``signer`` (its body must have been read)."""
    created = int(time.time() if now is None else now)
    body = request.content
    handler = HTTPMessageSigner(signature_algorithm=ED25519)
    prepared = handler.prepare(
        request,
        key_id=signer.key_id,
        created=datetime.fromtimestamp(created, UTC),
        expires=datetime.fromtimestamp(created + lifetime, UTC),
        nonce=nonce if nonce is not None else secrets.token_urlsafe(18),
        label=SIGNATURE_LABEL,
        tag=SIGNATURE_TAG,
        covered_component_ids=covered,
        body=body or None,
    )
    handler.apply(request, prepared, signer.sign(prepared.signature_base))


class SignedRequests(httpx.Auth):
    """Sign every request with ``signer`` (``clock``: seconds since the epoch, for tests)."""

    requires_request_body = True

    def __init__(self, signer: Signer, *, clock: Callable[[], float] = time.time) -> None:
        self.signer = signer
        self.clock = clock

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        sign_request(request, self.signer, now=self.clock())
        yield request


class BearerToken(httpx.Auth):
    """Send a token obtained by :func:`obtain_token` with every request."""

    def __init__(self, token: str) -> None:
        self.token = token

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"Bearer {self.token}"
        yield request


@dataclass(frozen=True)
class IssuedToken:
    """A token as ``POST /v1/auth/token`` answers it."""

    token: str
    expires_at: str
    key_id: str
    role: str
    site: str


def request_token(client: httpx.Client, signer: Signer) -> IssuedToken:
    """A token for ``signer``'s key from the server ``client`` talks to (its base URL)."""
    try:
        response = client.post(TOKEN_PATH, auth=SignedRequests(signer))
    except httpx.HTTPError as e:
        raise StorageError(f"cannot reach {client.base_url}: {e}") from None
    document = _json(response)
    if response.status_code in (401, 403):
        raise AuthorisationError(f"token refused: {document.get('detail', response.text)}")
    if response.status_code != 200:
        raise LedgerError(
            f"token refused ({response.status_code}): {document.get('detail', response.text)}"
        )
    return IssuedToken(**{k: str(document[k]) for k in IssuedToken.__dataclass_fields__})


def obtain_token(base_url: str, signer: Signer) -> str:
    """A token for ``signer``'s key from the server at ``base_url``."""
    with httpx.Client(base_url=base_url, timeout=30.0) as client:
        return request_token(client, signer).token


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        document = response.json()
    except ValueError:
        return {}
    return document if isinstance(document, dict) else {}
