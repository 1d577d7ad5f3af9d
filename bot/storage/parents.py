"""The parent's profile and conversation state, kept in the database (so restarts lose nothing)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import delete
from sqlalchemy.orm import Session, sessionmaker

from bot.domain import DangerCheck, FlowState, ParentState, Pending
from bot.storage.common import utcnow
from bot.storage.models import Parent
from bot.storage.turns import upsert, use_session


class SqlStateStore:
    """The engine's StateStore on SQLAlchemy; blocking database work runs in a worker thread."""

    def __init__(self, sessions: sessionmaker[Session], clock: Callable[[], datetime] = utcnow) -> None:
        self._sessions = sessions
        self._clock = clock

    async def load(self, parent_id: str) -> ParentState:
        return await asyncio.to_thread(self._load, parent_id)

    async def save(self, parent_id: str, state: ParentState) -> None:
        await asyncio.to_thread(self._save, parent_id, state)

    async def forget(self, parent_id: str) -> None:
        await asyncio.to_thread(self._forget, parent_id)

    async def mark_blocked(self, parent_id: str) -> None:
        """Telegram answered 403: the parent blocked the bot."""
        await asyncio.to_thread(self._set_blocked, parent_id, self._clock())

    async def is_blocked(self, parent_id: str) -> bool:
        return await asyncio.to_thread(self._is_blocked, parent_id)

    def _load(self, parent_id: str) -> ParentState:
        with use_session(self._sessions, write=False) as session:
            row = session.get(Parent, parent_id)
            if row is None:
                return ParentState()
            pending = Pending(row.pending) if row.pending in Pending._value2member_map_ else None
            return ParentState(
                school_id=row.school_id,
                fallback_streak=row.fallback_streak,
                pending=pending,
                flow=FlowState.from_json(row.flow),
                relay_case_id=row.relay_case_id,
                clarify_options=tuple(filter(None, (row.clarify_options or "").split(","))),
                danger_check=DangerCheck.from_json(row.danger_check),
                expired_flow=FlowState.expired_name(row.flow),
                updated_at=row.updated_at,
            )

    def _save(self, parent_id: str, state: ParentState) -> None:
        """One INSERT ... ON CONFLICT DO UPDATE (every message saves the state: this is the hot path)."""
        values = {
            "school_id": state.school_id,
            "fallback_streak": state.fallback_streak,
            "pending": state.pending.value if state.pending else None,
            "flow": state.flow.to_json() if state.flow else None,
            "relay_case_id": state.relay_case_id,
            "clarify_options": ",".join(state.clarify_options) or None,
            "danger_check": state.danger_check.to_json() if state.danger_check else None,
            "blocked_at": None,  # a parent who writes to the bot has unblocked it
            "updated_at": self._clock(),
        }
        with use_session(self._sessions, write=True) as session:
            statement = upsert(session, Parent).values(id=parent_id, **values)
            session.execute(statement.on_conflict_do_update(index_elements=[Parent.id], set_=values))

    def _forget(self, parent_id: str) -> None:
        with use_session(self._sessions, write=True) as session:
            session.execute(delete(Parent).where(Parent.id == parent_id))

    def _set_blocked(self, parent_id: str, when: datetime) -> None:
        with use_session(self._sessions, write=True) as session:
            row = session.get(Parent, parent_id) or Parent(id=parent_id)
            row.blocked_at = when
            session.add(row)

    def _is_blocked(self, parent_id: str) -> bool:
        with use_session(self._sessions, write=False) as session:
            row = session.get(Parent, parent_id)
            return row is not None and row.blocked_at is not None
