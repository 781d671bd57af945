"""Storage faults as one-line messages naming the file and what to do.

SQLite (directly, or wrapped by eventsourcing's persistence errors) and the operating system
report a read-only file or folder, a full disk, a database locked by another process, a path
that is a folder, or a damaged file with exceptions that carry no file name. The command line
(``cli.run``) passes every exception that is not a :class:`~ledger.errors.LedgerError` through
:func:`storage_refusal`, which names the file (from the exception, the code that was working on
it, or the command's ``--db``/``--views`` option) and returns the error to report:

* :class:`~ledger.errors.StorageError` (exit 2: nothing was written) for faults of the
  storage around the ledger;
* :class:`~ledger.errors.DamagedStorageError` (exit 1: an integrity failure) when SQLite
  reports the ledger file itself malformed or not a database.
"""

from __future__ import annotations

import errno
import os
import re
import sqlite3
import traceback
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import TracebackType
from urllib.parse import urlsplit, urlunsplit

from eventsourcing.persistence import PersistenceError

from ledger.errors import DamagedStorageError, LedgerError, StorageError, show_text

_PATH_NAMES = ("views_path", "db_path", "db_name", "path")
"""Local variables and instance attributes that name the file a frame works on, by priority."""
_PATH_OPTIONS = ("--db", "--views")
_SQLITE_SIDE_FILES = "SQLite also writes the -wal and -shm files beside it"


def storage_refusal(error: BaseException, argv: Sequence[str]) -> LedgerError | None:
    """The error to report for ``error`` if it is a storage fault, else None."""
    pg_error = next((e for e in _chain(error) if _is_postgres_error(e)), None)
    if pg_error is not None or (isinstance(error, PersistenceError) and _postgres_db(argv)):
        return _postgres_refusal(pg_error or error, _postgres_db(argv) or "the PostgreSQL ledger")
    sqlite_error = _sqlite_error(error)
    if sqlite_error is not None or isinstance(error, PersistenceError):
        return sqlite_refusal(sqlite_error or error, _file(error, argv))
    os_error = _os_error(error)
    if os_error is not None:
        return _os_refusal(os_error, argv)
    return None


