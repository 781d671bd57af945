"""Where a ledger is stored: a SQLite file (a :class:`~pathlib.Path`) or a PostgreSQL
database (:class:`PostgresURL`), named the same way everywhere (``--db`` or
``$TRIAL_LEDGER_DB``).

``--db trial.db`` is a file; ``--db postgresql://user@host:5432/dbname`` (or ``postgres://``)
is a database. The ledger's tables live in the schema :data:`LEDGER_SCHEMA` of that database,
the projections in :data:`VIEWS_SCHEMA`, never beside the ledger's tables. A password may be
given in the URL, but is better kept out of it (``PGPASSWORD``, ``~/.pgpass``: libpq reads
them); messages never show it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeAlias
from urllib.parse import urlsplit, urlunsplit

from ledger.errors import UsageError
from ledger.storage_errors import redact_text
from ledger.storage_errors import redact_url as redact

LEDGER_SCHEMA = "trial_ledger"
"""The PostgreSQL schema of the ledger's tables (events, commits, checkpoints, meta)."""
VIEWS_SCHEMA = "trial_views"
"""The PostgreSQL schema of the projections (their rows and tracking), apart from the ledger."""
DB_ENV = "TRIAL_LEDGER_DB"
"""The environment variable naming the store when ``--db`` is not given."""

_SCHEMES = ("postgresql://", "postgres://")


@dataclass(frozen=True)
class PostgresURL:
    """A PostgreSQL database named by a libpq URL (``postgresql://user@host:port/dbname``)."""

    url: str
    params: dict[str, str] = field(compare=False, repr=False)

    @classmethod
    def parse(cls, text: str, option: str = "--db") -> PostgresURL:
        import psycopg  # noqa: PLC0415 - only for PostgreSQL
        from psycopg.conninfo import conninfo_to_dict  # noqa: PLC0415

        try:
            params = {k: str(v) for k, v in conninfo_to_dict(text).items() if v is not None}
        except psycopg.Error as e:  # libpq's own words
            raise UsageError(
                f"{option} {redact(text)}: not a PostgreSQL URL libpq accepts "
                f"({redact_text(str(e).strip())}); expected postgresql://user@host:port/dbname"
            ) from None
        if not params.get("dbname"):
            raise UsageError(
                f"{option} {redact(text)}: the URL names no database; expected "
                "postgresql://user@host:port/dbname"
            )
        return cls(url=text, params=params)

    @property
    def dbname(self) -> str:
        return self.params["dbname"]

    @property
    def user(self) -> str:
        return self.params.get("user", "")

    def conninfo(self) -> str:
        """The URL for libpq (password included, if it was given)."""
        return self.url

    def with_user(self, user: str) -> PostgresURL:
        """The same database, connected to as ``user`` (no password carried over)."""
        parts = urlsplit(self.url)
        host = parts.hostname or ""
        if ":" in host:
            host = f"[{host}]"
        netloc = f"{user}@{host}" + (f":{parts.port}" if parts.port else "")
        return PostgresURL.parse(urlunsplit(parts._replace(netloc=netloc)))

    def __str__(self) -> str:
        return redact(self.url)


StoreTarget: TypeAlias = Path | PostgresURL
"""A ledger store: a SQLite file or a PostgreSQL database."""


def parse_store(text: str, option: str = "--db") -> StoreTarget:
    """``text`` as a store: a PostgreSQL URL if it has that scheme, else a file path."""
    if text.startswith(_SCHEMES):
        return PostgresURL.parse(text, option)
    scheme = re.match(r"([A-Za-z][A-Za-z0-9+.-]*)://", text)
    if scheme:
        raise UsageError(
            f"{option} {redact(text)}: unknown store scheme {scheme.group(1)!r}; give a SQLite "
            "file path or postgresql://user@host:port/dbname"
        )
    return Path(text)


def is_postgres(target: StoreTarget) -> bool:
    return isinstance(target, PostgresURL)
