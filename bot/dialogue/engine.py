"""The dialogue engine: (parent id, text or button payload) in, the bot's replies out.

It knows nothing of Telegram or the console: channels hand it plain text and show the replies it
returns. Each message is read once (bot.dialogue.inputs) and answered as one turn: the parent's state
loaded, the message answered, the turn kept in the flow's transcript, the state saved. Every piece of
parent text first goes through the safeguarding gate (bot.dialogue.danger), in every state; then
commands and answers (bot.dialogue.answers), the flow in progress (bot.dialogue.driving, which carries
out the decisions of the pure flows in bot.dialogue.flows), and the relay to a case's staff
(bot.dialogue.relay). Answer texts come from domain.yml through the ResponseBook, said with the turn's
school (bot.dialogue.voice).
"""

from __future__ import annotations

import contextlib
from dataclasses import replace
from datetime import timedelta

from bot import metrics
from bot.clock import Clock, utcnow
from bot.dialogue import flows
from bot.dialogue.answers import Answers
from bot.dialogue.clarifying import chosen_option
from bot.dialogue.danger import DangerHandling, check_answer
from bot.dialogue.driving import FlowDriver
from bot.dialogue.inputs import DANGER_CHECK, NO_TEXT, ParentInput, read, understand
from bot.dialogue.messages import Button, Reply, without_control_characters
from bot.dialogue.records import ParentRecords
from bot.dialogue.relay import RELAY_TIMEOUT, Relay
from bot.dialogue.responses import ResponseBook
from bot.dialogue.state import StateStore
from bot.dialogue.status import StatusReport
from bot.dialogue.titles import ButtonTitles
from bot.dialogue.turns import Turn, TurnScope, Unscoped
from bot.dialogue.uncovered import code_is_silent, not_in_code
from bot.dialogue.variables import TemplateVariables
from bot.dialogue.voice import Voice
from bot.domain import Author, DangerCheck, FlowState, ParentState, Pending, Step
from bot.nlu.client import NluClient, NluResult
from bot.safeguarding import SafeguardingGate
from bot.schools import Schools

FLOW_TIMEOUT = timedelta(minutes=120)


