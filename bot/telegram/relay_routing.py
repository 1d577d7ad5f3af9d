"""Which case a parent's message is for, when staff of more than one case are talking with the parent.

A parent's Telegram reply to a message the bot sent about a case (a staff member's message, "claimed",
"resolved") goes to that case, reopening it if it was resolved. Without a reply, a parent with one open
conversation goes on as before; with several, the bot asks which case with one button per case, keeps the
message meanwhile (in memory: after a restart the parent is asked to send it again) and passes it on to
the case chosen. The engine only learns the case chosen (``DialogueEngine.handle(reply_to_case_id=...)``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from telegram import Message

from bot.dialogue.messages import Button, Reply
from bot.dialogue.responses import ResponseBook
from bot.domain import CaseView
from bot.schools import Schools
from bot.storage.cases import CaseStore
from bot.storage.parents import SqlStateStore

log = logging.getLogger(__name__)

CALLBACK_PREFIX = "relay:"


@dataclass(frozen=True)
class Choice:
    """The parent chose a case for the message they sent before; ``text`` None when it was forgotten."""

    case_id: int
    text: str | None


class RelayRouter:
    def __init__(
        self, cases: CaseStore, states: SqlStateStore, responses: ResponseBook, schools: Schools
    ) -> None:
        self._cases = cases
        self._states = states
        self._responses = responses
        self._schools = schools
        self._waiting: dict[str, str] = {}

    async def addressed_case(self, message: Message, bot_id: int) -> int | None:
        """The case of the bot's message this one replies to (reopened if it was resolved), if any."""
        replied = message.reply_to_message
        if replied is None or replied.from_user is None or replied.from_user.id != bot_id:
            return None
        view = await self._cases.case_of_parent_message(message.chat.id, replied.message_id)
        if view is None:
            return None
        if await self._cases.reopen_for_parent(view.id):
            log.info("Case %s reopened: the parent answered one of its messages", view.id)
        return view.id

    async def question(self, parent_id: str, text: str) -> Reply | None:
        """With several open conversations, the question "which case?" (the text is kept); else None."""
        if text.strip().startswith("/"):
            return None
        if (await self._states.load(parent_id)).relay_case_id is None:
            return None  # no conversation, or the parent said /done: nothing to ask (no query either)
        relays = await self._cases.open_relays(parent_id)
        if len(relays) < 2:
            return None  # one conversation: nothing to ask
        self._waiting[parent_id] = text
        buttons = tuple(Button(self._title(view), f"{CALLBACK_PREFIX}{view.id}") for view in relays)
        return Reply(self._responses.render("utter_relay_which_case", {}).text, buttons)

    async def choice(self, parent_id: str, data: str | None) -> Choice | None:
        """The case a "which case?" button names, if it is one of this parent's open conversations."""
        number = (data or "").removeprefix(CALLBACK_PREFIX)
        if not number.isdigit():
            return None
        relays = {view.id for view in await self._cases.open_relays(parent_id)}
        if int(number) not in relays:
            return None
        return Choice(int(number), self._waiting.pop(parent_id, None))

    def case_gone(self) -> Reply:
        return self._responses.render("utter_relay_case_gone", {})

    def _title(self, view: CaseView) -> str:
        school = self._schools.get(view.school_id)
        return f"{view.reference} · {school.name if school else view.school_id}"[:60]
