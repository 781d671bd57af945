"""Fixtures of the picture tests: one verified source per module over the session's demo
ledger, and what the command line says of that ledger (``verify --json``, ``summary --json``
and ``patient --json`` of every screened subject; once a session, the ledger is read-only), run
as users run it, in-process."""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest

import cli
from projections.exports import ExportSource, verified_source

if TYPE_CHECKING:
    from tests.exports.conftest import Demo


@dataclass(frozen=True)
class Result:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


def run(*argv: object) -> Result:
    """One `trial-ledger` command line, in-process (`cli.run` is what the console script runs)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.run([str(a) for a in argv])
    return Result(code, out.getvalue(), err.getvalue())


def cli_json(*argv: object) -> Any:
    result = run(*argv, "--json")
    assert result.code == 0, result
    return result.json()


@pytest.fixture(scope="module")
def source(demo: Demo) -> Iterator[ExportSource]:
    with verified_source(demo.db) as found:
        yield found


@pytest.fixture(scope="session")
def verify_doc(demo: Demo) -> dict[str, Any]:
    found: dict[str, Any] = cli_json("verify", "--db", demo.db)
    return found


@pytest.fixture(scope="session")
def summary_doc(demo: Demo) -> dict[str, Any]:
    found: dict[str, Any] = cli_json("summary", "--db", demo.db)
    return found


@pytest.fixture(scope="session")
def patients(demo: Demo, summary_doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """``patient --json`` of every screened subject (the summary's treated and not treated)."""
    populations = summary_doc["populations"]
    ids = [*populations["treated_subject_ids"]]
    ids += [s["subject_id"] for s in populations["not_treated"]]
    assert len(ids) == populations["screened"]
    return {sid: cli_json("patient", sid, "--db", demo.db) for sid in sorted(ids)}
