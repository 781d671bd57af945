"""Querying the audit trail: filters, the matching events in position order, as-of lookups.

Each row is completed from the ledger itself (leaf hash, clinical date, what, why, a
correction's field/old/new), so what an inspector exports is the signed record.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from ledger.store import LedgerReader
from projections.audit.describe import what, why
from projections.connection import ViewsConnection
from projections.decoding import event_type, payload_of

COLUMNS: tuple[str, ...] = (
    "position",
    "hash",
    "event_type",
    "subject_id",
    "key_id",
    "printed_name",
    "role",
    "site",
    "clinical_date",
    "recorded_at",
    "meaning",
    "what",
    "field",
    "old_value",
    "new_value",
    "corrects_position",
    "corrected_by",
    "signed_by",
    "why",
    "commit_seq",
)


@dataclass(frozen=True)
class AuditFilter:
    """Which events to list; times are RFC 3339 UTC strings as the ledger records them."""

    subject_id: str | None = None
    person: str | None = None
    event_type: str | None = None
    recorded_from: str | None = None
    recorded_to: str | None = None

    def to_json(self) -> dict[str, str | None]:
        return {
            "subject": self.subject_id,
            "person": self.person,
            "type": self.event_type,
            "from": self.recorded_from,
            "to": self.recorded_to,
        }


def _query(f: AuditFilter) -> tuple[str, list[Any]]:
    where: list[str] = []
    params: list[Any] = []
    if f.subject_id:
        where.append("e.subject_id = ?")
        params.append(f.subject_id)
    if f.event_type:
        where.append("e.event_type = ?")
        params.append(event_type(f.event_type))
    if f.person:
        where.append("(c.key_id = ? OR instr(lower(k.printed_name), lower(?)) > 0)")
        params += [f.person, f.person]
    if f.recorded_from:
        where.append("c.recorded_at >= ?")
        params.append(f.recorded_from)
    if f.recorded_to:
        where.append("c.recorded_at <= ?")
        params.append(f.recorded_to)
    sql = (
        "SELECT e.position, e.event_type, e.subject_id, c.key_id, k.printed_name, k.role,"
        " k.site, c.recorded_at, c.meaning, e.commit_seq"
        " FROM audit_events e JOIN audit_commits c ON c.seq = e.commit_seq"
        " LEFT JOIN audit_keys k ON k.key_id = c.key_id"
        + (" WHERE " + " AND ".join(where) if where else "")
        + " ORDER BY e.position"
    )
    return sql, params


def _ledger_rows(reader: LedgerReader, positions: list[int]) -> dict[int, tuple[bytes, bytes]]:
    """(leaf hash, state) of each position, read from the ledger."""
    found: dict[int, tuple[bytes, bytes]] = {}
    if not positions:
        return found
    if positions[-1] - positions[0] < 4 * len(positions):  # dense: one range read
        wanted = set(positions)
        for row in reader.iter_events(positions[0], positions[-1]):
            if row.position in wanted:
                found[row.position] = (row.leaf_hash, row.state)
        return found
    for position in positions:
        at = reader.event_at(position)
        if at is not None:
            found[position] = (at.leaf_hash, at.state)
    return found


def _links(conn: ViewsConnection, positions: list[int]) -> dict[int, list[tuple[int, str]]]:
    found: dict[int, list[tuple[int, str]]] = {}
    marks = ",".join("?" * len(positions))
    for target, source, kind in conn.execute(
        f"SELECT target, source, kind FROM audit_links WHERE target IN ({marks})"
        " ORDER BY target, source, kind",
        positions,
    ):
        found.setdefault(int(target), []).append((int(source), str(kind)))
    return found


def audit_trail(
    conn: ViewsConnection, reader: LedgerReader, f: AuditFilter, chunk: int = 2_000
) -> Iterator[dict[str, Any]]:
    """The matching events in position order, one dict per event with :data:`COLUMNS`."""
    sql, params = _query(f)
    cursor = conn.execute(sql, params)
    while True:
        rows = cursor.fetchmany(chunk)
        if not rows:
            return
        positions = [int(r[0]) for r in rows]
        stored = _ledger_rows(reader, positions)
        links = _links(conn, positions)
        for r in rows:
            position = int(r[0])
            leaf, state = stored.get(position, (b"", b"{}"))
            p = payload_of(state)
            name = str(r[1])
            correction = name == "CorrectionRecorded"
            linked = links.get(position, [])
            yield {
                "position": position,
                "hash": leaf.hex(),
                "event_type": name,
                "subject_id": r[2],
                "key_id": r[3],
                "printed_name": r[4],
                "role": r[5],
                "site": r[6],
                "clinical_date": p.get("effective_date"),
                "recorded_at": r[7],
                "meaning": r[8],
                "what": what(name, p),
                "field": p.get("field") if correction else None,
                "old_value": p.get("old_value") if correction else None,
                "new_value": p.get("new_value") if correction else None,
                "corrects_position": p.get("corrects_position") if correction else None,
                "corrected_by": [s for s, kind in linked if kind == "correction"],
                "signed_by": [f"{s}:{kind}" for s, kind in linked if kind != "correction"],
                "why": why(p),
                "commit_seq": r[9],
            }


def position_at(conn: ViewsConnection, instant: str) -> int:
    """The last position recorded at or before ``instant`` (0 when none): ``--as-of``."""
    row = conn.execute(
        "SELECT MAX(last_position) FROM audit_commits WHERE recorded_at <= ?", (instant,)
    ).fetchone()
    return int(row[0] or 0)


def recorded_at(conn: ViewsConnection, position: int) -> str | None:
    """When the commit holding ``position`` was recorded."""
    row = conn.execute(
        "SELECT recorded_at FROM audit_commits WHERE first_position <= ? AND last_position >= ?",
        (position, position),
    ).fetchone()
    return None if row is None else str(row[0])
