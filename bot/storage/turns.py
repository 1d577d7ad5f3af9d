"""One turn at a time per parent, across processes: a turn is one database transaction holding the
parent's row.

A turn is everything one message of a parent causes: its flood check, loading their state, answering,
saving the state, the transcript lines, an opened case and its outbox rows. `Turns.turn(parent_id)` opens
an AsyncSession and a transaction, makes sure the parent's row exists and locks it, and binds the session
to the current context; every storage method (SqlStateStore, the flood buckets, the stores of Records)
uses the bound session while it is set (`use_session`), and the turn commits once at the end, or rolls
everything back when the turn fails. Two bot processes on one database therefore never interleave one
parent's turns: the second waits for the first to commit and then reads what it wrote.

- PostgreSQL: INSERT ... ON CONFLICT DO NOTHING, then SELECT ... FOR UPDATE of the row: other parents'
  turns go on in parallel.
- SQLite has a single writer: the turn's first statement is that INSERT, which takes the database's
  write lock at once (what BEGIN IMMEDIATE would do) before anything is read, so every turn sees the
  state the previous one committed.

Outside a turn (the outbox delivery worker, the staff side, the purge) each storage call is its own short
transaction.

On SQLite every writer of one process, in a turn or not, queues on one asyncio lock (`sqlite_writer`)
before it writes, so no two of them wait for each other on the database's busy timeout. Waiting costs no
thread: the storage is asynchronous (SQLAlchemy's asyncio extension, aiosqlite or psycopg's async
driver), so a queued writer is a suspended coroutine. (Before, each storage call ran in the default
executor's few worker threads; writers outside the lock blocked them on SQLite's 30 s busy timeout while
the turn holding the write lock needed one to finish: `make bench`, 2026-11-30 and 2026-12-04.) Another
process's writers still meet this one's on SQLite's busy timeout.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from contextvars import ContextVar
from typing import Any, cast
from weakref import WeakKeyDictionary

from sqlalchemy import Engine, Table, TextClause, bindparam, select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.locks import KeyedLocks
from bot.storage.database import SessionSource, as_sessions
from bot.storage.models import Parent

TURNS_AT_ONCE = 10
"""Turns a process holds open at once on PostgreSQL. Each holds a pooled connection (SQLAlchemy's pool
has 15): the bound keeps turns from taking every connection while the delivery worker and the staff side
need some. On SQLite, whose single writer lock each turn holds, one turn at a time."""

LOCK_TIMEOUT_SECONDS = 30
"""A turn waiting longer than this for another process's turn of the same parent fails (the parent is told
to try again) rather than waiting for ever; SQLite's busy timeout is the same 30 s."""


def cached_upsert(model: type[Any], columns: Sequence[str], *, update: Sequence[str] = ()) -> TextClause:
    """INSERT of these columns ON CONFLICT of the primary key DO UPDATE the `update` columns (DO NOTHING
    without), in the SQL SQLite and PostgreSQL share, with typed parameters (:column). Written as text
    because SQLAlchemy 2.0 never caches its dialects' INSERT ... ON CONFLICT constructs (their Insert has
    inherit_cache = False): built with them, every message's upserts were compiled again, a large
    part of the storage's CPU time (`make bench` profile, 2026-12-04)."""
    table = cast(Table, model.__table__)
    (key,) = table.primary_key.columns
    names = ", ".join(f'"{column}"' for column in columns)
    values = ", ".join(f":{column}" for column in columns)
    sets = ", ".join(f'"{column}" = excluded."{column}"' for column in update)
    action = f"DO UPDATE SET {sets}" if update else "DO NOTHING"
    # Names from the table's definition only; every value is a bound parameter.
    statement = f'INSERT INTO {table.name} ({names}) VALUES ({values}) ON CONFLICT ("{key.name}") {action}'  # noqa: S608
    return text(statement).bindparams(*(bindparam(column, type_=table.c[column].type) for column in columns))


_TAKE_PARENT = select(Parent).from_statement(
    text(
        cached_upsert(Parent, ["id"], update=["id"]).text
        + " RETURNING "
        + ", ".join(f'"{column.name}"' for column in Parent.__table__.columns)
    )
    .bindparams(bindparam("id", type_=Parent.__table__.c.id.type))
    .columns(*Parent.__table__.columns)
)
"""The parent's row, made first when it is new, taken and loaded by one statement (Turns._begin)."""

