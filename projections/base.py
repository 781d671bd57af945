"""What every read model is: its tables, its per-topic handlers and how it writes a batch.

:class:`Projection` is the contract :class:`~projections.engine.ProjectionEngine` drives; the
read models (:mod:`projections.subject`, :mod:`projections.audit`) implement it. This module
imports no read model, so the engine can import them all without a cycle.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from ledger.events import ALL_EVENTS
from ledger.store import LedgerReader
from projections.connection import ViewsConnection
from projections.decoding import Payload

Row = tuple[Any, ...]
"""A stored row as the engine reads it: (position, originator_id, originator_version, topic,
state, leaf_hash, commit_seq)."""
Handler = Callable[[Row, Payload], None]
"""Called with (position, commit seq, decoded payload) for each event of a handled topic."""

ALL_TOPICS: frozenset[str] = frozenset(cls.TOPIC for cls in ALL_EVENTS)


@dataclass
class Context:
    """What a projection may use while consuming: the ledger (read-only) and its views."""

    reader: LedgerReader
    conn: ViewsConnection


class Projection(ABC):
    """One read model: its tables, its per-topic handlers, and how it writes a batch."""

    name: ClassVar[str]
    version: ClassVar[int] = 1
    """Schema/semantics version: a change makes the engine rebuild the views."""
    handles: ClassVar[frozenset[str]]
    ignores: ClassVar[frozenset[str]]
    """Topics deliberately not read (with ``handles``: every topic of ``ALL_EVENTS``)."""
    tables: ClassVar[tuple[str, ...]]
    """Tables the projection owns, dumped in this order by :meth:`dump`."""

    @abstractmethod
    def create(self, conn: ViewsConnection) -> None:
        """Create the tables (idempotent)."""

    def create_indexes(self, conn: ViewsConnection) -> None:  # noqa: B027 - optional hook
        """Create secondary indexes (after a rebuild's bulk load, or with the tables)."""

    @abstractmethod
    def start(self, ctx: Context) -> None:
        """Begin consuming (called once per catch-up, before the first event)."""

    @abstractmethod
    def handlers(self) -> dict[str, Handler]:
        """The handler of each topic in :attr:`handles`."""

    def unknown(self, topic: str) -> Handler | None:
        """Handler for a topic this build does not know (default: ignore it)."""
        return None

    @abstractmethod
    def flush(self, conn: ViewsConnection, upto: int) -> None:
        """Write the view rows changed since the last flush (events up to ``upto`` applied)."""
