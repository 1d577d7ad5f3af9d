"""The delivery worker: sends what the outbox holds, retrying until Telegram accepts it (SPEC §5).

Every outbox row produces one Telegram message (or one edit / pin). A staff card that needs more than one
message is split into rows: when the card is posted, the same transaction that marks it sent queues a
row for each evidence photo, the transcript file and the pin, all replying to (or pinning) the card. So
a failure after the card was posted retries only what is missing and never posts the card again.

Failures are retried with exponential backoff (Telegram's retry_after honoured); a request Telegram
refuses for good (400 Bad Request, 403 Forbidden) is given up with a log line. Logs carry ids only,
never message text.

A staff chat that cannot take messages at all never holds a case back silently (issue 10):
- a group that became a supergroup (ChatMigrated) is followed to its new id, which is stored (chat_moves)
  and logged with the setting to change;
- a chat that is not found, removed the bot or does not let it post moves the case to the trust's
  safeguarding chat at once, with an alert there naming the school; when there is no such chat, or it
  fails too, the parent is told to phone the school (and 999 for an urgent case).
The parent of an urgent case is told their message is with the staff once its card is posted.

In a chat holding members who are not named staff (bot/staff/membership.py) a card shows reference, kind,
priority, school and status only, with no screenshots or transcript file after it; a parent's later
message goes privately to the staff member who claimed the case, and the chat is told only that one came.
One delivery lane per chat (issue 20): a pass claims at most PER_CHAT rows of each chat (urgent cases'
first, then oldest) and sends each chat's rows in order in a task of its own, the chats concurrently; a
chat whose lane is still sending (waiting on its rate limit, retrying) is skipped until that lane is done.
So a hundred messages queued for one school's chat never hold another school's urgent card back, and a
rate-limit wait holds only its own chat.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import warnings
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from typing import Any

from telegram import (
    Bot,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    LinkPreviewOptions,
    Message,
    ReplyParameters,
)
from telegram.error import BadRequest, ChatMigrated, Forbidden, NetworkError, RetryAfter
from telegram.warnings import PTBDeprecationWarning

from bot import metrics
from bot.config import Schools
from bot.dialogue.messages import Button
from bot.dialogue.responses import ResponseBook
from bot.domain import CaseStatus, CaseView, Priority
from bot.logs import chat_ref
from bot.staff import StaffOptions
from bot.staff.cards import StaffCard, StaffTexts
from bot.staff.chats import telegram_reason
from bot.staff.erasure import TelegramEraser
from bot.staff.membership import StaffMembership
from bot.staff.topics import CaseTopics
from bot.storage.cases import CaseStore
from bot.storage.erasures import ErasureQueue
from bot.storage.models import DeliveryKind
from bot.storage.outbox import TO_PARENT, DueDelivery, FollowUp, Outbox
from bot.telegram.sending import split_text

log = logging.getLogger(__name__)

K = DeliveryKind
WITHOUT_STAFF_NAMES = {
    "utter_parent_claimed": "utter_parent_claimed_by_school",
    "utter_parent_staff_reply": "utter_parent_staff_reply_from_school",
}
"""What parents see instead when the school does not show staff names (the default)."""
MAX_ATTEMPTS: dict[DeliveryKind | str, int] = {K.PIN: 5}
"""Kinds that stop retrying after this many attempts (a pin is a nicety; the card is already there)."""
NO_PREVIEW = LinkPreviewOptions(is_disabled=True)
"""On every send: a preview would show (and Telegram fetch) a page a parent's link points to."""
NOT_MODIFIED = "message is not modified"
TOPIC_CLOSED = "topic_closed"

CHAT_GONE = (
    "chat not found",
    "not enough rights to send",
    "have no rights to send",
    "chat_write_forbidden",
    "group chat was deactivated",
    "chat was deactivated",
    "need administrator rights",
)
"""Bad Request descriptions meaning the bot cannot post in the chat at all (not a fault of one message)."""

