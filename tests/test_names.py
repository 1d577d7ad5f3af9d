"""Who staff should ask for, so they can find the family without asking again: the complaint,
bullying and breach flows ask in one skippable step for the parent's name and the child's name and
class, kept as typed; the urgent flow asks only once its alert is filed, and the answer follows the
alert to its staff. The card shows the names first. Flow tables with no model; the urgent path with the
real engine, model and database."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session, sessionmaker

from bot.dialogue import flows
from bot.dialogue.flows import FlowContext, FlowInput, OpenCase
from bot.dialogue.inputs import read
from bot.dialogue.messages import Reply
from bot.dialogue.openings import names_in, when_in, who_in
from bot.dialogue.responses import ResponseBook
from bot.domain import FlowName, Step
from bot.safeguarding import DangerKind
from bot.schools import Schools
from bot.staff.cards import StaffTexts
from bot.storage.records import Records
from tests.conftest import MakeEngine
from tests.standins import StandInGate, StubNlu, intent, stub_engine
from tests.test_flows import ctx  # noqa: F401 (the fixture)

CHAT = '/choose{"value": "chat"}'
SKIP = '/choose{"value": "skip"}'


def at_names(ctx: FlowContext, name: FlowName) -> flows.FlowState:  # noqa: F811
    flow = flows.start(ctx, name, "oakfield", offer_accepted=True).flow
    assert flow is not None
    for text in ("/deny", "Someone keeps posting about my son", '/choose{"value": "other"}', "don't know",
                 "since Monday", '/choose{"value": "done"}', SKIP):  # fmt: skip
        if flow.step is Step.NAMES:
            return flow
        answered = flows.answer(ctx, flow, FlowInput(read(text)))
        if answered is not None:  # else not an answer to this step: the next text is
            assert answered.flow is not None, (name, flow.step, text)
            flow = answered.flow
    assert flow.step is Step.NAMES, (name, flow.step)
    return flow


@pytest.mark.parametrize("name", [FlowName.COMPLAINT, FlowName.CYBERBULLYING, FlowName.BREACH])
@pytest.mark.parametrize(
    ("typed", "kept"),
    [
        ("Sarah Jones — Tom (4B)", "Sarah Jones — Tom (4B)"),
        ("  mum of  Amira, yr 6 ", "mum of  Amira, yr 6"),
        (SKIP, None),
        ("skip", None),
        ("No thanks.", None),
    ],
)
def test_one_skippable_step_keeps_what_the_parent_typed(
    ctx: FlowContext,  # noqa: F811
    name: FlowName,
    typed: str,
    kept: str | None,
) -> None:
    flow = at_names(ctx, name)
    asked = flows.prompt(ctx, flow)
    assert asked.text.startswith("Who should staff ask for? Your name, and your child's name and class.")
    assert [b.title for b in asked.buttons] == ["Skip"]
    outcome = flows.answer(ctx, flow, FlowInput(read(typed)))
    assert outcome is not None
    assert outcome.flow is not None
    assert outcome.flow.step is Step.CONTACT, "one step, then the contact question"
    consent = flows.answer(ctx, outcome.flow, FlowInput(read(CHAT)))
    assert consent is not None
    assert consent.flow is not None
    summary = consent.replies[-1].text
    assert len(summary.splitlines()) <= flows.CONSENT_MAX_LINES
    assert (f"Ask for: {kept}" in summary) if kept else ("Ask for" not in summary)
    done = flows.answer(ctx, consent.flow, FlowInput(read("/affirm")))
    assert done is not None
    assert isinstance(done.decisions[0], OpenCase)
    assert done.decisions[0].draft.details.get("names") == kept


def test_the_urgent_flow_has_no_names_step_before_the_alert() -> None:
    assert Step.NAMES not in flows.FLOWS[FlowName.SAFEGUARDING]
    assert Step.NAMES in flows.FLOWS[FlowName.COMPLAINT]


@pytest.mark.parametrize(
    ("text", "names", "when"),
    [
        ("I'm Sarah Jones, my son Tom is in Year 4 and it's been going on since Monday",
         "Sarah Jones, Tom, Year 4", "since Monday"),
        ("Hi, I am Mrs Patel. My daughter, Aisha (class 3B) gets messages every night",
         "Mrs Patel, Aisha, class 3B", "every night"),
        ("I'm worried about my son Tom", None, None),
        ("my son Tom is in Year 4", None, None),
        # one vocabulary of child words (bot/dialogue/vocabulary.py) for names and for privacy questions
        ("I'm Dan Lee and my kids Leo and Mia get messages every night", "Dan Lee, Leo", "every night"),
        ("I am Ann Cole, my granddaughter Ivy is in Year 2", "Ann Cole, Ivy, Year 2", None),
    ],
)  # fmt: skip
def test_an_opening_s_names_and_time_are_found_as_written(
    text: str, names: str | None, when: str | None
) -> None:
    assert (names_in(text), when_in(text)) == (names, when)


@pytest.mark.parametrize(
    ("text", "who"),
    [
        ("girls in her class keep sending her horrible messages", "girls in her class"),
        ("Two girls from her year made a group to mock her", "Two girls from her year"),
        ("a boy in year 6 keeps messaging him", "a boy in year 6"),
        ("older kids at his school film him", "older kids at his school"),
        ("someone keeps sending him messages", None),  # nobody named: the question asks
        ("my son is in her class", None),
    ],
)
def test_who_is_involved_is_found_as_written_when_the_opening_says_it(text: str, who: str | None) -> None:
    assert who_in(text) == who


# ---- the urgent flow: asked after the alert, never before -----------------------------------------------


def _titles(replies: list[Reply]) -> list[str]:
    return [b.title for r in replies for b in r.buttons]


async def test_an_urgent_alert_is_filed_first_then_the_names_follow_it_to_staff(
    make_engine: MakeEngine, responses: ResponseBook, schools: Schools, records: Records
) -> None:
    engine = make_engine()
    await engine.handle("u1", '/choose_school{"school":"oakfield"}')
    offer = await engine.handle("u1", "my son says he wants to kill himself")
    assert "999" in offer[0].text
    assert not any("ask for" in r.text for r in offer), "nothing before the guidance and the offer"
    contact = await engine.handle("u1", "/affirm")
    consent = await engine.handle("u1", CHAT)
    assert "Ask for" not in consent[-1].text
    filed = await engine.handle("u1", "/affirm")
    [case] = await records.cases.parent_cases("u1")
    assert case.reference in filed[0].text, "the alert is filed before the names are asked for"
    assert filed[-1].text.startswith("Your alert is already on its way.")
    assert _titles(filed) == ["Skip"]
    assert contact

    thanks = await engine.handle("u1", "Sarah Jones, Tom, Year 4")
    assert thanks[-1].text.startswith("Thank you. I've passed that on")
    relayed = [d for d in await records.outbox.deliveries(case.id) if d.kind == "parent_reply"]
    assert [d.payload["text"] for d in relayed] == ["Ask for: Sarah Jones, Tom, Year 4"]
    after = await engine.handle("u1", "what is the code of conduct about?")
    assert not any("passed that on" in r.text for r in after), "asked once"


async def test_after_an_urgent_alert_skip_or_another_danger_message_is_not_taken_for_names(
    make_engine: MakeEngine, records: Records
) -> None:
    engine = make_engine()
    for text in ('/choose_school{"school":"oakfield"}', "my son says he wants to kill himself", "/affirm",
                 CHAT, "/affirm"):  # fmt: skip
        await engine.handle("u2", text)
    skipped = await engine.handle("u2", "no thanks")
    assert skipped[-1].text.startswith("That's fine.")
    for text in ('/choose_school{"school":"oakfield"}', "my son says he wants to kill himself", "/affirm",
                 CHAT, "/affirm"):  # fmt: skip
        await engine.handle("u3", text)
    again = await engine.handle("u3", "he has run off and I think he has taken pills")
    assert "999" in again[0].text
    [case] = await records.cases.parent_cases("u3")
    assert not [d for d in await records.outbox.deliveries(case.id) if d.kind == "parent_reply"]


async def test_an_urgent_opening_that_names_them_is_not_asked_and_the_card_shows_them_first(
    make_engine: MakeEngine, responses: ResponseBook, schools: Schools, records: Records
) -> None:
    engine = make_engine()
    await engine.handle("u4", '/choose_school{"school":"oakfield"}')
    await engine.handle("u4", "I'm Sarah Jones, my son Tom is in Year 4 and he says he wants to kill himself")
    await engine.handle("u4", "/affirm")
    consent = await engine.handle("u4", CHAT)
    assert "Ask for: Sarah Jones, Tom, Year 4" in consent[-1].text
    filed = await engine.handle("u4", "/affirm")
    assert not any(r.text.startswith("Your alert is already on its way.") for r in filed)
    [case] = await records.cases.parent_cases("u4")
    view = await records.cases.get(case.id)
    assert view is not None
    lines = StaffTexts(responses, schools).card(view).text.splitlines()
    assert lines[0].startswith("URGENT")
    assert lines[2] == "Ask for: Sarah Jones, Tom, Year 4", "first after the case's reference"


async def test_breach_card_lists_the_names_first_and_not_among_the_details(
    responses: ResponseBook,
    schools: Schools,
    sessions: sessionmaker[Session],
    ctx: FlowContext,  # noqa: F811
) -> None:
    flow = at_names(ctx, FlowName.BREACH)
    outcome = flows.answer(ctx, flow, FlowInput(read("Dan Lee, Leo, Y2")))
    assert outcome is not None
    assert outcome.flow is not None
    consent = flows.answer(ctx, outcome.flow, FlowInput(read(CHAT)))
    assert consent is not None
    assert consent.flow is not None
    done = flows.answer(ctx, consent.flow, FlowInput(read("/affirm")))
    assert done is not None
    assert isinstance(done.decisions[0], OpenCase)
    case = await Records.on(sessions).cases.open_case(done.decisions[0].draft)
    card = StaffTexts(responses, schools).card(case).text
    assert card.splitlines()[1] == "Ask for: Dan Lee, Leo, Y2"
    assert card.count("Dan Lee") == 1, "once on top, not again among the details"


async def test_a_typed_skip_is_the_skip_button_and_never_asked_about_danger(
    make_engine: MakeEngine, records: Records
) -> None:
    """The gate's unsure tier reads danger into a lone "skip"; the question's own words are not asked
    about."""
    engine = make_engine()
    opening = (
        "I want to make a formal complaint: my daughter was excluded for two days without anyone calling me"
    )
    for text in ('/choose_school{"school":"oakfield"}', opening, "/affirm", '/choose{"value": "other"}'):
        asked = await engine.handle("typed-skip", text)
    assert asked[-1].text.startswith("Who should staff ask for?")
    contact = await engine.handle("typed-skip", "skip")
    assert [b.title for b in contact[-1].buttons] == ["Reply in this chat", "Phone me", "Email me"]
    await engine.handle("typed-skip", CHAT)
    await engine.handle("typed-skip", "/affirm")
    [case] = await records.cases.parent_cases("typed-skip")
    assert "names" not in case.details


async def test_a_no_to_the_gate_s_check_is_not_asked_again_by_the_report_it_starts(
    responses: ResponseBook, schools: Schools, sessions: sessionmaker[Session]
) -> None:
    """The parent just said no child is at risk now: the bullying report's own danger question would ask
    the same thing a tap later."""
    opening = "girls in her class keep sending her horrible messages every night on snapchat"
    nlu = StubNlu({opening: intent("report_cyberbullying")})
    gate = StandInGate(unsure={"horrible": DangerKind.IMMEDIATE})
    engine = stub_engine(responses, schools, sessions, nlu=nlu, gate=gate)
    check = await engine.handle("checked", opening)
    assert check[-1].text.startswith(responses.render("utter_danger_check", {}).text[:40])
    replies = await engine.handle("checked", '/danger_check{"value": "no"}')
    danger_question = responses.render("utter_ask_danger", {}).text
    assert all(danger_question not in r.text for r in replies)
    asked_anyway = await engine.handle("other", "/report_cyberbullying")  # no check before: asked
    assert any(danger_question in r.text for r in asked_anyway)
