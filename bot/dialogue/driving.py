"""Driving a flow: the parent's message given to the step in progress, a question answered on the way,
a change of school or of subject, and the flows' decisions carried out (a case opened, a draft
dropped). The flows themselves (bot.dialogue.flows) are pure; this is where their outcomes meet storage.
"""

from __future__ import annotations

import logging

from bot import metrics
from bot.dialogue import flows
from bot.dialogue.flows import DiscardDraft, FlowContext, FlowInput, OpenCase, Outcome
from bot.dialogue.inputs import CHOOSE_SCHOOL, understand
from bot.dialogue.messages import Reply
from bot.dialogue.openings import Opening, opening_of, spoke_of_posting
from bot.dialogue.out_of_hours import out_of_hours
from bot.dialogue.records import ParentCases
from bot.dialogue.relay import Relay
from bot.dialogue.titles import ButtonTitles
from bot.dialogue.turns import Turn
from bot.dialogue.voice import Voice
from bot.domain import CaseDraft, FlowName, FlowState, Pending, Priority, Step
from bot.logs import pseudonym
from bot.nlu.client import NluClient
from bot.nlu.intents import CODE_QUESTIONS

log = logging.getLogger(__name__)

SIDE_QUESTION_CONFIDENCE = 0.5
"""In the middle of a flow, a message that answers no step is answered as a question above this."""
FREE_TEXT_QUESTION_CONFIDENCE = 0.8
"""At a free-text step, a message ending in "?" is answered as a question above this (below, it is the
step's answer)."""
ANSWERABLE_IN_FLOW = CODE_QUESTIONS | {"bot_help", "privacy_info"}
NOT_NAMES = frozenset({"thank", "goodbye", "greet", "affirm", *ANSWERABLE_IN_FLOW})
"""After an urgent alert, a message the model reads as one of these ("thank you", a question about the
code) is answered as usual, not passed to staff as the names asked for."""


