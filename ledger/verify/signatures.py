"""Commit signature checks, in the pass or batched to a worker process on the second core."""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field

from ledger.errors import LedgerError
from ledger.integrity.signing import verify_signature
from ledger.verify.report import Failure, Stop
from ledger.verify.source import LedgerSource

SIGNATURE_BATCH = 256
PARALLEL_SIGNATURES_FROM = 100_000
"""Ledgers with at least this many events to check verify commit signatures in a worker
process on the second core (Ed25519 checks hold the GIL, so a thread would not help)."""

SignatureCheck = tuple[bytes, bytes, bytes, int, str]


def check_signatures(batch: list[SignatureCheck]) -> tuple[int, str] | None:
    """Verify commit signatures in order; the first failure as (position, reason)."""
    for public_raw, header, signature, position, reason in batch:
        try:
            verify_signature(public_raw, header, signature)
        except LedgerError:
            return position, reason
    return None


@dataclass
class SignatureChecks:
    """The commit signatures of a pass: checked at once, or, with a ``pool``, in batches of
    :data:`SIGNATURE_BATCH` in the worker process (the first failure found by :meth:`drain`)."""

    pool: ProcessPoolExecutor | None = None
    pending: list[SignatureCheck] = field(default_factory=list)
    futures: list[Future[tuple[int, str] | None]] = field(default_factory=list)

    def check(self, check: SignatureCheck) -> None:
        if self.pool is None:
            failure = check_signatures([check])
            if failure is not None:
                raise Stop(*failure)
            return
        self.pending.append(check)
        if len(self.pending) >= SIGNATURE_BATCH:
            self.submit()

    def submit(self) -> None:
        if self.pool is not None and self.pending:
            batch, self.pending = self.pending, []
            self.futures.append(self.pool.submit(check_signatures, batch))

    def drain(self) -> Failure | None:
        """The first commit (by position) whose signature failed in the worker, if any."""
        self.submit()
        failures = [f.result() for f in self.futures]
        self.futures = []
        found = [Failure(*f) for f in failures if f is not None]
        return min(found, key=lambda f: f.position) if found else None


@contextmanager
def signature_pool(
    source: LedgerSource, start: int, wanted: bool | None
) -> Iterator[ProcessPoolExecutor | None]:
    size = getattr(source, "size", None)
    if wanted is None:
        wanted = callable(size) and int(size()) - start >= PARALLEL_SIGNATURES_FROM
    if not wanted:
        yield None
        return
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        yield pool
