"""The flood limit's buckets (bot/telegram/flood.py) in the database, so every bot process counts a
parent's messages together. Each check is its own short transaction holding the parent's bucket row (as
a turn holds the parent's row, bot/storage/turns.py), never part of a turn: a message over the limit is
dropped before any turn starts. On SQLite a check queues for the process's writer lock with the turns
(`sqlite_writer`), so waiting checks never take the worker threads a turn needs to finish."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from datetime import timedelta
from typing import TypeVar

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session, sessionmaker

from bot.storage.models import FloodBucket
from bot.storage.turns import in_turn, sqlite_writer, upsert

Row = tuple[float, float, float | None]
T = TypeVar("T")


class SqlFloodBuckets:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    async def take(self, parent_id: str, decide: Callable[[Row | None], tuple[T, Row]]) -> T:
        if in_turn():
            raise RuntimeError("a flood check runs before a turn, never inside one")
        async with sqlite_writer(self._sessions) or contextlib.nullcontext():
            return await asyncio.to_thread(self._take, parent_id, decide)

    def _take(self, parent_id: str, decide: Callable[[Row | None], tuple[T, Row]]) -> T:
        with self._sessions.begin() as session:
            # The INSERT first: on SQLite it takes the writer lock before the read, on PostgreSQL the
            # row then exists for FOR UPDATE. A negative "updated" marks a bucket not decided yet.
            fresh = {"parent_id": parent_id, "tokens": 0.0, "updated": -1.0, "told_at": None}
            session.execute(upsert(session, FloodBucket).values(fresh).on_conflict_do_nothing())
            row = session.execute(
                select(FloodBucket.tokens, FloodBucket.updated, FloodBucket.told_at)
                .where(FloodBucket.parent_id == parent_id)
                .with_for_update()
            ).one()
            current: Row | None = None if row.updated < 0 else (row.tokens, row.updated, row.told_at)
            result, (tokens, updated, told_at) = decide(current)
            session.execute(
                update(FloodBucket)
                .where(FloodBucket.parent_id == parent_id)
                .values(tokens=tokens, updated=updated, told_at=told_at)
            )
            return result

    async def forget_idle(self, idle: timedelta) -> int:
        """Delete buckets untouched for `idle` (they would be full again): part of the retention purge."""
        return await asyncio.to_thread(self._forget_idle, time.time() - idle.total_seconds())

    def _forget_idle(self, before: float) -> int:
        with self._sessions.begin() as session:
            result = session.execute(delete(FloodBucket).where(FloodBucket.updated < before))
            return int(getattr(result, "rowcount", 0) or 0)
