"""The engine's old entry points to the safety net, now thin shims over the danger detector.

`bot.safeguarding.detector` holds the danger data and the matcher; the engine will call the
safeguarding gate (`bot.safeguarding.SafeguardingGate`) directly, and then these two go.
"""

from __future__ import annotations

from bot.nlu.client import NluResult
from bot.safeguarding.detector import default_detector

URGENT_INTENT = "urgent_safeguarding"


def mentions_danger(text: str) -> bool:
    """The detector names a kind of danger in the text (the model not asked)."""
    return bool(default_detector().kinds(text))


def needs_emergency_line(text: str, nlu: NluResult) -> bool:
    """The gate finds the text urgent, from the detector or the model's urgent score."""
    return default_detector().assess(text, nlu.confidence_of(URGENT_INTENT)).urgent
