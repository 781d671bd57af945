"""The base of every stored event, and the form every recorded time takes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field


class LedgerEvent(BaseModel):
    """Base of every stored event. Frozen; unknown fields are refused."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    TOPIC: ClassVar[str] = ""
    RECORDED_BY: ClassVar[frozenset[str]] = frozenset()
    META_FIELDS: ClassVar[frozenset[str]] = frozenset({"originator_id", "originator_version"})

    originator_id: UUID
    originator_version: int = Field(ge=1)

    def payload(self) -> dict[str, Any]:
        """The stored JSON object: every field but the two stream coordinates."""
        return self.model_dump(mode="json", exclude=set(self.META_FIELDS))


def created_at_utc(value: datetime) -> str:
    """RFC 3339 UTC with microseconds and ``Z``: the form every recorded time takes."""
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"
