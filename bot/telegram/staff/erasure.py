"""Deleting in Telegram what the bot posted for a case the database no longer holds (a copy must not outlive
the case).

The retention purge and `parentbot erase-case` queue what a deleted case left in the staff chats and in
staff members' private chats (bot/storage/erasures.py); this pass, run by the delivery worker after its
deliveries, works through it:

- a case's forum topic: deleteForumTopic, which takes every message in it along (Telegram allows it to an
  administrator with can_delete_messages); refused, the topic's messages are erased one by one;
- a message the bot posted (card, evidence photo, transcript document, relayed parent message, reminder,
  every piece of a split text): deleteMessage. Telegram refuses a bot's own message older than 48 hours
  unless it may delete any message there; then the message is edited into a tombstone
  (utter_staff_case_erased): a text's words replaced, a photo's or document's media replaced by a small
  text file saying the same, its caption too;
- the same for a message sent for the case to a staff member's private chat (the details of a case claimed
  from a chat with members not named staff, and the parent's later messages): deleted, or, past 48 hours,
  tombstoned, as Telegram allows a bot in a private chat only its recent messages;
- a staff member's message the bot passed on to the parent: deleteMessage where the bot may; otherwise
  nothing the bot can do (it cannot edit another's message), and the row is dropped.

A row done is removed; a failure is retried with backoff up to MAX_ATTEMPTS, then dropped with a warning.
Log lines name rows, kinds and chat ids (staff groups; a private chat by its pseudonym), never a
message's text.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from telegram import Bot, InputMediaDocument
from telegram.error import BadRequest, RetryAfter, TelegramError

from bot.logs import chat_ref
from bot.staff.cards import StaffTexts
from bot.storage.erasures import DueErasure, ErasureQueue
from bot.storage.models import ErasureKind
from bot.telegram.staff.failures import retry_after_seconds

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
"""A row failing this many times is dropped (logged): the chat is gone, or the bot was removed from it."""
GONE = ("message to delete not found", "message to edit not found", "message thread not found")
"""Refusals meaning there is nothing left to erase (staff deleted it, or the topic went with it)."""
NOT_DELETABLE = "message can't be deleted"
NOT_MODIFIED = "message is not modified"


def _says(error: TelegramError, *what: str) -> bool:
    return isinstance(error, BadRequest) and any(w in error.message.lower() for w in what)


class TelegramEraser:
    """Works through telegram_erasures, a few rows per pass."""

    def __init__(
        self,
        queue: ErasureQueue,
        bot: Bot,
        texts: StaffTexts,
        *,
        batch: int = 10,
        retry_base: float = 30.0,
        retry_max: float = 3600.0,
    ) -> None:
        self._queue = queue
        self._bot = bot
        self._texts = texts
        self._batch = batch
        self._retry_base = retry_base
        self._retry_max = retry_max

    async def run_once(self) -> int:
        """Erase what is due (topics first); how many rows were done. A message in a topic deleted in
        this pass went with it: its row is gone, and Telegram is not asked about it."""
        done = 0
        deleted_topics: set[tuple[int, int | None]] = set()
        for erasure in await self._queue.due(self._batch):
            if (
                erasure.kind is not ErasureKind.TOPIC
                and (erasure.chat_id, erasure.topic_id) in deleted_topics
            ):
                continue
            if await self._erase(erasure):
                done += 1
                if erasure.kind is ErasureKind.TOPIC:
                    deleted_topics.add((erasure.chat_id, erasure.topic_id))
        return done

    async def _erase(self, erasure: DueErasure) -> bool:
        """Erase one row; True when it is done (a topic: True only when the topic itself went)."""
        try:
            with_topic = await self._attempt(erasure)
        except TelegramError as error:
            await self._failed(erasure, error)
            return False
        await self._queue.done(erasure, with_topic=with_topic)
        return with_topic or erasure.kind is not ErasureKind.TOPIC

    async def _attempt(self, erasure: DueErasure) -> bool:
        """Erase one row; True when a whole topic went (its message rows are done with it)."""
        if erasure.kind is ErasureKind.TOPIC:
            return await self._topic(erasure)
        assert erasure.message_id is not None
        try:
            await self._bot.delete_message(erasure.chat_id, erasure.message_id)
        except BadRequest as error:
            if _says(error, *GONE):
                return False
            if not _says(error, NOT_DELETABLE):
                raise
            await self._tombstone(erasure)
        return False

    async def _topic(self, erasure: DueErasure) -> bool:
        assert erasure.topic_id is not None
        try:
            await self._bot.delete_forum_topic(erasure.chat_id, erasure.topic_id)
        except BadRequest as error:
            if _says(error, *GONE):
                return True
            log.warning(
                "Erasure %s: forum topic %s in chat %s not deleted (%s); its messages are erased one by one",
                erasure.id,
                erasure.topic_id,
                erasure.chat_id,
                error.message,
            )
            return False
        log.info(
            "Erasure %s: forum topic %s in chat %s deleted", erasure.id, erasure.topic_id, erasure.chat_id
        )
        return True

    async def _tombstone(self, erasure: DueErasure) -> None:
        """Telegram no longer lets the bot delete the message: replace what it shows."""
        assert erasure.message_id is not None
        if erasure.kind is ErasureKind.THEIRS:
            log.info(
                "Erasure %s: a staff message in chat %s cannot be deleted by the bot",
                erasure.id,
                erasure.chat_id,
            )
            return
        notice = self._texts.say("utter_staff_case_erased", reference=erasure.reference)
        try:
            if erasure.kind is ErasureKind.MEDIA:
                media = InputMediaDocument(
                    notice.encode(), caption=notice, filename=f"{erasure.reference}-deleted.txt"
                )
                await self._bot.edit_message_media(
                    media, chat_id=erasure.chat_id, message_id=erasure.message_id
                )
            else:
                await self._bot.edit_message_text(
                    notice, chat_id=erasure.chat_id, message_id=erasure.message_id
                )
        except BadRequest as error:
            if not _says(error, NOT_MODIFIED, *GONE):
                raise
        where = chat_ref(erasure.chat_id)
        log.info("Erasure %s: message in chat %s replaced by its notice", erasure.id, where)

    async def _failed(self, erasure: DueErasure, error: TelegramError) -> None:
        where = (erasure.id, erasure.kind, chat_ref(erasure.chat_id), type(error).__name__)
        if erasure.attempts + 1 >= MAX_ATTEMPTS:
            log.warning("Erasure %s (%s, chat %s) given up after %s", *where)
            await self._queue.done(erasure)
            return
        if isinstance(error, RetryAfter):
            delay = timedelta(seconds=retry_after_seconds(error))
        else:
            delay = timedelta(seconds=min(self._retry_base * 2**erasure.attempts, self._retry_max))
        log.info("Erasure %s (%s, chat %s) failed: %s; retry in %.0f s", *where, delay.total_seconds())
        await self._queue.retry(erasure, delay)
