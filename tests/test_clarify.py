"""Clarify instead of guessing (a wrong answer misleads a parent; a question costs a tap): when the model is
unsure of a typed message, the bot asks "Did you mean ...?" with the candidates as buttons plus "Something
else", never before the safeguarding gate. Stand-in NLU and gate (tests/standins.py), real engine and
database; one test on the real model."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session, sessionmaker

from bot.dialogue.clarifying import SOMETHING_ELSE, chosen_option
from bot.dialogue.engine import DialogueEngine
from bot.dialogue.messages import Reply
from bot.dialogue.responses import ResponseBook
from bot.schools import Schools
from bot.storage.parents import SqlStateStore
from tests.standins import StubNlu, intent, ranked, stub_engine

PARENT = "parent-clarify"
UNSURE = "can i write about the school on facebook"
UNSURE_RESULT = ranked(("complain_online", 0.45), ("how_to_complain", 0.3), ("post_about_staff", 0.12))
OPTIONS = ["/complain_online", "/how_to_complain", "/post_about_staff", "/something_else"]
DANGER_UNSURE = "my son says he wants to die after what they posted"
DANGER_RESULT = ranked(("report_cyberbullying", 0.4), ("urgent_safeguarding", 0.35), ("thank", 0.1))
OUT_OF_SCOPE_UNSURE = "what time does school start"
CLEAR = "thanks"
RESULTS = {
    UNSURE: UNSURE_RESULT,
    DANGER_UNSURE: DANGER_RESULT,
    OUT_OF_SCOPE_UNSURE: ranked(("out_of_scope", 0.4), ("code_scope", 0.35)),
    CLEAR: intent("thank"),
}


@pytest.fixture
def make(responses: ResponseBook, schools: Schools, sessions: sessionmaker[Session]) -> DialogueEngine:
    return stub_engine(responses, schools, sessions, StubNlu(RESULTS))


def _said(responses: ResponseBook, name: str) -> str:
    return responses.render(name, {}).text[:40]


async def test_close_scores_get_the_question_with_the_candidates_and_something_else(
    make: DialogueEngine, responses: ResponseBook
) -> None:
    replies = await make.handle(PARENT, UNSURE)
    assert [r.text for r in replies] == [responses.render("utter_clarify", {}).text]
    assert [b.payload for b in replies[0].buttons] == OPTIONS
    assert [b.title for b in replies[0].buttons] == [
        "Complaining online",
        "Making a complaint",
        "Posting about school staff",
        "Something else",
    ]


async def test_pressing_an_option_answers_exactly_as_that_intent(
    make: DialogueEngine, responses: ResponseBook
) -> None:
    await make.handle(PARENT, UNSURE)
    replies = await make.handle(PARENT, "/post_about_staff")
    assert replies[0].text.startswith(_said(responses, "utter_post_about_staff"))


async def test_something_else_gives_the_fallback_help_and_counts_as_a_fallback(
    make: DialogueEngine, responses: ResponseBook
) -> None:
    await make.handle(PARENT, "blah blah")  # the first fallback
    await make.handle(PARENT, UNSURE)  # asking is not a fallback: the streak stays at one
    replies = await make.handle(PARENT, "/something_else")
    assert replies[0].text.startswith(_said(responses, "utter_fallback_offer_handoff"))


async def test_something_else_alone_is_one_fallback(make: DialogueEngine, responses: ResponseBook) -> None:
    await make.handle(PARENT, UNSURE)
    replies = await make.handle(PARENT, "/something_else")
    assert [r.text for r in replies] == [responses.render("utter_fallback", {}).text]


async def test_asking_neither_counts_nor_resets_the_fallback_streak(
    make: DialogueEngine, sessions: sessionmaker[Session]
) -> None:
    await make.handle(PARENT, "blah blah")
    await make.handle(PARENT, UNSURE)
    state = await SqlStateStore(sessions).load(PARENT)
    assert state.fallback_streak == 1
    assert state.clarify_options == ("complain_online", "how_to_complain", "post_about_staff")


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("the first one", "utter_complain_online"),
        ("2", "utter_how_to_complain"),
        ("Third", "utter_post_about_staff"),
        ("complaint", "utter_how_to_complain"),
        ("Posting about school staff", "utter_post_about_staff"),
        ("something else", "utter_fallback"),
    ],
)
async def test_a_typed_answer_naming_an_option_counts_as_its_button(
    responses: ResponseBook,
    schools: Schools,
    sessions: sessionmaker[Session],
    typed: str,
    expected: str,
) -> None:
    await stub_engine(responses, schools, sessions, StubNlu(RESULTS)).handle(PARENT, UNSURE)
    restarted = stub_engine(responses, schools, sessions, StubNlu(RESULTS))  # the options are stored
    replies = await restarted.handle(PARENT, typed)
    assert any(r.text.startswith(_said(responses, expected)) for r in replies)


async def test_the_options_are_forgotten_after_the_next_message(
    make: DialogueEngine, responses: ResponseBook
) -> None:
    await make.handle(PARENT, UNSURE)
    await make.handle(PARENT, CLEAR)
    replies = await make.handle(PARENT, "the first one")
    assert [r.text for r in replies] == [responses.render("utter_fallback", {}).text]


async def test_a_danger_message_with_close_scores_gets_the_guidance_never_a_question(
    make: DialogueEngine, responses: ResponseBook
) -> None:
    replies = await make.handle(PARENT, DANGER_UNSURE)
    assert replies[0].text.startswith(_said(responses, "utter_urgent_suicide_self_harm"))
    assert not _asked(replies, responses)


async def test_out_of_scope_button_payloads_and_commands_are_never_asked_about(
    make: DialogueEngine, responses: ResponseBook
) -> None:
    out_of_scope = await make.handle(PARENT, OUT_OF_SCOPE_UNSURE)
    assert out_of_scope[0].text.startswith(_said(responses, "utter_out_of_scope"))
    for message in ("/complain_online", "/help", "/privacy"):
        assert not _asked(await make.handle(PARENT, message), responses)


def _asked(replies: list[Reply], responses: ResponseBook) -> bool:
    question = responses.render("utter_clarify", {}).text
    return any(r.text == question or "/something_else" in [b.payload for b in r.buttons] for r in replies)


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("the last one", "c"),
        ("1st", "a"),
        ("none of them", SOMETHING_ELSE),
        ("the fourth", None),
        ("the first or the second", None),
        ("a long message that mentions the first thing and more", None),
        ("complaining", None),
    ],
)
def test_reading_a_typed_choice(typed: str, expected: str | None) -> None:
    labels = {"a": "Complaining online", "b": "Complaining about a teacher", "c": "Group chats"}
    assert chosen_option(typed, ("a", "b", "c"), labels) == expected


async def test_an_unsure_message_on_the_real_model_is_asked_about(
    engine: DialogueEngine, responses: ResponseBook
) -> None:
    replies = await engine.handle(PARENT, "teacher facebook")
    assert replies[-1].text == responses.render("utter_clarify", {}).text
    payloads = [b.payload for b in replies[-1].buttons]
    assert "/contact_staff_social" in payloads
    assert payloads[-1] == "/something_else"
    chosen = await engine.handle(PARENT, "the first one")
    assert chosen[-1].text.startswith(_said(responses, f"utter_{payloads[0][1:]}"))