_BOUND: ContextVar[AsyncSession | None] = ContextVar("parentbot_bound_session", default=None)
"""The transaction storage calls in this context join: the open turn's, or a write outside a turn's."""
_IN_TURN: ContextVar[bool] = ContextVar("parentbot_in_turn", default=False)

_SQLITE_WRITERS: WeakKeyDictionary[Engine, WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock]]
_SQLITE_WRITERS = WeakKeyDictionary()


def sqlite_writer(sessions: async_sessionmaker[AsyncSession]) -> asyncio.Lock | None:
    """The lock this process's writers to a SQLite database take before they write (one per database and
    event loop); None for PostgreSQL, whose row locks let writers go on in parallel."""
    bind = sessions.kw.get("bind")
    engine = getattr(bind, "sync_engine", None)
    if not isinstance(engine, Engine) or engine.dialect.name != "sqlite":
        return None
    per_loop = _SQLITE_WRITERS.setdefault(engine, WeakKeyDictionary())
    return per_loop.setdefault(asyncio.get_running_loop(), asyncio.Lock())


def in_turn() -> bool:
    return _IN_TURN.get()


@asynccontextmanager
async def use_session(
    sessions: async_sessionmaker[AsyncSession], *, write: bool
) -> AsyncIterator[AsyncSession]:
    """The transaction bound to this context when there is one (the open turn's: its changes are flushed
    here and committed with the turn); otherwise a session of its own, and when `write` a transaction
    committed at the end, queued on SQLite behind the process's other writers (`sqlite_writer`)."""
    bound = _BOUND.get()
    if bound is not None:
        yield bound
        await bound.flush()
    elif write:
        lock = sqlite_writer(sessions)
        if lock is not None:
            await lock.acquire()
        try:
            async with sessions.begin() as session:
                token = _BOUND.set(session)  # a store calling another joins this transaction
                try:
                    yield session
                finally:
                    _BOUND.reset(token)
        finally:
            if lock is not None:
                lock.release()
    else:
        async with sessions() as session:
            yield session


class Turns:
    """The unit of work of one parent's message (see the module's docstring)."""

    def __init__(self, sessions: SessionSource, at_once: int | None = None) -> None:
        self._sessions = as_sessions(sessions)
        self._at_once = at_once or TURNS_AT_ONCE
        self._gate: asyncio.Semaphore | None = None
        self._parents = KeyedLocks()
        """In this process, a parent's next turn waits here, not on the database's lock."""

    @asynccontextmanager
    async def turn(self, parent_id: str) -> AsyncIterator[None]:
        if in_turn():  # already inside a turn: its transaction holds the row
            yield
            return
        async with self._parents.hold(parent_id), self._writers(), self._sessions() as session:
            await self._begin(session, parent_id)
            bound, turn = _BOUND.set(session), _IN_TURN.set(True)
            try:
                yield
            except BaseException:
                await session.rollback()
                raise
            finally:
                _IN_TURN.reset(turn)
                _BOUND.reset(bound)
            await session.commit()

    def _writers(self) -> asyncio.Lock | asyncio.Semaphore:
        """SQLite: the process's single writer lock; PostgreSQL: room for `at_once` turns."""
        if (shared := sqlite_writer(self._sessions)) is not None:
            return shared
        if self._gate is None:
            self._gate = asyncio.Semaphore(self._at_once)
        return self._gate

    @staticmethod
    async def _begin(session: AsyncSession, parent_id: str) -> None:
        """Take the parent's row (made first when it is new) with one statement that also loads it, so
        the turn's SqlStateStore.load finds it in the session without asking the database again. On
        PostgreSQL ON CONFLICT DO UPDATE locks the row as SELECT ... FOR UPDATE would; on SQLite the
        INSERT takes the database's write lock."""
        if session.get_bind().dialect.name == "postgresql":
            await session.execute(text(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT_SECONDS}s'"))
        await session.execute(_TAKE_PARENT, {"id": parent_id}, execution_options={"populate_existing": True})
