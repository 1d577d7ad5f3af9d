"""The flows' table and the values their handlers take and return.

Each flow is a table of typed steps (FLOWS); each step has a pure handler (bot/dialogue/flows/steps.py):
(context, flow state, input) in, an Outcome out: replies, the next flow state, and decisions such as
OpenCase or DiscardDraft that the engine carries out.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from bot.dialogue.inputs import ParentInput
from bot.dialogue.messages import Reply
from bot.domain import CaseDraft, FlowName, FlowState, Step
from bot.schools import Schools

MAX_ANSWER_CHARS = 1500
MAX_PHOTOS_PER_REPORT = 10
"""Screenshots one report keeps (an album's worth); more are not stored and the parent is told the limit
was reached: each is a photo the staff chat is sent, and a flood of them would hold the chat's delivery
lane, where an urgent card may be waiting behind them."""
PREVIEW_LIMIT = 3000
"""A consent preview longer than this is sent as a text document, its message giving the rest."""
CONSENT_MAX_LINES = 12
"""A consent screen a parent reads on a phone before agreeing: longer, and the transcript goes in a file."""

_COLLECT_AND_SEND = (Step.CONTACT, Step.CONTACT_DETAIL, Step.CONSENT)
FLOWS: dict[FlowName, tuple[Step, ...]] = {
    FlowName.COMPLAINT: (Step.OFFER, Step.SCHOOL, Step.ABOUT, Step.DESCRIBE, Step.NAMES, *_COLLECT_AND_SEND),
    FlowName.CYBERBULLYING: (
        Step.DANGER,
        Step.DESCRIBE,
        Step.WHERE,
        Step.WHO,
        Step.WHEN,
        Step.EVIDENCE,
        Step.SCHOOL,
        Step.NAMES,
        *_COLLECT_AND_SEND,
    ),
    FlowName.BREACH: (
        Step.OFFER,
        Step.DESCRIBE,
        Step.WHERE,
        Step.LINK,
        Step.SCHOOL,
        Step.NAMES,
        *_COLLECT_AND_SEND,
    ),
    FlowName.GENERAL: (Step.OFFER, Step.SCHOOL, Step.DESCRIBE, *_COLLECT_AND_SEND),
    FlowName.SAFEGUARDING: (Step.OFFER, Step.SCHOOL, Step.DESCRIBE, *_COLLECT_AND_SEND),
}
"""Each flow's steps in order; a step already answered (or not needed) is skipped. The urgent flow has no
names step: nothing stands between the parent's yes and the alert, and the names are asked for once
the case is filed (the engine's Pending.NAMES), unless the first message gave them."""
INTENT_FLOWS = {
    "how_to_complain": FlowName.COMPLAINT,
    "report_cyberbullying": FlowName.CYBERBULLYING,
    "report_breach": FlowName.BREACH,
    "human_handoff": FlowName.GENERAL,
    "urgent_safeguarding": FlowName.SAFEGUARDING,
}
FLOW_INTENTS = {flow: intent for intent, flow in INTENT_FLOWS.items()}
WITH_GUIDANCE_FIRST = frozenset(
    {FlowName.COMPLAINT, FlowName.CYBERBULLYING, FlowName.BREACH, FlowName.GENERAL}
)
"""Flows whose intent's answer (the complaints route, how to report a post...) comes before the offer."""
FREE_TEXT_STEPS = frozenset(
    {Step.DESCRIBE, Step.WHO, Step.WHEN, Step.LINK, Step.CONTACT_DETAIL, Step.WHERE, Step.NAMES}
)
CHOICE_STEPS = frozenset({Step.WHERE, Step.LINK, Step.NAMES})
"""Free-text steps that also take a button's `/choose{...}` payload."""


class Say(Protocol):
    """Renders a domain.yml response with the variables of a school (None: the parent's own)."""

    def __call__(self, response: str, school_id: str | None, /, **extra: str) -> Reply: ...


def _as_typed_or_chosen(message: ParentInput) -> str:
    return message.choice or message.text


@dataclass(frozen=True)
class FlowContext:
    """What the handlers may read: who is talking, the schools, the texts and the time."""

    parent_id: str
    schools: Schools
    say: Say
    now: datetime
    shown_as: Callable[[ParentInput], str] = _as_typed_or_chosen
    """A button's payload as the parent saw it (its title; the engine knows them); typed text as it is."""


@dataclass(frozen=True)
class FlowInput:
    """The parent's message (typed or a button's payload), and the model's reading of it if there is one."""

    message: ParentInput
    intent: str | None = None

    @property
    def text(self) -> str:
        """The message without the spaces around it, as a step reads it."""
        return self.message.stripped


@dataclass(frozen=True)
class OpenCase:
    """The parent consented: file this draft (exactly what they were shown) as a case."""

    draft: CaseDraft


@dataclass(frozen=True)
class DiscardDraft:
    """The draft is dropped (declined, cancelled, replaced or expired): its text and photos are gone."""

    flow: FlowName
    lines: int
    photos: int


Decision = OpenCase | DiscardDraft


@dataclass(frozen=True)
class Outcome:
    replies: tuple[Reply, ...]
    flow: FlowState | None
    decisions: tuple[Decision, ...] = ()


Handler = Callable[[FlowContext, FlowState, FlowInput], "Outcome | FlowState | None"]
"""A step's handler: an Outcome, the flow with the step answered (then the next step is asked), or None
when the input does not answer the step."""
