"""The dialogue engine: (parent id, text or button payload) in, the bot's replies out.

It knows nothing of Telegram or the console: channels hand it plain text and show the replies it
returns. Answer texts come from domain.yml through the ResponseBook. Every piece of parent text first
goes through the safeguarding gate, in every state; then commands, the flow in progress (bot.dialogue.flows,
whose pure handlers return decisions the engine carries out), the relay to a case's staff, and answers.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Protocol

from bot import metrics
from bot.clock import Clock, utcnow
from bot.config import School, Schools
from bot.dialogue import flows
from bot.dialogue.clarifying import SOMETHING_ELSE, chosen_option
from bot.dialogue.flows import DiscardDraft, FlowContext, FlowInput, OpenCase, Outcome
from bot.dialogue.messages import Button, Reply, without_control_characters
from bot.dialogue.openings import names_in, when_in, who_in
from bot.dialogue.responses import ResponseBook
from bot.dialogue.state import StateStore
from bot.dialogue.turns import TurnScope, Unscoped
from bot.dialogue.uncovered import about_social_media, own_privacy, pictures_of_a_school_event
from bot.domain import (
    Author,
    CardDelivery,
    CaseDraft,
    CaseStatus,
    CaseView,
    DangerCheck,
    FlowName,
    FlowState,
    ParentState,
    Pending,
    Priority,
    Step,
    as_utc,
)
from bot.logs import pseudonym
from bot.nlu.clarify import clarification_candidates
from bot.nlu.client import Entity, NluClient, NluResult
from bot.nlu.intents import (
    ALL_INTENTS,
    CODE_QUESTIONS,
    FALLBACK_INTENT,
    HANDOFF_INTENTS,
    OUT_OF_SCOPE_INTENT,
    POSTING_QUESTIONS,
    URGENT_INTENT,
)
from bot.safeguarding import DangerAssessment, DangerKind, SafeguardingGate, Tier

log = logging.getLogger(__name__)

FALLBACKS_BEFORE_HANDOFF_OFFER = 2
DESCRIPTION_MIN_WORDS = 10
"""A typed message that starts a flow with at least this many words is taken as the parent's account."""
SIDE_QUESTION_CONFIDENCE = 0.5
"""In the middle of a flow, a message that answers no step is answered as a question above this."""
FREE_TEXT_QUESTION_CONFIDENCE = 0.8
FLOW_TIMEOUT = timedelta(minutes=120)
RELAY_TIMEOUT = timedelta(hours=72)
CHOOSE_SCHOOL = "choose_school"
CHOOSE = "choose"
DANGER_CHECK = "danger_check"
"""The payload name of the two buttons of the gate's "is a child at risk now?" question."""
PAYLOAD_NAMES = ALL_INTENTS | {CHOOSE_SCHOOL, CHOOSE, SOMETHING_ELSE, DANGER_CHECK}
CHECK_YES_WORDS = frozenset(
    {"yes", "y", "yeah", "yep", "yes please", "yes a child may be in danger", "a child may be in danger",
     "yes they are", "yes he is", "yes she is", "yes help", "help"}
)  # fmt: skip
CHECK_NO_WORDS = frozenset(
    {"no", "n", "nope", "nah", "no its not urgent", "its not urgent", "not urgent", "no thanks",
     "no not urgent", "no they are safe", "no theyre safe", "no hes safe", "no shes safe",
     "no everyone is safe"}
)  # fmt: skip
"""Typed answers to the gate's question, compared without punctuation: a parent who types the button's
words means the button."""
ANSWERABLE_IN_FLOW = CODE_QUESTIONS | {"bot_help", "privacy_info"}
NOT_NAMES = frozenset({"thank", "goodbye", "greet", "affirm", *ANSWERABLE_IN_FLOW})
"""After an urgent alert, a message the model reads as one of these ("thank you", a question about the
code) is answered as usual, not passed to staff as the names asked for."""
PLATFORM_NAMES = {
    "facebook": "Facebook",
    "whatsapp": "WhatsApp",
    "instagram": "Instagram",
    "tiktok": "TikTok",
    "snapchat": "Snapchat",
    "twitter": "X (Twitter)",
    "youtube": "YouTube",
    "messenger": "Messenger",
    "telegram": "Telegram",
    "discord": "Discord",
    "reddit": "Reddit",
    "mumsnet": "Mumsnet",
    "nextdoor": "Nextdoor",
    "google_reviews": "Google reviews",
    "linkedin": "LinkedIn",
    "threads": "Threads",
    "roblox": "Roblox",
}
_PAYLOAD = re.compile(r"^/(?P<name>[a-z_]+)(?P<entities>\{.*\})?$", re.DOTALL)


class ParentCases(Protocol):
    async def open_case(self, draft: CaseDraft) -> CaseView: ...

    async def parent_reply(self, case_id: int, text: str, *, urgent: bool = False) -> bool: ...

    async def parent_cases(self, parent_id: str) -> list[CaseView]: ...

    async def get(self, case_id: int) -> CaseView | None: ...


