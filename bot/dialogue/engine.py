"""The dialogue engine: (parent id, text or button payload) in, the bot's replies out.

It knows nothing of Telegram or the console: channels hand it plain text and show the replies it
returns. Answer texts come from domain.yml through the ResponseBook.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from bot.config import School, Schools
from bot.dialogue.intents import ALL_INTENTS, CODE_QUESTIONS, HANDOFF_INTENTS, OUT_OF_SCOPE, URGENT
from bot.dialogue.messages import Button, Reply
from bot.dialogue.responses import ResponseBook
from bot.dialogue.safety import mentions_danger, needs_emergency_line
from bot.dialogue.state import ParentState, Pending, StateStore
from bot.nlu.client import FALLBACK_INTENT, Entity, NluClient, NluResult

FALLBACKS_BEFORE_HANDOFF_OFFER = 2
CHOOSE_SCHOOL = "choose_school"
SMALL_TALK = frozenset({"greet", "goodbye", "thank", "affirm", "deny", "bot_help", OUT_OF_SCOPE})
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

    def say(self, response: str) -> Reply:
        return self.responses.render(response, self.variables)


class HandoffHooks(Protocol):
    """Where the handoff intents go: the staff-handoff flows plug in here."""

    async def start(self, intent: str, turn: Turn) -> list[Reply]: ...


class GuidanceOnlyHandoffs:
    """Until concerns can be passed to staff: the guidance, then plainly that nothing was sent."""

    async def start(self, intent: str, turn: Turn) -> list[Reply]:
        guidance = [] if intent == URGENT else [turn.say(f"utter_{intent}")]
        return [*guidance, turn.say("utter_handoff_unavailable")]


class DialogueEngine:
    def __init__(
        self,
        *,
        nlu: NluClient,
        responses: ResponseBook,
        schools: Schools,
        store: StateStore,
        handoffs: HandoffHooks | None = None,
        retention_hours: int = 24,
    ) -> None:
        self._nlu = nlu
        self._responses = responses
        self._schools = schools
        self._store = store
        self._handoffs = handoffs or GuidanceOnlyHandoffs()
        self._retention_hours = retention_hours

    async def handle(self, parent_id: str, text: str) -> list[Reply]:
        """Answer one message (typed text, a /command or a button's payload) from a parent."""
        state = await self._store.load(parent_id)
        command = _command_name(text)
        if command == "forget":
            await self._store.forget(parent_id)
            return [self._turn(parent_id, ParentState(), NluResult("forget_me", 1.0)).say("utter_forgotten")]
        if command is not None and command in _COMMAND_INTENTS:
            nlu = NluResult(_COMMAND_INTENTS[command], 1.0)
        elif command is not None:
            replies = self._run_command(command, parent_id, state)
            await self._store.save(parent_id, state)
            return replies
        elif text.strip().startswith("/"):
            nlu = _parse_payload(text) or NluResult(FALLBACK_INTENT, 0.0)
        else:
            nlu = await self._nlu.parse(text)
        turn = self._turn(parent_id, state, nlu)
        replies = self._answer(text, turn)
        if turn.nlu.intent in HANDOFF_INTENTS:
            replies += await self._handoffs.start(turn.nlu.intent, turn)
        await self._store.save(parent_id, state)
        return replies

    def school_buttons(self) -> tuple[Button, ...]:
        return tuple(
            Button(school.name, f'/{CHOOSE_SCHOOL}{{"school":"{school.id}"}}')
            for school in self._schools.schools
        )

    def _run_command(self, command: str, parent_id: str, state: ParentState) -> list[Reply]:
        turn = self._turn(parent_id, state, NluResult(command, 1.0))
        state.pending = None
        state.fallback_streak = 0
        if command == "start":
            welcome = turn.say("utter_welcome")
            return [Reply(welcome.text, self.school_buttons())]
        if command == "school":
            return [Reply(turn.say("utter_choose_school").text, self.school_buttons())]
        if command == "cancel":
            return [turn.say("utter_cancelled")]
        return [turn.say("utter_fallback")]

    def _answer(self, text: str, turn: Turn) -> list[Reply]:
        """Replies for one understood message; updates the parent's state in place."""
        state, nlu = turn.state, turn.nlu
        intent = nlu.intent
        if intent == CHOOSE_SCHOOL:
            return self._choose_school(turn)
        if intent in SMALL_TALK and mentions_danger(text):
            intent = URGENT
        self._remember_school(turn)
        prefix = [turn.say("utter_emergency_reminder")] if self._warn(text, intent, nlu) else []

        if intent in (FALLBACK_INTENT, OUT_OF_SCOPE):
            state.fallback_streak += 1
            if state.fallback_streak >= FALLBACKS_BEFORE_HANDOFF_OFFER:
                state.pending = Pending.HANDOFF_OFFER
                return [*prefix, turn.say("utter_fallback_offer_handoff")]
            response = "utter_fallback" if intent == FALLBACK_INTENT else "utter_out_of_scope"
            return [*prefix, turn.say(response)]

        state.fallback_streak = 0
        pending, state.pending = state.pending, None
        if intent == "affirm" and pending is Pending.HANDOFF_OFFER:
            turn.nlu = NluResult("human_handoff", 1.0)
            return prefix
        if intent == URGENT:
            turn.nlu = NluResult(URGENT, nlu.confidence, nlu.entities, nlu.ranking)
            return [turn.say("utter_urgent_safeguarding")]
        if intent in HANDOFF_INTENTS:
            return prefix
        answer = turn.say(f"utter_{intent}")
        platform = nlu.entity("platform")
        if intent in CODE_QUESTIONS and platform in PLATFORM_NAMES:
            note = turn.say("utter_platform_note").text
            answer = Reply(f"{answer.text}\n\n{note}", answer.buttons)
        return [*prefix, answer]

    def _warn(self, text: str, intent: str, nlu: NluResult) -> bool:
        return intent != URGENT and needs_emergency_line(text, nlu)

    def _choose_school(self, turn: Turn) -> list[Reply]:
        school = self._schools.get(turn.nlu.entity("school"))
        if school is None:
            return [Reply(turn.say("utter_choose_school").text, self.school_buttons())]
        turn.state.school_id = school.id
        turn.variables = self._variables(school, turn.nlu)
        return [turn.say("utter_school_set")]

    def _remember_school(self, turn: Turn) -> None:
        mentioned = turn.nlu.entity("school")
        school = self._schools.match(mentioned) if mentioned else None
        if school is not None and turn.state.school_id is None:
            turn.state.school_id = school.id
        if school is not None:
            turn.variables = self._variables(school, turn.nlu)

    def _turn(self, parent_id: str, state: ParentState, nlu: NluResult) -> Turn:
        school = self._schools.get(state.school_id)
        return Turn(parent_id, state, nlu, self._variables(school, nlu), self._responses)

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
_COMMANDS = {"start", "school", "cancel", "forget", *_COMMAND_INTENTS}


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
    if match is None or match["name"] not in ALL_INTENTS | {CHOOSE_SCHOOL}:
        return None
    try:
        raw = json.loads(match["entities"] or "{}")
    except json.JSONDecodeError:
        return None
    if not isinstance(raw, dict):
        return None
    entities = tuple(Entity(str(k), str(v)) for k, v in raw.items())
    return NluResult(match["name"], 1.0, entities)
