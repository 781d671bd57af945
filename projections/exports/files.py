"""An export appears whole or not at all: written under a temporary name beside ``--out``,
then published to ``--out``, never over something that is there (or appeared meanwhile)."""

from __future__ import annotations

import os
from pathlib import Path

from ledger.errors import UsageError


def _refuse(out: Path) -> UsageError:
    return UsageError(f"--out {out}: already exists; refusing to overwrite")


def publish_file(temporary: Path, out: Path) -> None:
    """``temporary`` becomes ``out``: a hard link first, which fails if ``out`` exists (a
    rename where the file system has no hard links)."""
    try:
        os.link(temporary, out)
    except FileExistsError:
        raise _refuse(out) from None
    except OSError:
        if out.exists() or out.is_symlink():
            raise _refuse(out) from None
        temporary.rename(out)


def publish_folder(temporary: Path, out: Path) -> None:
    """The folder ``temporary`` becomes ``out``, which must not exist (not even empty, nor as a
    dangling link)."""
    if out.exists() or out.is_symlink():
        raise _refuse(out)
    try:
        temporary.rename(out)
    except OSError:
        if out.exists():
            raise _refuse(out) from None
        raise
