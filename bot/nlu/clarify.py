"""When to ask "Did you mean ...?" instead of answering the model's top guess: when the model is unsure, a
wrong answer misleads a parent, where a question costs one tap.

The engine asks with the candidates as buttons plus "Something else" whenever `clarification_candidates`
returns any; an empty tuple means: answer the top intent. The thresholds were chosen on the out-of-fold
confidences of 5-fold cross-validation on nlu/ (scripts/select_pipeline.py, docs/model-selection.md), and
`parentbot evaluate` reports what they give on a test file.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from bot.nlu.client import NluResult
from bot.nlu.intents import FALLBACK_INTENT, OUT_OF_SCOPE_INTENT, URGENT_INTENT


@dataclass(frozen=True)
class Thresholds:
    confident: float = 0.6
    """The top intent is answered only with at least this confidence ..."""
    margin: float = 0.2
    """... and at least this far ahead of the second."""
    candidate: float = 0.05
    """A third candidate is offered only with at least this confidence."""
    most: int = 3


DEFAULT_THRESHOLDS = Thresholds()
NOT_CANDIDATES = frozenset({FALLBACK_INTENT, OUT_OF_SCOPE_INTENT})
"""Never offered as a button: "Something else" stands for them."""
NEVER_QUESTIONED = frozenset({FALLBACK_INTENT, OUT_OF_SCOPE_INTENT, URGENT_INTENT})
"""Top guesses the bot answers without asking: below FallbackClassifier's threshold the guesses are too
weak to offer ("I didn't understand", then the offer of a person); a parent whose message looks out of
scope ("what time does school start") is better told where to ask than offered a policy topic; danger
is decided by the safeguarding gate alone, never by a question."""


def clarification_candidates(
    result: NluResult, thresholds: Thresholds = DEFAULT_THRESHOLDS
) -> tuple[str, ...]:
    """The two or three intents to offer when the model is unsure; () when its top guess is clear.

    The engine and `parentbot evaluate` both decide by this function, so the reported figures are what
    parents get."""
    if result.intent in NEVER_QUESTIONED:
        return ()
    ranked = [(name, conf) for name, conf in result.ranking if name != FALLBACK_INTENT]
    if not ranked:
        return ()
    top_confidence = ranked[0][1]
    second_confidence = ranked[1][1] if len(ranked) > 1 else 0.0
    if top_confidence >= thresholds.confident and top_confidence - second_confidence >= thresholds.margin:
        return ()
    offered = [name for name, _ in ranked if name not in NOT_CANDIDATES]
    floor = [name for name, conf in ranked if name not in NOT_CANDIDATES and conf >= thresholds.candidate]
    return tuple(offered[:2] + [n for n in floor[2 : thresholds.most] if n not in offered[:2]])


class Outcome(str, Enum):
    ANSWERED_RIGHT = "answered right"
    ANSWERED_WRONG = "answered wrong"
    GAVE_UP = "answered out of scope, wrongly"
    ASKED_OFFERED = "asked, right intent offered"
    ASKED_MISSED = "asked, right intent not offered"


def outcome(result: NluResult, gold: str, thresholds: Thresholds = DEFAULT_THRESHOLDS) -> Outcome:
    """What the bot does with a message whose true intent is `gold` (nlu_fallback counting as out of
    scope). For an out-of-scope message, asking ends right: the parent presses "Something else". A real
    question answered as out of scope is giving up, not a wrong answer: the parent is told nothing false."""
    candidates = clarification_candidates(result, thresholds)
    if candidates:
        offered = gold in candidates or gold == OUT_OF_SCOPE_INTENT
        return Outcome.ASKED_OFFERED if offered else Outcome.ASKED_MISSED
    answered = OUT_OF_SCOPE_INTENT if result.intent == FALLBACK_INTENT else result.intent
    if answered == gold:
        return Outcome.ANSWERED_RIGHT
    return Outcome.GAVE_UP if answered == OUT_OF_SCOPE_INTENT else Outcome.ANSWERED_WRONG
