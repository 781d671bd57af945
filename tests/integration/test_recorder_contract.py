"""eventsourcing's own recorder test cases, run against the chaining, signing recorder."""

from __future__ import annotations

import tempfile
import threading
from pathlib import Path
from uuid import uuid4

from eventsourcing.sqlite import SQLiteDatastore
from eventsourcing.tests.persistence import ApplicationRecorderTestCase

from ledger.store import CommitSeal, LedgerReader, LedgerSQLiteRecorder
from ledger.verify import verify_ledger
from tests.support import new_signer


class TestLedgerRecorderHonoursTheLibraryContract(
    ApplicationRecorderTestCase[LedgerSQLiteRecorder]
):
    def setUp(self) -> None:
        self._folder = tempfile.TemporaryDirectory()
        self.db_path = Path(self._folder.name) / "contract.db"
        self.datastore = SQLiteDatastore(db_name=str(self.db_path))
        super().setUp()

    def tearDown(self) -> None:
        super().tearDown()
        # The library's concurrency test signals its reader threads to stop but does not join
        # them; closing their connections under them would crash the interpreter.
        for thread in threading.enumerate():
            if thread is not threading.main_thread():
                thread.join(timeout=10)
        self.datastore.close()
        self._folder.cleanup()

    def create_recorder(self) -> LedgerSQLiteRecorder:
        recorder = LedgerSQLiteRecorder(self.datastore)
        recorder.create_table()
        with self.datastore.transaction(commit=False) as c:
            c.execute("SELECT value FROM ledger_meta WHERE name='ledger_id'")
            initialised = c.fetchone() is not None
        if not initialised:
            recorder.set_ledger_id(str(uuid4()))
        recorder.default_seal = CommitSeal(signer=new_signer())
        return recorder

    def test_every_inserted_event_gets_a_contiguous_position(self) -> None:
        self.test_insert_select()
        with LedgerReader(self.db_path) as reader:
            positions = [row.position for row in reader.iter_events()]
            commits = list(reader.iter_commits())
        self.assertEqual(positions, list(range(1, len(positions) + 1)))
        self.assertEqual(commits[-1].header.last_position, len(positions))

    def test_chain_of_contract_events_fails_only_on_authorisation(self) -> None:
        """The contract inserts arbitrary topics with no trial: verify refuses at position 1."""
        self.test_insert_select()
        with LedgerReader(self.db_path) as reader:
            report = verify_ledger(reader)
        self.assertFalse(report.ok)
        assert report.first_failure is not None
        self.assertEqual(report.first_failure.position, 1)
        self.assertIn("TrialCreated", report.first_failure.reason)


del ApplicationRecorderTestCase
