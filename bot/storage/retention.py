"""What the bot forgets, and when (SPEC §5): /forget, and the retention purge that deletes old messages,
cases past their retention, expired drafts, and relays gone silent."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sqlalchemy import Select, and_, delete, exists, or_, select, update
from sqlalchemy.orm import Session

from bot.domain import FlowState
from bot.storage.common import Store, rowcount, utcnow
from bot.storage.models import (
    Attachment,
    AuditEvent,
    Case,
    CaseMessage,
    CaseStatus,
    ConversationMessage,
    Delivery,
    Parent,
)
from bot.storage.turns import use_session


@dataclass(frozen=True)
class PurgeCounts:
    messages: int
    attachments: int
    cases: int
    """Every case deleted, resolved or not."""
    unresolved: int = 0
    """Of those, cases never resolved, deleted after their last activity."""
    drafts: int = 0
    """Half-finished flows (their text and screenshots) past FLOW_TIMEOUT_MINUTES, deleted."""
    relays: int = 0
    """Relays to a case's staff ended after RELAY_TIMEOUT_HOURS of silence."""


class Retention(Store):
    async def forget_parent(self, parent_id: str) -> None:
        """/forget: the profile, and every message and photo not attached to a case (cases stay with
        the school, which the parent is told how to ask about)."""
        await asyncio.to_thread(self._forget_parent, parent_id)

    def _forget_parent(self, parent_id: str) -> None:
        with use_session(self._sessions, write=True) as session:
            session.execute(
                delete(ConversationMessage).where(
                    ConversationMessage.parent_id == parent_id, ConversationMessage.case_id.is_(None)
                )
            )
            session.execute(
                delete(Attachment).where(Attachment.parent_id == parent_id, Attachment.case_id.is_(None))
            )
            session.execute(delete(Parent).where(Parent.id == parent_id))

    async def purge(
        self,
        message_retention: timedelta,
        case_retention: timedelta,
        unresolved_retention: timedelta | None = None,
        *,
        flow_timeout: timedelta | None = None,
        relay_timeout: timedelta | None = None,
    ) -> PurgeCounts:
        """Delete messages not attached to a case after `message_retention`; resolved cases (with their
        transcripts, messages, evidence and deliveries) `case_retention` after they were resolved; cases
        never resolved `unresolved_retention` (default: `case_retention`) after their last activity
        (opened, claimed, or a message from either side), so no case is kept for ever; with
        `flow_timeout`, half-finished drafts untouched that long; with `relay_timeout`, end relays silent
        that long."""
        stale = case_retention if unresolved_retention is None else unresolved_retention
        counts = await asyncio.to_thread(self._purge, message_retention, case_retention, stale)
        drafts = await asyncio.to_thread(self._purge_drafts, flow_timeout) if flow_timeout else 0
        relays = await asyncio.to_thread(self._end_relays, relay_timeout) if relay_timeout else 0
        return replace(counts, drafts=drafts, relays=relays)

    def _purge_drafts(self, timeout: timedelta) -> int:
        """Expired drafts live in parents.flow (JSON): each is replaced by its tombstone (the flow's name
        only), so the parent's next message says it expired. Unreadable values and tombstones stay."""
        now = utcnow()
        with use_session(self._sessions, write=True) as session:
            rows = session.execute(select(Parent.id, Parent.flow).where(Parent.flow.is_not(None))).all()
            drafts = [(parent_id, FlowState.from_json(stored)) for parent_id, stored in rows]
            for parent_id, flow in drafts:
                if flow is not None and flow.expired(now, timeout.total_seconds()):
                    session.execute(
                        update(Parent).where(Parent.id == parent_id).values(flow=flow.tombstone())
                    )
            return sum(
                1 for _, flow in drafts if flow is not None and flow.expired(now, timeout.total_seconds())
            )

    def _end_relays(self, timeout: timedelta) -> int:
        with use_session(self._sessions, write=True) as session:
            return rowcount(
                session.execute(
                    update(Parent)
                    .where(Parent.relay_case_id.is_not(None), Parent.updated_at < utcnow() - timeout)
                    .values(relay_case_id=None)
                )
            )

    def _purge(
        self, message_retention: timedelta, case_retention: timedelta, stale: timedelta
    ) -> PurgeCounts:
        now = utcnow()
        with use_session(self._sessions, write=True) as session:
            messages = rowcount(
                session.execute(
                    delete(ConversationMessage).where(
                        ConversationMessage.case_id.is_(None),
                        ConversationMessage.created_at < now - message_retention,
                    )
                )
            )
            attachments = rowcount(
                session.execute(
                    delete(Attachment).where(
                        Attachment.case_id.is_(None), Attachment.created_at < now - message_retention
                    )
                )
            )
            resolved = session.scalars(
                select(Case.id).where(
                    and_(Case.status == CaseStatus.RESOLVED, Case.resolved_at < now - case_retention)
                )
            ).all()
            abandoned = session.scalars(_abandoned_cases(now - stale)).all()
            cases = self._delete_cases(session, [*resolved, *abandoned])
            return PurgeCounts(messages, attachments, cases, len(abandoned))

    def _delete_cases(self, session: Session, old_cases: Sequence[int]) -> int:
        for model in (ConversationMessage, CaseMessage, Attachment, Delivery):
            session.execute(delete(model).where(model.case_id.in_(old_cases)))
        session.execute(update(AuditEvent).where(AuditEvent.case_id.in_(old_cases)).values(case_id=None))
        session.execute(update(Parent).where(Parent.relay_case_id.in_(old_cases)).values(relay_case_id=None))
        return rowcount(session.execute(delete(Case).where(Case.id.in_(old_cases))))


def _abandoned_cases(cutoff: datetime) -> Select[tuple[int]]:
    """Cases not resolved whose last activity (opening, claim, a message) is older than `cutoff`."""
    recent_message = exists().where(CaseMessage.case_id == Case.id, CaseMessage.created_at >= cutoff)
    return select(Case.id).where(
        Case.status != CaseStatus.RESOLVED,
        Case.created_at < cutoff,
        or_(Case.claimed_at.is_(None), Case.claimed_at < cutoff),
        ~recent_message,
    )
