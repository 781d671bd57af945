"""Audit trail: who did what, when, why, under which signature meaning, at which position/hash.

The view indexes the ledger rather than copying it: one narrow row per event
(``audit_events``: position, commit, event type, subject), one row per signed
commit (``audit_commits``: signer key, meaning, recorded time), the key registry as folded from
the trial stream (``audit_keys``: printed name, role, site, status) and the links between events
(``audit_links``: a correction and the event it corrects, a signature and the events it signs).
The content columns (leaf hash, clinical date, what, why, a correction's field/old/new) are
read from the
ledger itself when the trail is queried, so what an inspector exports is the signed record.

Nothing is hidden: a corrected event keeps its own row with its original values and lists the
corrections in ``corrected_by``; each correction has its own row (21 CFR 11.10(e)).

Columns, in this order (CSV header and JSON member order; :data:`COLUMNS`):
position, hash (leaf hash, hex), event_type, subject_id, key_id, printed_name, role, site,
clinical_date (effective date), recorded_at (UTC, the commit's), meaning (signature meaning),
what, field, old_value, new_value, corrects_position, corrected_by, signed_by, why, commit_seq.
In CSV, list columns (corrected_by, signed_by) are joined with ``;`` and absent values are empty.

Filters (all optional, combined with AND): subject id; person (a key id, or a case-insensitive
part of a printed name); event type (``DoseAdministered`` or its topic); recorded time range
(inclusive, UTC).
"""

from __future__ import annotations

import csv
import json
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import IO, Any, ClassVar

from ledger.events import (
    CorrectionRecorded,
    KeyRegistered,
    KeyRevoked,
    KeyRotated,
    RecordSigned,
    TrialCreated,
    event_name,
)
from ledger.store import LedgerReader
from projections.base import ALL_TOPICS, Context, Handler, Projection, Row
from projections.decoding import EVENT_TYPE, Payload, event_type, payload_of

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


