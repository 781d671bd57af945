"""The ledger's own tables beside eventsourcing's events table (commits, checkpoints, meta),
the triggers that keep all of them append-only, and the one write outside a commit: keeping
a signed checkpoint."""

from __future__ import annotations

import sqlite3

from ledger.store.location import PostgresURL, StoreTarget

SCHEMA = (
    """CREATE TABLE IF NOT EXISTS ledger_commits (
        seq INTEGER PRIMARY KEY,
        first_position INTEGER NOT NULL,
        last_position INTEGER NOT NULL,
        prev_leaf BLOB NOT NULL,
        events_root BLOB NOT NULL,
        signer TEXT NOT NULL,
        meaning TEXT NOT NULL,
        recorded_at TEXT NOT NULL,
        signature BLOB NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS ledger_checkpoints (
        tree_size INTEGER PRIMARY KEY,
        note TEXT NOT NULL,
        frontier TEXT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS ledger_meta (
        name TEXT PRIMARY KEY,
        value TEXT NOT NULL)""",
)
APPEND_ONLY_TABLES = ("stored_events", "ledger_commits", "ledger_checkpoints", "ledger_meta")


def append_only_triggers() -> list[str]:
    return [
        f"CREATE TRIGGER IF NOT EXISTS {table}_no_{action.lower()} "
        f"BEFORE {action} ON {table} BEGIN "
        f"SELECT RAISE(ABORT, 'the ledger is append-only: {action} on {table} refused'); "
        "END"
        for table in APPEND_ONLY_TABLES
        for action in ("UPDATE", "DELETE")
    ]


def save_checkpoint(db_path: StoreTarget, tree_size: int, note: str, frontier_json: str) -> None:
    """Keep a signed checkpoint (and the Merkle frontier at its size) inside the ledger."""
    if isinstance(db_path, PostgresURL):
        from ledger.store.pg_reader import connect  # noqa: PLC0415 - PostgreSQL only

        with connect(db_path) as pg:
            pg.execute(
                "INSERT INTO ledger_checkpoints (tree_size, note, frontier) VALUES (%s,%s,%s)"
                " ON CONFLICT (tree_size) DO NOTHING",
                (tree_size, note, frontier_json),
            )
        return
    conn = sqlite3.connect(db_path)
    try:
        with conn:
            conn.execute(
                "INSERT OR IGNORE INTO ledger_checkpoints (tree_size, note, frontier)"
                " VALUES (?,?,?)",
                (tree_size, note, frontier_json),
            )
    finally:
        conn.close()
