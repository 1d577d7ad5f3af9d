"""What a failed delivery means, and what follows: retry later, give up, follow a chat that moved, or move
the case to the trust's chat. The staff policy of the outbox, whatever carries the messages: the transport
(bot/telegram/staff/failures.py) only says what went wrong, as a Failure.

A staff chat that cannot take messages at all never holds a case back silently, because a case must reach
a person:
- a group that became a supergroup is followed to its new id, which is stored (chat_moves) and logged
  with the setting to change;
- a chat that is not found, removed the bot or does not let it post moves the case to the trust's
  safeguarding chat at once, with an alert there naming the school; when there is no such chat, or it
  fails too, the parent is told to phone the school (and 999 for an urgent case).
Anything else is retried with exponential backoff (the platform's own wait honoured when it gives one);
a request refused for good is given up with a log line. Logs carry ids only, never message text.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta

from bot import metrics
from bot.logs import chat_ref
from bot.schools import Schools
from bot.staff import StaffOptions
from bot.storage.cases import CaseStore
from bot.storage.models import DeliveryKind
from bot.storage.outbox import DueDelivery, Outbox
from bot.storage.outbox_queue import TO_PARENT

log = logging.getLogger(__name__)

K = DeliveryKind
MAX_ATTEMPTS: dict[DeliveryKind | str, int] = {K.PIN: 5}
"""Kinds that stop retrying after this many attempts (a pin is a nicety; the card is already there)."""

BlockedCallback = Callable[[str], Awaitable[None]]
MovedCallback = Callable[[int, int], None]


class CardNotPostedError(Exception):
    """The delivery replies to or edits the case's card, which is not posted yet: try again later."""


class CaseGoneError(Exception):
    """The case was deleted (retention purge) after the delivery was queued."""


@dataclass(frozen=True)
class Failure:
    """What went wrong with one send, as the transport reads its error (no message text in it)."""

    name: str
    """The error's type, for log lines and reasons."""
    reason: str = ""
    """The type and the platform's description of the refusal, for a chat that failed."""
    description: str = ""
    """The platform's description alone (a request refused for good gives it as its reason)."""
    refused: bool = False
    """Refused for good: sending it again would be refused again."""
    blocked: bool = False
    """The recipient shut the bot out (a parent who blocked it)."""
    chat_unusable: bool = False
    """The bot cannot post in this chat at all: not found, removed, or without the right to send."""
    unchanged: bool = False
    """An edit that would change nothing: what it asked for is there already."""
    topic_closed: bool = False
    """The case's forum topic is closed (its reopening is queued just before)."""
    moved_to: int | None = None
    """The chat became a supergroup with this id."""
    retry_after: float | None = None
    """The platform's own wait before trying again, in seconds."""
    expected: bool = False
    """A passing fault (the network): retried without a warning."""
    card_not_posted: bool = False


NOT_POSTED = Failure("CardNotPostedError", card_not_posted=True, expected=True)
CASE_GONE = Failure("CaseGoneError", refused=True)


@dataclass(frozen=True)
class Verdict:
    reason: str
    delay: timedelta
    give_up: bool = False
    unexpected: bool = False
    """A failure nothing here foresaw: logged as a warning with its traceback, then retried."""

    @classmethod
    def stop(cls, reason: str) -> Verdict:
        return cls(reason, timedelta(0), give_up=True)


def backoff(options: StaffOptions, attempts: int) -> timedelta:
    """The wait before the next try: doubling from retry_base up to retry_max."""
    base, most = options.retry_base, options.retry_max
    return timedelta(seconds=min(base * 2 ** max(attempts - 1, 0), most))


def verdict(delivery: DueDelivery, failure: Failure, options: StaffOptions) -> Verdict:
    """Retry or give up, when, and why (a reason without any message text)."""
    name = failure.name
    if delivery.attempts >= MAX_ATTEMPTS.get(delivery.kind, 1_000_000):
        return Verdict.stop(f"{name} after {delivery.attempts} attempts")
    if failure.topic_closed:
        # The case's topic is being reopened (queued just before): wait for that.
        return Verdict("the case's topic is closed", backoff(options, delivery.attempts))
    if failure is CASE_GONE:
        return Verdict.stop("the case no longer exists")
    if failure.refused:
        return Verdict.stop(f"{name}: {failure.description}")
    if failure.retry_after is not None:
        return Verdict(name, timedelta(seconds=failure.retry_after))
    reason = "waiting for the case card" if failure.card_not_posted else name
    return Verdict(reason, backoff(options, delivery.attempts), unexpected=not failure.expected)


def setting_of(schools: Schools, chat_id: int) -> str:
    """The schools file's setting that names this chat, for log lines and alerts."""
    named = schools.named(chat_id)
    return named.where if named is not None else "not in the schools file"