class Transcript(Protocol):
    async def record(self, parent_id: str, lines: list[tuple[Author, str]]) -> None: ...


class Forgetting(Protocol):
    async def forget_parent(self, parent_id: str) -> None: ...


class ParentRecords(Protocol):
    """Storage the engine needs (bot.storage.records.Records provides it)."""

    @property
    def cases(self) -> ParentCases: ...

    @property
    def transcripts(self) -> Transcript: ...

    @property
    def retention(self) -> Forgetting: ...


@dataclass
class Turn:
    """One message being answered: who sent it, their state, and what the model made of it (if asked)."""

    parent_id: str
    state: ParentState
    now: datetime
    nlu: NluResult | None = None
    aside: list[Reply] = field(default_factory=list)
    """Replies about a draft that was dropped: never part of another flow's transcript."""
    new_flow: bool = False
    """A flow started in this turn: its transcript starts with this message."""
    heard: str | None = None
    """The parent's message as a transcript shows it; after a "no, not urgent" it is the message the
    gate asked about, answered now."""
    typed: bool = False
    """The parent typed the message (not a button, not a command)."""
    not_in_danger: bool = False
    """The parent has just told the gate's check that no child is at risk now: a flow started by the
    message asked about does not ask it again."""

    @property
    def intent(self) -> str | None:
        return self.nlu.intent if self.nlu else None


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
        self._responses = responses
        self._schools = schools
        self._store = store
        self._cases = records.cases
        self._transcripts = records.transcripts
        self._retention = records.retention
        self._gate = gate
        self._retention_hours = retention_hours
        self._flow_timeout = flow_timeout
        self._relay_timeout = relay_timeout
        self._clock = clock
        self._button_titles = self._titles_by_payload()

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
        with metrics.turn():
            await self.wait_for_model(text)
            async with self._turns.turn(parent_id):
                return await self._handle(parent_id, text, reply_to_case_id, label)

    async def wait_for_model(self, text: str) -> None:
        """Wait for a model still loading before the turn takes the parent's row (on SQLite, the single
        writer), not inside it (a channel that opens the turn itself calls this first): typed text that
        is not danger needs the model, and holding the write lock for the ~20 s of a load would stall
        every other parent and the staff side meanwhile."""
        if self._nlu.is_ready() or text.strip().startswith("/"):
            return
        if self._gate.assess(text, None).urgent:
            return  # answered at once, without the model
        with contextlib.suppress(Exception):  # a failed load is raised by the parse in the turn
            await self._nlu.ready()

    async def handle_photo(self, parent_id: str, file_id: str) -> list[Reply]:
        """A photo from the parent: evidence inside a bullying report, otherwise politely declined."""
        with metrics.turn():
            async with self._turns.turn(parent_id):
                return await self._handle_photo(parent_id, file_id)

    async def _handle(
        self, parent_id: str, text: str, reply_to_case_id: int | None, label: str | None
    ) -> list[Reply]:
        text = without_control_characters(text)
        if _command_name(text) == "forget":
            return await self._forget(parent_id)
        turn = Turn(parent_id, await self._store.load(parent_id), self._clock())
        tapped = label is not None and _parse_payload(text) is not None
        turn.heard = without_control_characters(label) if tapped and label else self.shown_as(text)
        turn.typed = not text.lstrip().startswith("/")
        expired = self._expire(turn)
        if reply_to_case_id is not None:
            turn.state.relay_case_id = reply_to_case_id
        replies = [*expired, *await self._respond(turn, text)]
        metrics.answered(turn.intent)
        loose = self._keep_in_flow(turn, turn.heard, replies)
        await self._store.save(parent_id, turn.state)
        await self._transcripts.record(parent_id, loose)
        return replies

    async def _handle_photo(self, parent_id: str, file_id: str) -> list[Reply]:
        turn = Turn(parent_id, await self._store.load(parent_id), self._clock())
        replies = self._expire(turn)
        flow = turn.state.flow
        with_photo = flows.hear(flow, Author.PARENT, "[photo]") if flow else None
        outcome = flows.add_photo(self._ctx(turn), with_photo, file_id) if with_photo else None
        if outcome is not None:
            replies += await self._carry_out(turn, outcome)
        else:
            replies.append(self._say(turn, "utter_photo_outside_report"))
        loose = self._keep_in_flow(turn, None if outcome else "[photo]", replies)
        await self._store.save(parent_id, turn.state)
        await self._transcripts.record(parent_id, loose)
        return replies

    def _titles_by_payload(self) -> dict[str, str]:
        """One title per payload, for a transcript that was not told which button was tapped."""
        plain = {
            "/affirm": self._responses.render("utter_label_yes", {}).text,
            "/deny": self._responses.render("utter_label_no", {}).text,
        }
        titles = {
            f"/{intent}": self._responses.render(f"utter_clarify_option_{intent}", {}).text
            for intent in ALL_INTENTS
            if f"utter_clarify_option_{intent}" in self._responses
        }
        for payload, shown in self._responses.button_titles().items():
            titles[payload] = plain.get(payload) or min(shown) if len(shown) > 1 else shown.pop()
        titles.update({button.payload: button.title for button in self.school_buttons()})
        return titles

    def school_buttons(self) -> tuple[Button, ...]:
        return flows.school_buttons(self._schools)

    # ---- deciding what to say -------------------------------------------------------------------------

    async def _respond(self, turn: Turn, text: str) -> list[Reply]:
        state = turn.state
        offered, state.clarify_options = state.clarify_options, ()  # a question is answered once
        check, state.danger_check = state.danger_check, None  # and so is the gate's
        if check is not None:
            urgent = _check_answer(text)
            if urgent is not None:
                return await self._after_check(turn, check, urgent=urgent, offered=offered)
        heard_before = state.flow
        if state.flow is not None and turn.heard is not None:
            state.flow = flows.hear(state.flow, Author.PARENT, turn.heard)
        assessment = await self._assess(turn, text)  # the safeguarding gate, before anything else
        if assessment.urgent:
            return await self._urgent(turn, text, assessment)
        if assessment.needs_check and not self._typed_choice(turn, text, heard_before):
            state.flow = heard_before  # the message joins the flow only once the parent says "not urgent"
            return self._ask_danger_check(turn, text, assessment)
        return await self._calm(turn, text, offered)

    def _typed_choice(self, turn: Turn, text: str, flow: FlowState | None) -> bool:
        """The parent typed one of the question's own buttons ("Something else") or, where a Skip button
        is offered, a word for it ("skip", "no thanks"): the bot's own words, which the gate's unsure
        tier is not asked about (its model reads little into two words). Danger is still danger."""
        if turn.state.pending is Pending.NAMES and flow is None:
            return flows.is_skip(text)
        return flow is not None and flows.is_typed_choice(self._ctx(turn), flow, text)

    async def _calm(self, turn: Turn, text: str, offered: tuple[str, ...]) -> list[Reply]:
        """A message the gate let through: commands, the flow in progress, the relay, then answers."""
        state = turn.state
        command = _command_name(text)
        if command is not None:
            return await self._run_command(command, turn)
        if state.flow is not None:
            return await self._continue_flow(turn, text)
        if state.pending is Pending.NAMES:
            state.pending = None
            named = await self._names_for_case(turn, text)
            if named is not None:
                return named
        if state.relay_case_id is not None and not text.strip().startswith("/"):
            relayed = await self._relay_to_staff(turn, text)
            if relayed:
                return relayed
        turn.nlu = turn.nlu or await self._understand(text)
        if turn.intent == DANGER_CHECK:
            return await self._stale_check(turn)
        if not text.strip().startswith("/"):
            chosen = chosen_option(text, offered, self._option_titles(turn, offered))
            if chosen is not None:
                turn.nlu = NluResult(chosen, 1.0)
            elif self._code_is_silent(turn, text):
                return [self._not_in_code(turn)]
            else:
                question = self._clarify(turn)
                if question:
                    return question
        return await self._answer(text, turn)

    def _code_is_silent(self, turn: Turn, text: str) -> bool:
        """A social-media question the code does not answer (bot.dialogue.uncovered), read as the model
        read it (misspellings corrected)."""
        nlu = turn.nlu
        if nlu is None:
            return False
        read = nlu.respelled or text
        if nlu.intent == OUT_OF_SCOPE_INTENT and about_social_media(read, nlu.entity("platform")):
            return True
        silent_topic = pictures_of_a_school_event(read) or own_privacy(read)
        return silent_topic and nlu.intent in CODE_QUESTIONS | {OUT_OF_SCOPE_INTENT, FALLBACK_INTENT}

    def _not_in_code(self, turn: Turn) -> Reply:
        """The code is silent: say so, name the school's own rules, give its contact."""
        turn.state.fallback_streak = 0
        self._remember_school(turn)
        return self._with_school_choice(turn, "utter_not_in_code", self._say(turn, "utter_not_in_code"))

    async def _assess(self, turn: Turn, text: str) -> DangerAssessment:
        """The gate, with the danger model's reading when the model can give it now (never waiting for
        a model that is still loading: a child in danger does not wait for it)."""
        if not text.strip().startswith("/") and self._nlu.is_ready():
            try:
                turn.nlu = await self._nlu.parse(text)
            except Exception as error:  # noqa: BLE001 - the gate still answers, on the text alone
                log.warning("NLU parse failed before the safeguarding gate: %s", type(error).__name__)
        return self._gate.assess(text, turn.nlu.danger if turn.nlu else None)

    async def _understand(self, text: str) -> NluResult:
        if text.strip().startswith("/"):
            return _parse_payload(text) or NluResult(FALLBACK_INTENT, 0.0)
        return await self._nlu.parse(text)

    async def _run_command(self, command: str, turn: Turn) -> list[Reply]:
        state = turn.state
        if command in _COMMAND_INTENTS:
            turn.nlu = NluResult(_COMMAND_INTENTS[command], 1.0)
            if state.flow is not None:
                return self._with_flow_prompt(turn, self._topic_answer(_COMMAND_INTENTS[command], turn))
            return await self._answer("", turn)
        state.pending = None
        state.fallback_streak = 0
        if command == "start":
            dropped = self._drop_flow(turn)
            return [*dropped, Reply(self._say(turn, "utter_welcome").text, self.school_buttons())]
        if command == "school":
            return [Reply(self._say(turn, "utter_choose_school").text, self.school_buttons())]
        if command == "status":
            return await self._status(turn)
        if command == "done" and state.relay_case_id is not None and state.flow is None:
            return await self._stop_relay(turn)
        return await self._cancel(turn)

    async def _answer(self, text: str, turn: Turn) -> list[Reply]:
        """Replies for one understood message outside any flow; updates the parent's state in place."""
        state = turn.state
        nlu = turn.nlu or NluResult(FALLBACK_INTENT, 0.0)
        intent = nlu.intent
        if intent == CHOOSE_SCHOOL:
            return self._choose_school(turn)
        if intent == URGENT_INTENT and not text.startswith("/"):
            intent = FALLBACK_INTENT  # the gate, which has the last word on danger, saw none
        self._remember_school(turn)

        if intent in (FALLBACK_INTENT, OUT_OF_SCOPE_INTENT, CHOOSE, SOMETHING_ELSE):
            state.fallback_streak += 1
            if state.fallback_streak >= FALLBACKS_BEFORE_HANDOFF_OFFER:
                state.pending = Pending.HANDOFF_OFFER
                return [self._say(turn, "utter_fallback_offer_handoff")]
            response = "utter_out_of_scope" if intent == OUT_OF_SCOPE_INTENT else "utter_fallback"
            return [self._with_school_choice(turn, response, self._say(turn, response))]

        state.fallback_streak = 0
        pending, state.pending = state.pending, None
        if pending is Pending.HANDOFF_OFFER and intent in ("affirm", "human_handoff"):
            return await self._start_flow(turn, FlowName.GENERAL, offer_accepted=True)
        if intent == URGENT_INTENT:
            guidance = self._say(turn, "utter_urgent_safeguarding")
            return [guidance, *await self._start_flow(turn, FlowName.SAFEGUARDING)]
        if intent in HANDOFF_INTENTS:
            return await self._start_flow(turn, flows.INTENT_FLOWS[intent])
        return [self._topic_answer(intent, turn)]

    def _clarify(self, turn: Turn) -> list[Reply] | None:
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
        titles = self._option_titles(turn, candidates)
        options = tuple(Button(titles[name], f"/{name}") for name in candidates)
        question = self._say(turn, "utter_clarify")
        return [replace(question, buttons=options + question.buttons)]

    def _option_titles(self, turn: Turn, intents: tuple[str, ...]) -> dict[str, str]:
        return {name: self._say(turn, f"utter_clarify_option_{name}").text for name in intents}

    def _topic_answer(self, intent: str, turn: Turn) -> Reply:
        answer = self._say(turn, f"utter_{intent}")
        platform = turn.nlu.entity("platform") if turn.nlu else None
        if intent in POSTING_QUESTIONS and platform in PLATFORM_NAMES:
            note = self._say(turn, "utter_platform_note").text
            answer = Reply(f"{answer.text}\n\n{note}", answer.buttons)
        return self._with_school_choice(turn, f"utter_{intent}", answer)

    def _with_school_choice(self, turn: Turn, response: str, answer: Reply) -> Reply:
        """An answer giving contact details before the parent chose a school gives the trust's, says so,
        and offers the school buttons, so the parent can get their own school's instead."""
        if (
            self._school_of(turn) is not None
            or not self._responses.template_fields(response) & CONTACT_FIELDS
        ):
            return answer
        note = self._say(turn, "utter_trust_contact_note").text
        return Reply(f"{answer.text}\n\n{note}", self.school_buttons())

    # ---- danger ------------------------------------------------------------------------------------------

    async def _urgent(self, turn: Turn, text: str, assessment: DangerAssessment) -> list[Reply]:
        """Danger seen: the guidance for its kind first, then one tap towards alerting the school's
        safeguarding staff; in a relay, the message also reaches the case's staff, marked urgent."""
        state = turn.state
        if state.pending is Pending.NAMES:
            state.pending = None  # an urgent message is never taken for names
        log.info("Safeguarding gate: urgent message (%s)", assessment.because or "the parent said so")
        replies = [self._say(turn, name) for name in assessment.guidance_responses()]
        replies += self._out_of_hours(turn)
        if state.relay_case_id is not None and text.strip():
            replies += await self._relay_urgent(turn, text)
        flow = state.flow
        if flow is not None and flow.name is FlowName.SAFEGUARDING:
            ctx = self._ctx(turn)
            outcome = flows.answer(ctx, flow, FlowInput(text, turn.intent))
            return [
                *replies,
                *await self._carry_out(turn, outcome or Outcome((flows.prompt(ctx, flow),), flow)),
            ]
        dropped = self._drop_flow(turn, "utter_draft_set_aside")
        summary = text if text.strip() and not text.strip().startswith("/") else None
        return [*replies, *dropped, *await self._start_flow(turn, FlowName.SAFEGUARDING, summary=summary)]

    def _ask_danger_check(self, turn: Turn, text: str, assessment: DangerAssessment) -> list[Reply]:
        """The gate is unsure: 999 in the first line, and "is a child at risk now?" with two buttons. The
        message waits in the parent's state for the answer; the question stays out of any flow's
        transcript (it is about this message, not the flow)."""
        log.info("Safeguarding gate: asked whether a child is at risk (%s)", assessment.because)
        kinds = tuple(kind.value for kind in assessment.kinds)
        turn.state.danger_check = DangerCheck(text, kinds)
        if turn.state.pending is Pending.NAMES:
            turn.state.pending = None  # the message asked about is never taken for names
        question = self._say(turn, "utter_danger_check")
        turn.aside.append(question)
        return [question]

    async def _after_check(
        self, turn: Turn, check: DangerCheck, *, urgent: bool, offered: tuple[str, ...]
    ) -> list[Reply]:
        """Yes: the guidance and the urgent path for the message asked about. No: that message is
        answered as if the gate had let it through."""
        turn.heard = check.text  # the transcript shows the message asked about, not the button
        turn.typed = True
        if urgent:
            known = DangerKind._value2member_map_
            kinds = frozenset(DangerKind(kind) for kind in check.kinds if kind in known)
            assessment = DangerAssessment(Tier.FULL, kinds, "the parent said a child may be in danger")
            return await self._urgent(turn, check.text, assessment)
        turn.nlu = None
        turn.not_in_danger = True
        if turn.state.flow is not None:
            turn.state.flow = flows.hear(turn.state.flow, Author.PARENT, check.text)
        return await self._calm(turn, check.text, offered)

    async def _stale_check(self, turn: Turn) -> list[Reply]:
        """A button of an older "is a child at risk now?" question: a yes is never ignored."""
        if turn.nlu is not None and turn.nlu.entity("value") == "yes":
            assessment = DangerAssessment(Tier.FULL, because="the parent said a child may be in danger")
            return await self._urgent(turn, "", assessment)
        return [self._say(turn, "utter_danger_check_not_urgent")]

    def _out_of_hours(self, turn: Turn, school_id: str | None = None) -> list[Reply]:
        """Outside the school's staffed hours (by the first school's hours when none is chosen yet, named
        only as "your child's school"), the parent is told plainly that staff may not see an alert until
        the next working day, and whom to call."""
        known = self._schools.get(school_id) or self._school_of(turn)
        hours = (known or self._schools.schools[0]).staffed_hours
        if hours.staffed_at(turn.now):
            return []
        phone = (known.out_of_hours_phone if known else None) or self._schools.trust.out_of_hours_phone
        named = known.id if known else None  # unknown: "your child's school", never another school's name
        if phone:
            return [self._say(turn, "utter_out_of_hours", named, out_of_hours_phone=phone)]
        return [self._say(turn, "utter_out_of_hours_no_number", named)]

    async def _relay_urgent(self, turn: Turn, text: str) -> list[Reply]:
        case_id = turn.state.relay_case_id
        assert case_id is not None
        case = await self._cases.get(case_id)
        if case is None or not await self._cases.parent_reply(case_id, text, urgent=True):
            turn.state.relay_case_id = None
            return []
        return [self._say(turn, "utter_relayed_urgent", case.school_id, reference=case.reference)]

    # ---- inside a flow -----------------------------------------------------------------------------------

    async def _continue_flow(self, turn: Turn, text: str) -> list[Reply]:
        flow = turn.state.flow
        assert flow is not None
        if flows.is_cancel(text):
            return await self._cancel(turn)
        if flows.takes_side_questions(flow) and text.rstrip().endswith("?"):
            side = await self._side_question(turn, text, FREE_TEXT_QUESTION_CONFIDENCE)
            if side:
                return side
        payload = _parse_payload(text)
        if payload is not None and payload.intent == CHOOSE_SCHOOL and flow.step is not Step.SCHOOL:
            return await self._move_flow(turn, text)
        ctx = self._ctx(turn)
        outcome = flows.answer(ctx, flow, FlowInput(text, turn.intent))
        if outcome is None and turn.nlu is None:
            turn.nlu = await self._understand(text)
            outcome = flows.answer(ctx, flow, FlowInput(text, turn.intent))
        if outcome is not None:
            return await self._carry_out(turn, outcome)
        turn.nlu = turn.nlu or await self._understand(text)
        intent = turn.intent
        if intent == CHOOSE_SCHOOL:
            return await self._move_flow(turn, text)
        switch = flows.INTENT_FLOWS.get(intent or "")
        if switch is not None and switch is not flow.name and switch is not FlowName.SAFEGUARDING:
            dropped = self._drop_flow(turn)
            return [*dropped, *await self._start_flow(turn, switch)]
        side = await self._side_question(turn, text, SIDE_QUESTION_CONFIDENCE)
        return side or [self._say(turn, "utter_flow_choose_option"), flows.prompt(ctx, flow)]

    async def _move_flow(self, turn: Turn, text: str) -> list[Reply]:
        """A school chosen during a flow (after /school, or an older message's button): the flow moves."""
        flow = turn.state.flow
        assert flow is not None
        school = flows.school_from(self._schools, text)
        if school is None:
            return [Reply(self._say(turn, "utter_choose_school").text, self.school_buttons())]
        turn.state.school_id = school.id
        moved = self._say(turn, "utter_flow_moved", school.id)
        return [moved, *await self._carry_out(turn, flows.move_to_school(self._ctx(turn), flow, school))]

    async def _side_question(self, turn: Turn, text: str, threshold: float) -> list[Reply] | None:
        """A question asked in the middle of a flow: answer it, then ask the flow's question again."""
        turn.nlu = turn.nlu or await self._understand(text)
        nlu = turn.nlu
        if nlu.intent not in ANSWERABLE_IN_FLOW or nlu.confidence < threshold:
            return None
        return self._with_flow_prompt(turn, self._topic_answer(nlu.intent, turn))

    def _with_flow_prompt(self, turn: Turn, answer: Reply) -> list[Reply]:
        flow = turn.state.flow
        assert flow is not None
        return [answer, self._say(turn, "utter_flow_carry_on"), flows.prompt(self._ctx(turn), flow)]

    async def _start_flow(
        self, turn: Turn, name: FlowName, *, offer_accepted: bool = False, summary: str | None = None
    ) -> list[Reply]:
        turn.new_flow = True
        named = self._named_school(turn)
        outcome = flows.start(
            self._ctx(turn),
            name,
            named.id if named else turn.state.school_id,
            offer_accepted=offer_accepted,
            summary=summary,
            spoke_of_posting=_spoke_of_posting(turn),
            opening=self._opening(turn, named is not None),
        )
        return await self._carry_out(turn, outcome)

    async def _carry_out(self, turn: Turn, outcome: Outcome) -> list[Reply]:
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
            return [self._say(turn, "utter_case_failed", draft.school_id)]
        log.info("Case %s (%s) opened for school %s", case.reference, draft.kind.value, draft.school_id)
        opened = flows.case_opened(self._ctx(turn), draft, case.reference)
        urgent = draft.priority is Priority.URGENT
        if not urgent:
            return [opened]
        metrics.urgent_case()
        replies = [opened, *self._out_of_hours(turn, draft.school_id)]
        if Step.NAMES.value not in draft.details:  # asked only now: the alert never waits for it
            turn.state.pending = Pending.NAMES
            replies.append(self._say(turn, "utter_ask_names_urgent", draft.school_id))
        return replies

    async def _names_for_case(self, turn: Turn, text: str) -> list[Reply] | None:
        """The answer to the names question asked once an urgent case was filed: passed to its staff as
        the parent's message, or skipped. None when the message is not an answer (another button, a
        question), which is then answered as usual."""
        if flows.is_skip(text) or (turn.typed and turn.intent == "deny"):
            return [self._say(turn, "utter_names_skipped")]
        if not turn.typed or text.rstrip().endswith("?") or not text.strip() or turn.intent in NOT_NAMES:
            return None
        cases = await self._cases.parent_cases(turn.parent_id)
        urgent = [case for case in cases if case.priority is Priority.URGENT]
        case = max(urgent, key=lambda view: view.id, default=None)
        label = self._say(turn, "utter_label_names").text
        if case is None or not await self._cases.parent_reply(case.id, f"{label}: {text.strip()}"):
            return None
        return [self._say(turn, "utter_names_passed_on", case.school_id, reference=case.reference)]

    def _drop_flow(self, turn: Turn, response: str = "utter_draft_deleted") -> list[Reply]:
        """Drop the flow in progress (if any), its text and photos with it, saying so."""
        flow = turn.state.flow
        if flow is None:
            return []
        outcome = flows.discard(self._ctx(turn), flow, response)
        turn.state.flow = None
        turn.aside += outcome.replies
        log.info("Draft of a %s flow deleted for parent %s", flow.name.value, pseudonym(turn.parent_id))
        return list(outcome.replies)

    async def _cancel(self, turn: Turn) -> list[Reply]:
        """/cancel (or "stop"): the flow's draft is deleted and a relay to staff ends."""
        turn.state.pending = None
        replies = self._drop_flow(turn, "utter_cancelled_draft") or [self._say(turn, "utter_cancelled")]
        if turn.state.relay_case_id is not None:
            replies += await self._stop_relay(turn)
        return replies

    def _expire(self, turn: Turn) -> list[Reply]:
        """A flow untouched for FLOW_TIMEOUT_MINUTES is dropped, and a relay silent for
        RELAY_TIMEOUT_HOURS ends, each with a line saying so; the message is then answered afresh."""
        state = turn.state
        replies: list[Reply] = []
        flow = state.flow
        if flow is not None and flow.expired(turn.now, self._flow_timeout.total_seconds()):
            replies += self._drop_flow(turn, "utter_flow_expired")
        elif state.expired_flow is not None:  # the purge deleted it already
            kind_label = flows.mid_sentence(self._say(turn, f"utter_kind_{state.expired_flow.value}").text)
            replies.append(self._say(turn, "utter_flow_expired", kind_label=kind_label))
            turn.aside += replies[-1:]
            state.expired_flow = None
        seen = state.updated_at
        if state.relay_case_id is not None and seen and turn.now - as_utc(seen) > self._relay_timeout:
            state.relay_case_id = None
            replies.append(self._say(turn, "utter_relay_expired"))
            turn.aside += replies[-1:]
        return replies

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

    # ---- cases: relay, status, forget ---------------------------------------------------------------------

    async def _relay_to_staff(self, turn: Turn, text: str) -> list[Reply] | None:
        case_id = turn.state.relay_case_id
        assert case_id is not None
        case = await self._cases.get(case_id)
        if case is None or not await self._cases.parent_reply(case_id, text):
            turn.state.relay_case_id = None
            return None
        return [self._say(turn, "utter_relayed_to_staff", case.school_id, reference=case.reference)]

    async def _stop_relay(self, turn: Turn) -> list[Reply]:
        case = await self._cases.get(turn.state.relay_case_id or 0)
        turn.state.relay_case_id = None
        return [self._say(turn, "utter_relay_stopped", reference=case.reference if case else "")]

    async def _status(self, turn: Turn) -> list[Reply]:
        cases = await self._cases.parent_cases(turn.parent_id)
        if not cases:
            return [self._say(turn, "utter_status_none")]
        lines = [
            self._say(
                turn,
                "utter_status_line",
                reference=case.reference,
                kind_label=self._say(turn, f"utter_kind_{case.kind.value}").text,
                status_label=self._status_label(turn, case),
                opened=case.created_at.strftime("%d %b %Y"),
            ).text
            for case in cases
        ]
        return [self._say(turn, "utter_status", cases="\n".join(lines))]

    def _status_label(self, turn: Turn, case: CaseView) -> str:
        """An open case's label says where its card is: being sent, with staff, or not delivered (and
        then whom to phone), so /status never says "waiting for staff" of a card staff never got."""
        label = f"utter_status_{case.status.value}"
        delivery = case.card_delivery
        if case.status is CaseStatus.OPEN and delivery is not None and delivery is not CardDelivery.DELIVERED:
            label = f"utter_status_{delivery.value}"
        return self._say(turn, label, case.school_id).text

    async def _forget(self, parent_id: str) -> list[Reply]:
        await self._retention.forget_parent(parent_id)
        await self._store.forget(parent_id)
        return [self._say(Turn(parent_id, ParentState(), self._clock()), "utter_forgotten")]

    # ---- schools and template variables ---------------------------------------------------------------

    def _choose_school(self, turn: Turn) -> list[Reply]:
        school = self._schools.get(turn.nlu.entity("school") if turn.nlu else None)
        if school is None:
            return [Reply(self._say(turn, "utter_choose_school").text, self.school_buttons())]
        turn.state.school_id = school.id
        return [self._say(turn, "utter_school_set")]

    def _remember_school(self, turn: Turn) -> None:
        mentioned = turn.nlu.entity("school") if turn.nlu else None
        school = self._schools.match(mentioned) if mentioned else None
        if school is not None and turn.state.school_id is None:
            turn.state.school_id = school.id

    def _ctx(self, turn: Turn) -> FlowContext:
        def say(response: str, school_id: str | None, /, **extra: str) -> Reply:
            return self._say(turn, response, school_id, **extra)

        return FlowContext(turn.parent_id, self._schools, say, turn.now, self.shown_as)

    def shown_as(self, text: str) -> str:
        """A button's payload as the parent saw it: the title it is shown under (a plain "Yes" or "No"
        where one payload has several titles), never the intent or value inside it; typed text as it is."""
        if _parse_payload(text) is None:
            return text
        known = self._button_titles.get(text.strip())
        return known or self._responses.render("utter_label_button", {}).text

    def _say(self, turn: Turn, response: str, school_id: str | None = None, **extra: str) -> Reply:
        """A response with the variables of `school_id`, else of the school the message names, the
        flow's or the parent's."""
        school = self._schools.get(school_id) or self._school_of(turn)
        variables = self.variables(school, turn.nlu)
        if school is None and self._responses.template_fields(response) & CONTACT_FIELDS:
            variables["school_name"] = self._schools.trust.name  # the contacts given are the trust's
        return self._responses.render(response, {**variables, **extra})

    def _named_school(self, turn: Turn) -> School | None:
        """The school a typed message names, if any."""
        mentioned = turn.nlu.entity("school") if turn.nlu and turn.typed else None
        return self._schools.match(mentioned) if mentioned else None

    def _opening(self, turn: Turn, school_named: bool) -> flows.Opening:
        """What a typed message that starts a flow already tells: its text as the description when it is
        long enough to be an account, and the platform it names."""
        if not turn.typed or turn.heard is None:
            return flows.Opening()
        text = turn.heard.strip()
        platform = turn.nlu.entity("platform") if turn.nlu else None
        return flows.Opening(
            description=text if len(text.split()) >= DESCRIPTION_MIN_WORDS else None,
            where=PLATFORM_NAMES.get(platform or ""),
            school_named=school_named,
            when=when_in(text),
            who=who_in(text),
            names=names_in(text),
            not_in_danger=turn.not_in_danger,
        )

    def _school_of(self, turn: Turn) -> School | None:
        """The school the message names, else the flow's, else the parent's."""
        mentioned = turn.nlu.entity("school") if turn.nlu else None
        named = self._schools.match(mentioned) if mentioned else None
        flow_school = turn.state.flow.school_id if turn.state.flow else None
        return named or self._schools.get(flow_school or turn.state.school_id)

    def variables(self, school: School | None, nlu: NluResult | None = None) -> dict[str, str]:
        """The template variables of the answers for a parent of `school` (None: not chosen yet)."""
        trust = self._schools.trust
        platform = nlu.entity("platform") if nlu else None
        return {
            "trust_name": trust.name,
            "code_url": trust.code_of_conduct_url,
            "school_name": school.name
            if school
            else self._responses.render("utter_label_unknown_school", {}).text,
            "complaints_url": school.complaints_policy_url if school else trust.complaints_policy_url,
            "school_email": school.email if school else trust.email,
            "school_phone": school.phone if school else trust.phone,
            "retention_hours": str(self._retention_hours),
            "platform": PLATFORM_NAMES.get(platform or "", "any platform"),
            "out_of_hours_phone": (school.out_of_hours_phone if school else None)
            or trust.out_of_hours_phone
            or "",
        }


