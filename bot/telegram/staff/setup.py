"""/setup: how a group becomes a staff chat, told in the group itself.

Whoever sets the bot up adds it to the group and sends /setup there. The answer gives the group's id, whether
it has topics, the rights the bot still lacks there (send and pin messages, and manage topics in a group with
topics), read as the start-up check reads them (bot/telegram/staff/chat_checks.py), and the line for the
schools file. It shows only what every member of the group can see anyway, the group's own id and the bot's
rights, so any member may ask, in any group or supergroup the bot is in, named in the schools file or not: in
one it does not name, /setup is the only thing the bot answers, during a short stay after it was added
(bot/telegram/unknown_chats.py). In a private chat /setup says where to send it.

Answers are sent from a background task, at most one waiting per chat, so /setup sent over and over never
holds a handler on a chat's rate limit. The texts are domain.yml's `utter_staff_setup*`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import partial

from telegram import Bot, Message, Update
from telegram.constants import ChatType
from telegram.error import TelegramError
from telegram.ext import ContextTypes

from bot.schools import ConfiguredChat, Schools
from bot.staff.cards import StaffTexts
from bot.staff.chats import ChatRights, StaffChats
from bot.telegram.sending import BackgroundSends, send_line
from bot.telegram.staff.chat_checks import read_rights
from bot.telegram.staff.failures import telegram_reason
from bot.telegram.unknown_chats import UnknownChats

log = logging.getLogger(__name__)

MAX_PENDING_ANSWERS = 1
"""/setup answers waiting to be sent to one chat; a /setup sent meanwhile gets none of its own."""


@dataclass(frozen=True)
class GroupSetup:
    """What /setup tells about a group."""

    chat_id: int
    chat_type: str
    rights: ChatRights
    named: ConfiguredChat | None
    """The setting of the schools file naming this group (by its id from before a move, if it moved)."""


def setup_answer(texts: StaffTexts, setup: GroupSetup, stay_minutes: int) -> str:
    """The answer to /setup in a group; `stay_minutes`: how long the bot stays in a group the schools
    file does not name."""
    return texts.say(
        "utter_staff_setup",
        chat_id=str(setup.chat_id),
        kind=_kind(texts, setup),
        rights=_rights(texts, setup.rights),
        schools_file=_schools_file(texts, setup, stay_minutes),
    )


def named_as(schools: Schools, chats: StaffChats, chat_id: int) -> ConfiguredChat | None:
    """The setting naming this chat, directly or through a move the bot followed."""
    return next((chat for chat in schools.configured_chats() if chats.current(chat.chat_id) == chat_id), None)


def _kind(texts: StaffTexts, setup: GroupSetup) -> str:
    if setup.rights.forum:
        return texts.say("utter_staff_setup_forum")
    if setup.chat_type == ChatType.SUPERGROUP:
        return texts.say("utter_staff_setup_supergroup")
    return texts.say("utter_staff_setup_group")


def _rights(texts: StaffTexts, rights: ChatRights) -> str:
    if not rights.missing:
        return texts.say("utter_staff_setup_rights_ok")
    missing = ", ".join(texts.say(f"utter_staff_setup_right_{right}") for right in rights.missing)
    return texts.say("utter_staff_setup_rights_missing", missing=missing)


def _schools_file(texts: StaffTexts, setup: GroupSetup, stay_minutes: int) -> str:
    named = setup.named
    if named is None:
        return texts.say(
            "utter_staff_setup_unconfigured", chat_id=str(setup.chat_id), grace_minutes=str(stay_minutes)
        )
    line = f"{named.key}: {setup.chat_id}"
    if named.chat_id != setup.chat_id:
        return texts.say(
            "utter_staff_setup_moved", old_chat_id=str(named.chat_id), where=named.where, line=line
        )
    return texts.say("utter_staff_setup_configured", where=named.where, line=line)


class SetupCommand:
    """The /setup handler: in a group, the group's set-up; in a private chat, where to send it."""

    def __init__(self, texts: StaffTexts, schools: Schools, chats: StaffChats, unknown: UnknownChats) -> None:
        self._texts = texts
        self._schools = schools
        self._chats = chats
        self._unknown = unknown
        self._answers = BackgroundSends(MAX_PENDING_ANSWERS, "Setup answer")

    async def on_setup(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        chat, message = update.effective_chat, update.effective_message
        if chat is None or message is None:
            return
        if chat.type == ChatType.PRIVATE:
            text = self._texts.say("utter_staff_setup_private")
            send = partial(send_line, context.bot, chat.id, text, None)
            self._answers.start(context.application, chat.id, send)
            return
        if self._unknown.unknown(update) and not self._unknown.stay_for_setup(context, chat.id):
            return  # the bot is leaving this group
        log.info("Answering /setup in chat %s", chat.id)
        self._answers.start(context.application, chat.id, partial(self._answer, context.bot, message))

    async def _answer(self, bot: Bot, message: Message) -> None:
        chat = message.chat
        try:
            rights = await read_rights(bot, chat.id)
        except TelegramError as error:
            reason = telegram_reason(error)
            log.warning("Chat %s: /setup not answered, the bot's rights not read (%s)", chat.id, reason)
            return
        setup = GroupSetup(chat.id, chat.type, rights, named_as(self._schools, self._chats, chat.id))
        await send_line(bot, chat.id, setup_answer(self._texts, setup, self._unknown.minutes), message)
