"""What must still be erased in Telegram for cases the database no longer holds (a copy in Telegram must not
outlive the case).

The retention purge (bot/storage/retention.py) deletes a case's rows; what the bot posted in the staff
chats for it (the card, evidence photos, the transcript document, relayed parent messages, reminders,
confirmations, and every piece of a text split over several messages) would otherwise stay there for
ever. So, in the same transaction that deletes the case, `record_erasures` writes one telegram_erasures row
per forum topic and per message the outbox recorded as sent; the erasure pass (bot/telegram/staff/erasure.py)
works through them from the delivery worker. The same goes for what was sent for the case to a staff
member's private chat (the details of a case claimed from a chat with members not named staff, and the
parent's later messages): `PrivateSends` records each such message as it is sent (private_messages), and
`record_erasures` queues those too. Messages to the parent's own chat are left: that chat is the
parent's, and the privacy notice says deleting from the bot does not delete it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.storage.common import Store, moved_chats
from bot.storage.models import (
    Case,
    Delivery,
    DeliveryKind,
    DeliveryStatus,
    ErasureKind,
    PrivateKind,
    PrivateMessage,
    TelegramErasure,
)
from bot.storage.outbox_queue import TO_PARENT
from bot.storage.turns import use_session

K = DeliveryKind
MEDIA_KINDS = frozenset({K.EVIDENCE, K.TRANSCRIPT})
"""Deliveries whose message is a photo or a document (a tombstone replaces the media, not a text)."""
PRIVATE_ERASURE = {
    PrivateKind.TEXT: ErasureKind.TEXT,
    PrivateKind.PHOTO: ErasureKind.MEDIA,
    PrivateKind.DOCUMENT: ErasureKind.MEDIA,
}
NO_MESSAGE_OF_THEIR_OWN = frozenset({K.PIN, K.CARD_UPDATE, K.TOPIC_CLOSE, K.TOPIC_REOPEN})
"""Deliveries that act on a message another row recorded (the card) or on the topic."""


@dataclass(frozen=True)
class DueErasure:
    id: int
    chat_id: int
    message_id: int | None
    topic_id: int | None
    kind: ErasureKind
    reference: str
    attempts: int


async def record_erasures(session: AsyncSession, case_ids: Sequence[int]) -> int:
    """Queue the erasure of everything the bot posted in staff chats for these cases (call before their
    rows are deleted, in the same transaction); how many rows were queued."""
    if not case_ids:
        return 0
    moved = await moved_chats(session)
    cases = (await session.scalars(select(Case).where(Case.id.in_(case_ids)))).all()
    rows: dict[tuple[int, int | None, int | None], TelegramErasure] = {}
    for case in cases:
        if case.topic_id is not None:
            chat_id = moved.get(case.staff_chat_id, case.staff_chat_id)
            rows[(chat_id, None, case.topic_id)] = TelegramErasure(
                chat_id=chat_id, topic_id=case.topic_id, kind=ErasureKind.TOPIC, reference=case.reference
            )
        sent = (await session.scalars(select(Delivery).where(Delivery.case_id == case.id))).all()
        topic_chat = moved.get(case.staff_chat_id, case.staff_chat_id) if case.topic_id else None
        for chat_id, message_id, kind, threaded in _posted(sent, moved):
            topic_id = case.topic_id if threaded and chat_id == topic_chat else None
            rows.setdefault(
                (chat_id, message_id, None),
                TelegramErasure(
                    chat_id=chat_id,
                    message_id=message_id,
                    topic_id=topic_id,
                    kind=kind,
                    reference=case.reference,
                ),
            )
        privates = await session.scalars(select(PrivateMessage).where(PrivateMessage.case_id == case.id))
        for private in privates:
            rows.setdefault(
                (private.chat_id, private.message_id, None),
                _private_erasure(private.chat_id, private.message_id, private.kind, case.reference),
            )
    session.add_all(rows.values())
    return len(rows)


def _private_erasure(chat_id: int, message_id: int, kind: PrivateKind, reference: str) -> TelegramErasure:
    return TelegramErasure(
        chat_id=chat_id, message_id=message_id, kind=PRIVATE_ERASURE[kind], reference=reference
    )


Posted = tuple[int, int, ErasureKind, bool]
"""A staff-chat message: its chat, its id, how to erase it, and whether it went into the case's topic."""


