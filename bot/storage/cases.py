"""Cases: opening one, finding one, and what staff and parents do to it (claim, resolve, reopen, the
messages of its thread). The statuses each action applies to are bot.domain's CASE_ACTIONS.

A case and the deliveries that announce it are written in one transaction, before anything is sent,
so a crash or a Telegram outage can delay a case but never lose it.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Select, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from bot.clock import Clock, utcnow
from bot.domain import (
    CASE_ACTIONS,
    CLAIM,
    OPEN_TO_MESSAGES,
    RESOLVE,
    Author,
    CardDelivery,
    CaseDraft,
    CaseKind,
    CaseStatus,
    CaseView,
    Priority,
    TranscriptLine,
)
from bot.storage import outbox
from bot.storage.common import CardRoute, Store, rowcount
from bot.storage.database import SessionSource
from bot.storage.models import (
    Attachment,
    Case,
    CaseMessage,
    ConversationMessage,
    Delivery,
    DeliveryKind,
    DeliveryStatus,
    Parent,
)
from bot.storage.turns import use_session

K = DeliveryKind
MERGED_REPLY_CHARS = 3500
"""A parent's messages waiting for the staff chat are sent as one while together they stay this short:
Telegram's limit is 4096 characters, and the staff line around them needs the rest."""
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


