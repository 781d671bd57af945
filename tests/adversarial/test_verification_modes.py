"""An attacker holds the ledger's store: each verification mode catches what the threat model
says, on a SQLite file and on a PostgreSQL database alike.

The ledger is tampered with as a copy of a real one (raw SQL past the append-only triggers:
the file's triggers dropped, or the database's superuser with triggers off), then every mode is
run through the command line as an auditor runs it, on that one mutated copy (verification
only reads the ledger: checked by a digest of its rows after the modes ran).
``mutations.expected_exit`` is the README's threat model as code; a mutation a mode must catch
and does not is a blind spot.
"""

from __future__ import annotations

import json
import shutil
from collections import Counter
from functools import partial
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger.store.location import StoreTarget
from tests.adversarial import mutations as m
from tests.adversarial.ledgers import (
    Base,
    attacker,
    build_base,
    content_digest,
    copy_base,
    run_cli,
)
from tests.store_params import STORE_PARAMS, Stores


@pytest.fixture(scope="module", params=STORE_PARAMS)
def base(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Base:
    return build_base(tmp_path_factory.mktemp("base"), Stores(request.param, request))


def run_mode(mode: str, base: Base, db: StoreTarget, state: Path, k: int, work: Path) -> int:
    pub = f"{base.sponsor_key}.pub"
    if mode == "full":
        return run_cli("verify", "--db", db)
    if mode == "sponsor":
        return run_cli("verify", "--db", db, "--sponsor-key", pub)
    if mode == "against":
        return run_cli("verify", "--db", db, "--against", base.notes[k])
    if mode == "state":
        return run_cli("verify", "--db", db, "--state", state)
    bundle = work / f"bundle-{k}"
    shutil.rmtree(bundle, ignore_errors=True)
    code = run_cli("export-bundle", "--db", db, "--out", bundle)
    if code != 0:
        return code
    return run_cli("verify-bundle", bundle, "--sponsor-key", pub)


def outcomes(base: Base, work: Path, mutate: m.Mutator, k: int) -> dict[str, tuple[int, int]]:
    """(expected, found) exit per mode, every mode on one fresh copy of the mutated ledger."""
    shutil.rmtree(work / "ledger", ignore_errors=True)
    db, state = copy_base(base, work / "ledger")
    before = content_digest(db)
    touched = m.apply(db, mutate)
    mutated = content_digest(db)
    if mutated == before:
        raise m.NoChange("the mutation changed nothing")
    results: dict[str, tuple[int, int]] = {}
    for mode in m.MODES:
        folder = work / mode
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        results[mode] = (
            m.expected_exit(touched, mode, base, k),
            run_mode(mode, base, db, state, k, folder),
        )
    assert content_digest(db) == mutated, "a verification mode wrote to the ledger"
    return results


def sweep(base: Base) -> list[tuple[str, m.Mutator]]:
    """A broad deterministic set: every column of events and commits at spread positions,
    deletes, swaps, inserts, kept checkpoints, the ledger id, and cuts at boundaries."""
    n, s = base.size, base.state_size
    spread = sorted({1, 2, 3, s - 1, s, s + 1, n - 1, n, *range(5, n, 7)})
    seqs = sorted(set(base.commit_seqs.values()))
    found: list[tuple[str, m.Mutator]] = []
    for p in spread:
        found.extend(
            (f"event {column}@{p}", partial(m.alter_event, position=p, column=column, amount=p))
            for column in m.EVENT_COLUMNS
        )
        found.append((f"delete event {p}", partial(m.delete_event, position=p)))
        found.append((f"swap {p}", partial(m.swap_events, p=p, q=n + 1 - p)))
    found.append(("insert event", partial(m.insert_event, base=base, position=3)))
    for seq in sorted({seqs[0], seqs[1], seqs[len(seqs) // 2], base.commit_seqs[s], seqs[-1]}):
        found.extend(
            (f"commit {column}#{seq}", partial(m.alter_commit, seq=seq, column=column, amount=seq))
            for column in m.COMMIT_COLUMNS
        )
        found.append((f"delete commit {seq}", partial(m.delete_commit, seq=seq)))
        found.append((f"swap commit {seq}", partial(m.swap_commits, c=seq, d=seqs[-1] + 1 - seq)))
    found.append(("insert commit", m.insert_commit))
    for size in base.kept_checkpoints:
        found.append((f"delete kept {size}", partial(m.delete_kept_checkpoint, size=size)))
        found.extend(
            (
                f"kept {size} {column}",
                partial(m.alter_kept_checkpoint, size=size, column=column, amount=size),
            )
            for column in ("note", "frontier")
        )
    found.append(("ledger id", partial(m.alter_ledger_id, amount=3)))
    for cut in base.boundaries[:: max(len(base.boundaries) // 6, 1)]:
        found.extend(
            (
                f"cut {cut} keep={keep}",
                partial(m.truncate, base=base, cut=cut, keep_checkpoints=keep),
            )
            for keep in (False, True)
        )
    return found


def test_every_mutation_is_caught_by_every_mode_that_must_catch_it(
    base: Base, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    k = base.boundaries[len(base.boundaries) // 2]
    tried: Counter[str] = Counter()
    caught: Counter[str] = Counter()
    passed_as_stated: Counter[str] = Counter()
    misses: list[str] = []
    for name, mutate in sweep(base):
        try:
            results = outcomes(base, tmp_path, mutate, k)
        except m.NoChange:
            continue
        for mode, (expected, found) in results.items():
            tried[mode] += 1
            caught[mode] += found == 1
            if expected == m.ANY:
                assert found in (0, 1), f"{name} [{mode}]: exit {found}"
                passed_as_stated[mode] += found == 0
            elif found != expected:
                misses.append(f"{name} [{mode}]: exit {found}, the threat model says {expected}")
    assert not misses, "\n".join(misses)
    assert min(tried.values()) >= 150
    with capsys.disabled():
        print(
            f"\nadversarial sweep (k={k}, state at {base.state_size} of {base.size}): "
            + json.dumps(
                {
                    mode: {
                        "tried": tried[mode],
                        "caught": caught[mode],
                        "vouched_by_state": passed_as_stated[mode],
                    }
                    for mode in m.MODES
                }
            )
        )


MUTATION_KINDS = ("event", "delete", "swap", "commit", "cut", "kept")


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_random_tampering_never_passes_a_mode_that_must_catch_it(
    base: Base, tmp_path: Path, data: st.DataObject
) -> None:
    n = base.size
    k = data.draw(st.sampled_from(base.boundaries), label="checkpoint size")
    kind = data.draw(st.sampled_from(MUTATION_KINDS), label="kind")
    p = data.draw(st.integers(1, n), label="position")
    amount = data.draw(st.integers(0, 4096), label="bit or step")
    mutate: m.Mutator
    if kind == "event":
        column = data.draw(st.sampled_from(m.EVENT_COLUMNS), label="column")
        mutate = partial(m.alter_event, position=p, column=column, amount=amount)
    elif kind == "delete":
        mutate = partial(m.delete_event, position=p)
    elif kind == "swap":
        q = data.draw(st.integers(1, n), label="other position")
        mutate = partial(m.swap_events, p=p, q=q)
    elif kind == "commit":
        seq = data.draw(st.sampled_from(sorted(set(base.commit_seqs.values()))), label="seq")
        column = data.draw(st.sampled_from(m.COMMIT_COLUMNS), label="column")
        mutate = partial(m.alter_commit, seq=seq, column=column, amount=amount)
    elif kind == "cut":
        cut = data.draw(st.sampled_from(base.boundaries[:-1]), label="cut")
        keep = data.draw(st.booleans(), label="keep kept checkpoints")
        mutate = partial(m.truncate, base=base, cut=cut, keep_checkpoints=keep)
    else:
        size = data.draw(st.sampled_from(base.kept_checkpoints), label="kept size")
        column = data.draw(st.sampled_from(("note", "frontier")), label="column")
        mutate = partial(m.alter_kept_checkpoint, size=size, column=column, amount=amount)
    try:
        results = outcomes(base, tmp_path, mutate, k)
    except m.NoChange:
        return
    for mode, (expected, found) in results.items():
        if expected == m.ANY:
            assert found in (0, 1), mode
        else:
            assert found == expected, f"{kind} at {p} [{mode}]: exit {found}, expected {expected}"


def test_dose_changed_below_a_checkpoint_is_caught_against_it(base: Base, tmp_path: Path) -> None:
    """The reported attack: 100 mg -> 900 mg in a stored dose below the checkpoint, on a
    ledger grown past it, passed `verify --against` because it trusted the kept frontier."""
    db, _ = copy_base(base, tmp_path)
    k = base.boundaries[len(base.boundaries) // 2]
    with attacker(db) as conn:
        position, state = conn.execute(
            "SELECT position, state FROM stored_events WHERE topic LIKE '%DoseAdministered%'"
            " AND position < ? ORDER BY position LIMIT 1",
            (k,),
        ).fetchone()
        assert b'"dose":"100"' in state
        conn.execute(
            "UPDATE stored_events SET state=? WHERE position=?",
            (state.replace(b'"dose":"100"', b'"dose":"900"'), position),
        )
    assert run_cli("verify", "--db", db, "--against", base.notes[k]) == 1


def test_two_whole_commits_swapped_below_a_checkpoint_are_caught(
    base: Base, tmp_path: Path
) -> None:
    db, _ = copy_base(base, tmp_path)
    k = base.boundaries[-3]
    seqs = sorted(s for size, s in base.commit_seqs.items() if size < k)
    with attacker(db) as conn:
        m.swap_commits(conn, seqs[-2], seqs[-1])
        a, b = (
            conn.execute(
                "SELECT first_position, last_position FROM ledger_commits WHERE seq=?", (q,)
            ).fetchone()
            for q in (seqs[-2], seqs[-1])
        )
    assert run_cli("verify", "--db", db, "--against", base.notes[k]) == 1
    assert a != b


@pytest.mark.parametrize("index", range(0, 27, 2))
def test_a_commit_time_altered_anywhere_is_an_integrity_failure(
    base: Base, tmp_path: Path, index: int
) -> None:
    """Every character of a commit's recorded time (the date a key's expiry is judged on)."""
    seq = sorted(set(base.commit_seqs.values()))[1]
    for mode in ("full", "state", "export"):
        db, state = copy_base(base, tmp_path / f"{mode}-{index}")
        m.apply(db, partial(m.alter_commit, seq=seq, column="recorded_at", amount=index))
        expected = m.ANY if mode == "state" else 1
        found = run_mode(mode, base, db, state, base.boundaries[-1], tmp_path / mode)
        assert found in ((0, 1) if expected == m.ANY else (1,)), (mode, index, found)
