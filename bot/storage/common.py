"""What the stores of bot/storage share: the session factory, the clock, and the chats that moved."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, cast

from sqlalchemy import CursorResult, Result, select
from sqlalchemy.orm import Session, sessionmaker

from bot.storage.models import ChatMove


class Store:
    """Blocking SQLAlchemy work behind async methods (run in a worker thread). Inside a parent's turn
    every method uses the turn's session (bot/storage/turns.py: use_session)."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def rowcount(result: Result[Any]) -> int:
    """Rows an UPDATE or DELETE touched (SQLAlchemy types execute() more loosely than it returns)."""
    return int(cast(CursorResult[Any], result).rowcount or 0)


def moved_chats(session: Session) -> dict[int, int]:
    """Old chat id -> its current id, for every chat that moved (a handful of rows at most)."""
    rows = session.execute(select(ChatMove.old_chat_id, ChatMove.new_chat_id)).tuples()
    return dict(rows.all())
