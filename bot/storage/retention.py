"""What the bot forgets, and when (data kept no longer than its purpose needs): /forget, and the retention
purge that deletes old messages, cases past their retention, expired drafts, relays gone silent, profiles idle
past PROFILE_RETENTION_DAYS and audit events older than AUDIT_RETENTION_DAYS.

A case deleted here is also to be deleted where the bot posted it: the same transaction queues what it posted
in the staff chats, and sent to staff members' private chats, in telegram_erasures (bot/storage/erasures.py),
which the delivery worker's erasure pass (bot/telegram/staff/erasure.py) works through."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sqlalchemy import Select, and_, delete, exists, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain import CaseStatus, FlowState
from bot.storage.common import Store, rowcount
from bot.storage.erasures import record_erasures
from bot.storage.models import (
    Attachment,
    AuditEvent,
    Case,
    CaseMessage,
    ConversationMessage,
    Delivery,
    Parent,
    PrivateMessage,
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
    profiles: int = 0
    """Parent profiles (Telegram id, chosen school) idle past PROFILE_RETENTION_DAYS, deleted."""
    audit_events: int = 0
    """Audit log rows older than AUDIT_RETENTION_DAYS, deleted."""
    erasures: int = 0
    """Topics and messages queued for deletion in Telegram, for the cases deleted."""


class Retention(Store):
    async def forget_parent(self, parent_id: str) -> None:
        """/forget: the profile, and every message and photo not attached to a case (cases stay with
        the school, which the parent is told how to ask about)."""
        async with use_session(self._sessions, write=True) as session:
            await _forget(session, parent_id)

    async def erase_case(self, reference: str) -> int | None:
        """A data subject's erasure request the DPO granted (`parentbot erase-case REF`): the case and all
        that hangs on it deleted now, and what the bot posted for it queued for deletion in Telegram, as
        the purge does. How many Telegram erasures were queued; None when there is no such case."""
        async with use_session(self._sessions, write=True) as session:
            case_id = await session.scalar(select(Case.id).where(Case.reference == reference.strip().upper()))
            if case_id is None:
                return None
            erasures = await record_erasures(session, [case_id])
            await _delete_cases(session, [case_id])
            return erasures

    async def purge(
        self,
        message_retention: timedelta,
        case_retention: timedelta,
        unresolved_retention: timedelta | None = None,
        *,
        flow_timeout: timedelta | None = None,
        relay_timeout: timedelta | None = None,
        profile_retention: timedelta | None = None,
        audit_retention: timedelta | None = None,
    ) -> PurgeCounts:
        """Delete messages not attached to a case after `message_retention`; resolved cases (with their
        transcripts, messages, evidence and deliveries) `case_retention` after they were resolved; cases
        never resolved `unresolved_retention` (default: `case_retention`) after their last activity
        (opened, claimed, or a message from either side), so no case is kept for ever; with
        `flow_timeout`, half-finished drafts untouched that long; with `relay_timeout`, end relays silent
        that long; with `profile_retention`, profiles of parents silent that long; with `audit_retention`,
        audit events that old. Each step is its own transaction, queued with the other writers."""
        stale = case_retention if unresolved_retention is None else unresolved_retention
        counts = await self._purge(message_retention, case_retention, stale)
        drafts = await self._purge_drafts(flow_timeout) if flow_timeout else 0
        relays = await self._end_relays(relay_timeout) if relay_timeout else 0
        profiles = await self._purge_profiles(profile_retention) if profile_retention else 0
        audits = await self._purge_audit(audit_retention) if audit_retention else 0
        return replace(counts, drafts=drafts, relays=relays, profiles=profiles, audit_events=audits)

    async def _purge_profiles(self, idle: timedelta) -> int:
        """A profile is the parent's Telegram id and chosen school: kept while they use the bot, deleted
        once they have not written for `idle` (with whatever of theirs is not in a case, as /forget)."""
        async with use_session(self._sessions, write=True) as session:
            idle_ids = (
                await session.scalars(select(Parent.id).where(Parent.updated_at < self._clock() - idle))
            ).all()
            for parent_id in idle_ids:
                await _forget(session, parent_id)
            return len(idle_ids)

    async def _purge_audit(self, retention: timedelta) -> int:
        async with use_session(self._sessions, write=True) as session:
            return rowcount(
                await session.execute(delete(AuditEvent).where(AuditEvent.at < self._clock() - retention))
            )

    async def _purge_drafts(self, timeout: timedelta) -> int:
        """Expired drafts live in parents.flow (JSON): each is replaced by its tombstone (the flow's name
        only), so the parent's next message says it expired. Unreadable values and tombstones stay."""
        now = self._clock()
        async with use_session(self._sessions, write=True) as session:
            rows = (
                await session.execute(select(Parent.id, Parent.flow).where(Parent.flow.is_not(None)))
            ).all()
            drafts = [(parent_id, FlowState.from_json(stored)) for parent_id, stored in rows]
            expired = [
                (parent_id, flow)
                for parent_id, flow in drafts
                if flow is not None and flow.expired(now, timeout.total_seconds())
            ]
            for parent_id, flow in expired:
                await session.execute(
                    update(Parent).where(Parent.id == parent_id).values(flow=flow.tombstone())
                )
            return len(expired)

    async def _end_relays(self, timeout: timedelta) -> int:
        async with use_session(self._sessions, write=True) as session:
            return rowcount(
                await session.execute(
                    update(Parent)
                    .where(Parent.relay_case_id.is_not(None), Parent.updated_at < self._clock() - timeout)
                    .values(relay_case_id=None)
                )
            )

    async def _purge(
        self, message_retention: timedelta, case_retention: timedelta, stale: timedelta
    ) -> PurgeCounts:
        now = self._clock()
        async with use_session(self._sessions, write=True) as session:
            messages = rowcount(
                await session.execute(
                    delete(ConversationMessage).where(
                        ConversationMessage.case_id.is_(None),
                        ConversationMessage.created_at < now - message_retention,
                    )
                )
            )
            attachments = rowcount(
                await session.execute(
                    delete(Attachment).where(
                        Attachment.case_id.is_(None), Attachment.created_at < now - message_retention
                    )
                )
            )
            resolved = (
                await session.scalars(
                    select(Case.id).where(
                        and_(Case.status == CaseStatus.RESOLVED, Case.resolved_at < now - case_retention)
                    )
                )
            ).all()
            abandoned = (await session.scalars(_abandoned_cases(now - stale))).all()
            erasures = await record_erasures(session, [*resolved, *abandoned])
            cases = await _delete_cases(session, [*resolved, *abandoned])
            return PurgeCounts(messages, attachments, cases, len(abandoned), erasures=erasures)


