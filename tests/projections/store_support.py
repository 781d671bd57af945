"""Projection tests on either store: a ledger in a SQLite file or in a PostgreSQL database.

``store`` is parametrised over both (the PostgreSQL case marked ``postgres``, a fresh
database per test); ``store_trial`` is a :class:`~tests.projection_support.Trial` on that
store. :func:`views_at` names a set of views beside the ledger (a file in the test's
folder, or a schema of the ledger's database), :func:`tamper_state` edits a stored event as
an attacker with the database's own rights would, :func:`copy_to_postgres` writes a ledger
file's rows as they are into a PostgreSQL database.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from ledger.service import TrialLedger
from ledger.store import APPEND_ONLY_TABLES
from ledger.store.location import LEDGER_SCHEMA, PostgresURL, StoreTarget, parse_store
from ledger.store.pg_tables import LEDGER_TABLES, schema_statements
from projections.engine import ProjectionEngine, ViewsStore
from projections.engine.pg_views import PgViews
from tests.projection_support import Trial
from tests.support import Cast, create_ledger

STORES = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(params=STORES)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> StoreTarget:
    """Where the test's ledger is kept: a file, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return tmp_path / "trial.db"
    return parse_store(str(request.getfixturevalue("pg_url")))


@pytest.fixture
def store_ledger(store: StoreTarget, cast: Cast) -> Iterator[TrialLedger]:
    ledger = create_ledger(store, cast)
    yield ledger
    ledger.close()


@pytest.fixture
def store_trial(store_ledger: TrialLedger, cast: Cast) -> Trial:
    return Trial(store_ledger, cast)


def views_at(ledger: TrialLedger, folder: Path, name: str) -> Path | ViewsStore:
    """Views named ``name`` beside ``ledger``: ``<folder>/<name>.sqlite`` for a ledger file,
    the schema ``<name>`` of a PostgreSQL ledger's database."""
    if isinstance(ledger.target, PostgresURL):
        return PgViews(ledger.target, name)
    return folder / f"{name}.sqlite"


def engine_at(
    ledger: TrialLedger,
    folder: Path,
    name: str,
    *,
    batch_size: int = 5_000,
    parallel_threshold: int = 50_000,
) -> ProjectionEngine:
    """An engine over ``ledger`` keeping its views at :func:`views_at` ``name``."""
    return ProjectionEngine(
        ledger.reader,
        views_at(ledger, folder, name),
        batch_size=batch_size,
        parallel_threshold=parallel_threshold,
    )


def tamper_state(target: StoreTarget, position: int, old: str, new: str) -> None:
    """Replace ``old`` by ``new`` in the stored state at ``position``, the append-only
    triggers out of the way (a database owner or superuser can)."""
    if isinstance(target, PostgresURL):
        table = f"{LEDGER_SCHEMA}.stored_events"
        with psycopg.connect(target.conninfo()) as conn:
            conn.execute(f"ALTER TABLE {table} DISABLE TRIGGER ALL".encode())
            conn.execute(
                f"UPDATE {table} SET state = convert_to(replace(convert_from(state, 'UTF8'),"
                " %s, %s), 'UTF8') WHERE position = %s".encode(),
                (old, new, position),
            )
            conn.execute(f"ALTER TABLE {table} ENABLE TRIGGER ALL".encode())
        return
    file = sqlite3.connect(target)
    try:
        for table in APPEND_ONLY_TABLES:
            for action in ("update", "delete"):
                file.execute(f"DROP TRIGGER IF EXISTS {table}_no_{action}")
        with file:
            file.execute(
                "UPDATE stored_events SET state = CAST(replace(state, ?, ?) AS BLOB)"
                " WHERE position=?",
                (old, new, position),
            )
    finally:
        file.close()


def copy_to_postgres(db: Path, url: PostgresURL) -> None:
    """The ledger tables of ``url`` (created), holding the rows of the ledger file ``db`` as
    they are: the same ledger on the other store."""
    source = sqlite3.connect(f"file:{db.resolve()}?mode=ro", uri=True)
    try:
        with psycopg.connect(url.conninfo()) as conn:
            for statement in schema_statements():
                conn.execute(statement.encode())
            for table in LEDGER_TABLES:
                found = conn.execute(
                    "SELECT column_name FROM information_schema.columns WHERE table_schema = %s"
                    " AND table_name = %s ORDER BY ordinal_position",
                    (LEDGER_SCHEMA, table),
                ).fetchall()
                columns = ", ".join(str(r[0]) for r in found)
                rows = source.execute(f"SELECT {columns} FROM {table}").fetchall()
                marks = ", ".join(["%s"] * len(found))
                insert = f"INSERT INTO {LEDGER_SCHEMA}.{table} ({columns}) VALUES ({marks})"
                with conn.cursor() as cursor:
                    cursor.executemany(insert.encode(), rows)
    finally:
        source.close()
