"""Authentication of requests: RFC 9421 signatures with registered keys, and tokens."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter, Request

from ledger.server.access.caller import Caller
from ledger.server.problems import ProblemError
from ledger.server.state import ServerState

router = APIRouter(prefix="/v1")


def authenticator(state: ServerState) -> Callable[[Request], Caller]:
    def authenticate(request: Request) -> Caller:
        raise ProblemError(401, "unauthenticated", "request authentication is not built yet")

    return authenticate


async def start(state: ServerState) -> None:
    """Set up the token store and the replay cache."""


async def stop(state: ServerState) -> None:
    """Drop the tokens."""