def _posted(rows: Sequence[Delivery], moved: dict[int, int]) -> Iterator[Posted]:
    """Every staff-chat message the case's deliveries produced (or passed on)."""
    sent = [row for row in rows if row.status is DeliveryStatus.SENT]
    for row in sent:
        if row.kind in TO_PARENT or row.kind in NO_MESSAGE_OF_THEIR_OWN or row.sent_message_id is None:
            continue
        chat_id = moved.get(row.chat_id, row.chat_id)
        kind = ErasureKind.MEDIA if row.kind in MEDIA_KINDS else ErasureKind.TEXT
        threaded = row.kind != K.CHAT_FAILED_ALERT  # the alert goes to the chat, not the case's topic
        for message_id in (row.sent_message_id, *(row.payload or {}).get("parts", [])):
            yield chat_id, int(message_id), kind, threaded
    for row in rows:  # a staff member's message for the parent, whether or not it reached them
        payload = row.payload or {}
        if row.kind == K.STAFF_REPLY and "confirm_chat_id" in payload:
            chat_id = int(payload["confirm_chat_id"])
            yield moved.get(chat_id, chat_id), int(payload["confirm_message_id"]), ErasureKind.THEIRS, True


class PrivateSends(Store):
    """What the bot sent for a case to a staff member's private chat, recorded as it is sent."""

    async def record(
        self, case_id: int, reference: str, chat_id: int, message_id: int, kind: PrivateKind
    ) -> None:
        """One message sent privately for the case. A case deleted meanwhile (purged while its details
        were on their way) left nothing to record it on: its erasure is queued at once instead."""
        async with use_session(self._sessions, write=True) as session:
            if await session.get(Case, case_id) is None:
                session.add(_private_erasure(chat_id, message_id, kind, reference))
            else:
                session.add(
                    PrivateMessage(case_id=case_id, chat_id=chat_id, message_id=message_id, kind=kind)
                )

    async def of_case(self, case_id: int) -> list[tuple[int, int, PrivateKind]]:
        """(chat id, message id, kind) of every message recorded for the case, oldest first."""
        async with use_session(self._sessions, write=False) as session:
            rows = await session.scalars(
                select(PrivateMessage).where(PrivateMessage.case_id == case_id).order_by(PrivateMessage.id)
            )
            return [(row.chat_id, row.message_id, row.kind) for row in rows]


class ErasureQueue(Store):
    """The erasure pass's side of telegram_erasures: take due rows, drop done ones, retry the rest.

    Rows are not leased: two bot processes may try the same one, and the second is told the message is
    gone ("message to delete not found"), which counts as done."""

    async def due(self, limit: int = 50) -> list[DueErasure]:
        """Due rows, topics first (deleting a topic deletes its messages with it)."""
        async with use_session(self._sessions, write=False) as session:
            rows = (
                await session.scalars(
                    select(TelegramErasure)
                    .where(TelegramErasure.not_before <= self._clock())
                    .order_by((TelegramErasure.kind == ErasureKind.TOPIC).desc(), TelegramErasure.id)
                    .limit(limit)
                )
            ).all()
            return [_due(r) for r in rows]

    async def done(self, erasure: DueErasure, *, with_topic: bool = False) -> None:
        """The row is done; `with_topic`: the topic is deleted, and every message in it went with it."""
        in_topic = (
            (TelegramErasure.chat_id == erasure.chat_id) & (TelegramErasure.topic_id == erasure.topic_id)
            if with_topic
            else TelegramErasure.id == erasure.id
        )
        async with use_session(self._sessions, write=True) as session:
            await session.execute(
                delete(TelegramErasure).where(or_(TelegramErasure.id == erasure.id, in_topic))
            )

    async def retry(self, erasure: DueErasure, delay: timedelta) -> None:
        async with use_session(self._sessions, write=True) as session:
            await session.execute(
                update(TelegramErasure)
                .where(TelegramErasure.id == erasure.id)
                .values(attempts=TelegramErasure.attempts + 1, not_before=self._clock() + delay)
            )

    async def pending(self) -> list[DueErasure]:
        """Every row not done yet (due or not), for tests and operators."""
        async with use_session(self._sessions, write=False) as session:
            rows = (await session.scalars(select(TelegramErasure).order_by(TelegramErasure.id))).all()
            return [_due(r) for r in rows]


def _due(row: TelegramErasure) -> DueErasure:
    return DueErasure(
        row.id, row.chat_id, row.message_id, row.topic_id, row.kind, row.reference, row.attempts
    )
