"""Which chats are staff rooms, and what is wrong with them.

The schools file names each school's staff chat, optionally its safeguarding chat, and the trust's fallback
safeguarding chat. A chat that became a supergroup keeps working under its new id (stored in chat_moves when
its migration message arrives or a delivery meets the move, see bot/telegram/chat_moves.py) until the file
is updated; every part of a process shares one StaffChats, so a move followed once counts everywhere. At
start the bot checks every configured chat with getChat and getChatMember (may it post, pin, and, where
the chat has topics, create them) and logs one line per problem, without stopping (issue 10);
`parentbot check` prints the same lines, and /setup (bot/staff/setup.py) reads the same rights.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

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


@dataclass(frozen=True)
class ChatRights:
    """What the bot may do in a group, as getChat and getChatMember tell it."""

    member: bool
    post: bool
    pin: bool
    manage_topics: bool
    forum: bool
    """The chat has topics: each case gets one, so the bot must be able to create them."""

    @property
    def missing(self) -> tuple[str, ...]:
        """The rights the bot needs here and lacks: "post", "pin", "topics" (topics only in a forum)."""
        needed = {"post": self.post, "pin": self.pin, "topics": self.manage_topics or not self.forum}
        return tuple(right for right, held in needed.items() if not held)


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


PROBLEMS = {
    "post": "the bot cannot post messages",
    "pin": "the bot cannot pin messages (urgent cards are pinned)",
    "topics": "the bot cannot manage topics (each case gets its own topic in this chat)",
}


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