class AuditProjection(Projection):
    """Tables ``audit_events``, ``audit_commits``, ``audit_keys``, ``audit_links``."""

    name: ClassVar[str] = "audit"
    version: ClassVar[int] = 1
    handles: ClassVar[frozenset[str]] = ALL_TOPICS
    ignores: ClassVar[frozenset[str]] = frozenset()
    tables: ClassVar[tuple[str, ...]] = (
        "audit_events",
        "audit_commits",
        "audit_keys",
        "audit_links",
    )

    def __init__(self) -> None:
        self._events: list[tuple[int, int, str, str | None]] = []
        self._keys: list[tuple[str, str, str, str, int]] = []
        self._retired: list[tuple[int, str, str]] = []
        self._links: list[tuple[int, int, str]] = []
        self._min_seq: int | None = None
        self._max_seq = 0
        self._ctx: Context | None = None
        self._plain: Callable[[str], Handler] = lambda _name: _ignore

    def create(self, conn: sqlite3.Connection) -> None:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS audit_events (position INTEGER PRIMARY KEY,"
            " commit_seq INTEGER NOT NULL, event_type TEXT NOT NULL, subject_id TEXT)"
        )
        conn.execute(
            "CREATE TABLE IF NOT EXISTS audit_commits (seq INTEGER PRIMARY KEY,"
            " first_position INTEGER NOT NULL, last_position INTEGER NOT NULL,"
            " key_id TEXT NOT NULL, meaning TEXT NOT NULL, recorded_at TEXT NOT NULL)"
        )
        conn.execute(
            "CREATE TABLE IF NOT EXISTS audit_keys (key_id TEXT PRIMARY KEY,"
            " printed_name TEXT NOT NULL, role TEXT NOT NULL, site TEXT NOT NULL,"
            " registered_at INTEGER NOT NULL, retired_at INTEGER, retired_by TEXT)"
        )
        conn.execute(
            "CREATE TABLE IF NOT EXISTS audit_links (target INTEGER NOT NULL,"
            " source INTEGER NOT NULL, kind TEXT NOT NULL, PRIMARY KEY (target, source, kind))"
        )

    def create_indexes(self, conn: sqlite3.Connection) -> None:
        conn.execute("CREATE INDEX IF NOT EXISTS audit_events_subject ON audit_events (subject_id)")
        conn.execute("CREATE INDEX IF NOT EXISTS audit_events_type ON audit_events (event_type)")
        conn.execute("CREATE INDEX IF NOT EXISTS audit_commits_key ON audit_commits (key_id)")
        conn.execute("CREATE INDEX IF NOT EXISTS audit_commits_time ON audit_commits (recorded_at)")

    def start(self, ctx: Context) -> None:
        self._ctx = ctx
        self._events.clear()
        self._keys.clear()
        self._retired.clear()
        self._links.clear()
        self._min_seq, self._max_seq = None, 0

    def handlers(self) -> dict[str, Handler]:
        events = self._events
        append = events.append

        def plain(name: str) -> Handler:
            def handle(row: Row, p: Payload) -> None:
                append((row[0], row[6], name, p.get("subject_id")))

            return handle

        def special(name: str, then: Callable[[int, int, Payload], None]) -> Handler:
            def handle(row: Row, p: Payload) -> None:
                append((row[0], row[6], name, p.get("subject_id")))
                then(row[0], row[6], p)

            return handle

        self._plain = plain
        table: dict[str, Handler] = {topic: plain(event_type(topic)) for topic in self.handles}
        for topic, then in (
            (TrialCreated.TOPIC, self._trial),
            (KeyRegistered.TOPIC, self._registered),
            (KeyRotated.TOPIC, self._rotated),
            (KeyRevoked.TOPIC, self._revoked),
            (CorrectionRecorded.TOPIC, self._correction),
            (RecordSigned.TOPIC, self._signature),
        ):
            table[topic] = special(EVENT_TYPE[topic], then)
        return table

    def unknown(self, topic: str) -> Handler | None:
        """An event type this build does not know still gets its audit row."""
        return self._plain(event_type(topic))

    def _key(self, key: Payload, position: int) -> None:
        self._keys.append((key["key_id"], key["printed_name"], key["role"], key["site"], position))

    def _trial(self, position: int, _seq: int, p: Payload) -> None:
        self._key(p["sponsor"], position)

    def _registered(self, position: int, _seq: int, p: Payload) -> None:
        self._key(p["key"], position)

    def _rotated(self, position: int, _seq: int, p: Payload) -> None:
        self._retired.append((position, "rotated", p["old_key_id"]))
        self._key(p["new_key"], position)

    def _revoked(self, position: int, _seq: int, p: Payload) -> None:
        self._retired.append((position, "revoked", p["key_id"]))

    def _correction(self, position: int, _seq: int, p: Payload) -> None:
        self._links.append((p["corrects_position"], position, "correction"))

    def _signature(self, position: int, _seq: int, p: Payload) -> None:
        self._links.extend((target, position, p["meaning"]) for target in p["positions"])

    def flush(self, conn: sqlite3.Connection, upto: int) -> None:
        assert self._ctx is not None
        if self._events:  # appended in position order, so commit order too
            self._min_seq, self._max_seq = self._events[0][1], self._events[-1][1]
        conn.executemany(
            "INSERT INTO audit_events (position, commit_seq, event_type, subject_id)"
            " VALUES (?,?,?,?)",
            self._events,
        )
        self._events.clear()
        if self._min_seq is not None:
            commits = []
            for c in self._ctx.reader.iter_commits(self._min_seq):
                h = c.header
                if h.seq > self._max_seq:
                    break
                commits.append(
                    (h.seq, h.first_position, h.last_position, h.signer, h.meaning, h.recorded_at)
                )
            conn.executemany(
                "INSERT OR IGNORE INTO audit_commits (seq, first_position, last_position, key_id,"
                " meaning, recorded_at) VALUES (?,?,?,?,?,?)",
                commits,
            )
            self._min_seq = None
        conn.executemany(
            "INSERT OR IGNORE INTO audit_keys (key_id, printed_name, role, site, registered_at)"
            " VALUES (?,?,?,?,?)",
            self._keys,
        )
        conn.executemany(
            "UPDATE audit_keys SET retired_at=?, retired_by=? WHERE key_id=?"
            " AND retired_at IS NULL",
            self._retired,
        )
        conn.executemany(
            "INSERT OR IGNORE INTO audit_links (target, source, kind) VALUES (?,?,?)",
            self._links,
        )
        self._keys.clear()
        self._retired.clear()
        self._links.clear()


def _ignore(_row: Row, _p: Payload) -> None:
    return None


# --------------------------------------------------------------------------- querying


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


