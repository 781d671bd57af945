"""eventsourcing's own recorder test cases, run against the chaining, signing recorder of each
store: the SQLite file (``LedgerSQLiteRecorder``) and PostgreSQL (``LedgerPostgresRecorder``).

The library's test cases are unittest classes, so the stores are "parametrised" as one
abstract contract (the library's cases plus ours, :class:`_LedgerContract`) with one
subclass per store that makes the recorder; the abstract classes are deleted from the module
at the end so that only the concrete ones are collected.

Gotchas of the library's test cases:

* its concurrency test signals its reader threads to stop but does not join them; closing
  their connections under them would crash the interpreter (SQLite) or fail their last read
  (PostgreSQL): ``tearDown`` joins them first (not the connection pool's daemon threads,
  which end only when the store is closed);
* ``create_recorder`` may be called more than once on one store: the ledger id is written
  only if the store has none yet;
* every insert needs a seal (a signer): the recorders refuse unsigned appends, so the test
  recorder gets a default one.

Deliberate differences (each test that assumes the library's way instead is named here):

* notification ids are ledger positions, contiguous from 1 (both stores);
* on PostgreSQL originator ids are stored as text, the hex the leaves hash
  (``ORIGINATOR_ID_TYPE=text``), and come back as that text, not as a ``UUID``: the contract
  runs with hex-string originator ids there (the library's own way to test text ids).
"""

from __future__ import annotations

import tempfile
import threading
from abc import abstractmethod
from pathlib import Path
from typing import Generic, TypeVar
from uuid import UUID, uuid4

import pytest
from eventsourcing.sqlite import SQLiteDatastore
from eventsourcing.tests.persistence import ApplicationRecorderTestCase
from eventsourcing.utils import Environment

from ledger.store import CommitSeal, LedgerReader, LedgerSQLiteRecorder, LedgerStore
from ledger.store.location import PostgresURL, StoreTarget
from ledger.store.pg_recorder import LedgerPostgresFactory, LedgerPostgresRecorder
from ledger.verify import verify_ledger
from tests.support import new_signer

_R = TypeVar("_R", LedgerSQLiteRecorder, LedgerPostgresRecorder)


class _LedgerContract(ApplicationRecorderTestCase[_R], Generic[_R]):
    """The library's application-recorder contract, and the ledger's own checks on top."""

    target: StoreTarget

    def tearDown(self) -> None:
        super().tearDown()
        for thread in threading.enumerate():
            if thread is not threading.main_thread() and not thread.daemon:
                thread.join(timeout=10)  # the pool's own (daemon) threads end at close
        self.close_store()

    @abstractmethod
    def close_store(self) -> None: ...

    @staticmethod
    def initialise(recorder: _R, initialised: bool) -> _R:
        if not initialised:
            recorder.set_ledger_id(str(uuid4()))
        recorder.default_seal = CommitSeal(signer=new_signer())
        return recorder

    def test_every_inserted_event_gets_a_contiguous_position(self) -> None:
        self.test_insert_select()
        with LedgerReader(self.target) as reader:
            positions = [row.position for row in reader.iter_events()]
            commits = list(reader.iter_commits())
        self.assertEqual(positions, list(range(1, len(positions) + 1)))
        self.assertEqual(commits[-1].header.last_position, len(positions))

    def test_chain_of_contract_events_fails_only_on_authorisation(self) -> None:
        """The contract inserts arbitrary topics with no trial: verify refuses at position 1."""
        self.test_insert_select()
        with LedgerReader(self.target) as reader:
            report = verify_ledger(reader)
        self.assertFalse(report.ok)
        assert report.first_failure is not None
        self.assertEqual(report.first_failure.position, 1)
        self.assertIn("TrialCreated", report.first_failure.reason)


class TestSQLiteRecorderHonoursTheLibraryContract(_LedgerContract[LedgerSQLiteRecorder]):
    def setUp(self) -> None:
        self._folder = tempfile.TemporaryDirectory()
        self.target = self.db_path = Path(self._folder.name) / "contract.db"
        self.datastore = SQLiteDatastore(db_name=str(self.db_path))
        super().setUp()

    def close_store(self) -> None:
        self.datastore.close()
        self._folder.cleanup()

    def create_recorder(self) -> LedgerSQLiteRecorder:
        recorder = LedgerSQLiteRecorder(self.datastore)
        recorder.create_table()
        with self.datastore.transaction(commit=False) as c:
            c.execute("SELECT value FROM ledger_meta WHERE name='ledger_id'")
            initialised = c.fetchone() is not None
        return self.initialise(recorder, initialised)


class TestPostgresRecorderHonoursTheLibraryContract(_LedgerContract[LedgerPostgresRecorder]):
    """On a fresh database of the session's cluster (``pg_url``), as ``trial-ledger init``
    configures the recorder (the ledger's schema, text originator ids, the lock timeout)."""

    @pytest.fixture(autouse=True)
    def _fresh_database(self, pg_url: str) -> None:
        self.target = PostgresURL.parse(pg_url)

    def setUp(self) -> None:
        from ledger.store import postgres_env  # noqa: PLC0415

        assert isinstance(self.target, PostgresURL)
        env = Environment(LedgerStore.name, postgres_env(self.target, create=True))
        self.factory = LedgerPostgresFactory(env)
        super().setUp()

    def close_store(self) -> None:
        self.factory.close()

    def new_originator_id(self) -> UUID | str:
        return uuid4().hex

    def create_recorder(self) -> LedgerPostgresRecorder:
        recorder = self.factory.application_recorder()  # creates the tables (init's way)
        with self.factory.datastore.transaction(commit=False) as c:
            c.execute(b"SELECT value FROM ledger_meta WHERE name='ledger_id'")
            initialised = c.fetchone() is not None
        return self.initialise(recorder, initialised)


del ApplicationRecorderTestCase, _LedgerContract
