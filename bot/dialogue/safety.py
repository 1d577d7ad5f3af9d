"""A safety net under the classifier: words that mean a child may be in danger.

A missed danger message is the worst error the bot can make, so a message with these words is never
answered as small talk, whatever the model says, and any other answer to it starts with the emergency line.
"""

from __future__ import annotations

import re

from bot.nlu.client import NluResult
from bot.safeguarding import DangerAssessment

URGENT_HINT_CONFIDENCE = 0.15
"""An urgent_safeguarding score this high, even when not the top intent, earns the emergency line."""

_DANGER = re.compile(
    r"\b("
    r"nudes?|naked|sexual|sexting|sext|sextort\w*|groom(?:ed|ing|er)?|paedo\w*|pedo\w*|"
    r"kill (?:him|her|them)sel(?:f|ves)|suicid\w*|self[- ]?harm\w*|cutting (?:him|her|them)sel(?:f|ves)|"
    r"end (?:his|her|their) life|overdose|"
    r"(?:gone|is|went|been) missing|ran away from home|"
    r"threaten\w* to (?:kill|stab|hurt|rape)|stab|"
    r"blackmail\w*|send (?:him|her|them) (?:pics|pictures|photos)|"
    r"meet (?:up )?with (?:a|an|some) (?:man|adult|stranger)"
    r")\b",
    re.IGNORECASE,
)


def mentions_danger(text: str) -> bool:
    return _DANGER.search(text) is not None


def needs_emergency_line(text: str, nlu: NluResult) -> bool:
    return mentions_danger(text) or nlu.confidence_of("urgent_safeguarding") >= URGENT_HINT_CONFIDENCE


URGENT_SCORE = 0.5
"""The model's urgent_safeguarding score from which the word-list gate counts a message as urgent."""


class WordListGate:
    """The SafeguardingGate of the danger words above plus the model's urgent score: the wiring until the
    danger detector (bot/safeguarding/detector.py) replaces it. It knows no kinds of danger, so it asks
    for the general guidance (utter_urgent_safeguarding)."""

    def assess(self, text: str, urgent_score: float | None) -> DangerAssessment:
        model_urgent = urgent_score is not None and urgent_score >= URGENT_SCORE
        return DangerAssessment(model_urgent=mentions_danger(text) or model_urgent)