def _what(name: str, p: Payload) -> str:
    """One line saying what the event records."""
    g = p.get
    if name == "TrialCreated":
        return (
            f"trial {g('trial_id')} created ({g('title')}); protocol {g('protocol_amendment')}; "
            f"sponsor key {(g('sponsor') or {}).get('key_id')}"
        )
    if name in ("KeyRegistered", "KeyRotated"):
        key = g("key") or g("new_key") or {}
        prefix = f"key {g('old_key_id')} rotated to " if name == "KeyRotated" else "key "
        return (
            f"{prefix}{key.get('key_id')} for {key.get('printed_name')} "
            f"({key.get('role')}, site {key.get('site')})"
        )
    simple: dict[str, Callable[[], str]] = {
        "KeyRevoked": lambda: f"key {g('key_id')} revoked",
        "SiteRegistered": lambda: f"site {g('site')} registered ({g('label')})",
        "SubjectScreened": lambda: (
            f"screened at site {g('site')}: age {g('age_years')}, sex {g('sex')}"
        ),
        "EligibilityAssessed": lambda: (
            f"{'eligible' if g('eligible') else 'not eligible'}: "
            f"{sum(1 for c in g('criteria') or () if c.get('passed'))}/"
            f"{len(g('criteria') or ())} criteria passed ({g('protocol_amendment')})"
        ),
        "ConsentObtained": lambda: f"consent version {g('consent_version')}",
        "SubjectEnrolled": lambda: (
            f"enrolled at site {g('site')}; treatment start {g('treatment_start')}; "
            f"protocol {g('protocol_amendment')}"
        ),
        "DoseAdministered": lambda: f"{g('drug')} {g('dose')} {g('unit')} {g('route')}",
        "DoseMissed": lambda: f"{g('drug')} dose {'held' if g('held') else 'missed'}",
        "LabResulted": lambda: f"{g('analyte')} {g('value')} {g('unit')}",
        "ResponseAssessed": lambda: (
            f"month {g('protocol_month')}: investigator {g('investigator_category')}, derived "
            f"{g('derived_category')}"
            + (" (disagree)" if g("investigator_category") != g("derived_category") else "")
        ),
        "ProgressionConfirmed": lambda: f"progression confirmed ({', '.join(g('rule_ids') or ())})",
        "RegimenChanged": lambda: (
            f"regimen {g('from_regimen')} -> {g('to_regimen')} ({g('rule_id')})"
        ),
        "AdverseEventReported": lambda: (
            f"{g('ae_id')} {g('term')} grade {g('grade')}, {g('attribution')}"
            + (", serious" if g("serious") else "")
            + f"; action {g('action_taken')}"
        ),
        "AdverseEventResolved": lambda: f"{g('ae_id')} resolved: {g('outcome')}",
        "FollowUpVisit": lambda: f"follow-up visit: {g('disease_status')}",
        "SubjectWithdrawn": lambda: (
            "withdrawn" + (" (consent withdrawn)" if g("consent_withdrawn") else "")
        ),
        "SubjectOffStudy": lambda: "off study",
        "SubjectDied": lambda: "died",
        "CorrectionRecorded": lambda: (
            f"correction of position {g('corrects_position')} "
            f"({event_name(str(g('corrected_topic')))}): {g('field')}"
        ),
        "RecordSigned": lambda: (
            f"{g('meaning')} of position(s) {', '.join(str(x) for x in g('positions') or ())}"
        ),
    }
    make = simple.get(name)
    if make is None:
        return json.dumps(p, sort_keys=True, ensure_ascii=False)
    return make()


def _why(p: Payload) -> str | None:
    for name in ("reason", "cause", "basis", "statement"):
        value = p.get(name)
        if value:
            return str(value)
    for nested in ("deviation", "waiver"):
        value = p.get(nested)
        if isinstance(value, dict) and value.get("reason"):
            return f"{value.get('rule_id')}: {value['reason']}"
    return None


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


def _links(conn: sqlite3.Connection, positions: list[int]) -> dict[int, list[tuple[int, str]]]:
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
    conn: sqlite3.Connection, reader: LedgerReader, f: AuditFilter, chunk: int = 2_000
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
                "what": _what(name, p),
                "field": p.get("field") if correction else None,
                "old_value": p.get("old_value") if correction else None,
                "new_value": p.get("new_value") if correction else None,
                "corrects_position": p.get("corrects_position") if correction else None,
                "corrected_by": [s for s, kind in linked if kind == "correction"],
                "signed_by": [f"{s}:{kind}" for s, kind in linked if kind != "correction"],
                "why": _why(p),
                "commit_seq": r[9],
            }


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return ";".join(str(v) for v in value)
    return str(value)


def write_csv(rows: Iterator[dict[str, Any]], out: IO[str]) -> int:
    """CSV with a header of :data:`COLUMNS`; returns the number of events written."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    count = 0
    for row in rows:
        writer.writerow([_cell(row[c]) for c in COLUMNS])
        count += 1
    return count


def write_json(rows: Iterator[dict[str, Any]], out: IO[str], f: AuditFilter, position: int) -> int:
    """One JSON document, streamed: ``{"filters", "position", "columns", "events", "count"}``."""
    out.write('{\n  "filters": ' + json.dumps(f.to_json(), ensure_ascii=False))
    out.write(',\n  "position": ' + str(position))
    out.write(',\n  "columns": ' + json.dumps(list(COLUMNS)))
    out.write(',\n  "events": [')
    count = 0
    for row in rows:
        out.write(("," if count else "") + "\n    " + json.dumps(row, ensure_ascii=False))
        count += 1
    out.write(("\n  " if count else "") + f'],\n  "count": {count}\n}}\n')
    return count


def position_at(conn: sqlite3.Connection, instant: str) -> int:
    """The last position recorded at or before ``instant`` (0 when none): ``--as-of``."""
    row = conn.execute(
        "SELECT MAX(last_position) FROM audit_commits WHERE recorded_at <= ?", (instant,)
    ).fetchone()
    return int(row[0] or 0)


def recorded_at(conn: sqlite3.Connection, position: int) -> str | None:
    """When the commit holding ``position`` was recorded."""
    row = conn.execute(
        "SELECT recorded_at FROM audit_commits WHERE first_position <= ? AND last_position >= ?",
        (position, position),
    ).fetchone()
    return None if row is None else str(row[0])
