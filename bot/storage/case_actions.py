"""What staff and parents do to an open case: claim it, resolve it, reopen it, record its forum topic,
and the messages of its thread. The statuses each action applies to are bot.domain's CASE_ACTIONS; each
action and the deliveries announcing it (bot/storage/outbox_queue.py) are one transaction.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain import CASE_ACTIONS, CLAIM, OPEN_TO_MESSAGES, RESOLVE, Author, CaseStatus, Priority
from bot.storage.common import Store, rowcount
from bot.storage.models import Case, CaseMessage, Delivery, DeliveryKind, DeliveryStatus, Parent
from bot.storage.outbox_queue import notify_parent, queue, queue_topic, staff_chat
from bot.storage.turns import use_session

K = DeliveryKind
MERGED_REPLY_CHARS = 3500
"""A parent's messages waiting for the staff chat are sent as one while together they stay this short:
Telegram's limit is 4096 characters, and the staff line around them needs the rest."""


class CaseActions(Store):
    """A case's lifecycle after it was opened (bot/storage/cases.py: CaseStore opens and reads cases)."""

    async def reopen_for_parent(self, case_id: int) -> bool:
        """The parent answered a message of a resolved case: it is open again (claimed again by whoever
        had it), its card shows so and its forum topic is reopened. False when it was not resolved."""
        async with use_session(self._sessions, write=True) as session:
            case = await session.get(Case, case_id)
            if case is None or case.status != CaseStatus.RESOLVED:
                return False
            case.status = CaseStatus.OPEN if case.claimed_by is None else CaseStatus.CLAIMED
            case.resolved_at = None
            queue(session, K.CARD_UPDATE, case_id, case.staff_chat_id)
            await queue_topic(session, case_id, K.TOPIC_REOPEN)
            return True

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
                queue(session, K.CARD_UPDATE, case_id, await staff_chat(session, case_id))
                await notify_parent(session, case_id, K.PARENT_CLAIMED, {"staff_name": staff_name})
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
                queue(session, K.CARD_UPDATE, case_id, await staff_chat(session, case_id))
                await notify_parent(session, case_id, K.PARENT_RESOLVED, {"staff_name": staff_name})
                await queue_topic(session, case_id, K.TOPIC_CLOSE)
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
            await notify_parent(session, case_id, K.STAFF_REPLY, payload)
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
                queue(session, K.PARENT_REPLY, case_id, case.staff_chat_id, payload)
            if urgent and case.priority is not Priority.URGENT:
                case.priority = Priority.URGENT
                queue(session, K.CARD_UPDATE, case_id, case.staff_chat_id)
            return True


async def _merge_parent_reply(session: AsyncSession, case_id: int, text: str, urgent: bool) -> bool:
    """Add the parent's message to the case's relayed message still waiting for its first attempt, if
    both are urgent or neither is and the two fit in one Telegram message: a parent sending many in a
    row fills one delivery, not a queue of them in front of every other case of that staff chat. False
    when there is none to join (or the worker took it meanwhile): the message gets a delivery of its
    own."""
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
