"""Queueing outbox rows inside another store's transaction: a claim and the parent's "claimed" message,
a new case and its staff card, are one commit, so what caused a message and the message itself are
written together and the delivery worker (bot/storage/outbox.py: Outbox) sends it later. Which chat a
card goes to is the staff policy's decision (bot/staff/routing.py), handed in as a CardRoute; these
functions record it, following chat moves.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import and_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain import CaseKind, Priority
from bot.storage.common import CardRoute, moved_chats
from bot.storage.models import Case, Delivery, DeliveryKind, DeliveryStatus

K = DeliveryKind
ABOUT_A_CASE = frozenset({K.PARENT_CLAIMED, K.PARENT_RESOLVED, K.STAFF_REPLY})
"""What goes to the parent's chat about one case: a parent's Telegram reply to one is about that case."""
TO_PARENT = ABOUT_A_CASE | {K.PARENT_DELIVERED, K.PARENT_UNDELIVERED}
"""Everything that goes to a parent's chat (never moved with a staff chat)."""
CARD_BOUND = frozenset({K.CASE_CARD, K.CARD_UPDATE, K.EVIDENCE, K.TRANSCRIPT, K.PIN})
"""Staff-chat deliveries of the card itself or replying to it: a new card in another chat replaces them."""
ADDRESSED_TO_PARENT = (K.CASE_CARD, K.PARENT_REPLY)
"""Staff-chat messages a staff member's Telegram reply to is meant for the parent."""


def queue(
    session: AsyncSession,
    kind: DeliveryKind,
    case_id: int | None,
    chat_id: int,
    payload: dict[str, Any] | None = None,
) -> None:
    session.add(Delivery(kind=kind, case_id=case_id, chat_id=chat_id, payload=payload or {}))


async def staff_chat(session: AsyncSession, case_id: int) -> int:
    return int(await session.scalar(select(Case.staff_chat_id).where(Case.id == case_id)) or 0)


async def notify_parent(
    session: AsyncSession, case_id: int, kind: DeliveryKind, payload: dict[str, Any]
) -> None:
    """A message to the parent's chat about their case (none for a case without one)."""
    case = await session.get(Case, case_id)
    if case is not None and case.parent_chat_id is not None:
        queue(session, kind, case_id, case.parent_chat_id, payload)


async def notify_parent_once(session: AsyncSession, case: Case, kind: DeliveryKind) -> None:
    """A message to the parent about their case, unless one of this kind was queued before."""
    told = await session.scalar(select(Delivery.id).where(Delivery.case_id == case.id, Delivery.kind == kind))
    if told is None:
        await notify_parent(session, case.id, kind, {})


async def queue_topic(session: AsyncSession, case_id: int, kind: DeliveryKind) -> None:
    """Close or reopen the case's forum topic, if it has one."""
    case = await session.get(Case, case_id)
    if case is not None and case.topic_id is not None:
        queue(session, kind, case_id, case.staff_chat_id)


async def chat_for(
    session: AsyncSession,
    route: CardRoute | None,
    school_id: str,
    priority: Priority,
    default: int,
    kind: CaseKind | None = None,
    details: dict[str, Any] | None = None,
) -> int:
    """Where a case's card goes now: the chat the staff policy names for it (`route`), followed through
    any chat move; `default` when there is no policy or it does not know the school."""
    named = route(school_id, priority, kind, details) if route is not None else None
    chat_id = default if named is None else named
    return (await moved_chats(session)).get(chat_id, chat_id)


async def repost_card(session: AsyncSession, case_id: int, to_chat_id: int, now: datetime) -> None:
    """Post the case's card again in `to_chat_id`: what belonged to the old card is marked moved, the
    rest of the case's staff-chat queue follows the card (due `now`)."""
    case = await session.get(Case, case_id)
    if case is None:
        return
    waiting = [DeliveryStatus.PENDING, DeliveryStatus.FAILED]
    staff_rows = and_(
        Delivery.case_id == case_id,
        Delivery.status.in_(waiting),
        Delivery.kind.not_in(TO_PARENT),
        Delivery.kind != K.CHAT_FAILED_ALERT,
    )
    await session.execute(
        update(Delivery)
        .where(staff_rows, Delivery.kind.in_(CARD_BOUND))
        .values(status=DeliveryStatus.MOVED, locked_until=None)
    )
    await session.execute(
        update(Delivery)
        .where(staff_rows, Delivery.kind.not_in(CARD_BOUND))
        .values(chat_id=to_chat_id, status=DeliveryStatus.PENDING, attempts=0, next_attempt_at=now)
    )
    case.staff_chat_id = to_chat_id
    case.card_message_id = None
    case.topic_id = None  # the forum topic is the old chat's; the new chat gets its own if it has topics
    queue(session, K.CASE_CARD, case_id, to_chat_id)
