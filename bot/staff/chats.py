"""Which chats are staff rooms, and what is wrong with them.

The schools file names each school's staff chat, optionally its safeguarding chat, and the trust's fallback
safeguarding chat. A chat that became a supergroup keeps working under its new id (stored in chat_moves when
its migration message arrives or a delivery meets the move, see bot/telegram/chat_moves.py) until the file
is updated; every part of a process shares one StaffChats, so a move followed once counts everywhere. At
start the bot checks every configured chat with getChat and getChatMember and logs one line per problem,
without stopping (issue 10).
"""

from __future__ import annotations

import logging

from telegram import Bot, ChatFullInfo, ChatMember, ChatMemberAdministrator, ChatMemberRestricted
from telegram.error import ChatMigrated, TelegramError

from bot.config import ConfiguredChat, School, Schools

log = logging.getLogger(__name__)


def telegram_reason(error: Exception) -> str:
    """Type and Telegram description (PTB keeps "Forbidden: " in the message, drops "Bad Request: ")."""
    name, message = type(error).__name__, str(getattr(error, "message", ""))
    return message if message.startswith(f"{name}:") else f"{name}: {message}"


class StaffChats:
    """The chats where staff see and act on cases, followed through chat moves."""

    def __init__(self, schools: Schools, moves: dict[int, int] | None = None) -> None:
        self._schools = schools
        self._moves: dict[int, int] = dict(moves or {})

    def follow(self, old_chat_id: int, new_chat_id: int) -> None:
        self._moves = {old: new_chat_id if new == old_chat_id else new for old, new in self._moves.items()}
        self._moves[old_chat_id] = new_chat_id

    def current(self, chat_id: int) -> int:
        return self._moves.get(chat_id, chat_id)

    def __contains__(self, chat_id: object) -> bool:
        """Whether this is a staff chat, configured or where one moved to."""
        return chat_id in self.all()

    def all(self) -> frozenset[int]:
        """Every staff chat id, configured and current."""
        configured = {chat.chat_id for chat in self._schools.configured_chats()}
        return frozenset(configured | {self.current(chat_id) for chat_id in configured})

    def of_school(self, school: School) -> frozenset[int]:
        """Where the school's cases may be acted on: its own chats and the trust's fallback chat."""
        ids = {*school.chat_ids, *self.trust_chats()}
        return frozenset(ids | {self.current(chat_id) for chat_id in ids})

    def trust_chats(self) -> frozenset[int]:
        fallback = self._schools.fallback_chat_id
        return frozenset() if fallback is None else frozenset({fallback, self.current(fallback)})


async def check_chats(bot: Bot, schools: Schools, moves: dict[int, int]) -> list[str]:
    """getChat and getChatMember (the bot) for every configured chat: one warning line per problem found.
    Returns the lines (ids and settings only)."""
    problems: list[str] = []
    for chat in schools.configured_chats():
        for problem in await _chat_problems(bot, chat, moves.get(chat.chat_id, chat.chat_id)):
            line = f"Chat {chat.chat_id} ({chat.where}): {problem}"
            log.warning("%s", line)
            problems.append(line)
    return problems


async def _chat_problems(bot: Bot, chat: ConfiguredChat, chat_id: int) -> list[str]:
    moved = [] if chat_id == chat.chat_id else [f"became supergroup {chat_id}: set {chat.key} to {chat_id}"]
    try:
        info = await bot.get_chat(chat_id)
        member = await bot.get_chat_member(chat_id, bot.id)
    except ChatMigrated as error:
        return [*moved, f"became supergroup {error.new_chat_id}: set {chat.key} to {error.new_chat_id}"]
    except TelegramError as error:
        return [*moved, f"cannot be reached ({telegram_reason(error)})"]
    return moved + _member_problems(info, member)


def _member_problems(info: ChatFullInfo, member: ChatMember) -> list[str]:
    if member.status in (ChatMember.LEFT, ChatMember.BANNED):
        return ["the bot is not a member"]
    if isinstance(member, ChatMemberRestricted) and not member.is_member:
        return ["the bot is not a member"]
    permissions = info.permissions
    if isinstance(member, ChatMemberRestricted):
        can_post, can_pin = member.can_send_messages, member.can_pin_messages
    elif isinstance(member, ChatMemberAdministrator):
        can_post, can_pin = True, member.can_pin_messages is not False
    elif member.status == ChatMember.OWNER:
        can_post, can_pin = True, True
    else:
        can_post = permissions is None or permissions.can_send_messages is not False
        can_pin = permissions is None or permissions.can_pin_messages is not False
    problems = [] if can_post else ["the bot cannot post messages"]
    return problems + ([] if can_pin else ["the bot cannot pin messages (urgent cards are pinned)"])
