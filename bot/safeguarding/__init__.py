"""The safeguarding gate: does a parent's message say a child may be in danger, and of what kind?

The engine asks the gate about every piece of parent text before anything else, in every state of a
conversation (cold, each flow step, consent, relay, while the model loads). This module holds the types
the engine and the detector share; `bot.safeguarding.detector` holds the detector itself.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Protocol


class DangerKind(str, enum.Enum):
    """The kinds of danger, each with its own guidance (domain.yml: `utter_urgent_<value>`)."""

    IMMEDIATE = "immediate_danger"
    """A child at risk of physical harm or violence now, or a medical emergency."""
    MISSING = "missing"
    SEXUAL = "sexual"
    """Sexual exploitation, grooming, sextortion, nude or sexual images of a child."""
    SUICIDE_SELF_HARM = "suicide_self_harm"
    ABUSE_BY_ADULT = "abuse_by_adult"


GUIDANCE_ORDER = (
    DangerKind.IMMEDIATE,
    DangerKind.MISSING,
    DangerKind.SUICIDE_SELF_HARM,
    DangerKind.SEXUAL,
    DangerKind.ABUSE_BY_ADULT,
)
"""The order guidance is given in when a message shows several kinds: the most time-critical first."""


@dataclass(frozen=True)
class DangerAssessment:
    """What the gate found in one message. `kinds` empty and `urgent` False: no danger seen."""

    kinds: frozenset[DangerKind] = frozenset()
    model_urgent: bool = False
    """The model read the message as urgent_safeguarding (with no kind the detector could name)."""

    @property
    def urgent(self) -> bool:
        return bool(self.kinds) or self.model_urgent

    def guidance_responses(self) -> tuple[str, ...]:
        """The domain.yml responses to send first, in order: each kind's guidance, or the general one."""
        names = tuple(f"utter_urgent_{kind.value}" for kind in GUIDANCE_ORDER if kind in self.kinds)
        return names or (("utter_urgent_safeguarding",) if self.urgent else ())


NO_DANGER = DangerAssessment()


class SafeguardingGate(Protocol):
    """Decides from the text, and the model's urgent score when there is one (None while the model loads
    or for text the model is not asked about)."""

    def assess(self, text: str, urgent_score: float | None) -> DangerAssessment: ...