_COMMAND_INTENTS = {"help": "bot_help", "privacy": "privacy_info"}
_COMMANDS = {"start", "school", "cancel", "forget", "status", "done", *_COMMAND_INTENTS}


CONTACT_FIELDS = frozenset({"school_phone", "school_email", "complaints_url"})
"""Template variables that are the trust's when no school is chosen."""

_POSTING_WORDS = re.compile(
    r"\b(post(s|ed|ing)?|online|social media|comments?|tweet(s|ed)?|group chats?|share (it|this))\b",
    re.IGNORECASE,
)


def _spoke_of_posting(turn: Turn) -> bool:
    """The parent's message named a platform or spoke of posting or sharing online."""
    if turn.nlu is not None and turn.nlu.entity("platform"):
        return True
    return bool(turn.heard and _POSTING_WORDS.search(turn.heard))


def _command_name(text: str) -> str | None:
    """`/help`, `/help@SomeBot` or `/help junk` → "help"; None for anything that is not a command."""
    words = text.strip().split(maxsplit=1)
    if not words or not words[0].startswith("/"):
        return None
    name = words[0][1:].split("@", 1)[0].lower()
    return name if name in _COMMANDS else None


def _parse_payload(text: str) -> NluResult | None:
    """A button's payload (`/intent` or `/intent{"entity": "value"}`) as a certain NLU result."""
    match = _PAYLOAD.match(text.strip())
    if match is None or match["name"] not in PAYLOAD_NAMES:
        return None
    try:
        raw = json.loads(match["entities"] or "{}")
    except json.JSONDecodeError:
        return None
    if not isinstance(raw, dict):
        return None
    entities = tuple(Entity(str(k), str(v)) for k, v in raw.items())
    return NluResult(match["name"], 1.0, entities)


def _check_answer(text: str) -> bool | None:
    """The parent's answer to "is a child at risk now?": True (yes), False (no), None (not an answer)."""
    payload = _parse_payload(text)
    if payload is not None:
        if payload.intent != DANGER_CHECK:
            return None
        return payload.entity("value") == "yes"
    words = " ".join(re.sub(r"[^\w\s]", "", text.casefold()).split())
    if words in CHECK_YES_WORDS:
        return True
    if words in CHECK_NO_WORDS:
        return False
    return None