class DialogueEngine:
    def __init__(
        self,
        *,
        nlu: NluClient,
        responses: ResponseBook,
        schools: Schools,
        store: StateStore,
        records: ParentRecords,
        gate: SafeguardingGate,
        retention_hours: int = 24,
        flow_timeout: timedelta = FLOW_TIMEOUT,
        relay_timeout: timedelta = RELAY_TIMEOUT,
        clock: Clock = utcnow,
        turns: TurnScope | None = None,
    ) -> None:
        self._turns = turns or Unscoped()
        self._nlu = nlu
        self._store = store
        self._transcripts = records.transcripts
        self._retention = records.retention
        self._gate = gate
        self._flow_timeout = flow_timeout
        self._clock = clock
        self._voice = Voice(
            responses, schools, TemplateVariables(responses, schools, retention_hours=retention_hours)
        )
        self._titles = ButtonTitles(responses, schools)
        self._relay = Relay(records.cases, self._voice, relay_timeout)
        self._driver = FlowDriver(nlu, self._voice, self._titles, records.cases, self._relay)
        self._danger = DangerHandling(gate, nlu, self._voice, self._relay, self._driver)
        self._answers = Answers(
            self._voice, self._driver, self._relay, StatusReport(records.cases, self._voice)
        )

    # ---- the entry points channels call --------------------------------------------------------------

    async def handle(
        self, parent_id: str, text: str, reply_to_case_id: int | None = None, *, label: str | None = None
    ) -> list[Reply]:
        """Answer one message (typed text, a /command or a button's payload) from a parent, as one turn
        (bot/storage/turns.py): nothing another turn of the same parent does comes in between.

        Load the parent's state, answer, keep the turn in the flow's transcript, save the state, record
        what is not part of a flow. ``reply_to_case_id``: the channel knows the message is for this
        case's staff (the parent answered one of its messages, or chose it), so a relay goes there,
        whatever case was relayed last. ``label``: the title of the button the parent tapped, which the
        transcript shows (without it, the title that payload is shown under)."""
        message = read(without_control_characters(text))
        with metrics.turn():
            await self._wait_for_model(message)
            async with self._turns.turn(parent_id):
                return await self._handle(parent_id, message, reply_to_case_id, label)

    async def wait_for_model(self, text: str) -> None:
        """Wait for a model still loading before the turn takes the parent's row (on SQLite, the single
        writer), not inside it (a channel that opens the turn itself calls this first): typed text that
        is not danger needs the model, and holding the write lock for the ~20 s of a load would stall
        every other parent and the staff side meanwhile."""
        await self._wait_for_model(read(text))

    async def _wait_for_model(self, message: ParentInput) -> None:
        if self._nlu.is_ready() or not message.typed:
            return
        if self._gate.assess(message.text, None).urgent:
            return  # answered at once, without the model
        with contextlib.suppress(Exception):  # a failed load is raised by the parse in the turn
            await self._nlu.ready()

    async def handle_photo(self, parent_id: str, file_id: str) -> list[Reply]:
        """A photo from the parent: evidence inside a bullying report, otherwise politely declined."""
        with metrics.turn():
            async with self._turns.turn(parent_id):
                return await self._handle_photo(parent_id, file_id)

    def school_buttons(self) -> tuple[Button, ...]:
        return self._voice.school_buttons()

    def shown_as(self, text: str) -> str:
        """A button's payload as the parent saw it: the title it is shown under (a plain "Yes" or "No"
        where one payload has several titles), never the intent or value inside it; typed text as it is."""
        return self._titles.shown_as(read(text))

    # ---- one turn ----------------------------------------------------------------------------------------

    async def _handle(
        self, parent_id: str, message: ParentInput, reply_to_case_id: int | None, label: str | None
    ) -> list[Reply]:
        if message.command == "forget":
            return await self._forget(parent_id, message)
        turn = Turn(parent_id, await self._store.load(parent_id), self._clock(), message)
        tapped = label is not None and message.payload is not None
        turn.heard = without_control_characters(label) if tapped and label else self._titles.shown_as(message)
        expired = self._expire(turn)
        if reply_to_case_id is not None:
            turn.state.relay_case_id = reply_to_case_id
        replies = [*expired, *await self._respond(turn)]
        metrics.answered(turn.intent)
        loose = self._keep_in_flow(turn, turn.heard, replies)
        await self._store.save(parent_id, turn.state)
        await self._transcripts.record(parent_id, loose)
        return replies

    async def _handle_photo(self, parent_id: str, file_id: str) -> list[Reply]:
        turn = Turn(parent_id, await self._store.load(parent_id), self._clock(), NO_TEXT)
        replies = self._expire(turn)
        flow = turn.state.flow
        with_photo = flows.hear(flow, Author.PARENT, "[photo]") if flow else None
        context = self._driver.context(turn)
        outcome = flows.add_photo(context, with_photo, file_id) if with_photo else None
        if outcome is not None:
            replies += await self._driver.carry_out(turn, outcome)
        else:
            replies.append(self._voice.say(turn, "utter_photo_outside_report"))
        loose = self._keep_in_flow(turn, None if outcome else "[photo]", replies)
        await self._store.save(parent_id, turn.state)
        await self._transcripts.record(parent_id, loose)
        return replies

    async def _forget(self, parent_id: str, message: ParentInput) -> list[Reply]:
        await self._retention.forget_parent(parent_id)
        await self._store.forget(parent_id)
        return [self._voice.say(Turn(parent_id, ParentState(), self._clock(), message), "utter_forgotten")]

    # ---- deciding what to say -------------------------------------------------------------------------

    async def _respond(self, turn: Turn) -> list[Reply]:
        """The gate's question answered first, then the gate on the message, then the rest."""
        state = turn.state
        offered, state.clarify_options = state.clarify_options, ()  # a question is answered once
        check, state.danger_check = state.danger_check, None  # and so is the gate's
        if check is not None:
            urgent = check_answer(turn.message)
            if urgent is not None:
                return await self._after_check(turn, check, urgent=urgent, offered=offered)
        heard_before = state.flow
        if state.flow is not None and turn.heard is not None:
            state.flow = flows.hear(state.flow, Author.PARENT, turn.heard)
        assessment = await self._danger.assess(turn)  # the safeguarding gate, before anything else
        if assessment.urgent:
            return await self._danger.urgent(turn, turn.message, assessment)
        if assessment.needs_check and not self._typed_choice(turn, heard_before):
            state.flow = heard_before  # the message joins the flow only once the parent says "not urgent"
            return self._danger.ask(turn, assessment)
        return await self._calm(turn, offered)

    def _typed_choice(self, turn: Turn, flow: FlowState | None) -> bool:
        """The parent typed one of the question's own buttons ("Something else") or, where a Skip button
        is offered, a word for it ("skip", "no thanks"): the bot's own words, which the gate's unsure
        tier is not asked about (its model reads little into two words). Danger is still danger."""
        if turn.state.pending is Pending.NAMES and flow is None:
            return flows.is_skip(turn.message)
        return flow is not None and flows.is_typed_choice(self._driver.context(turn), flow, turn.message)

    async def _after_check(
        self, turn: Turn, check: DangerCheck, *, urgent: bool, offered: tuple[str, ...]
    ) -> list[Reply]:
        """Yes: the guidance and the urgent path for the message asked about. No: that message is
        answered as if the gate had let it through."""
        turn.message = read(check.text)  # a typed message: the gate asks about nothing else
        turn.heard = check.text  # the transcript shows the message asked about, not the button
        if urgent:
            return await self._danger.parent_said_so(turn, check.kinds)
        turn.nlu = None
        turn.not_in_danger = True
        if turn.state.flow is not None:
            turn.state.flow = flows.hear(turn.state.flow, Author.PARENT, check.text)
        return await self._calm(turn, offered)

    async def _calm(self, turn: Turn, offered: tuple[str, ...]) -> list[Reply]:
        """A message the gate let through: commands, the flow in progress, the relay, then answers."""
        state, message = turn.state, turn.message
        if message.command is not None:
            return await self._answers.command(message.command, turn)
        if state.flow is not None:
            return await self._driver.continue_flow(turn)
        if state.pending is Pending.NAMES:
            state.pending = None
            named = await self._driver.names_for_case(turn)
            if named is not None:
                return named
        if state.relay_case_id is not None and message.typed:
            relayed = await self._relay.to_staff(turn, message.text)
            if relayed:
                return relayed
        turn.nlu = turn.nlu or await understand(self._nlu, message)
        if turn.intent == DANGER_CHECK:
            return await self._danger.stale(turn)
        if message.typed:
            chosen = chosen_option(message.text, offered, self._answers.option_titles(turn, offered))
            if chosen is not None:
                turn.nlu = NluResult(chosen, 1.0)
            elif code_is_silent(turn.nlu, message.text):
                return [not_in_code(self._voice, turn)]
            else:
                question = self._answers.clarify(turn)
                if question:
                    return question
        return await self._answers.answer(turn)

    # ---- the turn's bookkeeping -----------------------------------------------------------------------

    def _expire(self, turn: Turn) -> list[Reply]:
        """A flow untouched for FLOW_TIMEOUT_MINUTES is dropped, and a relay silent for
        RELAY_TIMEOUT_HOURS ends, each with a line saying so; the message is then answered afresh."""
        state = turn.state
        replies: list[Reply] = []
        flow = state.flow
        if flow is not None and flow.expired(turn.now, self._flow_timeout.total_seconds()):
            replies += self._driver.drop_flow(turn, "utter_flow_expired")
        elif state.expired_flow is not None:  # the purge deleted it already
            kind = self._voice.say(turn, f"utter_kind_{state.expired_flow.value}").text
            replies.append(self._voice.say(turn, "utter_flow_expired", kind_label=flows.mid_sentence(kind)))
            turn.aside += replies[-1:]
            state.expired_flow = None
        return [*replies, *self._relay.expire(turn)]

    def _keep_in_flow(self, turn: Turn, heard: str | None, replies: list[Reply]) -> list[tuple[Author, str]]:
        """This turn's lines: into the flow's own transcript when the turn belongs to a flow (the consent
        question itself excepted: it is the preview), otherwise returned for the loose record."""
        said = [reply.text for reply in replies if not any(reply is aside for aside in turn.aside)]
        flow = turn.state.flow
        if flow is None:
            heard_lines = [(Author.PARENT, heard)] if heard is not None else []
            return [*heard_lines, *((Author.BOT, reply.text) for reply in replies)]
        if turn.new_flow and heard is not None:
            flow = flows.hear(flow, Author.PARENT, heard)
        if flow.step is not Step.CONSENT:
            flow = flows.hear(flow, Author.BOT, *said)
        turn.state.flow = replace(flow, updated_at=turn.now)  # the flow's lifetime counts from here
        return []
