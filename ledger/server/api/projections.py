"""projections routes (see ledger.server)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/v1")
