"""One forum topic per case, when a school's staff chat is a supergroup with topics.

Telegram says whether a chat has topics in getChat's is_forum; the answer is asked once per chat and
cached for the life of the process. A case's topic is created (named by reference, kind and school, never
by the parent) just before its card is posted, and recorded on the case before anything goes into it, so a
retried card goes into the same topic. A group without topics gets None: everything replies to the card.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable

from telegram import Bot
from telegram.error import BadRequest, TelegramError

from bot.domain import CaseView
from bot.staff.cards import StaffTexts
from bot.storage.cases import CaseStore

log = logging.getLogger(__name__)

MAX_TOPIC_NAME = 128
TOPIC_NOT_MODIFIED = "topic_not_modified"


class CaseTopics:
    def __init__(self, bot: Bot, store: CaseStore, texts: StaffTexts) -> None:
        self._bot = bot
        self._store = store
        self._texts = texts
        self._forums: dict[int, bool] = {}

    async def is_forum(self, chat_id: int) -> bool:
        """Whether the chat has topics. A chat that moved, is gone or shut the bot out is not asked
        again here: the card is then sent as to a plain group, and the send's own error is what the
        delivery worker acts on (follow the move, fail over to the trust's chat)."""
        if chat_id not in self._forums:
            try:
                chat = await self._bot.get_chat(chat_id)
            except TelegramError as error:  # never hold a card back: post it as to a plain group
                log.warning("Chat %s: forum check failed (%s)", chat_id, type(error).__name__)
                return False
            self._forums[chat_id] = bool(chat.is_forum)
        return self._forums[chat_id]

    async def thread_for(self, view: CaseView) -> int | None:
        """The case's topic, created now if its staff chat has topics and it has none yet."""
        if view.topic_id is not None:
            return view.topic_id
        if not await self.is_forum(view.staff_chat_id):
            return None
        name = self._texts.topic_name(view)[:MAX_TOPIC_NAME]
        topic = await self._bot.create_forum_topic(view.staff_chat_id, name)
        await self._store.set_topic(view.id, topic.message_thread_id)
        log.info("Case %s has forum topic %s", view.id, topic.message_thread_id)
        return topic.message_thread_id

    async def close(self, view: CaseView) -> None:
        if view.topic_id is not None:
            await _unless_unchanged(self._bot.close_forum_topic(view.staff_chat_id, view.topic_id))

    async def reopen(self, view: CaseView) -> None:
        if view.topic_id is not None:
            await _unless_unchanged(self._bot.reopen_forum_topic(view.staff_chat_id, view.topic_id))


async def _unless_unchanged(request: Awaitable[object]) -> None:
    """Closing a closed topic (or reopening an open one) is done already: Telegram's refusal is no error."""
    try:
        await request
    except BadRequest as error:
        if TOPIC_NOT_MODIFIED not in error.message.lower():
            raise
