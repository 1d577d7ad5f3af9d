"""Answering a message outside any flow: the /commands, the model's intent (a question about the code,
small talk, the start of a flow), "Did you mean ...?" when the model is unsure, and the offer of a
person after repeated fallbacks.
"""

from __future__ import annotations

from dataclasses import replace

from bot.dialogue import flows
from bot.dialogue.clarifying import SOMETHING_ELSE
from bot.dialogue.driving import FlowDriver
from bot.dialogue.inputs import CHOOSE, CHOOSE_SCHOOL, COMMAND_INTENTS
from bot.dialogue.messages import Button, Reply
from bot.dialogue.relay import Relay
from bot.dialogue.status import StatusReport
from bot.dialogue.turns import Turn
from bot.dialogue.voice import Voice
from bot.domain import FlowName, Pending
from bot.nlu.clarify import clarification_candidates
from bot.nlu.client import NluResult
from bot.nlu.intents import (
    ALL_INTENTS,
    FALLBACK_INTENT,
    HANDOFF_INTENTS,
    OUT_OF_SCOPE_INTENT,
    URGENT_INTENT,
)

FALLBACKS_BEFORE_HANDOFF_OFFER = 2


class Answers:
    def __init__(self, voice: Voice, driver: FlowDriver, relay: Relay, status: StatusReport) -> None:
        self._voice = voice
        self._driver = driver
        self._relay = relay
        self._status = status

    async def command(self, command: str, turn: Turn) -> list[Reply]:
        """A /command (turn.message.command)."""
        state = turn.state
        if command in COMMAND_INTENTS:
            turn.nlu = NluResult(COMMAND_INTENTS[command], 1.0)
            if state.flow is not None:
                answer = self._voice.topic_answer(COMMAND_INTENTS[command], turn)
                return self._driver.with_flow_prompt(turn, answer)
            return await self.answer(turn)
        state.pending = None
        state.fallback_streak = 0
        if command == "start":
            dropped = self._driver.drop_flow(turn)
            welcome = self._voice.say(turn, "utter_welcome").text
            return [*dropped, Reply(welcome, self._voice.school_buttons())]
        if command == "school":
            return [self._voice.school_question(turn)]
        if command == "status":
            return await self._status(turn)
        if command == "done" and state.relay_case_id is not None and state.flow is None:
            return await self._relay.stop(turn)
        return await self._driver.cancel(turn)

    async def answer(self, turn: Turn) -> list[Reply]:
        """Replies for one understood message outside any flow; updates the parent's state in place."""
        state = turn.state
        nlu = turn.nlu or NluResult(FALLBACK_INTENT, 0.0)
        intent = nlu.intent
        if intent == CHOOSE_SCHOOL:
            return self._choose_school(turn)
        if intent == URGENT_INTENT and turn.message.typed:
            intent = FALLBACK_INTENT  # the gate, which has the last word on danger, saw none
        self._voice.remember_school(turn)

        if intent in (FALLBACK_INTENT, OUT_OF_SCOPE_INTENT, CHOOSE, SOMETHING_ELSE):
            state.fallback_streak += 1
            if state.fallback_streak >= FALLBACKS_BEFORE_HANDOFF_OFFER:
                state.pending = Pending.HANDOFF_OFFER
                return [self._voice.say(turn, "utter_fallback_offer_handoff")]
            response = "utter_out_of_scope" if intent == OUT_OF_SCOPE_INTENT else "utter_fallback"
            return [self._voice.with_school_choice(turn, response, self._voice.say(turn, response))]

        state.fallback_streak = 0
        pending, state.pending = state.pending, None
        if pending is Pending.HANDOFF_OFFER and intent in ("affirm", "human_handoff"):
            return await self._driver.start_flow(turn, FlowName.GENERAL, offer_accepted=True)
        if intent == URGENT_INTENT:
            guidance = self._voice.say(turn, "utter_urgent_safeguarding")
            return [guidance, *await self._driver.start_flow(turn, FlowName.SAFEGUARDING)]
        if intent in HANDOFF_INTENTS:
            return await self._driver.start_flow(turn, flows.INTENT_FLOWS[intent])
        return [self._voice.topic_answer(intent, turn)]

    def clarify(self, turn: Turn) -> list[Reply] | None:
        """Ask "Did you mean ...?" with the model's candidates as buttons plus "Something else" when the
        model is unsure of a typed message (bot.nlu.clarify); None when its top guess is to be answered.
        Asking is not a fallback: the fallback streak is left as it is."""
        nlu = turn.nlu
        if nlu is None:
            return None
        candidates = tuple(name for name in clarification_candidates(nlu) if name in ALL_INTENTS)
        if not candidates:
            return None
        turn.state.clarify_options = candidates
        titles = self.option_titles(turn, candidates)
        options = tuple(Button(titles[name], f"/{name}") for name in candidates)
        question = self._voice.say(turn, "utter_clarify")
        return [replace(question, buttons=options + question.buttons)]

    def option_titles(self, turn: Turn, intents: tuple[str, ...]) -> dict[str, str]:
        """The button titles of a "Did you mean ...?" question's options."""
        return {name: self._voice.say(turn, f"utter_clarify_option_{name}").text for name in intents}

    def _choose_school(self, turn: Turn) -> list[Reply]:
        school = self._voice.schools.get(turn.nlu.entity("school") if turn.nlu else None)
        if school is None:
            return [self._voice.school_question(turn)]
        turn.state.school_id = school.id
        return [self._voice.say(turn, "utter_school_set")]