PER_CHAT = 5
"""Rows of one chat a pass takes: at a group's 20 messages a minute, sent well within their lease."""

BlockedCallback = Callable[[str], Awaitable[None]]
MovedCallback = Callable[[int, int], None]
Spawn = Callable[[Coroutine[Any, Any, int]], "asyncio.Task[int]"]
"""Starts a lane's task: python-telegram-bot's Application.create_task in the bot, so stopping the
Application waits for the lanes."""


class CardNotPostedError(Exception):
    """The delivery replies to or edits the case's card, which is not posted yet: try again later."""


class CaseGoneError(Exception):
    """The case was deleted (retention purge) after the delivery was queued."""


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
    erases every one of them in Telegram."""


def card_markup(buttons: Sequence[Button]) -> InlineKeyboardMarkup | None:
    if not buttons:
        return None
    return InlineKeyboardMarkup([[InlineKeyboardButton(b.title, callback_data=b.payload) for b in buttons]])


def reply_to(message_id: int) -> ReplyParameters:
    """In the card's thread; if staff deleted the card, the message is still sent."""
    return ReplyParameters(message_id, allow_sending_without_reply=True)


@dataclass(frozen=True)
class Verdict:
    reason: str
    delay: timedelta
    give_up: bool = False

    @classmethod
    def stop(cls, reason: str) -> Verdict:
        return cls(reason, timedelta(0), give_up=True)


def chat_unusable(error: Exception) -> bool:
    """Whether Telegram refused because the bot cannot post in this chat at all: not found, removed
    (kicked, left) or without the right to send."""
    if isinstance(error, Forbidden):
        return True
    return isinstance(error, BadRequest) and any(gone in error.message.lower() for gone in CHAT_GONE)


