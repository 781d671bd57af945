"""Who is calling: a request signed with a registered key (RFC 9421, see
:mod:`ledger.server.access.signatures`), or a token obtained by one (see
:mod:`ledger.server.access.tokens`), as ``Authorization: Bearer <token>`` or the cookie
``trial_ledger_token`` (HttpOnly, SameSite=Strict: the monitor's pages).

Routes: ``POST /v1/auth/token`` (a signed request only) answers ``{"token", "expires_at",
"key_id", "role", "site"}`` (``expires_at`` ISO 8601 UTC); ``DELETE /v1/auth/token`` ends
the token the request carries (204); ``GET /v1/auth/whoami`` answers the caller as
``{"key_id", "printed_name", "role", "site", "via"}`` (``via``: ``signature`` or ``token``).

Either way the key is looked up in the key registry as it stands at this request (re-proved
when the trial stream changed): a key rotated, revoked or past its ``expires_on`` is refused
from the next request on, and so is every token it obtained.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field

from ledger import service
from ledger.errors import AuthorisationError
from ledger.registry import RegisteredKey
from ledger.server.access import CallerDep, access_log
from ledger.server.access.caller import Caller
from ledger.server.access.signatures import NonceCache, RequestView, refused, verify_request
from ledger.server.access.tokens import TOKEN_COOKIE, TokenStore
from ledger.server.problems import ProblemError
from ledger.server.state import ServerState

router = APIRouter(prefix="/v1", tags=["access"])

TOKENS = "tokens"
NONCES = "nonces"


def tokens_of(state: ServerState) -> TokenStore:
    store: TokenStore = state.extensions.setdefault(TOKENS, TokenStore(state.config.token_lifetime))
    return store


def _nonces(state: ServerState) -> NonceCache:
    cache: NonceCache = state.extensions.setdefault(NONCES, NonceCache())
    return cache


def _registered(state: ServerState, key_id: str) -> RegisteredKey:
    """The key as the registry stands now, if it may sign today (else a 401 problem)."""
    try:
        return state.registry().signer(key_id, service.AT_HEAD, service.today())
    except AuthorisationError as e:
        raise refused(f"refused: {e}", field="keyid", value=key_id) from None


def _caller(registered: RegisteredKey, via: str, evidence: str) -> Caller:
    key = registered.key
    return Caller(
        key_id=key.key_id,
        printed_name=key.printed_name,
        role=key.role,
        site=key.site,
        via="token" if via == "token" else "signature",
        evidence=evidence,
    )


def caller_from_token(state: ServerState, token: str) -> Caller:
    """The caller a token stands for, its key re-checked in the registry now (401 problem if
    the token is unknown, expired or ended, or its key may no longer sign)."""
    issued, why = tokens_of(state).find(token)
    if issued is None:
        raise refused(f"token refused: {why}; obtain a new one with a signed POST /v1/auth/token")
    registered = _registered(state, issued.key_id)
    evidence = f"token {issued.token_id} obtained by:\n{issued.obtained_by}"
    return _caller(registered, "token", evidence)


def token_cookie(response: Response, token: str, *, max_age: int | None = None) -> None:
    """Set the token as the pages' cookie: HttpOnly (no script reads it), SameSite=Strict
    (no other site's page sends it), path /."""
    response.set_cookie(
        TOKEN_COOKIE, token, max_age=max_age, httponly=True, samesite="strict", path="/"
    )


def carried_token(request: Request) -> str | None:
    """The token a request carries (``Authorization: Bearer``, else the cookie), if any."""
    authorization = request.headers.get("authorization")
    if authorization is not None:
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise refused(
                "Authorization refused: expected 'Bearer <token>'",
                field="Authorization",
                value=scheme,
            )
        return value.strip()
    return request.cookies.get(TOKEN_COOKIE)


def _body_of(request: Request) -> bytes:
    body = getattr(request.state, "body", None)
    if body is None:
        body = getattr(request, "_body", None)
    if body is None:
        if request.headers.get("content-length", "0") not in ("", "0"):
            raise ProblemError(500, "internal", "the request body was not read before its check")
        return b""
    return bytes(body)


def authenticator(state: ServerState) -> Callable[[Request], Caller]:
    """The request authentication of a served ledger: a signature if the request carries one,
    else a token; 401 problem (saying why) if neither proves a registered key."""

    def authenticate(request: Request) -> Caller:
        if "signature-input" in request.headers or "signature" in request.headers:
            verified = verify_request(
                RequestView.of(request),
                _body_of(request),
                state.registry(),
                nonces=_nonces(state),
                max_age=state.config.signature_max_age,
                on=service.today(),
                position=service.AT_HEAD,
            )
            return _caller(verified.key, "signature", verified.evidence)
        token = carried_token(request)
        if token is None:
            raise refused(
                "request not signed and no token: sign it with your registered key (RFC 9421, "
                "tag trial-ledger) or send Authorization: Bearer <token>"
            )
        return caller_from_token(state, token)

    return authenticate


class TokenOut(BaseModel):
    token: str = Field(description="43 base64url characters; send as Authorization: Bearer")
    expires_at: str = Field(description="When it ends, ISO 8601 UTC")
    key_id: str
    role: str
    site: str


class WhoAmI(BaseModel):
    key_id: str
    printed_name: str
    role: str
    site: str
    via: str = Field(description="signature or token")


def _state(request: Request) -> ServerState:
    state: ServerState = request.app.state.server
    return state


@router.post("/auth/token", summary="Obtain a token (a signed request only)")
def obtain_token(request: Request, caller: CallerDep) -> TokenOut:
    if caller.via != "signature":
        raise ProblemError(
            403, "forbidden", "a token is obtained by a signed request, not by another token"
        )
    token, issued = tokens_of(_state(request)).issue(caller.key_id, caller.evidence)
    expires = datetime.fromtimestamp(issued.expires_at, UTC).replace(microsecond=0)
    return TokenOut(
        token=token,
        expires_at=expires.isoformat().replace("+00:00", "Z"),
        key_id=caller.key_id,
        role=caller.role,
        site=caller.site,
    )


@router.delete("/auth/token", status_code=204, summary="End the token this request carries")
def end_token(request: Request, caller: CallerDep) -> Response:
    token = carried_token(request)
    if caller.via != "token" or token is None:
        raise ProblemError(
            400, "bad-request", "this request carries no token to end", field="Authorization"
        )
    tokens_of(_state(request)).end(token)
    response = Response(status_code=204)
    response.delete_cookie(TOKEN_COOKIE, path="/", httponly=True, samesite="strict")
    return response


@router.get("/auth/whoami", summary="The caller, as the key registry stands now")
def whoami(caller: CallerDep) -> WhoAmI:
    return WhoAmI(
        key_id=caller.key_id,
        printed_name=caller.printed_name,
        role=caller.role,
        site=caller.site,
        via=caller.via,
    )


async def start(state: ServerState) -> None:
    """Set up the token store, the replay cache and the log of reads."""
    tokens_of(state)
    _nonces(state)
    access_log.open_for(state)


async def stop(state: ServerState) -> None:
    """Drop the tokens (a restart ends every token), close the log of reads."""
    tokens_of(state).clear()
    access_log.close_for(state)


router.include_router(access_log.router)
