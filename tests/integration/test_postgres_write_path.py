"""The PostgreSQL write path: the head read after the lock whatever the database's default
isolation, the commit announced on the channel only once it is durable, and a genesis that is
all or nothing."""

from __future__ import annotations

import threading
from typing import Any

import psycopg
import pytest
from psycopg import sql

from ledger.errors import ConcurrencyError
from ledger.service import TrialLedger
from ledger.store.location import parse_store
from ledger.store.pg_tables import NOTIFY_CHANNEL
from ledger.verify import verify_ledger
from tests.support import Cast, create_ledger, screening
from tools.pg_cluster import PgCluster


def dbname_of(url: str) -> str:
    return url.rsplit("/", 1)[1]


@pytest.mark.parametrize("isolation", ["repeatable read", "serializable"])
def test_concurrent_writers_extend_the_head_whatever_the_default_isolation(
    isolation: str, pg_cluster: PgCluster, pg_url: str, cast: Cast
) -> None:
    pg_cluster.execute(
        sql.SQL("ALTER DATABASE {} SET default_transaction_isolation = {}").format(
            sql.Identifier(dbname_of(pg_url)), sql.Literal(isolation)
        )
    )
    create_ledger(parse_store(pg_url), cast).close()
    failures: list[BaseException] = []
    start = threading.Barrier(4)

    def writer(n: int) -> None:
        with TrialLedger.open(parse_store(pg_url)) as ledger:
            start.wait()
            for k in range(5):
                try:
                    ledger.append(cast.coordinator, [screening(f"MC0282-001-{n}{k:02d}")])
                except BaseException as e:  # noqa: BLE001 - collected for the assertion
                    failures.append(e)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(1, 5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
    with TrialLedger.open(parse_store(pg_url)) as ledger:
        with ledger.reader.snapshot():
            assert verify_ledger(ledger.reader).ok
        positions = [r.position for r in ledger.reader.iter_events()]
    assert positions == list(range(1, len(positions) + 1))


def test_a_commit_is_announced_on_the_channel_only_when_it_is_durable(
    pg_url: str, cast: Cast
) -> None:
    ledger = create_ledger(parse_store(pg_url), cast)
    with psycopg.connect(pg_url, autocommit=True) as listener:
        listener.execute(f"LISTEN {NOTIFY_CHANNEL}")
        with pytest.raises(ConcurrencyError, match="another commit extended the same record"):
            # version 1 of a stream twice: refused inside the transaction, which rolls back
            ledger.append(
                cast.coordinator, [screening("MC0282-001-001"), screening("MC0282-001-001")]
            )
        recorded = ledger.append(cast.coordinator, [screening("MC0282-001-002")])
        heard: list[Any] = list(listener.notifies(timeout=2.0, stop_after=1))
    ledger.close()
    assert [n.payload for n in heard] == [f"{recorded.header.seq} {recorded.header.last_position}"]


def test_a_genesis_that_fails_leaves_no_ledger_id_behind(pg_url: str, cast: Cast) -> None:
    target = parse_store(pg_url)
    create_ledger(target, cast).close()
    with psycopg.connect(pg_url) as conn:
        ids = conn.execute("SELECT value FROM trial_ledger.ledger_meta").fetchall()
    assert len(ids) == 1
    with pytest.raises(Exception, match="already holds a trial ledger"):
        create_ledger(target, cast)
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT count(*) FROM trial_ledger.ledger_meta").fetchone() == (1,)
