"""Pytest fixtures for tests that need PostgreSQL (loaded by tests/conftest.py as a plugin).

``pg_cluster`` is one throwaway cluster for the whole session; ``pg_url`` is a fresh database
in it for each test (its superuser URL), dropped afterwards. Without the server binaries such
tests are skipped, except under CI (``CI`` set), which installs them and so fails instead.
Tests that use either fixture are marked ``postgres`` (added here if the test forgot), so
``-m "not postgres"`` deselects them.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

from tools.pg_cluster import PgCluster, binaries_available

PG_FIXTURES = frozenset({"pg_cluster", "pg_url"})


def require_postgres() -> None:
    """Skip the test when the PostgreSQL server binaries are missing; fail instead under CI."""
    if binaries_available():
        return
    message = (
        "PostgreSQL server binaries not installed (initdb, pg_ctl, postgres under "
        "/usr/lib/postgresql/*/bin or pg_config --bindir; Debian: apt-get install postgresql)"
    )
    if os.environ.get("CI"):
        pytest.fail(f"{message}; CI must install them rather than skip", pytrace=False)
    pytest.skip(message)


@pytest.hookimpl(tryfirst=True)  # before -m selects on markers
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if PG_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.postgres)


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PgCluster]:
    """One throwaway cluster for the test session, removed at its end."""
    require_postgres()
    with PgCluster() as cluster:
        yield cluster


@pytest.fixture
def pg_url(pg_cluster: PgCluster) -> Iterator[str]:
    """A fresh database for this test: its superuser URL; dropped after the test."""
    require_postgres()
    name = f"test_{uuid.uuid4().hex[:16]}"
    url = pg_cluster.create_database(name)
    yield url
    pg_cluster.drop_database(name)
