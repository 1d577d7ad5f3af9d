"""The outbox's backlog as operators see it: the stuck deliveries `parentbot outbox` lists and retries,
and the age of the oldest undelivered one (the health check and the metrics, bot/telegram/health.py).
None of it holds message text.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timezone
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock, utcnow
from bot.storage.common import CardRoute, Store, moved_chats
from bot.storage.database import SessionSource
from bot.storage.models import Case, Delivery, DeliveryKind, DeliveryStatus
from bot.storage.outbox_queue import TO_PARENT, chat_for, repost_card
from bot.storage.turns import use_session

K = DeliveryKind
STUCK_ATTEMPTS = 5
"""A pending delivery tried this many times is listed by `parentbot outbox` as stuck."""


@dataclass(frozen=True)
class StuckDelivery:
    """An outbox row that failed or keeps failing, as `parentbot outbox` lists it (no message text)."""

    id: int
    reference: str | None
    kind: DeliveryKind | str
    chat_id: int
    status: DeliveryStatus
    attempts: int
    last_error: str | None

    @property
    def error_kind(self) -> str:
        """The error's type (the reason up to its first colon or bracket)."""
        reason = self.last_error or "-"
        return reason.split(":", 1)[0].split(" (", 1)[0].strip()


def _stuck() -> Any:
    return or_(
        Delivery.status == DeliveryStatus.FAILED,
        and_(Delivery.status == DeliveryStatus.PENDING, Delivery.attempts >= STUCK_ATTEMPTS),
    )


class OutboxBacklog(Store):
    """Stuck deliveries and the backlog's age (bot/storage/outbox.py's Outbox, the worker's side, adds
    the rest)."""

    def __init__(
        self, sessions: SessionSource, route: CardRoute | None = None, clock: Clock = utcnow
    ) -> None:
        super().__init__(sessions, clock)
        self._route = route
        """The staff policy's chat for a requeued card; without it, a card stays in the chat it has."""

    async def stuck_deliveries(self) -> list[StuckDelivery]:
        """Failed deliveries, and pending ones tried STUCK_ATTEMPTS times or more, oldest first."""
        async with use_session(self._sessions, write=False) as session:
            rows = (
                await session.execute(
                    select(Delivery, Case.reference)
                    .outerjoin(Case, Case.id == Delivery.case_id)
                    .where(_stuck())
                    .order_by(Delivery.id)
                )
            ).all()
            return [
                StuckDelivery(d.id, reference, d.kind, d.chat_id, d.status, d.attempts, d.last_error)
                for d, reference in rows
            ]

    async def oldest_undelivered_age(self) -> float | None:
        """Seconds since the oldest delivery still pending or failed was queued; None when every one
        was sent (for the health check and the metrics, bot/telegram/health.py)."""
        undelivered = Delivery.status.in_((DeliveryStatus.PENDING, DeliveryStatus.FAILED))
        async with use_session(self._sessions, write=False) as session:
            oldest = await session.scalar(select(func.min(Delivery.created_at)).where(undelivered))
        if oldest is None:
            return None
        if oldest.tzinfo is None:  # SQLite keeps no zone: its CURRENT_TIMESTAMP is UTC
            oldest = oldest.replace(tzinfo=timezone.utc)
        return max(0.0, (self._clock() - oldest).total_seconds())

    async def retry_stuck(self) -> int:
        """Queue every stuck delivery again, now, to the chat the configuration names for its case (a
        card in another chat is posted there again); how many were requeued."""
        async with use_session(self._sessions, write=True) as session:
            rows = (await session.scalars(select(Delivery).where(_stuck()).order_by(Delivery.id))).all()
            reposted: set[int] = set()
            for row in rows:
                if row.case_id not in reposted:
                    await self._requeue(session, row, reposted)
            return len(rows)

    async def _requeue(self, session: AsyncSession, row: Delivery, reposted: set[int]) -> None:
        row.status, row.attempts, row.next_attempt_at, row.locked_until = (
            DeliveryStatus.PENDING,
            0,
            self._clock(),
            None,
        )
        case = await session.get(Case, row.case_id) if row.case_id is not None else None
        if case is None or row.kind in TO_PARENT:
            return
        if row.kind == K.CHAT_FAILED_ALERT:
            row.chat_id = (await moved_chats(session)).get(row.chat_id, row.chat_id)
            return
        target = await chat_for(
            session, self._route, case.school_id, case.priority, case.staff_chat_id, case.kind, case.details
        )
        if target != case.staff_chat_id or case.card_message_id is None:
            await session.flush()
            await repost_card(session, case.id, target, self._clock())
            reposted.add(case.id)
