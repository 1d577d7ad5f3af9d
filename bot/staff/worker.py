"""The delivery worker: sends what the outbox holds, retrying until it is accepted, whatever carries it.

Every outbox row produces one message (or one edit / pin). A staff card that needs more than one message
is split into rows: when the card is posted, the same transaction that marks it sent queues a row for
each evidence photo, the transcript file and the pin, all replying to (or pinning) the card. So a failure
after the card was posted retries only what is missing and never posts the card again. What a failure
means is bot/staff/failover.py's; how each kind of row is sent is the transport's (bot/telegram/staff/
senders.py), handed in as a Transport.

One delivery lane per chat: a pass claims at most PER_CHAT rows of each chat (urgent cases' first, then
oldest) and sends each chat's rows in order in a task of its own, the chats concurrently; a chat whose
lane is still sending (waiting on its rate limit, retrying) is skipped until that lane is done. So a
hundred messages queued for one school's chat never hold another school's urgent card back, and a
rate-limit wait holds only its own chat.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Protocol

from bot import metrics
from bot.staff.failover import CASE_GONE, NOT_POSTED, CardNotPostedError, CaseGoneError, Failover, Failure
from bot.storage.models import DeliveryKind
from bot.storage.outbox import DueDelivery, FollowUp, Outbox

log = logging.getLogger(__name__)

PER_CHAT = 5
"""Rows of one chat a pass takes: at a group's 20 messages a minute, sent well within their lease."""

Spawn = Callable[[Coroutine[Any, Any, int]], "asyncio.Task[int]"]
"""Starts a lane's task: python-telegram-bot's Application.create_task in the bot, so stopping the
Application waits for the lanes."""


@dataclass(frozen=True)
class Sent:
    """What a delivery produced: the message id to record, and (for a card) the rows that follow it."""

    message_id: int | None
    followups: tuple[tuple[DeliveryKind, dict[str, Any]], ...] = field(default=())
    card_case_id: int | None = None
    after: tuple[FollowUp, ...] = ()
    """Rows to queue once this one is recorded as sent (e.g. the "sent to the parent" confirmation)."""
    parts: tuple[int, ...] = ()
    """The earlier pieces of a text split over several messages: recorded too, so the retention purge
    erases every one of them where they were posted."""


Send = Callable[[DueDelivery], Awaitable[Sent]]


class Transport(Protocol):
    """How each kind of outbox row is sent, and what a send's error means."""

    def sender(self, kind: DeliveryKind | str) -> Send | None:
        """The send of this kind of row; None for a kind this version does not know."""

    def failure(self, error: Exception) -> Failure:
        """The transport's error read as a Failure."""


class Eraser(Protocol):
    async def run_once(self) -> int:
        """Erase a few of the posts the retention purge queued; how many were done."""


