"""An intact ledger is never reported as broken: checkpoints at any size, any appends after.

The most basic auditor step (checkpoint, then verify against it, with nothing or anything
appended since) must pass, in every mode, through the command line, on either store. A file
that is no checkpoint at all is refused as such whatever the store: that one runs on a file.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger.service import TrialLedger
from ledger.store.location import StoreTarget
from tests.adversarial.ledgers import (
    PASSPHRASE,
    append_events,
    init_ledger,
    passphrase_env,
    run_cli,
    staff,
)
from tests.store_params import Stores, sqlite_only


def verify_json(capsys: pytest.CaptureFixture[str], *argv: object) -> dict[str, object]:
    capsys.readouterr()
    code = run_cli("verify", *argv, "--json")
    document: dict[str, object] = json.loads(capsys.readouterr().out)
    assert code == 0, document
    return document


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(before=st.integers(0, 12), after=st.integers(0, 12), seed=st.integers(0, 2**16))
def test_checkpoint_then_verify_against_it_passes_for_any_size_and_any_appends(
    tmp_path_factory: pytest.TempPathFactory,
    capsys: pytest.CaptureFixture[str],
    stores: Stores,
    before: int,
    after: int,
    seed: int,
) -> None:
    folder = tmp_path_factory.mktemp("nofalse")
    db, sponsor, _ = init_ledger(folder, stores.new(folder))
    rng = random.Random(seed)
    versions: dict[str, int] = {}
    with TrialLedger.open(db) as ledger:
        people = staff(ledger, sponsor)
        append_events(ledger, people, versions, before, rng)
    state = folder / "state"
    cp = folder / "k.checkpoint"
    with passphrase_env():
        assert (
            run_cli("checkpoint", "--db", db, "--ledger-key", folder / "ledger.key", "--out", cp)
            == 0
        )
        # zero events since the checkpoint: every mode passes
        verify_json(capsys, "--db", db, "--against", cp)
        first = verify_json(capsys, "--db", db, "--state", state, "--against", cp)
        assert first["mode"] == "full"
        again = verify_json(capsys, "--db", db, "--state", state, "--against", cp)
        assert again["mode"] == "incremental"
        assert again["events"] == 0
        with TrialLedger.open(db) as ledger:
            append_events(ledger, people, versions, after, rng)
        full = verify_json(capsys, "--db", db, "--against", cp)
        incremental = verify_json(capsys, "--db", db, "--state", state, "--against", cp)
        assert incremental["mode"] == "incremental"
        assert incremental["root"] == full["root"]
        assert incremental["tree_size"] == full["tree_size"]
        cp2 = folder / "k2.checkpoint"
        assert (
            run_cli("checkpoint", "--db", db, "--ledger-key", folder / "ledger.key", "--out", cp2)
            == 0
        )
        verify_json(capsys, "--db", db, "--against", cp2)
        verify_json(capsys, "--db", db, "--against", cp)
        # the sponsor's published key as the anchor: a fresh full pass, then incremental again
        pub = folder / "sponsor.key.pub"
        pinned = verify_json(capsys, "--db", db, "--state", state, "--sponsor-key", pub)
        assert pinned["mode"] == "full"
        assert verify_json(capsys, "--db", db, "--state", state, "--sponsor-key", pub)["mode"] == (
            "incremental"
        )


def test_readme_short_session_checkpoint_then_verify_against_passes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], store_target: StoreTarget
) -> None:
    """The README's own sequence: init, checkpoint, verify --against it, nothing appended."""
    db, _, _ = init_ledger(tmp_path, store_target)
    with passphrase_env():
        cp = tmp_path / "today.checkpoint"
        assert (
            run_cli("checkpoint", "--db", db, "--ledger-key", tmp_path / "ledger.key", "--out", cp)
            == 0
        )
    document = verify_json(capsys, "--db", db, "--against", cp)
    assert document["ok"] is True
    assert document["tree_size"] == 1
    assert PASSPHRASE  # the key files above were opened with it


def test_verify_against_a_checkpoint_of_another_ledger_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], stores: Stores
) -> None:
    one, two = tmp_path / "one", tmp_path / "two"
    one.mkdir()
    two.mkdir()
    db_one, _, _ = init_ledger(one, stores.new(one))
    db_two, _, _ = init_ledger(two, stores.new(two))
    with passphrase_env():
        cp = two / "two.checkpoint"
        assert (
            run_cli(
                "checkpoint",
                "--db",
                db_two,
                "--ledger-key",
                two / "ledger.key",
                "--out",
                cp,
            )
            == 0
        )
    capsys.readouterr()
    assert run_cli("verify", "--db", db_one, "--against", cp) == 2
    err = capsys.readouterr().err
    assert "--against" in err
    assert "give a checkpoint of this ledger" in err
    assert "position 0" not in err


@sqlite_only()
def test_verify_against_a_file_that_is_no_checkpoint_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], store_target: StoreTarget
) -> None:
    db, _, _ = init_ledger(tmp_path, store_target)
    for content in (b"garbage\n", b"\x00\xff" * 100, b""):
        junk = tmp_path / "junk.checkpoint"
        junk.write_bytes(content)
        capsys.readouterr()
        assert run_cli("verify", "--db", db, "--against", junk) == 2
        err = capsys.readouterr().err
        assert "--against" in err
        assert "Traceback" not in err