class Failover:
    """Records what a failed delivery means in the outbox, and moves a case whose staff chat fails."""

    def __init__(
        self,
        outbox: Outbox,
        cases: CaseStore,
        schools: Schools,
        options: StaffOptions,
        *,
        on_parent_blocked: BlockedCallback | None = None,
        on_chat_moved: MovedCallback | None = None,
    ) -> None:
        self._outbox = outbox
        self._cases = cases
        self._schools = schools
        self._options = options
        self._on_parent_blocked = on_parent_blocked
        self._on_chat_moved = on_chat_moved

    async def failed(self, delivery: DueDelivery, failure: Failure, error: BaseException) -> None:
        """Decide between retrying later and giving up, and record it (`error` only for the log)."""
        if failure.unchanged:
            metrics.delivery_sent(delivery.kind)
            await self._outbox.mark_sent(delivery.id, None)  # the card already shows this
            return
        metrics.delivery_failed(delivery.kind)
        if delivery.kind not in TO_PARENT and failure.moved_to is not None:
            await self._follow_chat_move(delivery, failure.moved_to)
            return
        if delivery.kind not in TO_PARENT and delivery.kind != K.PIN and failure.chat_unusable:
            await self.chat_failed(delivery, failure.reason)
            return
        judged = verdict(delivery, failure, self._options)
        if judged.unexpected:
            log.warning("Delivery %s raised %s", delivery.id, failure.name, exc_info=error)
        if judged.give_up and delivery.kind == K.CASE_CARD:
            # A card refused for good goes to the trust's chat, or the parent is told: never stranded.
            await self.chat_failed(delivery, judged.reason)
            return
        where = (delivery.id, delivery.kind, delivery.case_id, chat_ref(delivery.chat_id))
        if judged.give_up:
            log.warning("Delivery %s (%s, case %s, chat %s) given up: %s", *where, judged.reason)
            if failure.blocked and delivery.kind in TO_PARENT and self._on_parent_blocked:
                await self._on_parent_blocked(str(delivery.chat_id))
        else:
            message = "Delivery %s (%s, case %s, chat %s) failed: %s; retry in %.1f s"
            log.info(message, *where, judged.reason, judged.delay.total_seconds())
        await self._outbox.mark_retry(delivery.id, judged.reason, judged.delay, give_up=judged.give_up)

    async def _follow_chat_move(self, delivery: DueDelivery, new_chat_id: int) -> None:
        """The group became a supergroup: store the new id, move everything waiting for the old one, and
        send again at once."""
        old = delivery.chat_id
        await self._outbox.mark_retry(delivery.id, f"ChatMigrated: now {new_chat_id}", timedelta(0))
        if not await self._outbox.follow_chat_move(old, new_chat_id):
            return  # another delivery met this move first
        if self._on_chat_moved is not None:
            self._on_chat_moved(old, new_chat_id)
        setting = setting_of(self._schools, old)
        log.warning(
            "Chat %s (%s) became supergroup %s: deliveries now go there; set %s to %s in the schools file",
            old,
            setting,
            new_chat_id,
            setting,
            new_chat_id,
        )

    async def chat_failed(self, delivery: DueDelivery, reason: str) -> None:
        """The case's staff chat cannot take messages: to the trust's chat now, or tell the parent."""
        where = (
            delivery.id,
            delivery.kind,
            delivery.case_id,
            chat_ref(delivery.chat_id),
            setting_of(self._schools, delivery.chat_id),
        )
        if delivery.kind == K.CHAT_FAILED_ALERT:  # the trust's chat fails too: its own card says so
            log.error("Delivery %s (%s, case %s, chat %s, %s) failed for good: %s", *where, reason)
            await self._outbox.mark_retry(delivery.id, reason, timedelta(0), give_up=True)
            return
        view = await self._cases.get(delivery.case_id) if delivery.case_id is not None else None
        fallback = await self._fallback_chat()
        if view is None or fallback in (None, delivery.chat_id):
            log.error("Delivery %s (%s, case %s, chat %s, %s) failed for good: %s", *where, reason)
            await self._outbox.undeliverable(delivery.id, delivery.case_id, reason)
            return
        assert fallback is not None
        log.error(
            "Delivery %s (%s, case %s, chat %s, %s) failed: %s; the case goes to the trust's chat %s",
            *where,
            reason,
            fallback,
        )
        alert = {"school_id": view.school_id, "chat_id": delivery.chat_id, "problem": reason}
        await self._outbox.move_case(delivery.id, view.id, fallback, reason, alert)

    async def _fallback_chat(self) -> int | None:
        """The trust's safeguarding chat, followed through its moves; None when there is none."""
        fallback = self._schools.fallback_chat_id
        if fallback is None:
            return None
        return (await self._outbox.chat_moves()).get(fallback, fallback)