class DeliveryWorker:
    """Claims due outbox rows (leased, so several workers or processes never send the same row) and
    sends them, one lane per chat."""

    def __init__(
        self,
        outbox: Outbox,
        transport: Transport,
        failover: Failover,
        *,
        batch: int = 20,
        eraser: Eraser | None = None,
        spawn: Spawn | None = None,
    ) -> None:
        self._outbox = outbox
        self._transport = transport
        self._failover = failover
        self._batch = batch
        self._eraser = eraser
        self._pass = asyncio.Lock()
        self._stopping = asyncio.Event()
        self._spawn: Spawn = spawn or asyncio.create_task
        self._lanes: dict[int, deque[DueDelivery]] = {}
        """The chats this worker is sending to, with the rows each lane has still to send."""
        self._erasing: asyncio.Task[Any] | None = None

    # ---- running -----------------------------------------------------------------------------------------

    async def run_once(self) -> int:
        """One pass: claim what is due and send it, each chat's rows in order in its own lane, the chats
        concurrently; waits for the lanes it started. Returns how many those sent."""
        return sum(await asyncio.gather(*await self._start_lanes()))

    async def tick(self) -> int:
        """A pass for a repeating job: starts lanes for the chats with rows due and returns at once (how
        many rows it claimed), so a slow chat holds neither the job nor the other chats. Never raises: a
        database outage is logged and tried again next tick."""
        if self._pass.locked():
            return 0
        try:
            return len(await self._start_lanes())
        except Exception as error:  # noqa: BLE001 - the repeating job must keep running
            log.error("Delivery pass failed: %s", type(error).__name__)
            return 0

    async def _start_lanes(self) -> list[asyncio.Task[int]]:
        """Claim the due rows of the chats not being sent to, and start a lane for each of those chats."""
        async with self._pass:
            due = await self._outbox.claim_due(
                limit=self._batch, per_chat=PER_CHAT, busy_chats=frozenset(self._lanes)
            )
            started: list[asyncio.Task[int]] = []
            for delivery in due:
                lane = self._lanes.get(delivery.chat_id)
                if lane is not None:  # a row queued for the chat's old id: behind the lane's rows
                    lane.append(delivery)
                    continue
                self._lanes[delivery.chat_id] = deque([delivery])
                started.append(self._spawn(self._lane(delivery.chat_id)))
            if len(due) < self._batch and self._eraser is not None and self._erasing is None:
                self._erasing = self._spawn(self._erase())
                started.append(self._erasing)
            return started

    async def _erase(self) -> int:
        """A few of the erasures the retention purge queued, when the outbox had no backlog (so erasing
        never holds an urgent card back), one such task at a time; counts no delivery."""
        assert self._eraser is not None
        try:
            await self._eraser.run_once()
        except Exception as error:  # noqa: BLE001 - tried again next pass
            log.error("Erasure pass failed: %s", type(error).__name__)
        finally:
            self._erasing = None
        return 0

    async def _lane(self, chat_id: int) -> int:
        """Send one chat's rows in order, until there are none; how many were sent."""
        rows = self._lanes[chat_id]
        sent = 0
        try:
            while rows:
                delivery = rows.popleft()
                try:
                    sent += await self._deliver(delivery)
                except Exception as error:  # noqa: BLE001 - the lease runs out and the row is tried again
                    log.error("Delivery %s failed: %s", delivery.id, type(error).__name__)
            return sent
        finally:
            del self._lanes[chat_id]

    async def run_forever(self, interval: float) -> None:
        """Pass after pass, `interval` seconds apart, until stop() is called."""
        self._stopping.clear()
        while not self._stopping.is_set():
            await self.tick()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), interval)

    def stop(self) -> None:
        self._stopping.set()

    # ---- one delivery ------------------------------------------------------------------------------------

    async def _deliver(self, delivery: DueDelivery) -> bool:
        send = self._transport.sender(delivery.kind)
        if send is None:
            log.error("Delivery %s has unknown kind %s: given up", delivery.id, delivery.kind)
            metrics.delivery_failed(delivery.kind)
            await self._outbox.mark_retry(delivery.id, "unknown kind", timedelta(0), give_up=True)
            return False
        try:
            sent = await send(delivery)
        except Exception as error:  # noqa: BLE001 - every failure is classified by the failover
            await self._failover.failed(delivery, self._failure(error), error)
            return False
        metrics.delivery_sent(delivery.kind)
        await self._record(delivery, sent)
        return True

    def _failure(self, error: Exception) -> Failure:
        if isinstance(error, CardNotPostedError):
            return NOT_POSTED
        if isinstance(error, CaseGoneError):
            return CASE_GONE
        return self._transport.failure(error)

    async def _record(self, delivery: DueDelivery, sent: Sent) -> None:
        try:
            if sent.card_case_id is not None and sent.message_id is not None:
                await self._outbox.mark_card_sent(
                    delivery.id, sent.card_case_id, sent.message_id, sent.followups
                )
            else:
                await self._outbox.mark_sent(delivery.id, sent.message_id, sent.after, sent.parts)
        except Exception as error:  # noqa: BLE001 - sent but not recorded: the lease runs out, it is sent again
            log.error("Delivery %s was sent but not recorded: %s", delivery.id, type(error).__name__)
