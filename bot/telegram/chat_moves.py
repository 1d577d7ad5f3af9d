"""A staff group that became a supergroup is followed as soon as Telegram says so, by every process.

Telegram announces the move with two service messages: migrate_to_chat_id in the old group, then
migrate_from_chat_id in the new supergroup (the second is not always sent). Either one, in a staff chat,
records the move (Outbox.follow_chat_move: chat_moves, the chat's cases and waiting deliveries) and updates
this process's StaffChats, so staff can act in the supergroup at once, not only once a delivery to the old
id has failed (the delivery worker's fallback, for a move whose messages the bot missed).

Other processes learn the move from the database: a message or a staff button from a group this process
does not know makes it read the stored moves again before the staff handlers (and the guard that answers
other groups) decide: at most once per REFRESH_EVERY per unknown chat (the last MAX_REMEMBERED of them are
remembered), so groups that are no staff chat cannot keep the database busy
(a group spamming the bot would otherwise cost a database read per message).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from telegram import Update
from telegram.constants import ChatType
from telegram.ext import ContextTypes

from bot.schools import Schools
from bot.staff.chats import StaffChats
from bot.storage.outbox import Outbox

log = logging.getLogger(__name__)

REFRESH_EVERY = 30.0
"""Seconds before the stored moves are read again for the same unknown chat."""
MAX_REMEMBERED = 1024
"""Unknown chats whose last reading is remembered; the oldest is forgotten first."""
GROUPS = frozenset({ChatType.GROUP, ChatType.SUPERGROUP})

Follow = Callable[[int, int], None]


class ChatMoveHandlers:
    """The migration messages' handler and the unknown-chat refresh, on one live StaffChats."""

    def __init__(
        self,
        outbox: Outbox,
        chats: StaffChats,
        follow: Follow,
        schools: Schools,
        *,
        every: float = REFRESH_EVERY,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._outbox = outbox
        self._chats = chats
        self._follow = follow
        """Updates `chats` and whatever else recognises staff chats (the handlers' chat filter)."""
        self._schools = schools
        self._every = every
        self._clock = clock
        self._read_at: dict[int, float] = {}
        self._recording = asyncio.Lock()
        """The two migration messages may be handled at once: the second waits, then finds it done."""

    async def on_migration(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """A group became a supergroup: a staff chat's move is recorded and followed now."""
        message = update.effective_message
        if message is None:
            return
        if message.migrate_to_chat_id is not None:
            old, new = message.chat.id, message.migrate_to_chat_id
        elif message.migrate_from_chat_id is not None:
            old, new = message.migrate_from_chat_id, message.chat.id
        else:
            return
        async with self._recording:
            if old not in self._chats or self._chats.current(old) == new:
                return  # not a staff chat, or followed already (the other message, or a delivery)
            first = await self._outbox.follow_chat_move(old, new)
            self._follow(old, new)
        if first:
            where = self._setting(old)
            log.warning(
                "Chat %s (%s) became supergroup %s: staff act and deliveries go there now; "
                "set %s to %s in the schools file",
                old,
                where,
                new,
                where,
                new,
            )

    async def on_staff_update(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """An update from a group this process does not know: the group may be a staff chat that moved
        while another process got its migration message. Handling goes on either way."""
        chat = update.effective_chat
        if chat is not None and chat.type in GROUPS:
            await self.learn(chat.id)

    async def learn(self, chat_id: int) -> bool:
        """Whether `chat_id` is a staff chat, after reading the stored moves again if it is not known
        and was not read for in the last `every` seconds."""
        if chat_id in self._chats:
            return True
        if not self._due(chat_id):
            return False
        try:
            moves = await self._outbox.chat_moves()
        except Exception as error:  # noqa: BLE001 - the staff handlers still answer (they refuse)
            log.warning("Could not read the stored chat moves: %s", type(error).__name__)
            return False
        for old, new in moves.items():
            if self._chats.current(old) != new:
                self._follow(old, new)
        return chat_id in self._chats

    def _due(self, chat_id: int) -> bool:
        now = self._clock()
        last = self._read_at.pop(chat_id, None)
        if last is not None and now - last < self._every:
            self._read_at[chat_id] = last
            return False
        self._read_at[chat_id] = now
        while len(self._read_at) > MAX_REMEMBERED:
            del self._read_at[next(iter(self._read_at))]
        return True

    def _setting(self, chat_id: int) -> str:
        named = self._schools.named(chat_id)
        return named.where if named is not None else "not in the schools file"
