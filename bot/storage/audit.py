"""The staff audit log: every staff action (claim, reply, resolve, view, stats), allowed or refused, with
ids only. Kept after a case is purged (its case id is cleared)."""

from __future__ import annotations

import asyncio

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
        await asyncio.to_thread(self._audit, action, actor_id, chat_id, case_id, allowed)

    def _audit(
        self, action: str, actor_id: int | None, chat_id: int | None, case_id: int | None, allowed: bool
    ) -> None:
        with use_session(self._sessions, write=True) as session:
            session.add(
                AuditEvent(
                    action=action, actor_id=actor_id, chat_id=chat_id, case_id=case_id, allowed=allowed
                )
            )

    async def audit_events(self) -> list[AuditEvent]:
        return await asyncio.to_thread(self._audit_events)

    def _audit_events(self) -> list[AuditEvent]:
        with use_session(self._sessions, write=False) as session:
            events = list(session.scalars(select(AuditEvent).order_by(AuditEvent.id)).all())
            session.expunge_all()
            return events