async def _delete_cases(session: AsyncSession, old_cases: Sequence[int]) -> int:
    """Delete the cases and all that hangs on them (record_erasures first, in the same session)."""
    for model in (ConversationMessage, CaseMessage, Attachment, Delivery, PrivateMessage):
        await session.execute(delete(model).where(model.case_id.in_(old_cases)))
    await session.execute(update(AuditEvent).where(AuditEvent.case_id.in_(old_cases)).values(case_id=None))
    await session.execute(
        update(Parent).where(Parent.relay_case_id.in_(old_cases)).values(relay_case_id=None)
    )
    return rowcount(await session.execute(delete(Case).where(Case.id.in_(old_cases))))


async def _forget(session: AsyncSession, parent_id: str) -> None:
    """The profile, and every message and photo of the parent's not attached to a case (none of which
    was ever posted to staff, so nothing in Telegram to erase)."""
    await session.execute(
        delete(ConversationMessage).where(
            ConversationMessage.parent_id == parent_id, ConversationMessage.case_id.is_(None)
        )
    )
    await session.execute(
        delete(Attachment).where(Attachment.parent_id == parent_id, Attachment.case_id.is_(None))
    )
    await session.execute(delete(Parent).where(Parent.id == parent_id))


def _abandoned_cases(cutoff: datetime) -> Select[tuple[int]]:
    """Cases not resolved whose last activity (opening, claim, a message) is older than `cutoff`."""
    recent_message = exists().where(CaseMessage.case_id == Case.id, CaseMessage.created_at >= cutoff)
    return select(Case.id).where(
        Case.status != CaseStatus.RESOLVED,
        Case.created_at < cutoff,
        or_(Case.claimed_at.is_(None), Case.claimed_at < cutoff),
        ~recent_message,
    )
