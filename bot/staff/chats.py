"""Which chats are staff rooms, and what the bot needs in them.

The schools file names each school's staff chat, optionally its safeguarding chat, and the trust's fallback
safeguarding chat. A chat that became a supergroup keeps working under its new id (stored in chat_moves when
its migration message arrives or a delivery meets the move, see bot/telegram/chat_moves.py) until the file
is updated; every part of a process shares one StaffChats, so a move followed once counts everywhere.
ChatRights is what the bot needs in a staff chat (post, pin, and, where the chat has topics, create them):
bot/telegram/staff/chat_checks.py reads it from Telegram at start, for `parentbot check` and for /setup.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.schools import School, Schools


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


PROBLEMS = {
    "post": "the bot cannot post messages",
    "pin": "the bot cannot pin messages (urgent cards are pinned)",
    "topics": "the bot cannot manage topics (each case gets its own topic in this chat)",
}
