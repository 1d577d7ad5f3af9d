"""The outbox: every message the bot owes a staff chat or a parent, queued in the same transaction as
what caused it (bot/storage/outbox_queue.py) and sent by the delivery worker (bot/staff/worker.py).
`Outbox` is the worker's side: it leases rows, records them sent or retries them, follows chats that
moved, moves a case whose staff chat fails and queues the urgent cases' reminders. What operators see of
the backlog is bot/storage/outbox_backlog.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.exc import IntegrityError

from bot.domain import CaseStatus, Priority
from bot.storage.common import moved_chats, rowcount
from bot.storage.models import Case, ChatMove, Delivery, DeliveryKind, DeliveryStatus
from bot.storage.outbox_backlog import OutboxBacklog
from bot.storage.outbox_queue import notify_parent_once, queue, repost_card
from bot.storage.turns import use_session

K = DeliveryKind


@dataclass(frozen=True)
class DueDelivery:
    id: int
    kind: DeliveryKind | str
    """A plain string: a kind this version does not know (the worker gives the row up)."""
    chat_id: int
    case_id: int | None
    payload: dict[str, Any]
    attempts: int


@dataclass(frozen=True)
class FollowUp:
    """An outbox row queued in the same transaction that records a delivery as sent."""

    kind: DeliveryKind
    chat_id: int
    case_id: int | None
    payload: dict[str, Any]


class Outbox(OutboxBacklog):
    """Leasing, recording and retrying deliveries; chat moves; urgent reminders (the backlog's figures
    and `parentbot outbox`: OutboxBacklog)."""

    # ---- the delivery worker -----------------------------------------------------------------------------

    async def claim_due(
        self,
        limit: int = 20,
        lease: timedelta = timedelta(seconds=60),
        *,
        per_chat: int | None = None,
        busy_chats: frozenset[int] = frozenset(),
    ) -> list[DueDelivery]:
        """Take up to `limit` due deliveries for this worker, leasing them so no other worker sends them:
        urgent cases' first, then oldest first. `per_chat`: at most that many of each chat (its oldest),
        so one chat's backlog never fills a batch and holds another chat back; `busy_chats`: chats this
        worker is still sending to, skipped (their rows wait for that lane, in order).

        On PostgreSQL the rows are locked with SKIP LOCKED, so concurrent workers take disjoint rows; on
        SQLite the single writer serialises the same UPDATE.
        """
        now = self._clock()
        free = and_(
            Delivery.status == DeliveryStatus.PENDING,
            Delivery.next_attempt_at <= now,
            or_(Delivery.locked_until.is_(None), Delivery.locked_until <= now),
        )
        if busy_chats:
            free = and_(free, Delivery.chat_id.not_in(busy_chats))
        urgent = select(Case.priority).where(Case.id == Delivery.case_id).scalar_subquery() == Priority.URGENT
        order = (urgent.desc(), Delivery.id)  # an urgent case jumps any backlog
        async with use_session(self._sessions, write=True) as session:
            chosen = free
            if per_chat is not None:
                # PostgreSQL allows no FOR UPDATE with a window function: rank in a subquery, lock outside.
                place = func.row_number().over(partition_by=Delivery.chat_id, order_by=order)
                ranked = select(Delivery.id, place.label("place")).where(free).subquery()
                chosen = and_(free, Delivery.id.in_(select(ranked.c.id).where(ranked.c.place <= per_chat)))
            rows = (
                await session.scalars(
                    select(Delivery)
                    .where(chosen)
                    .order_by(*order)
                    .limit(limit)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            moved = await moved_chats(session)
            taken: list[DueDelivery] = []
            for row in rows:
                # A conditional UPDATE per row: SQLite has no FOR UPDATE and runs the SELECT outside the
                # write transaction, so two processes' workers can read the same rows; only the one whose
                # UPDATE still finds the row free takes it.
                leased = await session.execute(
                    update(Delivery)
                    .where(Delivery.id == row.id, free)
                    .values(locked_until=now + lease, attempts=Delivery.attempts + 1)
                    .execution_options(synchronize_session=False)
                )
                if rowcount(leased):
                    payload = dict(row.payload or {})
                    chat_id = moved.get(row.chat_id, row.chat_id)
                    taken.append(
                        DueDelivery(row.id, row.kind, chat_id, row.case_id, payload, row.attempts + 1)
                    )
            return taken

    async def mark_sent(
        self,
        delivery_id: int,
        message_id: int | None,
        followups: Sequence[FollowUp] = (),
        parts: Sequence[int] = (),
    ) -> None:
        """Record a delivery as sent, and queue what follows it, in one transaction. `parts`: the other
        messages of a text split over several (kept in the payload, for the erasure at purge time)."""
        async with use_session(self._sessions, write=True) as session:
            for f in followups:
                queue(session, f.kind, f.case_id, f.chat_id, dict(f.payload))
            row = await session.get(Delivery, delivery_id) if parts else None
            if row is not None:
                row.payload = {**(row.payload or {}), "parts": list(parts)}
            await session.execute(
                update(Delivery)
                .where(Delivery.id == delivery_id)
                .values(
                    status=DeliveryStatus.SENT,
                    sent_at=self._clock(),
                    sent_message_id=message_id,
                    locked_until=None,
                )
            )

    async def mark_retry(self, delivery_id: int, error: str, delay: timedelta, give_up: bool = False) -> None:
        async with use_session(self._sessions, write=True) as session:
            await session.execute(
                update(Delivery)
                .where(Delivery.id == delivery_id)
                .values(
                    status=DeliveryStatus.FAILED if give_up else DeliveryStatus.PENDING,
                    last_error=error[:200],
                    next_attempt_at=self._clock() + delay,
                    locked_until=None,
                )
            )

    async def mark_card_sent(
        self,
        delivery_id: int,
        case_id: int,
        message_id: int,
        followups: Sequence[tuple[DeliveryKind, dict[str, Any]]] = (),
    ) -> None:
        """A staff card was posted: mark its delivery sent, record the card and queue what replies to it
        (evidence photos, transcript file, pin), all in one transaction. Each follow-up is its own
        outbox row, so a retry after a partial failure never posts the card twice."""
        async with use_session(self._sessions, write=True) as session:
            card = await session.get(Delivery, delivery_id)
            if card is None:
                return  # purged meanwhile
            card.status = DeliveryStatus.SENT
            card.sent_at = self._clock()
            card.sent_message_id = message_id
            card.locked_until = None
            chat_id = card.chat_id
            await session.execute(
                update(Case)
                .where(Case.id == case_id)
                .values(card_message_id=message_id, staff_chat_id=chat_id)
            )
            for kind, payload in followups:
                queue(session, kind, case_id, chat_id, dict(payload))
            case = await session.get(Case, case_id)
            if case is not None and case.priority is Priority.URGENT:
                await notify_parent_once(session, case, K.PARENT_DELIVERED)

    async def queue_card(self, case_id: int) -> bool:
        """Post a case's card again in its staff chat (/case REF); False when there is no such case."""
        async with use_session(self._sessions, write=True) as session:
            case = await session.get(Case, case_id)
            if case is None:
                return False
            chat_id = (await moved_chats(session)).get(case.staff_chat_id, case.staff_chat_id)
            queue(session, K.CASE_CARD, case_id, chat_id)
            return True

    async def hide_card_details(self, chat_id: int) -> int:
        """Edit every card posted in this chat (it now holds members who are not named staff) to its form
        without details; the delivery worker renders it so. Returns how many were queued."""
        async with use_session(self._sessions, write=True) as session:
            chats = {chat_id, *(old for old, new in (await moved_chats(session)).items() if new == chat_id)}
            cases = (
                await session.scalars(
                    select(Case.id).where(Case.staff_chat_id.in_(chats), Case.card_message_id.is_not(None))
                )
            ).all()
            for case_id in cases:
                queue(session, K.CARD_UPDATE, case_id, chat_id)
            return len(cases)

    async def due_urgent_reminders(self, every: timedelta) -> list[int]:
        """Urgent cases unclaimed since their card or last reminder, `every` ago: queue a reminder."""
        cutoff = self._clock() - every
        async with use_session(self._sessions, write=True) as session:
            cases = (
                await session.scalars(
                    select(Case)
                    .where(
                        Case.priority == Priority.URGENT,
                        Case.status == CaseStatus.OPEN,
                        Case.card_message_id.is_not(None),  # while the card waits, reminders would pile up
                        Case.created_at <= cutoff,
                        or_(Case.last_reminder_at.is_(None), Case.last_reminder_at <= cutoff),
                    )
                    .with_for_update(skip_locked=True)
                )
            ).all()
            for case in cases:
                case.last_reminder_at = self._clock()
                queue(session, K.URGENT_REMINDER, case.id, case.staff_chat_id)
            return [case.id for case in cases]

    # ---- when a staff chat fails ---------------------------------------------------------------------------

    async def follow_chat_move(self, old_chat_id: int, new_chat_id: int) -> bool:
        """A group became a supergroup: remember its new id, and move its cases and waiting deliveries.
        False when this move was known already (another delivery met it first)."""
        try:
            return await self._record_chat_move(old_chat_id, new_chat_id)
        except IntegrityError:  # recorded at the same moment elsewhere (the other migration message)
            return await self._record_chat_move(old_chat_id, new_chat_id)

    async def _record_chat_move(self, old_chat_id: int, new_chat_id: int) -> bool:
        async with use_session(self._sessions, write=True) as session:
            move = await session.get(ChatMove, old_chat_id)
            known = move is not None and move.new_chat_id == new_chat_id
            if move is None:
                session.add(ChatMove(old_chat_id=old_chat_id, new_chat_id=new_chat_id))
            else:
                move.new_chat_id = new_chat_id
            await session.execute(  # a chain: A moved to B earlier, B now moves to C
                update(ChatMove).where(ChatMove.new_chat_id == old_chat_id).values(new_chat_id=new_chat_id)
            )
            await session.execute(
                update(Case).where(Case.staff_chat_id == old_chat_id).values(staff_chat_id=new_chat_id)
            )
            await session.execute(
                update(Delivery)
                .where(Delivery.chat_id == old_chat_id, Delivery.status == DeliveryStatus.PENDING)
                .values(chat_id=new_chat_id)
            )
            return not known

    async def chat_moves(self) -> dict[int, int]:
        """Every chat that moved: old id -> current id."""
        async with use_session(self._sessions, write=False) as session:
            return await moved_chats(session)

    async def move_case(
        self, delivery_id: int, case_id: int, to_chat_id: int, reason: str, alert: dict[str, Any] | None
    ) -> None:
        """The case's staff chat failed: post its card again in `to_chat_id` (with an alert there naming
        the chat that failed, when given), one transaction. The failed delivery and the others that
        belong to the old card are marked moved; the rest of the case's queue follows the card."""
        async with use_session(self._sessions, write=True) as session:
            await session.execute(
                update(Delivery)
                .where(Delivery.id == delivery_id)
                .values(status=DeliveryStatus.MOVED, last_error=reason[:200], locked_until=None)
            )
            if alert is not None:
                queue(session, K.CHAT_FAILED_ALERT, case_id, to_chat_id, alert)
            await repost_card(session, case_id, to_chat_id, self._clock())

    async def undeliverable(self, delivery_id: int, case_id: int | None, reason: str) -> None:
        """No chat can take this case's card: the delivery is failed (`parentbot outbox` lists it) and
        the parent is told, once, to phone the school."""
        async with use_session(self._sessions, write=True) as session:
            await session.execute(
                update(Delivery)
                .where(Delivery.id == delivery_id)
                .values(status=DeliveryStatus.FAILED, last_error=reason[:200], locked_until=None)
            )
            case = await session.get(Case, case_id) if case_id is not None else None
            if case is not None:
                await notify_parent_once(session, case, K.PARENT_UNDELIVERED)

    async def deliveries(self, case_id: int | None = None) -> list[Delivery]:
        async with use_session(self._sessions, write=False) as session:
            query = select(Delivery).order_by(Delivery.id)
            if case_id is not None:
                query = query.where(Delivery.case_id == case_id)
            rows = list((await session.scalars(query)).all())
            session.expunge_all()
            return rows