def _chain(error: BaseException) -> Iterator[BaseException]:
    """``error`` and its causes and contexts, each once."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _is_postgres_error(error: BaseException) -> bool:
    """A psycopg (PostgreSQL driver) error, told by its module so psycopg is not imported."""
    return type(error).__module__.split(".")[0] == "psycopg"


def _postgres_db(argv: Sequence[str]) -> str | None:
    """The PostgreSQL URL the command was given (password hidden), if any."""
    schemes = ("postgresql://", "postgres://")
    for index, arg in enumerate(argv):
        name, _, value = arg.partition("=")
        if name in ("--db", "--to", "--from"):
            value = value or (argv[index + 1] if index + 1 < len(argv) else "")
            if value.startswith(schemes):
                return redact_url(value)
    named = os.environ.get("TRIAL_LEDGER_DB", "")
    return redact_url(named) if named.startswith(schemes) else None


_PASSWORD_PARAM = re.compile(r"(?i)(password=)[^&\s]*")
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^:/@\s\"']*):[^@/\s\"']*@")


def redact_text(text: str) -> str:
    """Every URL password in ``text`` (a message that may quote a URL) replaced by ``***``."""
    return _USERINFO.sub(r"\1:***@", _PASSWORD_PARAM.sub(r"\1***", text))


def redact_url(url: str) -> str:
    """``url`` with any password (``user:pw@`` or ``?password=``) replaced by ``***``; a URL
    that does not parse is masked the same way, textually."""
    hidden = _PASSWORD_PARAM.sub(r"\1***", url)
    try:
        parts = urlsplit(hidden)
        password = parts.password
    except ValueError:
        return _USERINFO.sub(r"\1:***@", hidden)
    if password is None:
        return hidden
    host = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit(parts._replace(netloc=f"{parts.username or ''}:***@{host}"))


def _postgres_refusal(error: BaseException, db: str) -> StorageError:
    said = redact_text(" ".join(str(error).split()).rstrip(".")) or type(error).__name__
    return StorageError(
        f"--db {db}: PostgreSQL refused: {said}. Check that the server is running and "
        "reachable, and that the role may do this; the command did not complete."
    )


def _sqlite_error(error: BaseException) -> sqlite3.Error | None:
    return next((e for e in _chain(error) if isinstance(e, sqlite3.Error)), None)


def _os_error(error: BaseException) -> OSError | None:
    """The operating system's error in the chain (one with an errno: an ``OSError`` raised by
    code about its own configuration is not a storage fault)."""
    return next((e for e in _chain(error) if isinstance(e, OSError) and e.errno), None)


_DAMAGE = ("malformed", "not a database", "encrypted")
"""What SQLite says of a file whose content is damaged, as opposed to a fault around it."""


def is_damage(error: BaseException | str) -> bool:
    """Whether SQLite's ``error`` says the database file itself is damaged (an integrity
    failure), not that its storage refused (read-only, full, locked, cannot open, I/O)."""
    lowered = str(error).lower()
    return any(word in lowered for word in _DAMAGE)


def sqlite_refusal(error: BaseException | str, file: str) -> LedgerError:
    """The error to report for a SQLite (or eventsourcing persistence) ``error`` on ``file``."""
    said = str(error).strip() or "no message"
    if is_damage(said):
        return DamagedStorageError(
            f"{file} is damaged: SQLite reports {said!r}. Run `trial-ledger verify --db {file}`, "
            "and restore the ledger from a verified copy or bundle."
        )
    return StorageError(_refusal_message(said, file))


def _refusal_message(said: str, file: str) -> str:
    """What to tell of a SQLite refusal that is not damage (read-only, full, locked, ...)."""
    lowered = said.lower()
    if "readonly" in lowered or "read-only" in lowered:
        return (
            f"cannot write {file}: the file or its folder is read-only (SQLite: {said}). Make "
            f"both writable ({_SQLITE_SIDE_FILES}) or work on a writable copy; nothing was "
            "written."
        )
    if "full" in lowered:
        return (
            f"cannot write {file}: the disk is full (SQLite: {said}). Free some space and run "
            "the command again; nothing was written."
        )
    if "locked" in lowered or "busy" in lowered:
        return (
            f"{file} is locked by another process (SQLite: {said}). Wait for the other command "
            "to finish and run this one again; nothing was written."
        )
    if "unable to open" in lowered or "cannot open" in lowered:
        return (
            f"cannot open {file} (SQLite: {said}): check that it is a file, not a folder, and "
            f"that its folder exists and is writable ({_SQLITE_SIDE_FILES}); nothing was written."
        )
    if "i/o" in lowered:
        return (
            f"input/output error on {file} (SQLite: {said}): check the disk and its file "
            "system; nothing was written."
        )
    return f"storage error on {file} (SQLite: {said}); nothing was written."


_OS_ADVICE = {
    errno.EACCES: "permission denied: check the permissions of the file and its folder",
    errno.EPERM: "operation not permitted: check the file's permissions and attributes",
    errno.EROFS: "the file system is read-only: work on a copy on a writable disk",
    errno.ENOSPC: "the disk is full: free some space and run the command again",
    errno.EDQUOT: "the disk quota is exhausted: free some space and run the command again",
    errno.EISDIR: "it is a folder: give the path of a file",
    errno.ENOTDIR: "a part of the path is not a folder: check the path",
    errno.ENOENT: "no such file or folder: check the path",
    errno.EIO: "input/output error: check the disk and its file system",
}


def _os_refusal(error: OSError, argv: Sequence[str]) -> StorageError:
    name = error.filename if error.filename is not None else _option_file(argv)
    file = _name(name) if name is not None else "a file"
    advice = _OS_ADVICE.get(error.errno or 0, error.strerror or type(error).__name__)
    return StorageError(f"{file}: {advice}; nothing was written.")


def _file(error: BaseException, argv: Sequence[str]) -> str:
    """The file a storage error concerns: named by the innermost frame of the code that was
    working on one, else by the command's options."""
    for tb in (e.__traceback__ for e in _chain(error)):
        found = _file_in_frames(tb)
        if found is not None:
            return found
    return _option_file(argv) or "the ledger file"


def _file_in_frames(tb: TracebackType | None) -> str | None:
    frames = [frame for frame, _ in traceback.walk_tb(tb)]
    for frame in reversed(frames):
        owner = frame.f_locals.get("self")
        # Only the instance's own dict: reading a property could run code mid-error.
        attributes = getattr(owner, "__dict__", None) if owner is not None else None
        for source in (frame.f_locals, attributes if isinstance(attributes, dict) else {}):
            for name in _PATH_NAMES:
                value = source.get(name)
                if isinstance(value, Path | str) and str(value) not in ("", ":memory:"):
                    return _name(value)
    return None


def _option_file(argv: Sequence[str]) -> str | None:
    for index, arg in enumerate(argv):
        for option in _PATH_OPTIONS:
            if arg == option and index + 1 < len(argv):
                return _name(argv[index + 1])
            if arg.startswith(option + "="):
                return _name(arg.split("=", 1)[1])
    return None


def _name(value: object) -> str:
    """A file name as printed: as it is if short and printable, else quoted and cut."""
    text = str(value)
    return text if text.isprintable() and len(text) <= 300 else show_text(text)