class CaseStore(Store):
    """Cases and their lifecycle."""

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
            chat_id = await outbox.chat_for(
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
            outbox.queue(session, K.CASE_CARD, case.id, chat_id)
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
        return await self._by_card(staff_chat_id, message_id, outbox.ADDRESSED_TO_PARENT)

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
            Delivery.kind.in_(outbox.ABOUT_A_CASE),
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

    async def reopen_for_parent(self, case_id: int) -> bool:
        """The parent answered a message of a resolved case: it is open again (claimed again by whoever
        had it), its card shows so and its forum topic is reopened. False when it was not resolved."""
        async with use_session(self._sessions, write=True) as session:
            case = await session.get(Case, case_id)
            if case is None or case.status != CaseStatus.RESOLVED:
                return False
            case.status = CaseStatus.OPEN if case.claimed_by is None else CaseStatus.CLAIMED
            case.resolved_at = None
            outbox.queue(session, K.CARD_UPDATE, case_id, case.staff_chat_id)
            await outbox.queue_topic(session, case_id, K.TOPIC_REOPEN)
            return True

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

    # ---- staff actions ------------------------------------------------------------------------------------

    async def set_topic(self, case_id: int, topic_id: int) -> None:
        """Record the forum topic created for the case (before anything is posted in it)."""
        async with use_session(self._sessions, write=True) as session:
            await session.execute(update(Case).where(Case.id == case_id).values(topic_id=topic_id))

    async def claim(self, case_id: int, staff_id: int, staff_name: str) -> bool:
        """Claim an open case; False when it was already claimed or resolved."""
        async with use_session(self._sessions, write=True) as session:
            result = await session.execute(
                update(Case)
                .where(Case.id == case_id, Case.status.in_(CASE_ACTIONS[CLAIM]))
                .values(
                    status=CaseStatus.CLAIMED,
                    claimed_by=staff_id,
                    claimed_by_name=staff_name,
                    claimed_at=self._clock(),
                )
            )
            if rowcount(result):
                outbox.queue(session, K.CARD_UPDATE, case_id, await outbox.staff_chat(session, case_id))
                await outbox.notify_parent(session, case_id, K.PARENT_CLAIMED, {"staff_name": staff_name})
            return bool(rowcount(result))

    async def resolve(self, case_id: int, staff_id: int, staff_name: str) -> bool:
        async with use_session(self._sessions, write=True) as session:
            result = await session.execute(
                update(Case)
                .where(Case.id == case_id, Case.status.in_(CASE_ACTIONS[RESOLVE]))
                .values(status=CaseStatus.RESOLVED, resolved_at=self._clock())
            )
            if rowcount(result):
                await session.execute(
                    update(Parent).where(Parent.relay_case_id == case_id).values(relay_case_id=None)
                )
                outbox.queue(session, K.CARD_UPDATE, case_id, await outbox.staff_chat(session, case_id))
                await outbox.notify_parent(session, case_id, K.PARENT_RESOLVED, {"staff_name": staff_name})
                await outbox.queue_topic(session, case_id, K.TOPIC_CLOSE)
            return bool(rowcount(result))

    async def staff_reply(
        self, case_id: int, staff_name: str, text: str, confirm: tuple[int, int] | None = None
    ) -> bool:
        """A staff member's message for the parent: kept with the case and queued for the parent.
        ``confirm`` (staff chat id, the staff message's id): once the parent has it, say so there."""
        async with use_session(self._sessions, write=True) as session:
            case = await session.get(Case, case_id)
            if case is None or case.status not in OPEN_TO_MESSAGES or case.parent_id is None:
                return False
            session.add(CaseMessage(case_id=case_id, author=Author.STAFF, author_name=staff_name, text=text))
            await session.execute(
                update(Parent).where(Parent.id == case.parent_id).values(relay_case_id=case_id)
            )
            payload: dict[str, Any] = {"staff_name": staff_name, "text": text}
            if confirm is not None:
                payload["confirm_chat_id"], payload["confirm_message_id"] = confirm
            await outbox.notify_parent(session, case_id, K.STAFF_REPLY, payload)
            return True

    async def parent_reply(self, case_id: int, text: str, *, urgent: bool = False) -> bool:
        """The parent's message in an open case's thread: kept with the case and queued for the staff chat.
        An `urgent` one (the safeguarding gate saw danger in it) raises the case to urgent, is marked so in
        the staff thread, and the card is updated to show it."""
        async with use_session(self._sessions, write=True) as session:
            case = await session.get(Case, case_id)
            if case is None or case.status not in OPEN_TO_MESSAGES:
                return False
            session.add(CaseMessage(case_id=case_id, author=Author.PARENT, text=text))
            if not await _merge_parent_reply(session, case_id, text, urgent):
                payload: dict[str, Any] = {"text": text, "urgent": True} if urgent else {"text": text}
                outbox.queue(session, K.PARENT_REPLY, case_id, case.staff_chat_id, payload)
            if urgent and case.priority is not Priority.URGENT:
                case.priority = Priority.URGENT
                outbox.queue(session, K.CARD_UPDATE, case_id, case.staff_chat_id)
            return True


async def _merge_parent_reply(session: AsyncSession, case_id: int, text: str, urgent: bool) -> bool:
    """Add the parent's message to the case's relayed message still waiting for its first attempt, if
    both are urgent or neither is and the two fit in one Telegram message: a parent sending many in a
    row fills one delivery, not a queue of them in front of every other case of that staff chat (issue
    20). False when there is none to join (or the worker took it meanwhile): the message gets a delivery
    of its own."""
    last = (
        await session.scalars(  # the case's latest: joining an older one would change the order
            select(Delivery)
            .where(Delivery.case_id == case_id, Delivery.kind == K.PARENT_REPLY)
            .order_by(Delivery.id.desc())
            .limit(1)
        )
    ).first()
    if last is None or last.status is not DeliveryStatus.PENDING or last.attempts != 0:
        return False
    before = dict(last.payload or {})
    if bool(before.get("urgent")) != urgent:
        return False  # an urgent message stands out on its own, under its own header
    joined = f"{before.get('text', '')}\n\n{text}"
    if len(joined) > MERGED_REPLY_CHARS:
        return False
    payload: dict[str, Any] = {"text": joined, "urgent": True} if urgent else {"text": joined}
    taken = await session.execute(
        update(Delivery)
        .where(Delivery.id == last.id, Delivery.attempts == 0, Delivery.status == DeliveryStatus.PENDING)
        .values(payload=payload)
        .execution_options(synchronize_session=False)
    )
    return bool(rowcount(taken))
