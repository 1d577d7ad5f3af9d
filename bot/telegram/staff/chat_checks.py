"""The staff chats as Telegram reports them: getChat and getChatMember for every chat the schools file
names. At start the bot logs one line per problem found (the bot cannot post, pin or create topics, the
chat moved or cannot be reached), without stopping: a case whose chat fails goes to the trust's chat
instead. `parentbot check` prints the same lines, and /setup (bot/telegram/staff/setup.py) reads the same
rights.
"""

from __future__ import annotations

import logging

from telegram import Bot, ChatFullInfo, ChatMember, ChatMemberAdministrator, ChatMemberRestricted
from telegram.error import ChatMigrated, TelegramError

from bot.schools import ConfiguredChat, Schools
from bot.staff.chats import PROBLEMS, ChatRights
from bot.telegram.staff.failures import telegram_reason

log = logging.getLogger(__name__)


async def check_chats(bot: Bot, schools: Schools, moves: dict[int, int]) -> list[str]:
    """getChat and getChatMember (the bot) for every configured chat: one warning line per problem found.
    Returns the lines (ids and settings only)."""
    problems = await chat_problems(bot, schools, moves)
    for line in problems:
        log.warning("%s", line)
    return problems


async def chat_problems(bot: Bot, schools: Schools, moves: dict[int, int]) -> list[str]:
    """What check_chats finds, without logging it (`parentbot check` prints the lines instead)."""
    problems: list[str] = []
    for chat in schools.configured_chats():
        for problem in await _chat_problems(bot, chat, moves.get(chat.chat_id, chat.chat_id)):
            problems.append(f"Chat {chat.chat_id} ({chat.where}): {problem}")
    return problems


async def read_rights(bot: Bot, chat_id: int) -> ChatRights:
    """The bot's rights in the chat, from getChat and getChatMember; Telegram's errors propagate."""
    info = await bot.get_chat(chat_id)
    member = await bot.get_chat_member(chat_id, bot.id)
    return chat_rights(info, member)


async def _chat_problems(bot: Bot, chat: ConfiguredChat, chat_id: int) -> list[str]:
    moved = [] if chat_id == chat.chat_id else [f"became supergroup {chat_id}: set {chat.key} to {chat_id}"]
    try:
        rights = await read_rights(bot, chat_id)
    except ChatMigrated as error:
        return [*moved, f"became supergroup {error.new_chat_id}: set {chat.key} to {error.new_chat_id}"]
    except TelegramError as error:
        return [*moved, f"cannot be reached ({telegram_reason(error)})"]
    if not rights.member:
        return [*moved, "the bot is not a member"]
    return moved + [PROBLEMS[right] for right in rights.missing]


def chat_rights(info: ChatFullInfo, member: ChatMember) -> ChatRights:
    """The bot's rights from its membership: an administrator's own rights, a restricted member's
    exceptions, else the group's default member permissions. Topics need an administrator with
    can_manage_topics (createForumTopic's rule), or the owner."""
    forum = bool(info.is_forum)
    if member.status in (ChatMember.LEFT, ChatMember.BANNED) or (
        isinstance(member, ChatMemberRestricted) and not member.is_member
    ):
        return ChatRights(member=False, post=False, pin=False, manage_topics=False, forum=forum)
    permissions = info.permissions
    topics = False
    if isinstance(member, ChatMemberRestricted):
        can_post, can_pin = member.can_send_messages, member.can_pin_messages
    elif isinstance(member, ChatMemberAdministrator):
        can_post, can_pin = True, member.can_pin_messages is not False
        topics = member.can_manage_topics is True
    elif member.status == ChatMember.OWNER:
        can_post, can_pin, topics = True, True, True
    else:
        can_post = permissions is None or permissions.can_send_messages is not False
        can_pin = permissions is None or permissions.can_pin_messages is not False
    return ChatRights(member=True, post=can_post, pin=can_pin, manage_topics=topics, forum=forum)
