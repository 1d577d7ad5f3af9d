"""The flood limit's buckets (bot/telegram/flood.py) in the database, so every bot process counts a
parent's messages together. A check holds the parent's bucket row; inside a turn it is part of the turn's
transaction (one commit per message: bot/telegram/handlers.py runs the check in the turn), outside one it
is its own short transaction, queued on SQLite with the process's other writers (`sqlite_writer`)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import TypeVar

from sqlalchemy import bindparam, delete, select

from bot.storage.common import Store, rowcount
from bot.storage.models import FloodBucket
from bot.storage.turns import cached_upsert, in_turn, use_session

Row = tuple[float, float, float | None]
T = TypeVar("T")


_COLUMNS = ("parent_id", "tokens", "updated", "told_at")
_UNDECIDED = {"tokens": 0.0, "updated": -1.0, "told_at": None}
_FRESH = cached_upsert(FloodBucket, _COLUMNS)
_KEEP = cached_upsert(FloodBucket, _COLUMNS, update=_COLUMNS[1:])
_READ = (
    select(FloodBucket.tokens, FloodBucket.updated, FloodBucket.told_at)
    .where(FloodBucket.parent_id == bindparam("parent_id"))
    .with_for_update()
)


class SqlFloodBuckets(Store):
    async def take(self, parent_id: str, decide: Callable[[Row | None], tuple[T, Row]]) -> T:
        async with use_session(self._sessions, write=True) as session:
            if not in_turn():
                # The INSERT first: on SQLite it takes the writer lock before the read, on PostgreSQL the
                # row then exists for FOR UPDATE. (In a turn the parent's row is held already, and with it
                # the parent's buckets.) A negative "updated" marks a bucket not decided yet.
                await session.execute(_FRESH, {"parent_id": parent_id, **_UNDECIDED})
            row = (await session.execute(_READ, {"parent_id": parent_id})).one_or_none()
            current: Row | None = None
            if row is not None and row.updated >= 0:
                current = (row.tokens, row.updated, row.told_at)
            result, (tokens, updated, told_at) = decide(current)
            values = {"parent_id": parent_id, "tokens": tokens, "updated": updated, "told_at": told_at}
            await session.execute(_KEEP, values)
            return result

    async def forget_idle(self, idle: timedelta) -> int:
        """Delete buckets untouched for `idle` (they would be full again): part of the retention purge."""
        before = self._clock().timestamp() - idle.total_seconds()
        async with use_session(self._sessions, write=True) as session:
            return rowcount(await session.execute(delete(FloodBucket).where(FloodBucket.updated < before)))
