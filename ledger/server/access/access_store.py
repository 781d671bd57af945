"""The log of reads, stored: an append-only, hash-chained table (:class:`AccessStore`).

Each row's ``row_hash`` is the SHA-256 (hex) of the canonical JSON of its fields and the
previous row's hash (``prev_hash``; 64 zeros before the first row), so a row altered, or
removed from the middle, breaks the chain at that row (:func:`chain_problems`). Triggers
refuse UPDATE and DELETE. A file ledger's log is a SQLite file beside it
(``<db>.access.sqlite`` unless given); a PostgreSQL ledger's is the table
``trial_access.reads`` of the same database. The same SQL (``?`` placeholders) serves both.

A row removed from the end leaves no break in the chain by itself; the row count and last
hash printed by ``trial-ledger access-log --verify`` are what an auditor notes to catch that.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ledger.errors import StorageError
from ledger.storage_errors import redact_text
from ledger.store.location import PostgresURL, StoreTarget

GENESIS_HASH = "0" * 64
PG_SCHEMA = "trial_access"
FIELDS = (
    "at",
    "key_id",
    "printed_name",
    "role",
    "site",
    "via",
    "route",
    "query",
    "subjects",
    "what",
    "evidence",
)

SQLITE_DDL = (
    """CREATE TABLE IF NOT EXISTS access_reads (
        seq INTEGER PRIMARY KEY, at TEXT NOT NULL, key_id TEXT NOT NULL,
        printed_name TEXT NOT NULL, role TEXT NOT NULL, site TEXT NOT NULL, via TEXT NOT NULL,
        route TEXT NOT NULL, query TEXT NOT NULL, subjects TEXT NOT NULL, what TEXT NOT NULL,
        evidence TEXT NOT NULL, prev_hash TEXT NOT NULL, row_hash TEXT NOT NULL)""",
    """CREATE TRIGGER IF NOT EXISTS access_reads_no_update BEFORE UPDATE ON access_reads
        BEGIN SELECT RAISE(ABORT, 'the access log is append-only'); END""",
    """CREATE TRIGGER IF NOT EXISTS access_reads_no_delete BEFORE DELETE ON access_reads
        BEGIN SELECT RAISE(ABORT, 'the access log is append-only'); END""",
)
PG_DDL = (
    # Created only if missing: CREATE SCHEMA checks the database's CREATE privilege even when
    # the schema exists, and `db init-roles` makes it for a reader role that has none.
    f"""DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = '{PG_SCHEMA}')
        THEN CREATE SCHEMA {PG_SCHEMA}; END IF; END $$""",
    f"""CREATE TABLE IF NOT EXISTS {PG_SCHEMA}.reads (
        seq BIGINT PRIMARY KEY, at TEXT NOT NULL, key_id TEXT NOT NULL,
        printed_name TEXT NOT NULL, role TEXT NOT NULL, site TEXT NOT NULL, via TEXT NOT NULL,
        route TEXT NOT NULL, query TEXT NOT NULL, subjects TEXT NOT NULL, what TEXT NOT NULL,
        evidence TEXT NOT NULL, prev_hash TEXT NOT NULL, row_hash TEXT NOT NULL)""",
    f"""CREATE OR REPLACE FUNCTION {PG_SCHEMA}.refuse_change() RETURNS trigger
        LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'the access log is append-only'; END $$""",
    f"""DO $$ BEGIN
        IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgname = 'reads_append_only'
            AND tgrelid = '{PG_SCHEMA}.reads'::regclass) THEN
            CREATE TRIGGER reads_append_only BEFORE UPDATE OR DELETE OR TRUNCATE
            ON {PG_SCHEMA}.reads FOR EACH STATEMENT EXECUTE FUNCTION {PG_SCHEMA}.refuse_change();
        END IF; END $$""",
)


@dataclass(frozen=True)
class Read:
    """One read by a person, as recorded."""

    at: str
    """UTC, ISO 8601 with microseconds and ``Z``."""
    key_id: str
    printed_name: str
    role: str
    site: str
    via: str
    route: str
    """``METHOD /path`` as requested."""
    query: str
    """The query string (a listing's filter), as requested."""
    subjects: str
    """The subject ids read, as a JSON array (empty for a listing that names none)."""
    what: str
    evidence: str


@dataclass(frozen=True)
class Row:
    seq: int
    read: Read
    prev_hash: str
    row_hash: str

    def to_json(self) -> dict[str, Any]:
        document: dict[str, Any] = {"seq": self.seq, **asdict(self.read)}
        document["subjects"] = json.loads(self.read.subjects)
        document.update(prev_hash=self.prev_hash, row_hash=self.row_hash)
        return document


def row_hash(seq: int, read: Read, prev_hash: str) -> str:
    body = {"seq": seq, **asdict(read), "prev_hash": prev_hash}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def chain_problems(rows: Sequence[Row]) -> list[str]:
    """Where the chain of ``rows`` (all of them, in order) breaks, one line per break."""
    problems: list[str] = []
    prev, expected_seq = GENESIS_HASH, 1
    for row in rows:
        if row.seq != expected_seq:
            problems.append(f"row {row.seq}: rows {expected_seq}..{row.seq - 1} are missing")
        if row.prev_hash != prev:
            problems.append(f"row {row.seq}: prev_hash does not match row {row.seq - 1}'s hash")
        if row_hash(row.seq, row.read, row.prev_hash) != row.row_hash:
            problems.append(f"row {row.seq}: its fields do not match its row_hash (altered)")
        prev, expected_seq = row.row_hash, row.seq + 1
    return problems


def default_location(db: StoreTarget) -> Path | PostgresURL:
    """Where a ledger's reads are recorded unless told: beside the file, or in its database."""
    if isinstance(db, PostgresURL):
        return db
    return Path(f"{db}.access.sqlite")


class AccessStore:
    """The table of reads, opened (created if new) at ``location``."""

    def __init__(self, location: Path | PostgresURL, *, create: bool = True) -> None:
        self.location = location
        self._lock = threading.Lock()
        self._pg = isinstance(location, PostgresURL)
        self.table = f"{PG_SCHEMA}.reads" if self._pg else "access_reads"
        self._errors: tuple[type[Exception], ...] = (sqlite3.Error, OSError)
        if self._pg:
            import psycopg  # noqa: PLC0415 - PostgreSQL ledgers only

            self._errors = (*self._errors, psycopg.Error)
        try:
            self._conn: Any = self._open(create)
        except (sqlite3.Error, OSError) as e:
            raise StorageError(f"access log {location}: cannot open it ({e})") from None

    def _open(self, create: bool) -> Any:  # a sqlite3 or a psycopg connection
        if isinstance(self.location, PostgresURL):
            from ledger.store.pg_reader import connect, pg_refusal  # noqa: PLC0415 - PG only

            try:
                conn: Any = connect(self.location, autocommit=True)
                if create:
                    for statement in PG_DDL:
                        conn.execute(statement)
            except self._errors as e:
                raise pg_refusal(e, self.location) from None
            return conn
        if not create and not self.location.exists():
            raise StorageError(f"access log {self.location}: no such file")
        conn = sqlite3.connect(self.location, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA busy_timeout=5000")
        for statement in SQLITE_DDL if create else ():
            conn.execute(statement)
        return conn

    def _sql(self, sql: str) -> str:
        sql = sql.replace("{table}", self.table)
        return sql.replace("?", "%s") if self._pg else sql

    def append(self, read: Read) -> int:
        """Record ``read`` as the next row of the chain (one short transaction); its seq."""
        with self._lock:
            try:
                return self._append(read)
            except self._errors as e:
                said = redact_text(" ".join(str(e).split()))
                raise StorageError(
                    f"access log {self.location}: cannot record the read ({said})"
                ) from None

    def _append(self, read: Read) -> int:
        conn = self._conn
        begin = f"LOCK TABLE {self.table} IN EXCLUSIVE MODE" if self._pg else None
        if self._pg:
            with conn.transaction():
                conn.execute(begin)
                return self._insert(read)
        conn.execute("BEGIN IMMEDIATE")
        try:
            seq = self._insert(read)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        return seq

    def _insert(self, read: Read) -> int:
        last = self._conn.execute(
            self._sql("SELECT seq, row_hash FROM {table} ORDER BY seq DESC LIMIT 1")
        ).fetchone()
        seq, prev = (1, GENESIS_HASH) if last is None else (int(last[0]) + 1, str(last[1]))
        values = (seq, *(getattr(read, f) for f in FIELDS), prev, row_hash(seq, read, prev))
        marks = ", ".join("?" for _ in values)
        columns = ", ".join(("seq", *FIELDS, "prev_hash", "row_hash"))
        self._conn.execute(self._sql(f"INSERT INTO {{table}} ({columns}) VALUES ({marks})"), values)
        return seq

    def rows(self) -> list[Row]:
        """Every row, in order."""
        columns = ", ".join(("seq", *FIELDS, "prev_hash", "row_hash"))
        with self._lock:
            try:
                fetched = self._conn.execute(
                    self._sql(f"SELECT {columns} FROM {{table}} ORDER BY seq")
                ).fetchall()
            except self._errors as e:
                said = redact_text(" ".join(str(e).split()))
                raise StorageError(f"access log {self.location}: cannot read it ({said})") from None
        return [
            Row(int(r[0]), Read(*(str(v) for v in r[1 : 1 + len(FIELDS)])), str(r[-2]), str(r[-1]))
            for r in fetched
        ]

    def close(self) -> None:
        with self._lock:
            self._conn.close()


def select(
    rows: Sequence[Row],
    *,
    subject: str | None = None,
    person: str | None = None,
    since: str | None = None,
    until: str | None = None,
) -> list[Row]:
    """The rows naming ``subject``, read by ``person`` (key id or printed name), at or after
    ``since`` and before ``until`` (ISO 8601 UTC texts, compared as such)."""
    return [
        row
        for row in rows
        if (subject is None or subject in json.loads(row.read.subjects))
        and (person is None or person in (row.read.key_id, row.read.printed_name))
        and (since is None or row.read.at >= since)
        and (until is None or row.read.at < until)
    ]
