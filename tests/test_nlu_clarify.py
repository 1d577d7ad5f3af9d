"""When the bot asks "Did you mean ...?" instead of answering the model's top guess (bot/nlu/clarify.py)."""

from __future__ import annotations

import pytest

from bot.nlu.clarify import Outcome, Thresholds, clarification_candidates, outcome
from bot.nlu.client import NluResult

THRESHOLDS = Thresholds(confident=0.5, margin=0.2, candidate=0.05)


def result(*ranking: tuple[str, float], intent: str | None = None) -> NluResult:
    top = intent or ranking[0][0]
    return NluResult(top, ranking[0][1], ranking=ranking)


@pytest.mark.parametrize(
    ("ranking", "expected"),
    [
        # confident and clearly ahead: answered
        ((("post_about_staff", 0.8), ("complain_online", 0.1)), ()),
        # confident but the second is close: ask with the top two
        ((("post_about_staff", 0.55), ("complain_online", 0.4)), ("post_about_staff", "complain_online")),
        # unsure: the top two, and a third that is plausible
        (
            (
                ("report_breach", 0.35),
                ("breach_consequences", 0.3),
                ("removal_request", 0.2),
                ("greet", 0.01),
            ),
            ("report_breach", "breach_consequences", "removal_request"),
        ),
        # a third below the candidate floor is not offered
        (
            (("report_breach", 0.45), ("breach_consequences", 0.4), ("greet", 0.04)),
            ("report_breach", "breach_consequences"),
        ),
        # out_of_scope is never a button ("Something else" stands for it)
        (
            (("code_scope", 0.4), ("out_of_scope", 0.3), ("legal_basis", 0.2)),
            ("code_scope", "legal_basis"),
        ),
    ],
)
def test_candidates_follow_the_confidence_and_the_margin(
    ranking: tuple[tuple[str, float], ...], expected: tuple[str, ...]
) -> None:
    assert clarification_candidates(result(*ranking), THRESHOLDS) == expected


@pytest.mark.parametrize(
    "parsed",
    [
        # below FallbackClassifier's threshold the guesses are too weak to offer
        result(("nlu_fallback", 0.3), ("contact_staff_social", 0.25), ("post_about_staff", 0.2)),
        # a message that looks out of scope is told where to ask, even when a policy topic is close
        result(("out_of_scope", 0.4), ("code_scope", 0.3), ("legal_basis", 0.2)),
        # danger is the safeguarding gate's to decide, never a question
        result(("urgent_safeguarding", 0.4), ("report_cyberbullying", 0.35)),
    ],
)
def test_fallback_out_of_scope_and_urgent_guesses_are_never_questioned(parsed: NluResult) -> None:
    assert clarification_candidates(parsed, THRESHOLDS) == ()


def test_a_message_nothing_was_parsed_from_asks_nothing() -> None:
    assert clarification_candidates(NluResult("nlu_fallback", 0.0), THRESHOLDS) == ()


@pytest.mark.parametrize(
    ("parsed", "gold", "expected"),
    [
        (result(("greet", 0.9), ("thank", 0.05)), "greet", Outcome.ANSWERED_RIGHT),
        (result(("greet", 0.9), ("thank", 0.05)), "thank", Outcome.ANSWERED_WRONG),
        (result(("out_of_scope", 0.9), ("thank", 0.05)), "thank", Outcome.GAVE_UP),
        (result(("greet", 0.4), ("thank", 0.35)), "thank", Outcome.ASKED_OFFERED),
        (result(("greet", 0.4), ("thank", 0.35), ("deny", 0.01)), "deny", Outcome.ASKED_MISSED),
        # an out-of-scope message that gets a question ends right: "Something else"
        (result(("greet", 0.4), ("thank", 0.35)), "out_of_scope", Outcome.ASKED_OFFERED),
        # a fallback is answered "I didn't understand": right for an out-of-scope message ...
        (result(("nlu_fallback", 0.3), ("greet", 0.2)), "out_of_scope", Outcome.ANSWERED_RIGHT),
        # ... and giving up on a real question, even when its intent was the model's best guess
        (result(("nlu_fallback", 0.3), ("greet", 0.2)), "greet", Outcome.GAVE_UP),
    ],
)
def test_outcomes_count_what_the_parent_would_see(parsed: NluResult, gold: str, expected: Outcome) -> None:
    assert outcome(parsed, gold, THRESHOLDS) is expected
