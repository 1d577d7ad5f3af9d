"""One turn at a time per parent, across processes: a turn is one database transaction holding the
parent's row.

A turn is everything one message of a parent causes: loading their state, answering, saving the state,
the transcript lines, an opened case and its outbox rows. `Turns.turn(parent_id)` opens a session and a
transaction, makes sure the parent's row exists and locks it, and binds the session to the current
context; every storage method (SqlStateStore, the stores of Records) uses the bound session while it is set
(asyncio.to_thread copies the context into its worker thread), and the turn commits once at the end, or
rolls everything back when the turn fails. Two bot processes on one database therefore never interleave
one parent's turns: the second waits for the first to commit and then reads what it wrote.

- PostgreSQL: INSERT ... ON CONFLICT DO NOTHING, then SELECT ... FOR UPDATE of the row: other parents'
  turns go on in parallel.
- SQLite has a single writer: the turn's first statement is that INSERT, which takes the database's
  write lock at once (what BEGIN IMMEDIATE would do) before anything is read, so every turn sees the
  state the previous one committed; other writers wait on the busy timeout.

Outside a turn (the outbox delivery worker, the staff side, the purge) each storage call keeps its own
short transaction.

On SQLite the writers of one process queue on an asyncio lock (`sqlite_writer`), not in worker threads on
the busy timeout: a turn holds the write lock across awaits, and its next statement needs a worker
thread. When a burst of flood checks filled the default executor's few threads (cores + 4) waiting for
that lock, the turn could not run, and everything stalled for the 30 s timeout and failed (found by
`make bench`'s throughput run, 2026-11-30).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from contextvars import ContextVar
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import Engine, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from bot.locks import KeyedLocks
from bot.storage.models import Parent

TURNS_AT_ONCE = 10
"""Turns a process holds open at once on PostgreSQL. Each holds a pooled connection (SQLAlchemy's pool
has 15) and a turn waiting for another process's lock on its parent blocks a worker thread: the bound
keeps turns from taking every connection while the delivery worker and the staff side need some. On
SQLite, whose single writer lock each turn holds, one turn at a time: a second would only block a thread
until the first commits."""

LOCK_TIMEOUT_SECONDS = 30
"""A turn waiting longer than this for another process's turn of the same parent fails (the parent is told
to try again) rather than holding a thread for ever; SQLite's busy timeout is the same 30 s."""

_INSERT: dict[str, Callable[[type[Any]], postgresql.Insert | sqlite.Insert]] = {
    "postgresql": postgresql.insert,
    "sqlite": sqlite.insert,
}
"""The databases DATABASE_URL accepts (bot/storage/database.py), each with its upsert."""

_TURN: ContextVar[Session | None] = ContextVar("parentbot_turn_session", default=None)

_SQLITE_WRITERS: WeakKeyDictionary[Engine, WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock]]
_SQLITE_WRITERS = WeakKeyDictionary()


def sqlite_writer(sessions: sessionmaker[Session]) -> asyncio.Lock | None:
    """The lock this process's writers to a SQLite database take before a worker thread writes (one per
    database and event loop); None for PostgreSQL, whose row locks let writers go on in parallel."""
    bind = sessions.kw.get("bind")
    if not isinstance(bind, Engine) or bind.dialect.name != "sqlite":
        return None
    per_loop = _SQLITE_WRITERS.setdefault(bind, WeakKeyDictionary())
    return per_loop.setdefault(asyncio.get_running_loop(), asyncio.Lock())


def in_turn() -> bool:
    return _TURN.get() is not None


def upsert(session: Session, model: type[Any]) -> postgresql.Insert | sqlite.Insert:
    """INSERT for `model` with ON CONFLICT support, in the session's database's dialect."""
    return _INSERT[session.get_bind().dialect.name](model)


@contextmanager
def use_session(sessions: sessionmaker[Session], *, write: bool) -> Iterator[Session]:
    """The open turn's session when there is one in this context (its changes are flushed here and
    committed with the turn); otherwise a session of its own, committed at the end when `write`."""
    bound = _TURN.get()
    if bound is not None:
        yield bound
        bound.flush()
    elif write:
        with sessions.begin() as session:
            yield session
    else:
        with sessions() as session:
            yield session


class Turns:
    """The unit of work of one parent's message (see the module's docstring)."""

    def __init__(self, sessions: sessionmaker[Session], at_once: int | None = None) -> None:
        self._sessions = sessions
        self._at_once = at_once or TURNS_AT_ONCE
        self._gate: asyncio.Semaphore | None = None
        self._parents = KeyedLocks()
        """In this process, a parent's next turn waits here, not on the database lock in a thread."""

    @asynccontextmanager
    async def turn(self, parent_id: str) -> AsyncIterator[None]:
        if in_turn():  # already inside a turn: its transaction holds the row
            yield
            return
        async with self._parents.hold(parent_id), self._writers():
            session = await asyncio.to_thread(self._begin, parent_id)
            bound = _TURN.set(session)
            try:
                yield
            except BaseException:
                await asyncio.to_thread(_finish, session, commit=False)
                raise
            finally:
                _TURN.reset(bound)
            await asyncio.to_thread(_finish, session, commit=True)

    def _writers(self) -> asyncio.Lock | asyncio.Semaphore:
        """SQLite: the process's single writer lock; PostgreSQL: room for `at_once` turns."""
        if (shared := sqlite_writer(self._sessions)) is not None:
            return shared
        if self._gate is None:
            self._gate = asyncio.Semaphore(self._at_once)
        return self._gate

    def _begin(self, parent_id: str) -> Session:
        session = self._sessions()
        try:
            if session.get_bind().dialect.name == "postgresql":
                session.execute(text(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT_SECONDS}s'"))
            session.execute(
                upsert(session, Parent)
                .values(id=parent_id)
                .on_conflict_do_nothing(index_elements=[Parent.id])
            )
            session.execute(select(Parent.id).where(Parent.id == parent_id).with_for_update())
        except BaseException:
            session.close()
            raise
        return session


def _finish(session: Session, *, commit: bool) -> None:
    try:
        if commit:
            session.commit()
        else:
            session.rollback()
    finally:
        session.close()
