"""Groups and channels the configuration does not name (anyone can add a bot to a group): the bot says nothing
there, answers no command but /setup, and leaves, once per chat and process.

Anyone can add a bot to a group of their own. Every answer there would wait on that group's rate limit
(20 messages a minute) while holding one of python-telegram-bot's update slots, so a few hundred commands
in such a group once kept a parent's /help unanswered for 40 s. Now a message there costs one audit row
the first time (action "leave", refused) and nothing after; the leave itself is sent from a background
task (Application.create_task), so no handler waits on it. The staff chats, the schools' safeguarding
chats and the trust's are the chats the configuration names (bot/staff/chats.py), followed through chat
moves.

A group is set up by adding the bot and sending /setup there (bot/telegram/staff/setup.py), before the schools
file names it. So a bot added to such a group stays for a while (StaffOptions.setup_stay, 10 minutes),
answering /setup only (from a background task, at most one waiting per chat) and ignoring everything else,
then leaves (a job of the Application's job queue). The same stay starts at a /setup from a group the bot is
in without knowing it (added while it was stopped); it never starts again before the bot has left and been
added again, so nobody keeps the bot in their group by repeating /setup. A group that becomes a supergroup
during its stay (topics turned on) keeps the stay under its new id. The stays are this process's memory: after
a restart, or at another bot process behind the same webhook, a message other than /setup in such a group
makes the bot leave at once, as before.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta

from telegram import Bot, ChatMember, Message, Update
from telegram.constants import ChatType
from telegram.ext import ContextTypes

from bot.storage.audit import AuditLog

log = logging.getLogger(__name__)
PRESENT = frozenset({ChatMember.MEMBER, ChatMember.ADMINISTRATOR, ChatMember.RESTRICTED, ChatMember.OWNER})
"""The bot's statuses in a chat it is still part of."""
GROUPS = frozenset({ChatType.GROUP, ChatType.SUPERGROUP})


class UnknownChats:
    """Leaves the groups and channels the configuration does not name, without a word (after a stay for
    /setup in a group it was just added to)."""

    def __init__(self, audit: AuditLog, named: Callable[[], frozenset[int]], stay: timedelta) -> None:
        self._audit = audit
        self._named = named
        self.stay = stay
        self._left: set[int] = set()
        self._staying: set[int] = set()

    def unknown(self, update: Update) -> bool:
        chat = update.effective_chat
        return chat is not None and chat.type != ChatType.PRIVATE and chat.id not in self._named()

    async def on_message(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Anything sent in an unknown group: nothing is answered; the bot leaves (the first time), unless
        it stays there for /setup (the message saying it was added starts the stay)."""
        if not self.unknown(update):
            return
        chat_id = update.effective_chat.id if update.effective_chat else 0
        if _announces_the_bot(update.effective_message, context.bot.id):
            self._left.discard(chat_id)
            self.stay_for_setup(context, chat_id)
        elif chat_id not in self._staying:
            await self._leave(update, context)

    async def on_my_membership(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """The bot was added to a group the configuration does not name: it stays for /setup, then
        leaves. Added to a channel, or any other change of its membership (made an administrator)
        outside a stay: it leaves at once."""
        change = update.my_chat_member
        if change is None or change.new_chat_member.status not in PRESENT or not self.unknown(update):
            return
        if change.chat.type in GROUPS and change.old_chat_member.status not in PRESENT:
            self._left.discard(change.chat.id)
            self.stay_for_setup(context, change.chat.id)
        elif change.chat.id not in self._staying:
            await self._leave(update, context)

    async def on_migration(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """A group staying for /setup became a supergroup: the stay goes on under the new id."""
        message = update.effective_message
        if message is None or not message.migrate_to_chat_id or message.chat.id not in self._staying:
            return
        self._staying.discard(message.chat.id)
        self._left.add(message.chat.id)  # the old id is gone: its stay ends without a leave
        self.stay_for_setup(context, message.migrate_to_chat_id)

    def stay_for_setup(self, context: ContextTypes.DEFAULT_TYPE, chat_id: int) -> bool:
        """Whether the bot is (now) staying in this unknown group for /setup: False once it has left or
        is leaving. A new stay ends with the bot leaving, `stay` from now."""
        if chat_id in self._left:
            return False
        if chat_id not in self._staying:
            if context.job_queue is None:
                raise RuntimeError("python-telegram-bot's job queue (APScheduler) is needed for /setup")
            self._staying.add(chat_id)
            log.info("Staying %d min in a group the configuration does not name, for /setup", self.minutes)
            context.job_queue.run_once(self._stay_over, self.stay, chat_id=chat_id, name="setup-stay")
        return True

    @property
    def minutes(self) -> int:
        return max(1, round(self.stay.total_seconds() / 60))

    async def _stay_over(self, context: ContextTypes.DEFAULT_TYPE) -> None:
        chat_id = context.job.chat_id if context.job is not None else None
        if chat_id is None:
            return
        self._staying.discard(chat_id)
        if chat_id in self._named() or chat_id in self._left:
            return
        await self._leave_chat_id(context, chat_id, actor_id=None, kind="group")

    async def _leave(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        chat = update.effective_chat
        if chat is None:
            return
        user = update.effective_user
        await self._leave_chat_id(context, chat.id, actor_id=user.id if user else None, kind=chat.type)

    async def _leave_chat_id(
        self, context: ContextTypes.DEFAULT_TYPE, chat_id: int, *, actor_id: int | None, kind: str
    ) -> None:
        if chat_id in self._left:
            return
        self._left.add(chat_id)
        self._staying.discard(chat_id)
        await self._audit.audit("leave", actor_id=actor_id, chat_id=chat_id, allowed=False)
        log.info("Leaving a %s the configuration does not name", kind)
        context.application.create_task(_leave_chat(context.bot, chat_id), name="leave-unknown-chat")


def _announces_the_bot(message: Message | None, bot_id: int) -> bool:
    """The service message of the bot joining: added by a member, or in the group as it was created."""
    if message is None:
        return False
    added = any(user.id == bot_id for user in message.new_chat_members or ())
    return added or bool(message.group_chat_created or message.supergroup_chat_created)


async def _leave_chat(bot: Bot, chat_id: int) -> None:
    try:
        await bot.leave_chat(chat_id)
    except Exception as error:  # noqa: BLE001 - nothing else to do: the bot stays silent there anyway
        log.info("Could not leave a chat the configuration does not name: %s", type(error).__name__)
