"""What the parent's opening message already says fills the flow: it is not asked for again, and an
opening that tells the whole story reaches the consent screen in at most four parent turns after it. With
the real model (its regex entity extractor names platforms and schools) on a real database."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from bot.dialogue.engine import DialogueEngine
from bot.dialogue.messages import Reply
from bot.dialogue.responses import ResponseBook
from bot.domain import FlowName
from tests.conftest import MakeEngine

CONSENT = "Shall I send exactly this?"


@dataclass(frozen=True)
class Opening:
    name: str
    text: str
    flow: FlowName
    filled: tuple[str, ...]
    """The prompts (response names) the opening answers, which must never be asked."""
    noted: tuple[str, ...]


OPENINGS = [
    Opening(
        "complaint naming the school",
        "I want to make a complaint to Riverside Academy, my son was kept in at lunch all week and nobody "
        "told me why",
        FlowName.COMPLAINT,
        ("utter_ask_describe_complaint", "utter_choose_school"),
        ("your message as the description", "Riverside Academy"),
    ),
    Opening(
        "bullying on a named platform",
        "my daughter is being bullied on snapchat, girls in her class keep sending her horrible messages "
        "every night",
        FlowName.CYBERBULLYING,
        ("utter_ask_describe_cyberbullying", "utter_ask_where"),
        ("your message as the description", "Snapchat"),
    ),
    Opening(
        "a post to report",
        "I want to report a post on facebook where another parent wrote lies about the head at Hollybrook",
        FlowName.BREACH,
        ("utter_ask_describe_breach", "utter_ask_where", "utter_choose_school"),
        ("your message as the description", "Facebook", "Hollybrook Infant and Nursery School"),
    ),
]  # fmt: skip


def _answer(reply: Reply) -> str:
    """What a parent with nothing more to add does at each question: taps the first sensible button,
    or types a short answer."""
    titles = {b.title: b.payload for b in reply.buttons}
    for title in (
        "Yes, pass it on",
        "Yes, alert them now",
        "No",
        "No, it's not urgent",
        "Something else",
        "Oakfield Primary School",
        "Skip",
        "Reply in this chat",
    ):
        if title in titles:
            return titles[title]
    if titles and "Done" in titles:
        return titles["Done"]
    return "don't know"


def _asked(responses: ResponseBook, replies: list[Reply], names: tuple[str, ...]) -> list[str]:
    prompts = {name: responses.render(name, {}).text[:30] for name in names}
    return [name for name, start in prompts.items() for r in replies if r.text.startswith(start)]


@pytest.mark.parametrize("opening", OPENINGS, ids=[o.name for o in OPENINGS])
async def test_an_opening_that_tells_the_story_reaches_consent_without_being_asked_again(
    make_engine: MakeEngine, responses: ResponseBook, opening: Opening
) -> None:
    engine: DialogueEngine = make_engine()
    replies = await engine.handle("slots", opening.text)
    seen, turns = list(replies), 0  # the parent's turns after the opening
    noted = next(r.text for r in replies if r.text.startswith("I've noted"))
    assert all(phrase in noted for phrase in opening.noted), noted
    while not any(CONSENT in r.text for r in replies):
        assert turns < 8, f"{opening.name}: no consent screen after {[r.text[:50] for r in seen]}"
        replies = await engine.handle("slots", _answer(replies[-1]))
        seen += replies
        turns += 1
    assert _asked(responses, seen, opening.filled) == []
    consent = next(r for r in replies if CONSENT in r.text)
    shown = consent.text + (consent.document.text if consent.document else "")
    assert opening.text in shown, "the parent's own words go to staff"
    if opening.flow is not FlowName.CYBERBULLYING:  # a bullying report also asks who, when, screenshots
        assert turns <= 4, f"{opening.name}: {turns} turns"  # names too: tests/test_flow_table.py


async def test_a_short_opening_is_not_taken_as_the_description(
    make_engine: MakeEngine, responses: ResponseBook
) -> None:
    engine = make_engine()
    replies = await engine.handle("short", "I want to make a complaint")
    assert not any(r.text.startswith("I've noted") for r in replies)
    replies = await engine.handle("short", "/affirm")
    await engine.handle("short", '/choose_school{"school":"oakfield"}')
    replies = await engine.handle("short", '/choose{"value": "other"}')  # not about the head
    assert _asked(responses, replies, ("utter_ask_describe_complaint",)) == ["utter_ask_describe_complaint"]
