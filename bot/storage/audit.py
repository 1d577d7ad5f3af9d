"""The staff audit log: every staff action (claim, reply, resolve, view, stats), allowed or refused, with
ids only. Kept after a case is purged (its case id is cleared)."""

from __future__ import annotations

from sqlalchemy import select

from bot.storage.common import Store
from bot.storage.models import AuditEvent
from bot.storage.turns import use_session


class AuditLog(Store):
    async def audit(
        self,
        action: str,
        *,
        actor_id: int | None,
        chat_id: int | None,
        case_id: int | None = None,
        allowed: bool = True,
    ) -> None:
        async with use_session(self._sessions, write=True) as session:
            session.add(
                AuditEvent(
                    action=action, actor_id=actor_id, chat_id=chat_id, case_id=case_id, allowed=allowed
                )
            )

    async def audit_events(self) -> list[AuditEvent]:
        async with use_session(self._sessions, write=False) as session:
            events = list((await session.scalars(select(AuditEvent).order_by(AuditEvent.id))).all())
            session.expunge_all()
            return events
