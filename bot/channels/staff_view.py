"""The console's stand-in for the staff chats: a filed case is printed as staff would receive it."""

from __future__ import annotations

from typing import TextIO

from bot.dialogue.responses import ResponseBook
from bot.schools import Schools
from bot.staff.cards import StaffTexts
from bot.storage.models import DeliveryKind
from bot.storage.records import Records


class ConsoleStaffView:
    """Takes the outbox's pending deliveries and shows them in the terminal instead of Telegram.

    The console keeps its own database (see cli), so nothing filed here is ever sent to a real staff chat.
    """

    def __init__(self, records: Records, responses: ResponseBook, schools: Schools, out: TextIO) -> None:
        self._cases = records.cases
        self._outbox = records.outbox
        self._texts = StaffTexts(responses, schools)
        self._schools = schools
        self._out = out

    async def show_pending(self) -> None:
        for delivery in await self._outbox.claim_due(limit=50):
            if delivery.kind == DeliveryKind.CASE_CARD and delivery.case_id is not None:
                view = await self._cases.get(delivery.case_id)
                if view is not None:
                    self._show_card(view.school_id, self._texts.card(view).full_text, delivery.chat_id)
            await self._outbox.mark_sent(delivery.id, None)

    def _show_card(self, school_id: str, card: str, chat_id: int) -> None:
        school = self._schools.get(school_id)
        title = f" The staff chat of {school.name if school else school_id} would receive: "
        named = self._schools.named(chat_id)
        if named is not None and named.key == "complaints_chat_id":  # a complaint about the head
            owner = self._schools.get(named.school_id)
            title = f" The complaints chat of {owner.name if owner else 'the trust'} would receive: "
        rule = "=" * 78
        self._out.write(f"\n{title:=^78}\n{card}\n{rule}\n\n")
        self._out.flush()
