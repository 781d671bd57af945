"""feed routes (see ledger.server)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/v1")

from ledger.server.state import ServerState  # noqa: E402


async def start(state: ServerState) -> None:
    """Start watching the ledger's head."""


async def stop(state: ServerState) -> None:
    """Stop watching, end every subscriber's stream."""
