"""The relay to a case's staff: once staff answer a case, what the parent writes goes to them (marked
urgent when the gate sees danger in it) until the parent says /done or /cancel, or the relay is silent
for RELAY_TIMEOUT_HOURS.
"""

from __future__ import annotations

from datetime import timedelta

from bot.dialogue.messages import Reply
from bot.dialogue.records import ParentCases
from bot.dialogue.turns import Turn
from bot.dialogue.voice import Voice
from bot.domain import as_utc

RELAY_TIMEOUT = timedelta(hours=72)


class Relay:
    def __init__(self, cases: ParentCases, voice: Voice, timeout: timedelta = RELAY_TIMEOUT) -> None:
        self._cases = cases
        self._voice = voice
        self._timeout = timeout

    async def to_staff(self, turn: Turn, text: str) -> list[Reply] | None:
        """Pass the message to the relayed case's staff; None (and the relay ends) when the case is gone
        or takes no more messages: the message is then answered as usual."""
        return await self._pass_on(turn, text, urgent=False, said="utter_relayed_to_staff")

    async def urgent(self, turn: Turn, text: str) -> list[Reply]:
        """A message the gate found danger in also reaches the relayed case's staff, marked urgent."""
        return await self._pass_on(turn, text, urgent=True, said="utter_relayed_urgent") or []

    async def stop(self, turn: Turn) -> list[Reply]:
        """/done or /cancel: the parent's messages come to the bot again."""
        case = await self._cases.get(turn.state.relay_case_id or 0)
        turn.state.relay_case_id = None
        return [self._voice.say(turn, "utter_relay_stopped", reference=case.reference if case else "")]

    def expire(self, turn: Turn) -> list[Reply]:
        """A relay silent for longer than the timeout ends, with a line saying so (kept aside from any
        flow's transcript)."""
        state, seen = turn.state, turn.state.updated_at
        if state.relay_case_id is None or not seen or turn.now - as_utc(seen) <= self._timeout:
            return []
        state.relay_case_id = None
        expired = self._voice.say(turn, "utter_relay_expired")
        turn.aside.append(expired)
        return [expired]

    async def _pass_on(self, turn: Turn, text: str, *, urgent: bool, said: str) -> list[Reply] | None:
        case_id = turn.state.relay_case_id
        assert case_id is not None
        case = await self._cases.get(case_id)
        if case is None or not await self._cases.parent_reply(case_id, text, urgent=urgent):
            turn.state.relay_case_id = None
            return None
        return [self._voice.say(turn, said, case.school_id, reference=case.reference)]
