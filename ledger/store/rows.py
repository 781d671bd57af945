"""Stored rows as the chain's records: an event row, a commit row, and BLOB columns read as
bytes whatever an intruder stored in them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from ledger.chain import CommitHeader, CommitRecord, EventRow


class Cursor(Protocol):
    """What the recorders need of a cursor: ``?``-placeholder statements and tuple rows."""

    def execute(self, sql: str, params: Sequence[Any] = ..., /) -> Any: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...


def event_row(r: Sequence[Any]) -> EventRow:
    """A stored row (position, originator_id, version, topic, state, leaf_hash, commit_seq)."""
    return EventRow(
        position=r[0],
        originator_id=r[1],
        originator_version=r[2],
        topic=r[3],
        state=blob(r[4]),
        leaf_hash=blob(r[5]),
        commit_seq=r[6],
    )


def blob(value: object) -> bytes:
    """A BLOB column as bytes, whatever an intruder stored there (text, number, NULL)."""
    if isinstance(value, bytes):
        return value
    if value is None:
        return b""
    return str(value).encode("utf-8", "surrogateescape")


def commit_from_row(r: Sequence[Any], ledger_id: str) -> CommitRecord:
    return CommitRecord(
        header=CommitHeader(
            seq=int(r[0]),
            first_position=int(r[1]),
            last_position=int(r[2]),
            prev_leaf=bytes(r[3]),
            events_root=bytes(r[4]),
            signer=str(r[5]),
            meaning=str(r[6]),
            recorded_at=str(r[7]),
            ledger_id=ledger_id,
        ),
        signature=bytes(r[8]),
    )


def commit_columns(header: CommitHeader, signature: bytes) -> tuple[Any, ...]:
    """A commit as the ``ledger_commits`` row stores it (the inverse of
    :func:`commit_from_row`, without the ledger id, which ``ledger_meta`` holds)."""
    return (
        header.seq,
        header.first_position,
        header.last_position,
        header.prev_leaf,
        header.events_root,
        header.signer,
        header.meaning,
        header.recorded_at,
        signature,
    )
