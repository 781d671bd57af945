"""Progress of a catch-up or rebuild: (events consumed so far, total), reported a bounded
number of times and ending at the total."""

from __future__ import annotations

from collections.abc import Callable
from itertools import pairwise
from pathlib import Path

from ledger.service import TrialLedger
from projections.engine.consume import PROGRESS_CALLS
from tests.projection_support import S1, S2, Trial, engine_for, story, trial  # noqa: F401


def _recorder() -> tuple[list[tuple[int, int]], Callable[[int, int], None]]:
    calls: list[tuple[int, int]] = []

    def progress(done: int, total: int) -> None:
        calls.append((done, total))

    return calls, progress


def _non_decreasing(calls: list[tuple[int, int]]) -> bool:
    return all(a[0] <= b[0] for a, b in pairwise(calls))


def test_rebuild_reports_progress_up_to_the_total(
    ledger: TrialLedger,
    trial: Trial,  # noqa: F811
    tmp_path: Path,
) -> None:
    for step in story(trial):
        step()
    calls: list[tuple[int, int]] = []
    engine = engine_for(ledger, tmp_path / "v.sqlite", rebuild_batch_size=7)
    report = engine.rebuild(lambda done, total: calls.append((done, total)))
    size = ledger.reader.size()
    assert report.events == size
    assert calls[-1] == (size, size)
    assert {total for _, total in calls} == {size}
    assert _non_decreasing(calls)


def test_catch_up_reports_progress_of_the_events_appended_since(
    ledger: TrialLedger,
    trial: Trial,  # noqa: F811
    tmp_path: Path,
) -> None:
    trial.onboard(S1)
    engine = engine_for(ledger, tmp_path / "v.sqlite", batch_size=3)
    engine.catch_up()
    trial.append(*trial.doses(S1, "2003-02-01", 20))
    calls: list[tuple[int, int]] = []
    report = engine.catch_up(lambda done, total: calls.append((done, total)))
    assert (report.mode, report.events) == ("incremental", 20)
    assert calls[-1] == (20, 20)
    assert _non_decreasing(calls)
    calls.clear()
    assert engine.catch_up(lambda done, total: calls.append((done, total))).mode == "up-to-date"
    assert calls == []


def test_progress_is_reported_a_bounded_number_of_times_however_small_the_batches(
    ledger: TrialLedger,
    trial: Trial,  # noqa: F811
    tmp_path: Path,
) -> None:
    trial.onboard(S1)
    trial.onboard(S2)
    trial.append(*trial.doses(S1, "2003-02-01", 600))
    trial.append(*trial.doses(S2, "2003-02-01", 600))
    size = ledger.reader.size()
    for options in ({"rebuild_batch_size": 1}, {"rebuild_batch_size": 1, "parallel_threshold": 1}):
        calls, progress = _recorder()
        engine = engine_for(ledger, tmp_path / "v.sqlite", **options)
        engine.rebuild(progress)
        assert len(calls) <= PROGRESS_CALLS + 1
        assert calls[-1] == (size, size)
        assert _non_decreasing(calls)
