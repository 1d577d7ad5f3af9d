"""The dialogue engine: (parent id, text or button payload) in, the bot's replies out.

It knows nothing of Telegram or the console: channels hand it plain text and show the replies it
returns. Answer texts come from domain.yml through the ResponseBook; handoffs go through the flows.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from bot.config import School, Schools
from bot.dialogue.flows import INTENT_FLOWS, YES_NO_STEPS, CaseRecords, Flow, HandoffFlows, is_cancel
from bot.dialogue.intents import (
    ALL_INTENTS,
    CODE_QUESTIONS,
    HANDOFF_INTENTS,
    OUT_OF_SCOPE,
    POSTING_QUESTIONS,
    URGENT,
)
from bot.dialogue.messages import Button, Reply, without_control_characters
from bot.dialogue.responses import ResponseBook
from bot.dialogue.safety import mentions_danger, needs_emergency_line
from bot.dialogue.state import ParentState, Pending, StateStore
from bot.nlu.client import FALLBACK_INTENT, Entity, NluClient, NluResult
from bot.storage.models import Author

if TYPE_CHECKING:
    from bot.storage.cases import CaseView

FALLBACKS_BEFORE_HANDOFF_OFFER = 2
SIDE_QUESTION_CONFIDENCE = 0.5
"""In the middle of a flow, a message that answers no step is answered as a question above this."""
FREE_TEXT_QUESTION_CONFIDENCE = 0.8
CHOOSE_SCHOOL = "choose_school"
CHOOSE = "choose"
PAYLOAD_NAMES = ALL_INTENTS | {CHOOSE_SCHOOL, CHOOSE}
SMALL_TALK = frozenset({"greet", "goodbye", "thank", "affirm", "deny", "bot_help", OUT_OF_SCOPE})
ANSWERABLE_IN_FLOW = CODE_QUESTIONS | {"bot_help", "privacy_info"}
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


@dataclass
class Turn:
    """One message being answered: who sent it, what it meant, and how to say things to them."""

    parent_id: str
    state: ParentState
    nlu: NluResult
    variables: Mapping[str, str]
    responses: ResponseBook
    variables_for: Callable[[School | None, NluResult], dict[str, str]]

    def say(self, response: str) -> Reply:
        return self.responses.render(response, self.variables)

    def use_school(self, school: School) -> None:
        self.variables = self.variables_for(school, self.nlu)


class ParentRecords(CaseRecords, Protocol):
    """Storage the engine needs beyond the flows: transcripts, relays, /status and /forget."""

    async def parent_reply(self, case_id: int, text: str) -> bool: ...

    async def parent_cases(self, parent_id: str) -> list[CaseView]: ...

    async def get(self, case_id: int) -> CaseView | None: ...

    async def forget_parent(self, parent_id: str) -> None: ...

    async def discard_pending_evidence(self, parent_id: str) -> None: ...


class DialogueEngine:
    def __init__(
        self,
        *,
        nlu: NluClient,
        responses: ResponseBook,
        schools: Schools,
        store: StateStore,
        cases: ParentRecords,
        retention_hours: int = 24,
    ) -> None:
        self._nlu = nlu
        self._responses = responses
        self._schools = schools
        self._store = store
        self._cases = cases
        self._flows = HandoffFlows(schools, cases)
        self._retention_hours = retention_hours

    # ---- the entry points channels call --------------------------------------------------------------

    async def handle(self, parent_id: str, text: str) -> list[Reply]:
        """Answer one message (typed text, a /command or a button's payload) from a parent."""
        text = without_control_characters(text)
        if _command_name(text) == "forget":
            return await self._forget(parent_id)
        state = await self._store.load(parent_id)
        turn = self._turn(parent_id, state, NluResult(FALLBACK_INTENT, 0.0))
        replies = await self._respond(turn, text)
        await self._store.save(parent_id, state)
        await self._record(parent_id, _as_heard(text), replies)
        return replies

    async def handle_photo(self, parent_id: str, file_id: str) -> list[Reply]:
        """A photo from the parent: evidence inside a bullying report, otherwise politely declined."""
        state = await self._store.load(parent_id)
        turn = self._turn(parent_id, state, NluResult(FALLBACK_INTENT, 0.0))
        replies = await self._flows.add_evidence(turn, file_id) or [turn.say("utter_photo_outside_report")]
        await self._store.save(parent_id, state)
        await self._record(parent_id, "[photo]", replies)
        return replies

    def school_buttons(self) -> tuple[Button, ...]:
        return self._flows.school_buttons()

    # ---- deciding what to say -------------------------------------------------------------------------

    async def _respond(self, turn: Turn, text: str) -> list[Reply]:
        command = _command_name(text)
        if command is not None:
            return await self._run_command(command, turn)
        if turn.state.relay_case_id is not None and not text.strip().startswith("/"):
            relayed = await self._relay_to_staff(turn, text)
            if relayed:
                return relayed
        if turn.state.flow is not None:
            return await self._continue_flow(turn, text)
        if mentions_danger(text) and not self._nlu.is_ready():
            # The model is still loading after a restart: a child in danger does not wait for it.
            turn.nlu = NluResult(URGENT, 1.0)
        else:
            turn.nlu = await self._understand(text)
        return await self._answer(text, turn)

    async def _understand(self, text: str) -> NluResult:
        if text.strip().startswith("/"):
            return _parse_payload(text) or NluResult(FALLBACK_INTENT, 0.0)
        return await self._nlu.parse(text)

    async def _run_command(self, command: str, turn: Turn) -> list[Reply]:
        state = turn.state
        if command in _COMMAND_INTENTS:
            turn.nlu = NluResult(_COMMAND_INTENTS[command], 1.0)
            return await self._answer("", turn)
        state.pending = None
        state.fallback_streak = 0
        if command == "start":
            state.flow = None
            return [Reply(turn.say("utter_welcome").text, self.school_buttons())]
        if command == "school":
            return [Reply(turn.say("utter_choose_school").text, self.school_buttons())]
        if command == "status":
            return await self._status(turn)
        if command == "done" and state.relay_case_id is not None:
            return await self._stop_relay(turn)
        return await self._cancel(turn)

    async def _answer(self, text: str, turn: Turn) -> list[Reply]:
        """Replies for one understood message outside any flow; updates the parent's state in place."""
        state, nlu = turn.state, turn.nlu
        intent = nlu.intent
        if intent == CHOOSE_SCHOOL:
            return self._choose_school(turn)
        if intent in SMALL_TALK and mentions_danger(text):
            intent = URGENT
        self._remember_school(turn)
        prefix = [turn.say("utter_emergency_reminder")] if self._warn(text, intent, nlu) else []

        if intent in (FALLBACK_INTENT, OUT_OF_SCOPE, CHOOSE):
            state.fallback_streak += 1
            if state.fallback_streak >= FALLBACKS_BEFORE_HANDOFF_OFFER:
                state.pending = Pending.HANDOFF_OFFER
                return [*prefix, turn.say("utter_fallback_offer_handoff")]
            response = "utter_out_of_scope" if intent == OUT_OF_SCOPE else "utter_fallback"
            return [*prefix, turn.say(response)]

        state.fallback_streak = 0
        pending, state.pending = state.pending, None
        offer_accepted = pending is Pending.HANDOFF_OFFER and intent in ("affirm", "human_handoff")
        if offer_accepted:
            return [*prefix, *await self._flows.start("human_handoff", turn, offer_accepted=True)]
        if intent == URGENT:
            return [turn.say("utter_urgent_safeguarding"), *await self._flows.start(URGENT, turn)]
        if intent in HANDOFF_INTENTS:
            return [*prefix, *await self._flows.start(intent, turn)]
        return [*prefix, self._topic_answer(intent, turn)]

    def _topic_answer(self, intent: str, turn: Turn) -> Reply:
        answer = turn.say(f"utter_{intent}")
        platform = turn.nlu.entity("platform")
        if intent in POSTING_QUESTIONS and platform in PLATFORM_NAMES:
            note = turn.say("utter_platform_note").text
            answer = Reply(f"{answer.text}\n\n{note}", answer.buttons)
        return answer

    # ---- inside a flow -----------------------------------------------------------------------------------

    async def _continue_flow(self, turn: Turn, text: str) -> list[Reply]:
        flow = turn.state.flow or {}
        if is_cancel(text):
            return await self._cancel(turn)
        if mentions_danger(text) and flow.get("name") != Flow.SAFEGUARDING.value:
            return await self._escalate(turn)
        if self._flows.may_hold_a_side_question(turn) and text.rstrip().endswith("?"):
            side = await self._side_question(turn, text, FREE_TEXT_QUESTION_CONFIDENCE)
            if side:
                return side
        answered = await self._flows.resume(turn, text)
        if answered is not None:
            return answered
        turn.nlu = await self._understand(text)
        intent = turn.nlu.intent
        if intent in ("affirm", "deny") and flow.get("step") in YES_NO_STEPS:
            return await self._flows.resume(turn, f"/{intent}") or []
        if intent == URGENT and flow.get("name") != Flow.SAFEGUARDING.value:
            return await self._escalate(turn)
        if intent in INTENT_FLOWS and INTENT_FLOWS[intent].value != flow.get("name"):
            return await self._flows.start(intent, turn)
        side = await self._side_question(turn, text, SIDE_QUESTION_CONFIDENCE)
        return side or [turn.say("utter_flow_choose_option"), self._flows.prompt(turn)]

    async def _side_question(self, turn: Turn, text: str, threshold: float) -> list[Reply] | None:
        """A question asked in the middle of a flow: answer it, then ask the flow's question again."""
        if turn.nlu.intent == FALLBACK_INTENT:
            turn.nlu = await self._understand(text)
        nlu = turn.nlu
        if nlu.intent not in ANSWERABLE_IN_FLOW or nlu.confidence < threshold:
            return None
        return [
            self._topic_answer(nlu.intent, turn),
            turn.say("utter_flow_carry_on"),
            self._flows.prompt(turn),
        ]

    async def _escalate(self, turn: Turn) -> list[Reply]:
        """Danger mentioned mid-flow: emergency guidance first, then the offer to alert staff now."""
        turn.state.flow = None
        return [turn.say("utter_urgent_safeguarding"), *await self._flows.start(URGENT, turn)]

    async def _cancel(self, turn: Turn) -> list[Reply]:
        turn.state.flow = None
        turn.state.pending = None
        await self._cases.discard_pending_evidence(turn.parent_id)
        return [turn.say("utter_cancelled")]

    # ---- cases: relay, status, forget ---------------------------------------------------------------------

    async def _relay_to_staff(self, turn: Turn, text: str) -> list[Reply] | None:
        case_id = turn.state.relay_case_id
        assert case_id is not None
        case = await self._cases.get(case_id)
        if case is None or not await self._cases.parent_reply(case_id, text):
            turn.state.relay_case_id = None
            return None
        self._use_case_school(turn, case)
        return [
            turn.responses.render("utter_relayed_to_staff", {**turn.variables, "reference": case.reference})
        ]

    async def _stop_relay(self, turn: Turn) -> list[Reply]:
        case = await self._cases.get(turn.state.relay_case_id or 0)
        turn.state.relay_case_id = None
        reference = case.reference if case else ""
        return [turn.responses.render("utter_relay_stopped", {**turn.variables, "reference": reference})]

    async def _status(self, turn: Turn) -> list[Reply]:
        cases = await self._cases.parent_cases(turn.parent_id)
        if not cases:
            return [turn.say("utter_status_none")]
        lines = [
            turn.responses.render(
                "utter_status_line",
                {
                    "reference": case.reference,
                    "kind_label": turn.say(f"utter_kind_{case.kind.value}").text,
                    "status_label": turn.say(f"utter_status_{case.status.value}").text,
                    "opened": case.created_at.strftime("%d %b %Y"),
                },
            ).text
            for case in cases
        ]
        return [turn.responses.render("utter_status", {**turn.variables, "cases": "\n".join(lines)})]

    async def _forget(self, parent_id: str) -> list[Reply]:
        await self._cases.forget_parent(parent_id)
        await self._store.forget(parent_id)
        return [self._turn(parent_id, ParentState(), NluResult("forget_me", 1.0)).say("utter_forgotten")]

    async def _record(self, parent_id: str, heard: str, replies: list[Reply]) -> None:
        """Keep the turn for the transcript staff would see, if the parent later consents to share it."""
        lines = [(Author.PARENT, heard), *((Author.BOT, reply.text) for reply in replies)]
        await self._cases.record(parent_id, lines)

    # ---- schools and template variables ---------------------------------------------------------------

    def _warn(self, text: str, intent: str, nlu: NluResult) -> bool:
        return intent != URGENT and needs_emergency_line(text, nlu)

    def _choose_school(self, turn: Turn) -> list[Reply]:
        school = self._schools.get(turn.nlu.entity("school"))
        if school is None:
            return [Reply(turn.say("utter_choose_school").text, self.school_buttons())]
        turn.state.school_id = school.id
        turn.use_school(school)
        return [turn.say("utter_school_set")]

    def _remember_school(self, turn: Turn) -> None:
        mentioned = turn.nlu.entity("school")
        school = self._schools.match(mentioned) if mentioned else None
        if school is not None and turn.state.school_id is None:
            turn.state.school_id = school.id
        if school is not None:
            turn.use_school(school)
        else:
            turn.variables = self._variables(self._schools.get(turn.state.school_id), turn.nlu)

    def _use_case_school(self, turn: Turn, case: CaseView) -> None:
        school = self._schools.get(case.school_id)
        if school is not None:
            turn.use_school(school)

    def _turn(self, parent_id: str, state: ParentState, nlu: NluResult) -> Turn:
        school = self._schools.get(state.school_id)
        return Turn(parent_id, state, nlu, self._variables(school, nlu), self._responses, self._variables)

    def _variables(self, school: School | None, nlu: NluResult) -> dict[str, str]:
        trust = self._schools.trust
        platform = nlu.entity("platform")
        return {
            "trust_name": trust.name,
            "code_url": trust.code_of_conduct_url,
            "school_name": school.name if school else "your child's school",
            "complaints_url": school.complaints_policy_url if school else trust.complaints_policy_url,
            "school_email": school.email if school else trust.email,
            "school_phone": school.phone if school else trust.phone,
            "retention_hours": str(self._retention_hours),
            "platform": PLATFORM_NAMES.get(platform or "", "any platform"),
        }


_COMMAND_INTENTS = {"help": "bot_help", "privacy": "privacy_info"}
_COMMANDS = {"start", "school", "cancel", "forget", "status", "done", *_COMMAND_INTENTS}


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


def _as_heard(text: str) -> str:
    """How a message reads in a transcript: a button's payload becomes "[button: name]"."""
    payload = _parse_payload(text)
    if payload is None:
        return text
    shown = payload.entities[0].value if payload.entities else payload.intent
    return f"[button: {shown}]"
