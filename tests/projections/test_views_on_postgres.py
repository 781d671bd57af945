"""Views of a PostgreSQL ledger: in the schema trial_views of its database, never in the
ledger's; byte-identical to a ledger file's views for the same ledger; a rebuild swapped in
whole; the read commands serving the same answers from either store; a follower's role."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import psycopg
import pytest

from cli import run
from ledger.service import TrialLedger
from ledger.store import LedgerReader
from ledger.store.location import LEDGER_SCHEMA, VIEWS_SCHEMA, PostgresURL, parse_store
from ledger.store.pg_tables import LEDGER_TABLES, Roles, role_statements
from projections.base import Context, Handler, Projection
from projections.connection import ViewsConnection
from projections.engine import ProjectionEngine, dump_views
from projections.engine.pg_sql import connect_views
from tests.projection_support import S2, RecordedTrial, recorded_trial, story  # noqa: F401
from tests.projections.store_support import copy_to_postgres
from tests.support import Cast, create_ledger


@pytest.fixture
def both(
    ledger: TrialLedger,
    recorded_trial: RecordedTrial,  # noqa: F811
    db_path: Path,
    pg_url: str,
) -> tuple[Path, PostgresURL]:
    """The story recorded in a ledger file, and the same rows in a PostgreSQL database."""
    for step in story(recorded_trial):
        step()
    url = parse_store(pg_url)
    assert isinstance(url, PostgresURL)
    copy_to_postgres(db_path, url)
    return db_path, url


@pytest.fixture
def pg_reader(both: tuple[Path, PostgresURL]) -> Iterator[LedgerReader]:
    reader = LedgerReader(both[1])
    yield reader
    reader.close()


def tables_by_schema(url: PostgresURL) -> dict[str, list[str]]:
    with psycopg.connect(url.conninfo()) as conn:
        rows = conn.execute(
            "SELECT schemaname, tablename FROM pg_tables WHERE schemaname NOT IN"
            " ('pg_catalog', 'information_schema') ORDER BY 1, 2"
        ).fetchall()
    found: dict[str, list[str]] = {}
    for schema, table in rows:
        found.setdefault(str(schema), []).append(str(table))
    return found


def test_the_same_ledger_on_either_store_gives_byte_identical_views(
    ledger: TrialLedger, both: tuple[Path, PostgresURL], pg_reader: LedgerReader, tmp_path: Path
) -> None:
    on_file = ProjectionEngine(ledger.reader, tmp_path / "v.sqlite")
    on_file.catch_up()
    on_postgres = ProjectionEngine(pg_reader)
    assert on_postgres.catch_up().to_position == ledger.reader.size()
    assert on_postgres.dump() == on_file.dump()
    on_postgres.rebuild()
    assert on_postgres.dump() == on_file.dump()
    assert on_postgres.verify_views().ok


def test_views_are_kept_in_their_own_schema_never_in_the_ledgers(
    both: tuple[Path, PostgresURL], pg_reader: LedgerReader
) -> None:
    engine = ProjectionEngine(pg_reader)
    engine.catch_up()
    engine.rebuild()
    assert engine.verify_views().ok
    tables = tables_by_schema(both[1])
    assert tables[LEDGER_SCHEMA] == sorted(LEDGER_TABLES)
    views = ["tracking", *(t for p in engine._factory() for t in p.tables), "views_proof"]
    assert tables[VIEWS_SCHEMA] == sorted(views)
    assert set(tables) == {LEDGER_SCHEMA, VIEWS_SCHEMA}  # the scratch schemas are left empty
    assert engine.views.name.endswith(f"(schema {VIEWS_SCHEMA})")


def test_readers_see_the_old_views_until_a_rebuild_is_swapped_in(
    both: tuple[Path, PostgresURL], pg_reader: LedgerReader
) -> None:
    engine = ProjectionEngine(pg_reader, rebuild_batch_size=10)
    engine.catch_up()
    before = engine.dump()
    with psycopg.connect(both[1].conninfo()) as conn:
        conn.execute(f"UPDATE {VIEWS_SCHEMA}.audit_keys SET printed_name = 'edited'".encode())
    edited = engine.dump()
    seen: list[str] = []

    def look(done: int, total: int) -> None:
        if done < total and len(seen) < 3:
            seen.append(engine.dump())

    engine.rebuild(look)
    assert len(seen) == 3
    assert set(seen) == {edited}  # the old views, whole, while the rebuild is built
    assert engine.dump() == before


class Names(Projection):
    """A view of one table of text and NULLs, to see the order a dump gives them."""

    name: ClassVar[str] = "names"
    handles: ClassVar[frozenset[str]] = frozenset()
    ignores: ClassVar[frozenset[str]] = frozenset()
    tables: ClassVar[tuple[str, ...]] = ("names",)

    def create(self, conn: ViewsConnection) -> None:
        conn.execute("CREATE TABLE IF NOT EXISTS names (name TEXT, rank INTEGER, raw BLOB)")

    def start(self, ctx: Context) -> None:
        return None

    def handlers(self) -> dict[str, Handler]:
        return {}

    def flush(self, conn: ViewsConnection, upto: int) -> None:
        return None


def test_a_dump_orders_text_by_code_point_and_null_first_on_either_store(
    pg_url: str, tmp_path: Path
) -> None:
    rows = [("b", 1, b"\x01"), ("B", None, None), (None, 2, b""), ("é", 3, b"\xff"), ("a", 4, None)]
    rows += [("Z", 5, b"\x00"), ("a", None, b"\x02")]
    url = parse_store(pg_url)
    assert isinstance(url, PostgresURL)
    dumps = []
    pg = connect_views(url, "public")
    file = sqlite3.connect(tmp_path / "names.sqlite")
    conn: ViewsConnection
    for conn in (file, pg):
        conn.execute(
            "CREATE TABLE IF NOT EXISTS tracking (projection TEXT PRIMARY KEY,"
            " position INTEGER NOT NULL, leaf_hash BLOB NOT NULL, version INTEGER NOT NULL)"
        )
        Names().create(conn)
        conn.executemany("INSERT INTO names (name, rank, raw) VALUES (?,?,?)", rows)
        conn.execute(
            "INSERT OR REPLACE INTO tracking (projection, position, leaf_hash, version)"
            " VALUES (?,?,?,?)",
            ("names", 7, b"\x07", 1),
        )
        dumps.append(dump_views(conn, [Names()]))
        conn.close()
    assert dumps[0] == dumps[1]
    assert dumps[0].splitlines()[3:5] == ["(None, 2, '')", "('B', None, None)"]


def _without_proof(document: Any) -> Any:
    if isinstance(document, dict):
        return {k: _without_proof(v) for k, v in document.items() if k != "views_proved"}
    return document


def _json(argv: list[str], capsys: pytest.CaptureFixture[str]) -> Any:
    capsys.readouterr()
    assert run(argv) == 0, capsys.readouterr().err
    return json.loads(capsys.readouterr().out)


def test_read_commands_serve_the_same_answers_from_either_store(
    both: tuple[Path, PostgresURL], capsys: pytest.CaptureFixture[str]
) -> None:
    db, url = str(both[0]), both[1].conninfo()
    for command in (["summary", "--trust-views"], ["patient", S2], ["audit-trail", "--type",
                    "CorrectionRecorded"]):  # fmt: skip
        on_file = _json([*command, "--db", db, "--json"], capsys)
        on_postgres = _json([*command, "--db", url, "--json"], capsys)
        assert _without_proof(on_postgres) == _without_proof(on_file)
    caught = _json(["projections", "catch-up", "--db", url, "--json"], capsys)
    assert (caught["mode"], caught["views"]) == ("up-to-date", f"{url} (schema trial_views)")
    assert _json(["projections", "verify", "--db", url, "--json"], capsys)["ok"] is True
    status = _json(["projections", "status", "--db", url, "--json"], capsys)
    assert status["views_proved"]["position"] == status["ledger_size"]
    rebuilt = _json(["projections", "rebuild", "--db", url, "--json"], capsys)
    assert rebuilt["to_position"] == status["ledger_size"]
    assert run(["summary", "--db", url, "--json"]) == 0  # proves the views first


def test_a_follower_as_the_reader_role_keeps_views_it_owns_and_the_writer_may_read(
    pg_url: str, cast: Cast
) -> None:
    admin = parse_store(pg_url)
    assert isinstance(admin, PostgresURL)
    roles = Roles()
    with psycopg.connect(admin.conninfo(), autocommit=True) as conn:
        for statement in role_statements(roles, admin.dbname):
            conn.execute(statement.encode())
    create_ledger(admin.with_user(roles.writer), cast).close()
    reader = LedgerReader(admin.with_user(roles.reader))
    try:
        follower = ProjectionEngine(reader)  # init-roles made its scratch schemas too
        assert follower.follow(once=True) == 1
        follower.close()
    finally:
        reader.close()
    with psycopg.connect(admin.with_user(roles.writer).conninfo()) as conn:
        assert conn.execute(b"SELECT count(*) FROM trial_views.tracking").fetchone() == (2,)
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="permission denied"):
            conn.execute(b"DELETE FROM trial_views.tracking")
    with psycopg.connect(admin.conninfo()) as conn:
        owners = conn.execute(
            b"SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname = 'trial_views'"
        ).fetchall()
    assert owners == [(roles.reader,)]
    assert tables_by_schema(admin)[LEDGER_SCHEMA] == sorted(LEDGER_TABLES)
