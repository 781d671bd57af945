"""What every export command shares: where it reads from, proved first.

``--db`` (as everywhere), ``--against CHECKPOINT`` (the ledger must extend that signed
checkpoint) and ``--sponsor-key PUB`` (the ledger must be rooted in the sponsor's published
key). :func:`open_verified` verifies the ledger with a progress line on stderr and yields the
:class:`~projections.exports.ExportSource` over exactly what it proved; a ledger that does not
verify is refused (exit 1) and nothing is written. :func:`fresh_out` refuses to overwrite.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer

from ledger.cli.common import progress_bar, sigterm_interrupts
from ledger.cli.verification import read_checkpoint_file
from ledger.errors import UsageError
from ledger.integrity.signing import read_public_key
from ledger.store import LedgerReader
from ledger.store.location import StoreTarget
from projections.exports import ExportSource, verified_source

AgainstOption = Annotated[
    Path | None,
    typer.Option(
        "--against",
        help="A signed checkpoint saved earlier: the ledger must extend it.",
        dir_okay=False,
    ),
]
SponsorKeyOption = Annotated[
    Path | None,
    typer.Option(
        "--sponsor-key",
        help="The sponsor's published public key: the ledger must be rooted in it.",
        dir_okay=False,
    ),
]


@contextmanager
def open_verified(
    db: StoreTarget,
    against: Path | None = None,
    sponsor_key: Path | None = None,
    out: Path | None = None,
) -> Iterator[ExportSource]:
    """Verify ``db`` (progress on stderr), then yield what was proved.

    While the export runs, SIGTERM (what ``timeout``, CI and service managers send) stops it as
    Ctrl-C does, so its temporary output is removed. A file system error while writing is
    refused naming ``out`` (``--out``), never the ledger."""
    note = read_checkpoint_file(against) if against is not None else None
    sponsor = read_public_key(sponsor_key) if sponsor_key is not None else None
    with LedgerReader(db) as probe:
        total = probe.size()
    with (
        sigterm_interrupts(),
        progress_bar("verify", total, enabled=True) as progress,
        verified_source(db, against=note, sponsor_public=sponsor, progress=progress) as source,
    ):
        try:
            yield source
        except OSError as e:
            if out is None:
                raise
            reason = e.strerror or str(e)
            raise UsageError(
                f"--out {out}: could not be written ({reason}); nothing was written"
            ) from e


def fresh_out(path: Path, option: str = "--out") -> Path:
    """``path`` if nothing is there yet (its folder must exist); refuses to overwrite."""
    if path.exists() or path.is_symlink():
        raise UsageError(f"{option} {path}: already exists; refusing to overwrite")
    if not path.parent.is_dir():
        raise UsageError(f"{option} {path}: no such folder {str(path.parent)!r}")
    return path
