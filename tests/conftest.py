"""Shared fixtures: throwaway ledgers with a registered cast of (synthetic) trial staff."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

from ledger.service import TrialLedger
from tests.support import Cast, create_ledger, new_signer

pytest_plugins = ["tests.pg_fixtures", "tests.store_params"]

# CI runs the properties on a fixed seed, so a submission's result does not depend on luck;
# runs elsewhere draw new examples each time (and keep failures in .hypothesis/).
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")


@pytest.fixture(scope="session")
def cast() -> Cast:
    return Cast(*(new_signer() for _ in range(7)))


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "trial.db"


@pytest.fixture
def ledger(db_path: Path, cast: Cast) -> Iterator[TrialLedger]:
    created = create_ledger(db_path, cast)
    yield created
    created.close()
