"""The safeguarding gate: does a parent's message say a child may be in danger, and of what kind?

The engine asks the gate about every piece of parent text before anything else, in every state of a
conversation (cold, each flow step, consent, relay, while the model loads). The gate answers in one of
three tiers: calm (answer as usual), check (ask first whether a child is at risk now, with 999 in the
first line) or full (the guidance for the kind of danger first, then the offer to alert staff).

This module holds the types the engine, the NLU client and the gate share; `bot.safeguarding.detector`
holds the lexicon, `bot.safeguarding.head` the learned danger model, `bot.safeguarding.gate` the
combination of both.
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


class Tier(str, enum.Enum):
    """What the parent sees first."""

    CALM = "calm"
    """No danger seen: the message is answered as usual."""
    CHECK = "check"
    """Perhaps danger: "If anyone is in danger right now, call 999", and a yes/no question."""
    FULL = "full"
    """Danger: the kind's guidance first, then the one-tap alert to the school's safeguarding staff."""


@dataclass(frozen=True)
class DangerReading:
    """The learned danger model's reading of one message (bot.safeguarding.head), carried in the NLU
    result. The thresholds travel with the probabilities: they were chosen for this model when it was
    trained, so a Rasa server's model and its thresholds can never disagree."""

    probability: float
    """P(danger)."""
    kinds: tuple[tuple[DangerKind, float], ...]
    """P(kind | danger), best first."""
    full_at: float
    """P(danger) at or above this: full guidance."""
    check_at: float
    """P(danger) at or above this (and below `full_at`): ask first."""
    lexicon_at: float
    """A lexicon signal with P(danger) at or above this: full guidance (below it: ask first)."""
    kind_at: float
    """A kind this probable is named; below it, the general guidance that covers every kind."""
    part_probability: float = 0.0
    """P(danger) of the message's most alarming sentence, when it has several (0 otherwise)."""
    part_at: float = 1.0
    """A sentence this alarming makes a message the gate would let through ask first."""

    def named_kind(self) -> DangerKind | None:
        if not self.kinds:
            return None
        kind, probability = self.kinds[0]
        return kind if probability >= self.kind_at else None


@dataclass(frozen=True)
class DangerAssessment:
    """What the gate found in one message."""

    tier: Tier = Tier.CALM
    kinds: frozenset[DangerKind] = frozenset()
    """The kinds whose guidance to give; empty with `Tier.FULL`: the general guidance."""
    because: str = ""
    """Which part of the gate decided (for reports and tests; never logged with the text)."""

    @property
    def urgent(self) -> bool:
        return self.tier is Tier.FULL

    @property
    def needs_check(self) -> bool:
        return self.tier is Tier.CHECK

    def guidance_responses(self) -> tuple[str, ...]:
        """The domain.yml responses to send first, in order: each kind's guidance, or the general one."""
        if not self.urgent:
            return ()
        names = tuple(f"utter_urgent_{kind.value}" for kind in GUIDANCE_ORDER if kind in self.kinds)
        return names or ("utter_urgent_safeguarding",)


NO_DANGER = DangerAssessment()


class SafeguardingGate(Protocol):
    """Decides from the text, and the danger model's reading when there is one (None while the model
    loads, for text the model is not asked about, or from a model without a danger head)."""

    def assess(self, text: str, reading: DangerReading | None) -> DangerAssessment: ...
