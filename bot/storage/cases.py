"""Cases: opening one and finding one (by reference, staff card, forum topic or parent message), as the
detached CaseView staff and parents see, and the figures /stats reads. Claiming, resolving, reopening and
the messages of a case's thread are bot/storage/case_actions.py.

A case and the deliveries that announce it are written in one transaction, before anything is sent,
so a crash or a Telegram outage can delay a case but never lose it.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import cast

from sqlalchemy import Select, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from bot.clock import Clock, utcnow
from bot.domain import (
    Author,
    CardDelivery,
    CaseDraft,
    CaseKind,
    CaseStatus,
    CaseView,
    Priority,
    TranscriptLine,
)
from bot.storage.case_actions import CaseActions
from bot.storage.common import CardRoute
from bot.storage.database import SessionSource
from bot.storage.models import (
    Attachment,
    Case,
    CaseMessage,
    ConversationMessage,
    Delivery,
    DeliveryKind,
    DeliveryStatus,
)
from bot.storage.outbox_queue import ABOUT_A_CASE, ADDRESSED_TO_PARENT, chat_for, queue
from bot.storage.turns import use_session

K = DeliveryKind
REFERENCE_ALPHABET = "ABCDEFGHJKMNPQRSTVWXYZ23456789"  # no 0/O, 1/I/L, U: easy to read out on the phone


def new_reference(school_id: str) -> str:
    prefix = "".join(ch for ch in school_id.upper() if ch.isalnum())[:3]
    return f"{prefix}-" + "".join(secrets.choice(REFERENCE_ALPHABET) for _ in range(4))


def case_view(case: Case, transcript: Sequence[ConversationMessage] = ()) -> CaseView:
    """A case row (with its messages and attachments loaded) as the detached view staff and parents see."""
    lines = [TranscriptLine(m.author, m.text, m.created_at) for m in transcript]
    lines += [TranscriptLine(m.author, m.text, m.created_at, m.author_name) for m in case.messages]
    return CaseView(
        id=case.id,
        reference=case.reference,
        school_id=case.school_id,
        kind=case.kind,
        priority=case.priority,
        status=case.status,
        summary=case.summary,
        details=dict(case.details or {}),
        contact_method=case.contact_method,
        contact_detail=case.contact_detail,
        parent_id=case.parent_id,
        parent_chat_id=case.parent_chat_id,
        staff_chat_id=case.staff_chat_id,
        card_message_id=case.card_message_id,
        topic_id=case.topic_id,
        claimed_by_name=case.claimed_by_name,
        claimed_by=case.claimed_by,
        created_at=case.created_at,
        transcript=tuple(lines),
        attachments=tuple(a.file_id for a in case.attachments),
    )


async def _card_delivery(session: AsyncSession, case_id: int) -> CardDelivery:
    """Sent once any chat took the card (a failover chat counts); undelivered once every card row gave
    up; being sent while one is still queued or retrying."""
    states = set(
        await session.scalars(
            select(Delivery.status).where(
                Delivery.case_id == case_id, Delivery.kind == DeliveryKind.CASE_CARD
            )
        )
    )
    if DeliveryStatus.SENT in states:
        return CardDelivery.DELIVERED
    if DeliveryStatus.FAILED in states and DeliveryStatus.PENDING not in states:
        return CardDelivery.UNDELIVERED
    return CardDelivery.SENDING


@dataclass(frozen=True)
class CaseTimes:
    """One case as the figures need it: no text, no parent."""

    school_id: str
    kind: CaseKind
    priority: Priority
    status: CaseStatus
    created_at: datetime
    claimed_at: datetime | None
    resolved_at: datetime | None


class CaseStore(CaseActions):
    """Opening and reading cases; what is done to them afterwards is CaseActions'
    (bot/storage/case_actions.py)."""

    def __init__(
        self, sessions: SessionSource, route: CardRoute | None = None, clock: Clock = utcnow
    ) -> None:
        super().__init__(sessions, clock)
        self._route = route
        """With the staff policy's route, a new case goes to the chat it names (the school's safeguarding
        chat for urgent cases, say); without, to the draft's staff_chat_id."""

    # ---- opening a case --------------------------------------------------------------------------------

    async def open_case(self, draft: CaseDraft) -> CaseView:
        """Create the case, attach the transcript and evidence, and queue its staff card: one transaction."""
        for _ in range(5):
            try:
                return await self._open_case(draft, new_reference(draft.school_id))
            except IntegrityError:
                continue  # a reference collision: draw another
        raise RuntimeError("could not draw a unique case reference")

    async def _open_case(self, draft: CaseDraft, reference: str) -> CaseView:
        async with use_session(self._sessions, write=True) as session:
            while await session.scalar(select(Case.id).where(Case.reference == reference)) is not None:
                reference = new_reference(draft.school_id)  # inside a turn a collision cannot be retried
            chat_id = await chat_for(
                session,
                self._route,
                draft.school_id,
                draft.priority,
                draft.staff_chat_id,
                draft.kind,
                draft.details,
            )
            case = Case(
                reference=reference,
                school_id=draft.school_id,
                kind=draft.kind,
                priority=draft.priority,
                status=CaseStatus.OPEN,
                summary=draft.summary,
                details=draft.details,
                contact_method=draft.contact_method,
                contact_detail=draft.contact_detail,
                parent_id=draft.parent_id,
                parent_chat_id=draft.parent_chat_id,
                staff_chat_id=chat_id,
                attachments=[Attachment(parent_id=draft.parent_id, file_id=f) for f in draft.attachments],
            )
            session.add(case)
            await session.flush()
            # Exactly the lines the parent was shown at the consent step (the flow's own screenshots are
            # attached above).
            session.add_all(
                ConversationMessage(
                    parent_id=draft.parent_id, author=line.author, text=line.text, case_id=case.id
                )
                for line in draft.transcript
            )
            queue(session, K.CASE_CARD, case.id, chat_id)
            await session.flush()
            return await self._view(session, case.id)

    # ---- reading ------------------------------------------------------------------------------------------

    async def get(self, case_id: int) -> CaseView | None:
        async with use_session(self._sessions, write=False) as session:
            return await self._view(session, case_id) if await session.get(Case, case_id) else None

    async def by_reference(self, reference: str, school_id: str | None = None) -> CaseView | None:
        query = select(Case.id).where(Case.reference == reference.strip().upper())
        if school_id is not None:
            query = query.where(Case.school_id == school_id)
        return await self._view_of(query)

    async def by_card(self, staff_chat_id: int, message_id: int) -> CaseView | None:
        """The case whose staff card, or a parent's message relayed to staff, is this message: what a
        staff reply to it is addressed to (the parent)."""
        return await self._by_card(staff_chat_id, message_id, ADDRESSED_TO_PARENT)

    async def by_staff_chat_message(self, staff_chat_id: int, message_id: int) -> CaseView | None:
        """The case any message the bot posted in a staff chat belongs to (card, evidence, reminder...)."""
        return await self._by_card(staff_chat_id, message_id, None)

    async def _by_card(
        self, staff_chat_id: int, message_id: int, kinds: Sequence[DeliveryKind] | None
    ) -> CaseView | None:
        async with use_session(self._sessions, write=False) as session:
            case_id = await session.scalar(
                select(Case.id).where(Case.staff_chat_id == staff_chat_id, Case.card_message_id == message_id)
            )
            if case_id is None:
                query = select(Delivery.case_id).where(
                    Delivery.chat_id == staff_chat_id, Delivery.sent_message_id == message_id
                )
                if kinds is not None:
                    query = query.where(Delivery.kind.in_(kinds))
                case_id = await session.scalar(query)
            return await self._view(session, case_id) if case_id is not None else None

    async def by_topic(self, staff_chat_id: int, topic_id: int) -> CaseView | None:
        """The case whose forum topic this is."""
        return await self._view_of(
            select(Case.id).where(Case.staff_chat_id == staff_chat_id, Case.topic_id == topic_id)
        )

    async def _view_of(self, query: Select[tuple[int]], with_transcript: bool = True) -> CaseView | None:
        """The case the query finds (its id), if any."""
        async with use_session(self._sessions, write=False) as session:
            case_id = await session.scalar(query)
            return await self._view(session, case_id, with_transcript) if case_id is not None else None

    async def open_cases(self, school_id: str) -> list[CaseView]:
        """Open and claimed cases of a school: urgent first, then oldest first."""
        async with use_session(self._sessions, write=False) as session:
            ids = (
                await session.scalars(
                    select(Case.id)
                    .where(Case.school_id == school_id, Case.status != CaseStatus.RESOLVED)
                    .order_by((Case.priority == Priority.URGENT).desc(), Case.created_at, Case.id)
                )
            ).all()
            return [await self._view(session, case_id, with_transcript=False) for case_id in ids]

    async def parent_cases(self, parent_id: str) -> list[CaseView]:
        async with use_session(self._sessions, write=False) as session:
            ids = (
                await session.scalars(select(Case.id).where(Case.parent_id == parent_id).order_by(Case.id))
            ).all()
            return [
                replace(
                    await self._view(session, case_id, with_transcript=False),
                    card_delivery=await _card_delivery(session, case_id),
                )
                for case_id in ids
            ]

    async def case_times(
        self, school_ids: Sequence[str] | None, since: datetime, until: datetime
    ) -> tuple[list[CaseTimes], list[CaseTimes]]:
        """For /stats: the cases opened in [since, until), and the cases open now (of these schools;
        None: all schools)."""
        columns = (
            Case.school_id,
            Case.kind,
            Case.priority,
            Case.status,
            Case.created_at,
            Case.claimed_at,
            Case.resolved_at,
        )
        scope = Case.school_id.in_(school_ids) if school_ids is not None else Case.id.is_not(None)
        async with use_session(self._sessions, write=False) as session:
            opened = (
                await session.execute(
                    select(*columns).where(scope, Case.created_at >= since, Case.created_at < until)
                )
            ).all()
            open_now = (
                await session.execute(select(*columns).where(scope, Case.status != CaseStatus.RESOLVED))
            ).all()
            return [CaseTimes(*row) for row in opened], [CaseTimes(*row) for row in open_now]

    async def case_of_parent_message(self, parent_chat_id: int, message_id: int) -> CaseView | None:
        """The case of a message the bot sent to a parent's chat (a staff message, claimed, resolved):
        what the parent's Telegram reply to it is about."""
        query = select(Delivery.case_id).where(
            Delivery.chat_id == parent_chat_id,
            Delivery.sent_message_id == message_id,
            Delivery.kind.in_(ABOUT_A_CASE),
            Delivery.case_id.is_not(None),
        )
        return await self._view_of(cast("Select[tuple[int]]", query), with_transcript=False)

    async def open_relays(self, parent_id: str) -> list[CaseView]:
        """The parent's cases that staff have written about and that are not resolved, oldest first:
        the conversations a message from the parent could belong to."""
        async with use_session(self._sessions, write=False) as session:
            ids = (
                await session.scalars(
                    select(Case.id)
                    .where(
                        Case.parent_id == parent_id,
                        Case.status != CaseStatus.RESOLVED,
                        Case.messages.any(CaseMessage.author == Author.STAFF),
                    )
                    .order_by(Case.id)
                )
            ).all()
            return [await self._view(session, case_id, with_transcript=False) for case_id in ids]

    @staticmethod
    async def _view(session: AsyncSession, case_id: int, with_transcript: bool = True) -> CaseView:
        case = (
            await session.scalars(
                select(Case)
                .where(Case.id == case_id)
                .options(selectinload(Case.messages), selectinload(Case.attachments))
                .execution_options(populate_existing=True)
            )
        ).one()
        transcript: Sequence[ConversationMessage] = ()
        if with_transcript:
            transcript = (
                await session.scalars(
                    select(ConversationMessage)
                    .where(ConversationMessage.case_id == case_id)
                    .order_by(ConversationMessage.id)
                )
            ).all()
        return case_view(case, transcript)
