"""What the engine does with the safeguarding gate's answer: for danger, the guidance for its kind first,
then one tap towards alerting the school's safeguarding staff; when the gate is unsure, 999 and the
question "is a child at risk now?" before anything else is answered.
"""

from __future__ import annotations

import logging

from bot.dialogue import flows, vocabulary
from bot.dialogue.driving import FlowDriver
from bot.dialogue.flows import FlowInput, Outcome
from bot.dialogue.inputs import DANGER_CHECK, ParentInput, read
from bot.dialogue.messages import Reply
from bot.dialogue.out_of_hours import out_of_hours
from bot.dialogue.relay import Relay
from bot.dialogue.turns import Turn
from bot.dialogue.voice import Voice
from bot.domain import DangerCheck, FlowName, Pending
from bot.nlu.client import NluClient
from bot.safeguarding import DangerAssessment, DangerKind, SafeguardingGate, Tier

log = logging.getLogger(__name__)

PARENT_SAID_SO = "the parent said a child may be in danger"


class DangerHandling:
    def __init__(
        self, gate: SafeguardingGate, nlu: NluClient, voice: Voice, relay: Relay, driver: FlowDriver
    ) -> None:
        self._gate = gate
        self._nlu = nlu
        self._voice = voice
        self._relay = relay
        self._driver = driver

    async def assess(self, turn: Turn) -> DangerAssessment:
        """The gate, with the danger model's reading when the model can give it now (never waiting for
        a model that is still loading: a child in danger does not wait for it)."""
        message = turn.message
        if message.typed and self._nlu.is_ready():
            try:
                turn.nlu = await self._nlu.parse(message.text)
            except Exception as error:  # noqa: BLE001 - the gate still answers, on the text alone
                log.warning("NLU parse failed before the safeguarding gate: %s", type(error).__name__)
        return self._gate.assess(message.text, turn.nlu.danger if turn.nlu else None)

    async def urgent(self, turn: Turn, message: ParentInput, assessment: DangerAssessment) -> list[Reply]:
        """Danger seen in `message`: the guidance for its kind first, then one tap towards alerting the
        school's safeguarding staff; in a relay, the message also reaches the case's staff, marked
        urgent."""
        state = turn.state
        if state.pending is Pending.NAMES:
            state.pending = None  # an urgent message is never taken for names
        log.info("Safeguarding gate: urgent message (%s)", assessment.because or "the parent said so")
        replies = [self._voice.say(turn, name) for name in assessment.guidance_responses()]
        replies += out_of_hours(self._voice, turn)
        if state.relay_case_id is not None and message.stripped:
            replies += await self._relay.urgent(turn, message.text)
        flow = state.flow
        if flow is not None and flow.name is FlowName.SAFEGUARDING:
            ctx = self._driver.context(turn)
            outcome = flows.answer(ctx, flow, FlowInput(message, turn.intent))
            asked_again = Outcome((flows.prompt(ctx, flow),), flow)
            return [*replies, *await self._driver.carry_out(turn, outcome or asked_again)]
        dropped = self._driver.drop_flow(turn, "utter_draft_set_aside")
        summary = message.text if message.stripped and message.typed else None
        started = await self._driver.start_flow(turn, FlowName.SAFEGUARDING, summary=summary)
        return [*replies, *dropped, *started]

    async def parent_said_so(self, turn: Turn, kinds: tuple[str, ...]) -> list[Reply]:
        """Yes to the gate's question about the message now answered: the urgent path for it."""
        known = DangerKind._value2member_map_
        assessment = DangerAssessment(
            Tier.FULL, frozenset(DangerKind(kind) for kind in kinds if kind in known), PARENT_SAID_SO
        )
        return await self.urgent(turn, turn.message, assessment)

    def ask(self, turn: Turn, assessment: DangerAssessment) -> list[Reply]:
        """The gate is unsure: 999 in the first line, and "is a child at risk now?" with two buttons. The
        message waits in the parent's state for the answer; the question stays out of any flow's
        transcript (it is about this message, not the flow)."""
        log.info("Safeguarding gate: asked whether a child is at risk (%s)", assessment.because)
        kinds = tuple(kind.value for kind in assessment.kinds)
        turn.state.danger_check = DangerCheck(turn.message.text, kinds)
        if turn.state.pending is Pending.NAMES:
            turn.state.pending = None  # the message asked about is never taken for names
        question = self._voice.say(turn, "utter_danger_check")
        turn.aside.append(question)
        return [question]

    async def stale(self, turn: Turn) -> list[Reply]:
        """A button of an older "is a child at risk now?" question: a yes is never ignored."""
        if turn.nlu is not None and turn.nlu.entity("value") == "yes":
            assessment = DangerAssessment(Tier.FULL, because=PARENT_SAID_SO)
            return await self.urgent(turn, read(""), assessment)
        return [self._voice.say(turn, "utter_danger_check_not_urgent")]


def check_answer(message: ParentInput) -> bool | None:
    """The parent's answer to "is a child at risk now?": True (yes), False (no), None (not an answer)."""
    payload = message.payload
    if payload is not None:
        if payload.intent != DANGER_CHECK:
            return None
        return payload.entity("value") == "yes"
    words = vocabulary.bare_words(message.text)
    if words in vocabulary.DANGER_YES:
        return True
    if words in vocabulary.DANGER_NO:
        return False
    return None
