"""What the stores of bot/storage share: the sessions, the clock, the chats that moved, and the shape of the
staff policy's answer to "which chat takes this case's card"."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, cast

from sqlalchemy import CursorResult, Result, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock, utcnow
from bot.domain import CaseKind, Priority
from bot.storage.database import SessionSource, as_sessions
from bot.storage.models import ChatMove

CardRoute = Callable[[str, Priority, CaseKind | None, Mapping[str, Any] | None], int | None]
"""(school id, priority, kind, details) -> the chat the staff policy names for the case's card, or None when
the configuration does not know the school (the case keeps the chat it has). The decision is the staff
side's (bot/staff/routing.py: CardRouting); storage records where it was told, following chat moves."""


class Store:
    """Asynchronous SQLAlchemy work (bot/storage/database.py: as_sessions). Inside a parent's turn every
    method uses the turn's session (bot/storage/turns.py: use_session)."""

    def __init__(self, sessions: SessionSource, clock: Clock = utcnow) -> None:
        self._sessions = as_sessions(sessions)
        self._clock = clock


def rowcount(result: Result[Any]) -> int:
    """Rows an UPDATE or DELETE touched (SQLAlchemy types execute() more loosely than it returns)."""
    return int(cast(CursorResult[Any], result).rowcount or 0)


async def moved_chats(session: AsyncSession) -> dict[int, int]:
    """Old chat id -> its current id, for every chat that moved (a handful of rows at most)."""
    rows = (await session.execute(select(ChatMove.old_chat_id, ChatMove.new_chat_id))).tuples()
    return dict(rows.all())
