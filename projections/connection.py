"""What a projection writes its views through: the part of ``sqlite3.Connection`` it uses.

A views file gives a plain ``sqlite3.Connection``; views in PostgreSQL give
:class:`~projections.engine.pg_sql.PgViewsConnection`, which takes the same SQL (``?``
placeholders, ``INSERT OR REPLACE``, ``PRAGMA table_info``) and rewrites it for PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, Protocol


class ViewsCursor(Protocol):
    """The rows of one statement."""

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def fetchmany(self, size: int = ...) -> list[Any]: ...

    def __iter__(self) -> Iterator[Any]: ...


class ViewsConnection(Protocol):
    """A connection to the views, in autocommit mode unless the caller says ``BEGIN``."""

    def execute(self, sql: str, parameters: Any = ..., /) -> ViewsCursor: ...

    def executemany(self, sql: str, parameters: Iterable[Any], /) -> Any: ...

    def close(self) -> None: ...