class FlowDriver:
    def __init__(
        self, nlu: NluClient, voice: Voice, titles: ButtonTitles, cases: ParentCases, relay: Relay
    ) -> None:
        self._nlu = nlu
        self._voice = voice
        self._titles = titles
        self._cases = cases
        self._relay = relay

    def context(self, turn: Turn) -> FlowContext:
        """What the flows may read in this turn, and how they say things in it."""

        def say(response: str, school_id: str | None, /, **extra: str) -> Reply:
            return self._voice.say(turn, response, school_id, **extra)

        return FlowContext(turn.parent_id, self._voice.schools, say, turn.now, self._titles.shown_as)

    async def continue_flow(self, turn: Turn) -> list[Reply]:
        """The parent's message in a flow: its step's answer, else a question, a school or a new
        subject, else the step's question again."""
        flow, message = turn.state.flow, turn.message
        assert flow is not None
        if flows.is_cancel(message):
            return await self.cancel(turn)
        if flows.takes_side_questions(flow) and message.text.rstrip().endswith("?"):
            side = await self._side_question(turn, FREE_TEXT_QUESTION_CONFIDENCE)
            if side:
                return side
        payload = message.payload
        if payload is not None and payload.intent == CHOOSE_SCHOOL and flow.step is not Step.SCHOOL:
            return await self._move_flow(turn)
        ctx = self.context(turn)
        outcome = flows.answer(ctx, flow, FlowInput(message, turn.intent))
        if outcome is None and turn.nlu is None:
            turn.nlu = await understand(self._nlu, message)
            outcome = flows.answer(ctx, flow, FlowInput(message, turn.intent))
        if outcome is not None:
            return await self.carry_out(turn, outcome)
        turn.nlu = turn.nlu or await understand(self._nlu, message)
        intent = turn.intent
        if intent == CHOOSE_SCHOOL:
            return await self._move_flow(turn)
        switch = flows.INTENT_FLOWS.get(intent or "")
        if switch is not None and switch is not flow.name and switch is not FlowName.SAFEGUARDING:
            dropped = self.drop_flow(turn)
            return [*dropped, *await self.start_flow(turn, switch)]
        side = await self._side_question(turn, SIDE_QUESTION_CONFIDENCE)
        return side or [self._voice.say(turn, "utter_flow_choose_option"), flows.prompt(ctx, flow)]

    async def _move_flow(self, turn: Turn) -> list[Reply]:
        """A school chosen during a flow (after /school, or an older message's button): the flow moves."""
        flow = turn.state.flow
        assert flow is not None
        school = flows.school_from(self._voice.schools, turn.message)
        if school is None:
            return [self._voice.school_question(turn)]
        turn.state.school_id = school.id
        moved = self._voice.say(turn, "utter_flow_moved", school.id)
        return [moved, *await self.carry_out(turn, flows.move_to_school(self.context(turn), flow, school))]

    async def _side_question(self, turn: Turn, threshold: float) -> list[Reply] | None:
        """A question asked in the middle of a flow: answer it, then ask the flow's question again."""
        turn.nlu = turn.nlu or await understand(self._nlu, turn.message)
        nlu = turn.nlu
        if nlu.intent not in ANSWERABLE_IN_FLOW or nlu.confidence < threshold:
            return None
        return self.with_flow_prompt(turn, self._voice.topic_answer(nlu.intent, turn))

    def with_flow_prompt(self, turn: Turn, answer: Reply) -> list[Reply]:
        """An answer given during a flow, then the flow's question again."""
        flow = turn.state.flow
        assert flow is not None
        carry_on = self._voice.say(turn, "utter_flow_carry_on")
        return [answer, carry_on, flows.prompt(self.context(turn), flow)]

    async def start_flow(
        self, turn: Turn, name: FlowName, *, offer_accepted: bool = False, summary: str | None = None
    ) -> list[Reply]:
        """Begin a flow with what the message that starts it already says."""
        turn.new_flow = True
        named = self._voice.named_school(turn)
        platform = turn.nlu.entity("platform") if turn.nlu else None
        opening = Opening()
        if turn.typed and turn.heard is not None:
            opening = opening_of(
                turn.heard, platform, school_named=named is not None, not_in_danger=turn.not_in_danger
            )
        outcome = flows.start(
            self.context(turn),
            name,
            named.id if named else turn.state.school_id,
            offer_accepted=offer_accepted,
            summary=summary,
            spoke_of_posting=spoke_of_posting(turn.heard, platform),
            opening=opening,
        )
        return await self.carry_out(turn, outcome)

    async def carry_out(self, turn: Turn, outcome: Outcome) -> list[Reply]:
        """Take the flow's next state and carry out its decisions (open the case, drop the draft)."""
        state = turn.state
        before, state.flow = state.flow, outcome.flow
        if outcome.flow is not None and state.school_id is None:
            state.school_id = outcome.flow.school_id
        replies = list(outcome.replies)
        for decision in outcome.decisions:
            if isinstance(decision, OpenCase):
                replies += await self._open_case(turn, decision.draft, before)
            elif isinstance(decision, DiscardDraft):
                log.info(
                    "Draft of a %s flow deleted for parent %s (%d lines, %d photos)",
                    decision.flow.value,
                    pseudonym(turn.parent_id),
                    decision.lines,
                    decision.photos,
                )
        return replies

    async def _open_case(self, turn: Turn, draft: CaseDraft, flow: FlowState | None) -> list[Reply]:
        try:
            case = await self._cases.open_case(draft)
        except Exception:
            log.exception(
                "Could not open a %s case for parent %s", draft.kind.value, pseudonym(turn.parent_id)
            )
            turn.state.flow = flow  # kept at the consent step: a "yes" later tries again
            return [self._voice.say(turn, "utter_case_failed", draft.school_id)]
        log.info("Case %s (%s) opened for school %s", case.reference, draft.kind.value, draft.school_id)
        opened = flows.case_opened(self.context(turn), draft, case.reference)
        urgent = draft.priority is Priority.URGENT
        if not urgent:
            return [opened]
        metrics.urgent_case()
        replies = [opened, *out_of_hours(self._voice, turn, draft.school_id)]
        if Step.NAMES.value not in draft.details:  # asked only now: the alert never waits for it
            turn.state.pending = Pending.NAMES
            replies.append(self._voice.say(turn, "utter_ask_names_urgent", draft.school_id))
        return replies

    async def names_for_case(self, turn: Turn) -> list[Reply] | None:
        """The answer to the names question asked once an urgent case was filed: passed to its staff as
        the parent's message, or skipped. None when the message is not an answer (another button, a
        question), which is then answered as usual."""
        message = turn.message
        if flows.is_skip(message) or (turn.typed and turn.intent == "deny"):
            return [self._voice.say(turn, "utter_names_skipped")]
        text = message.text
        if not turn.typed or text.rstrip().endswith("?") or not text.strip() or turn.intent in NOT_NAMES:
            return None
        cases = await self._cases.parent_cases(turn.parent_id)
        urgent = [case for case in cases if case.priority is Priority.URGENT]
        case = max(urgent, key=lambda view: view.id, default=None)
        label = self._voice.say(turn, "utter_label_names").text
        if case is None or not await self._cases.parent_reply(case.id, f"{label}: {text.strip()}"):
            return None
        said = self._voice.say(turn, "utter_names_passed_on", case.school_id, reference=case.reference)
        return [said]

    def drop_flow(self, turn: Turn, response: str = "utter_draft_deleted") -> list[Reply]:
        """Drop the flow in progress (if any), its text and photos with it, saying so."""
        flow = turn.state.flow
        if flow is None:
            return []
        outcome = flows.discard(self.context(turn), flow, response)
        turn.state.flow = None
        turn.aside += outcome.replies
        log.info("Draft of a %s flow deleted for parent %s", flow.name.value, pseudonym(turn.parent_id))
        return list(outcome.replies)

    async def cancel(self, turn: Turn) -> list[Reply]:
        """/cancel (or "stop"): the flow's draft is deleted and a relay to staff ends."""
        turn.state.pending = None
        cancelled = self.drop_flow(turn, "utter_cancelled_draft")
        replies = cancelled or [self._voice.say(turn, "utter_cancelled")]
        if turn.state.relay_case_id is not None:
            replies += await self._relay.stop(turn)
        return replies
