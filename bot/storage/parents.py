"""The parent's profile and conversation state, kept in the database (so restarts lose nothing)."""

from __future__ import annotations

from sqlalchemy import delete

from bot.domain import DangerCheck, FlowState, ParentState, Pending
from bot.storage.common import Store
from bot.storage.models import Parent
from bot.storage.turns import cached_upsert, use_session

_STATE = (
    "school_id",
    "fallback_streak",
    "pending",
    "flow",
    "relay_case_id",
    "clarify_options",
    "danger_check",
    "blocked_at",
    "updated_at",
)
_SAVE = cached_upsert(Parent, ("id", *_STATE), update=_STATE)


class SqlStateStore(Store):
    """The engine's StateStore on SQLAlchemy (asynchronous sessions, bot/storage/database.py)."""

    async def load(self, parent_id: str) -> ParentState:
        async with use_session(self._sessions, write=False) as session:
            row = await session.get(Parent, parent_id)
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

    async def save(self, parent_id: str, state: ParentState) -> None:
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
        async with use_session(self._sessions, write=True) as session:
            await session.execute(_SAVE, {"id": parent_id, **values})
            loaded = session.sync_session.identity_map.get(
                session.sync_session.identity_key(Parent, parent_id)
            )
            if loaded is not None:  # the row the turn loaded is not what the database holds now
                session.expire(loaded)

    async def forget(self, parent_id: str) -> None:
        async with use_session(self._sessions, write=True) as session:
            await session.execute(delete(Parent).where(Parent.id == parent_id))

    async def mark_blocked(self, parent_id: str) -> None:
        """Telegram answered 403: the parent blocked the bot."""
        when = self._clock()
        async with use_session(self._sessions, write=True) as session:
            row = await session.get(Parent, parent_id) or Parent(id=parent_id)
            row.blocked_at = when
            session.add(row)

    async def is_blocked(self, parent_id: str) -> bool:
        async with use_session(self._sessions, write=False) as session:
            row = await session.get(Parent, parent_id)
            return row is not None and row.blocked_at is not None
