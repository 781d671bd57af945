"""The monitor's pages: server-rendered HTML, no build step (see ledger.server)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
