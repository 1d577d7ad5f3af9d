"""aiosqlite with one thread hop per statement, for the stores' asynchronous engine on SQLite.

SQLAlchemy's aiosqlite adapter runs each statement as four calls into aiosqlite's connection thread
(make a cursor, execute, fetch the rows, close the cursor), each a hop to that thread and back to the
event loop; a turn runs half a dozen statements, and those hops were most of the storage's CPU time
(`make bench` profile, 2026-12-04). This dialect does the four in one call on that thread. It is the
stock dialect otherwise (registered as sqlite+parentbot_aiosqlite; bot/storage/database.py uses it), and
leans on two private names of aiosqlite 0.22 (Connection._execute, Connection._conn) that
tests/test_storage.py exercises.
"""

from __future__ import annotations

import sqlite3
from collections import deque
from collections.abc import Sequence
from typing import Any

from sqlalchemy.dialects import registry
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
    AsyncAdapt_aiosqlite_ss_cursor,
    SQLiteDialect_aiosqlite,
)
from sqlalchemy.util.concurrency import await_only

NAME = "parentbot_aiosqlite"
Outcome = tuple[Any, int, int, "list[Any] | None"]


def _run(connection: sqlite3.Connection, operation: str, parameters: Any, many: bool) -> Outcome:
    """On aiosqlite's thread: the statement, its rows (if it returns any) and its counts."""
    cursor = connection.cursor()
    try:
        if many:
            cursor.executemany(operation, parameters)
        elif parameters is None:
            cursor.execute(operation)
        else:
            cursor.execute(operation, parameters)
        if cursor.description:
            return cursor.description, -1, -1, cursor.fetchall()
        return None, cursor.lastrowid or 0, cursor.rowcount, None
    finally:
        cursor.close()


class OneHopCursor(AsyncAdapt_aiosqlite_cursor):
    __slots__ = ()

    def execute(self, operation: Any, parameters: Any = None) -> Any:
        self._one_hop(operation, parameters, many=False)

    def executemany(self, operation: Any, seq_of_parameters: Sequence[Any]) -> Any:
        self._one_hop(operation, seq_of_parameters, many=True)

    def _one_hop(self, operation: Any, parameters: Any, *, many: bool) -> None:
        driver = self._connection
        try:
            outcome: Outcome = self.await_(driver._execute(_run, driver._conn, operation, parameters, many))
        except Exception as error:  # noqa: BLE001 - translated and raised again, as the stock cursor does
            self._adapt_connection._handle_exception(error)
        self.description, self.lastrowid, self.rowcount, rows = outcome
        self._rows = deque(rows) if rows is not None else deque()


class OneHopConnection(AsyncAdapt_aiosqlite_connection):
    __slots__ = ()

    def cursor(self, server_side: bool = False) -> AsyncAdapt_aiosqlite_cursor:
        return AsyncAdapt_aiosqlite_ss_cursor(self) if server_side else OneHopCursor(self)


class OneHopDbapi(AsyncAdapt_aiosqlite_dbapi):
    def connect(self, *arg: Any, **kw: Any) -> AsyncAdapt_aiosqlite_connection:
        connection = self.aiosqlite.connect(*arg, **kw)
        connection._thread.daemon = True  # as SQLAlchemy's own: a pooled connection never holds up exit
        return OneHopConnection(self, await_only(connection))


class OneHopDialect(SQLiteDialect_aiosqlite):
    driver = NAME
    supports_statement_cache = True

    @classmethod
    def import_dbapi(cls) -> AsyncAdapt_aiosqlite_dbapi:
        return OneHopDbapi(__import__("aiosqlite"), __import__("sqlite3"))


registry.register(f"sqlite.{NAME}", __name__, "OneHopDialect")
