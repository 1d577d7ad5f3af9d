"""Groups and channels the configuration does not name (issue 20, finding 4): the bot says nothing there,
answers no command, and leaves, once per chat and process.

Anyone can add a bot to a group of their own. Every answer there would wait on that group's rate limit
(20 messages a minute) while holding one of python-telegram-bot's update slots, so a few hundred commands
in such a group once kept a parent's /help unanswered for 40 s. Now a message there costs one audit row
the first time (action "leave", refused) and nothing after; the leave itself is sent from a background
task (Application.create_task), so no handler waits on it. A bot added to such a group leaves at once.
The staff chats, the schools' safeguarding chats and the trust's are the chats the configuration names
(bot/staff/chats.py), followed through chat moves.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from telegram import Bot, ChatMember, Update
from telegram.constants import ChatType
from telegram.ext import ContextTypes

from bot.storage.audit import AuditLog

log = logging.getLogger(__name__)
PRESENT = frozenset({ChatMember.MEMBER, ChatMember.ADMINISTRATOR, ChatMember.RESTRICTED, ChatMember.OWNER})
"""The bot's statuses in a chat it is still part of."""


class UnknownChats:
    """Leaves the groups and channels the configuration does not name, without a word."""

    def __init__(self, audit: AuditLog, named: Callable[[], frozenset[int]]) -> None:
        self._audit = audit
        self._named = named
        self._left: set[int] = set()

    def unknown(self, update: Update) -> bool:
        chat = update.effective_chat
        return chat is not None and chat.type != ChatType.PRIVATE and chat.id not in self._named()

    async def on_message(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Anything sent in an unknown group: nothing is answered; the bot leaves (the first time)."""
        if self.unknown(update):
            await self._leave(update, context)

    async def on_my_membership(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """The bot was added to a group: one the configuration does not name, it leaves at once."""
        change = update.my_chat_member
        if change is not None and change.new_chat_member.status in PRESENT and self.unknown(update):
            await self._leave(update, context)

    async def _leave(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        chat = update.effective_chat
        if chat is None or chat.id in self._left:
            return
        self._left.add(chat.id)
        user = update.effective_user
        await self._audit.audit("leave", actor_id=user.id if user else None, chat_id=chat.id, allowed=False)
        log.info("Leaving a %s the configuration does not name", chat.type)
        context.application.create_task(_leave_chat(context.bot, chat.id), name="leave-unknown-chat")


async def _leave_chat(bot: Bot, chat_id: int) -> None:
    try:
        await bot.leave_chat(chat_id)
    except Exception as error:  # noqa: BLE001 - nothing else to do: the bot stays silent there anyway
        log.info("Could not leave a chat the configuration does not name: %s", type(error).__name__)