def retry_after_seconds(error: RetryAfter) -> float:
    """Telegram's wait, whichever type this PTB version gives it (without its deprecation warning)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value = error.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


class DeliveryWorker:
    """Claims due outbox rows (leased, so several workers or processes never send the same row) and
    sends them, one lane per chat."""

    def __init__(
        self,
        outbox: Outbox,
        cases: CaseStore,
        bot: Bot,
        schools: Schools,
        responses: ResponseBook,
        *,
        options: StaffOptions | None = None,
        batch: int = 20,
        on_parent_blocked: BlockedCallback | None = None,
        on_chat_moved: MovedCallback | None = None,
        membership: StaffMembership | None = None,
        erasures: ErasureQueue | None = None,
        spawn: Spawn | None = None,
    ) -> None:
        self._outbox = outbox
        self._cases = cases
        self._bot = bot
        self._schools = schools
        self._texts = StaffTexts(responses, schools)
        self._topics = CaseTopics(bot, cases, self._texts)
        self._options = options or StaffOptions()
        self._batch = batch
        self._on_parent_blocked = on_parent_blocked
        self._on_chat_moved = on_chat_moved
        self._membership = membership
        self._eraser = (
            TelegramEraser(erasures, bot, self._texts, retry_base=self._options.retry_base * 30)
            if erasures is not None
            else None
        )
        self._pass = asyncio.Lock()
        self._stopping = asyncio.Event()
        self._spawn: Spawn = spawn or asyncio.create_task
        self._lanes: dict[int, deque[DueDelivery]] = {}
        self._erasing: asyncio.Task[Any] | None = None
        """The chats this worker is sending to, with the rows each lane has still to send."""
        self._senders: dict[DeliveryKind | str, Callable[[DueDelivery], Awaitable[Sent]]] = {
            K.CASE_CARD: self._case_card,
            K.CARD_UPDATE: self._card_update,
            K.EVIDENCE: self._evidence,
            K.TRANSCRIPT: self._transcript,
            K.PIN: self._pin,
            K.PARENT_CLAIMED: self._parent_claimed,
            K.PARENT_RESOLVED: self._parent_resolved,
            K.STAFF_REPLY: self._staff_reply,
            K.PARENT_REPLY: self._parent_reply,
            K.URGENT_REMINDER: self._urgent_reminder,
            K.TOPIC_CLOSE: self._topic_close,
            K.TOPIC_REOPEN: self._topic_reopen,
            K.STAFF_REPLY_SENT: self._staff_reply_sent,
            K.CHAT_FAILED_ALERT: self._chat_failed_alert,
            K.PARENT_DELIVERED: self._parent_delivered,
            K.PARENT_UNDELIVERED: self._parent_undelivered,
        }

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
        """A few of the erasures in Telegram the retention purge queued, when the outbox had no backlog
        (so erasing never holds an urgent card back), one such task at a time; counts no delivery."""
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
        sender = self._senders.get(delivery.kind)
        if sender is None:
            log.error("Delivery %s has unknown kind %s: given up", delivery.id, delivery.kind)
            metrics.delivery_failed(delivery.kind)
            await self._outbox.mark_retry(delivery.id, "unknown kind", timedelta(0), give_up=True)
            return False
        try:
            sent = await sender(delivery)
        except Exception as error:  # noqa: BLE001 - every failure is classified in _failed
            await self._failed(delivery, error)
            return False
        metrics.delivery_sent(delivery.kind)
        await self._record(delivery, sent)
        return True

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

    async def _failed(self, delivery: DueDelivery, error: Exception) -> None:
        """Decide between retrying later and giving up, and record it."""
        if isinstance(error, BadRequest) and NOT_MODIFIED in error.message.lower():
            metrics.delivery_sent(delivery.kind)
            await self._outbox.mark_sent(delivery.id, None)  # the card already shows this
            return
        metrics.delivery_failed(delivery.kind)
        if delivery.kind not in TO_PARENT and isinstance(error, ChatMigrated):
            await self._follow_chat_move(delivery, error.new_chat_id)
            return
        if delivery.kind not in TO_PARENT and delivery.kind != K.PIN and chat_unusable(error):
            await self._chat_failed(delivery, telegram_reason(error))
            return
        verdict = self._verdict(delivery, error)
        if verdict.give_up and delivery.kind == K.CASE_CARD:
            # A card refused for good goes to the trust's chat, or the parent is told: never stranded.
            await self._chat_failed(delivery, verdict.reason)
            return
        where = (delivery.id, delivery.kind, delivery.case_id, chat_ref(delivery.chat_id))
        if verdict.give_up:
            log.warning("Delivery %s (%s, case %s, chat %s) given up: %s", *where, verdict.reason)
            if isinstance(error, Forbidden) and delivery.kind in TO_PARENT and self._on_parent_blocked:
                await self._on_parent_blocked(str(delivery.chat_id))
        else:
            message = "Delivery %s (%s, case %s, chat %s) failed: %s; retry in %.1f s"
            log.info(message, *where, verdict.reason, verdict.delay.total_seconds())
        await self._outbox.mark_retry(delivery.id, verdict.reason, verdict.delay, give_up=verdict.give_up)

    def _verdict(self, delivery: DueDelivery, error: Exception) -> Verdict:
        """Retry or give up, when, and why (a reason without any message text)."""
        name = type(error).__name__
        if delivery.attempts >= MAX_ATTEMPTS.get(delivery.kind, 1_000_000):
            return Verdict.stop(f"{name} after {delivery.attempts} attempts")
        if isinstance(error, BadRequest) and TOPIC_CLOSED in error.message.lower():
            # The case's topic is being reopened (queued just before): wait for that.
            return Verdict("the case's topic is closed", self._backoff(delivery.attempts))
        if isinstance(error, (BadRequest, Forbidden)):
            return Verdict.stop(f"{name}: {error.message}")
        if isinstance(error, CaseGoneError):
            return Verdict.stop("the case no longer exists")
        if isinstance(error, RetryAfter):
            return Verdict("RetryAfter", timedelta(seconds=retry_after_seconds(error)))
        if not isinstance(error, (NetworkError, CardNotPostedError)):
            log.warning("Delivery %s raised %s", delivery.id, name, exc_info=True)
        reason = "waiting for the case card" if isinstance(error, CardNotPostedError) else name
        return Verdict(reason, self._backoff(delivery.attempts))

    # ---- a staff chat that cannot take messages ----------------------------------------------------------

    async def _follow_chat_move(self, delivery: DueDelivery, new_chat_id: int) -> None:
        """The group became a supergroup: store the new id, move everything waiting for the old one, and
        send again at once."""
        old = delivery.chat_id
        await self._outbox.mark_retry(delivery.id, f"ChatMigrated: now {new_chat_id}", timedelta(0))
        if not await self._outbox.follow_chat_move(old, new_chat_id):
            return  # another delivery met this move first
        if self._on_chat_moved is not None:
            self._on_chat_moved(old, new_chat_id)
        log.warning(
            "Chat %s (%s) became supergroup %s: deliveries now go there; set %s to %s in the schools file",
            old,
            self._setting(old),
            new_chat_id,
            self._setting(old),
            new_chat_id,
        )

    async def _chat_failed(self, delivery: DueDelivery, reason: str) -> None:
        """The case's staff chat cannot take messages: to the trust's chat now, or tell the parent."""
        where = (
            delivery.id,
            delivery.kind,
            delivery.case_id,
            chat_ref(delivery.chat_id),
            self._setting(delivery.chat_id),
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
        fallback = self._schools.fallback_chat_id
        if fallback is None:
            return None
        return (await self._outbox.chat_moves()).get(fallback, fallback)

    def _setting(self, chat_id: int) -> str:
        named = self._schools.named(chat_id)
        return named.where if named is not None else "not in the schools file"

    def _backoff(self, attempts: int) -> timedelta:
        base, most = self._options.retry_base, self._options.retry_max
        return timedelta(seconds=min(base * 2 ** max(attempts - 1, 0), most))

    async def _view(self, delivery: DueDelivery) -> CaseView:
        view = await self._cases.get(delivery.case_id) if delivery.case_id is not None else None
        if view is None:
            raise CaseGoneError
        return view

    async def _card_of(self, delivery: DueDelivery) -> tuple[CaseView, int]:
        view = await self._view(delivery)
        if view.card_message_id is None:
            raise CardNotPostedError
        return view, view.card_message_id

    async def _send_text(
        self, chat_id: int, text: str, reply: int | None = None, thread: int | None = None
    ) -> Sent:
        """A text (in forum topic ``thread`` if given), split at Telegram's limit if it must be; the last
        piece is the one recorded as the message, the others as its parts."""
        sent: list[Message] = []
        for piece in split_text(text):
            sent.append(
                await self._bot.send_message(
                    chat_id,
                    piece,
                    reply_parameters=reply_to(reply) if reply is not None else None,
                    message_thread_id=thread,
                    link_preview_options=NO_PREVIEW,
                )
            )
        *earlier, last = sent
        return Sent(last.message_id, parts=tuple(m.message_id for m in earlier))

    # ---- the staff chat ----------------------------------------------------------------------------------

    async def _restricted(self, chat_id: int) -> bool:
        """The chat holds members who are not named staff: no details there."""
        return self._membership is not None and await self._membership.restricted(chat_id)

    async def _card_for(self, view: CaseView, chat_id: int) -> StaffCard:
        if await self._restricted(chat_id):
            return self._texts.restricted_card(view)
        return self._texts.card(view)

    async def _case_card(self, delivery: DueDelivery) -> Sent:
        view = await self._view(delivery)
        restricted = await self._restricted(delivery.chat_id)
        card = self._texts.restricted_card(view) if restricted else self._texts.card(view)
        message = await self._bot.send_message(
            delivery.chat_id,
            card.text,
            reply_markup=card_markup(card.buttons),
            message_thread_id=await self._topics.thread_for(view),
            link_preview_options=NO_PREVIEW,
        )
        card_id = message.message_id
        followups: list[tuple[DeliveryKind, dict[str, Any]]] = []
        if view.priority is Priority.URGENT:
            followups.append((K.PIN, {"message_id": card_id}))
        if restricted:  # the details go privately to whoever claims
            return Sent(card_id, tuple(followups), card_case_id=view.id)
        count = len(view.attachments)
        for number, file_id in enumerate(view.attachments, start=1):
            evidence = {"reply_to": card_id, "file_id": file_id, "number": number, "count": count}
            followups.append((K.EVIDENCE, evidence))
        if card.long:
            followups.append((K.TRANSCRIPT, {"reply_to": card_id}))
        return Sent(card_id, tuple(followups), card_case_id=view.id)

    async def _card_update(self, delivery: DueDelivery) -> Sent:
        view, card_id = await self._card_of(delivery)
        card = await self._card_for(view, delivery.chat_id)
        await self._bot.edit_message_text(
            card.text,
            chat_id=delivery.chat_id,
            message_id=card_id,
            reply_markup=card_markup(card.buttons),
            link_preview_options=NO_PREVIEW,
        )
        return Sent(card_id)

    async def _evidence(self, delivery: DueDelivery) -> Sent:
        view = await self._view(delivery)
        if await self._restricted(delivery.chat_id):
            return Sent(None)  # the chat took in a member who is not named staff since the card went out
        payload = delivery.payload
        caption = self._texts.say(
            "utter_staff_evidence_caption",
            number=str(payload["number"]),
            count=str(payload["count"]),
            reference=view.reference,
        )
        message = await self._bot.send_photo(
            delivery.chat_id,
            payload["file_id"],
            caption=caption,
            reply_parameters=reply_to(payload["reply_to"]),
            message_thread_id=view.topic_id,
        )
        return Sent(message.message_id)

    async def _transcript(self, delivery: DueDelivery) -> Sent:
        view = await self._view(delivery)
        if await self._restricted(delivery.chat_id):
            return Sent(None)
        name, data = self._texts.transcript_document(view)
        caption = self._texts.say("utter_staff_transcript_caption", reference=view.reference)
        message = await self._bot.send_document(
            delivery.chat_id,
            data,
            filename=name,
            caption=caption,
            reply_parameters=reply_to(delivery.payload["reply_to"]),
            message_thread_id=view.topic_id,
        )
        return Sent(message.message_id)

    async def _pin(self, delivery: DueDelivery) -> Sent:
        message_id = int(delivery.payload["message_id"])
        await self._bot.pin_chat_message(delivery.chat_id, message_id)
        return Sent(message_id)

    async def _parent_reply(self, delivery: DueDelivery) -> Sent:
        view, card_id = await self._card_of(delivery)
        urgent = bool(delivery.payload.get("urgent"))
        words = self._texts.parent_words(str(delivery.payload.get("text", "")))
        text = self._texts.say(
            "utter_staff_parent_reply_urgent" if urgent else "utter_staff_parent_reply",
            reference=view.reference,
            text=words,
        )
        if await self._restricted(delivery.chat_id):
            text = await self._parent_reply_privately(view, words, urgent)
        return await self._send_text(delivery.chat_id, text, reply=card_id, thread=view.topic_id)

    async def _parent_reply_privately(self, view: CaseView, words: str, urgent: bool) -> str:
        """The parent's words to the claimer's private chat; what the staff chat is told instead."""
        assert self._membership is not None
        if view.claimed_by is None:
            line = self._texts.say("utter_staff_parent_reply_restricted_unclaimed", reference=view.reference)
        else:
            private = self._texts.say(
                "utter_staff_parent_reply_private", reference=view.reference, text=words
            )
            if urgent:
                private = f"{self._texts.say('utter_staff_card_urgent')}\n{private}"
            if await self._membership.send_privately(view.claimed_by, view, private):
                line = self._texts.say("utter_staff_parent_reply_restricted", reference=view.reference)
            else:
                line = self._texts.say(
                    "utter_staff_parent_reply_not_private",
                    reference=view.reference,
                    staff_name=view.claimed_by_name or "?",
                    bot_username=self._membership.start_link(),
                )
        return f"{self._texts.say('utter_staff_card_urgent')}\n{line}" if urgent else line

    async def _urgent_reminder(self, delivery: DueDelivery) -> Sent:
        view, card_id = await self._card_of(delivery)
        if view.status is not CaseStatus.OPEN:
            return Sent(None)  # claimed since the reminder was queued: nothing to remind
        text = self._texts.say(
            "utter_staff_urgent_reminder",
            reference=view.reference,
            age=self._texts.age(view, datetime.now(timezone.utc)),
        )
        return await self._send_text(delivery.chat_id, text, reply=card_id, thread=view.topic_id)

    async def _topic_close(self, delivery: DueDelivery) -> Sent:
        await self._topics.close(await self._view(delivery))
        return Sent(None)

    async def _topic_reopen(self, delivery: DueDelivery) -> Sent:
        await self._topics.reopen(await self._view(delivery))
        return Sent(None)

    async def _staff_reply_sent(self, delivery: DueDelivery) -> Sent:
        """In the staff chat, under the staff member's message: it has reached the parent."""
        view = await self._view(delivery)
        text = self._texts.say("utter_staff_reply_sent", reference=view.reference)
        reply = int(delivery.payload["reply_to"])
        return await self._send_text(delivery.chat_id, text, reply=reply, thread=view.topic_id)

    async def _chat_failed_alert(self, delivery: DueDelivery) -> Sent:
        view = await self._view(delivery)
        payload = delivery.payload
        failed = int(payload.get("chat_id", 0))
        text = self._texts.say(
            "utter_staff_chat_failed_alert",
            school_name=self._texts.school_name(str(payload.get("school_id", view.school_id))),
            chat_id=str(failed),
            setting=self._setting(failed),
            problem=str(payload.get("problem", "")),
            reference=view.reference,
        )
        return await self._send_text(delivery.chat_id, text)

    # ---- the parent's chat -------------------------------------------------------------------------------

    async def _parent_delivered(self, delivery: DueDelivery) -> Sent:
        return await self._to_parent(delivery, "utter_parent_urgent_delivered")

    async def _parent_undelivered(self, delivery: DueDelivery) -> Sent:
        view = await self._view(delivery)
        urgent = view.priority is Priority.URGENT
        return await self._to_parent(
            delivery, "utter_parent_urgent_undelivered" if urgent else "utter_parent_case_undelivered"
        )

    async def _parent_claimed(self, delivery: DueDelivery) -> Sent:
        return await self._to_parent(delivery, "utter_parent_claimed")

    async def _parent_resolved(self, delivery: DueDelivery) -> Sent:
        return await self._to_parent(delivery, "utter_parent_resolved")

    async def _staff_reply(self, delivery: DueDelivery) -> Sent:
        sent = await self._to_parent(delivery, "utter_parent_staff_reply")
        payload = delivery.payload
        if "confirm_chat_id" not in payload:
            return sent
        confirm = FollowUp(
            K.STAFF_REPLY_SENT,
            int(payload["confirm_chat_id"]),
            delivery.case_id,
            {"reply_to": int(payload["confirm_message_id"])},
        )
        return replace(sent, after=(confirm,))

    async def _to_parent(self, delivery: DueDelivery, response: str) -> Sent:
        view = await self._view(delivery)
        if not self._texts.shows_staff_names(view.school_id):
            response = WITHOUT_STAFF_NAMES.get(response, response)
        text = self._texts.say(
            response,
            staff_name=str(delivery.payload.get("staff_name", "")),
            school_name=self._texts.school_name(view.school_id),
            school_email=self._texts.school_email(view.school_id),
            school_phone=self._texts.school_phone(view.school_id),
            reference=view.reference,
            text=str(delivery.payload.get("text", "")),
        )
        return await self._send_text(delivery.chat_id, text)
