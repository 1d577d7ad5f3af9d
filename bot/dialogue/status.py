"""/status: the parent's cases, each with its reference, kind, where it is and when it was opened."""

from __future__ import annotations

from bot.dialogue.messages import Reply
from bot.dialogue.records import ParentCases
from bot.dialogue.turns import Turn
from bot.dialogue.voice import Voice
from bot.domain import CardDelivery, CaseStatus, CaseView


class StatusReport:
    def __init__(self, cases: ParentCases, voice: Voice) -> None:
        self._cases = cases
        self._voice = voice

    async def __call__(self, turn: Turn) -> list[Reply]:
        cases = await self._cases.parent_cases(turn.parent_id)
        say = self._voice.say
        if not cases:
            return [say(turn, "utter_status_none")]
        lines = [
            say(
                turn,
                "utter_status_line",
                reference=case.reference,
                kind_label=say(turn, f"utter_kind_{case.kind.value}").text,
                status_label=self._label(turn, case),
                opened=case.created_at.strftime("%d %b %Y"),
            ).text
            for case in cases
        ]
        return [say(turn, "utter_status", cases="\n".join(lines))]

    def _label(self, turn: Turn, case: CaseView) -> str:
        """An open case's label says where its card is: being sent, with staff, or not delivered (and
        then whom to phone), so /status never says "waiting for staff" of a card staff never got."""
        label = f"utter_status_{case.status.value}"
        delivery = case.card_delivery
        if case.status is CaseStatus.OPEN and delivery is not None and delivery is not CardDelivery.DELIVERED:
            label = f"utter_status_{delivery.value}"
        return self._voice.say(turn, label, case.school_id).text
