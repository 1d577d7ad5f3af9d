"""Complaints about the head teacher (the complaints procedure sends them to the chair of governors or the
trust, not the school): the complaint flow asks whether it is about the
head or the trust; such a case goes to the school's complaints_chat_id, else the trust's, never to the
school's staff group; with neither, to the school's chat with a card that says so, and `parentbot check`
warns. The staff policy (bot/staff/routing.py) decides; the real engine, the real model and a real
database file the case; the local Bot API server shows where the card went and who may act on it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from pydantic import ValidationError
from sqlalchemy.orm import Session, sessionmaker

from bot.cli.bot_commands import complaints_notes
from bot.dialogue.engine import DialogueEngine
from bot.dialogue.responses import ResponseBook
from bot.domain import CaseKind, Priority
from bot.nlu.client import InProcessNlu
from bot.safeguarding.gate import DangerGate
from bot.schools import School, Schools
from bot.staff import routing
from bot.staff.access import StaffAccess
from bot.staff.cards import StaffTexts
from bot.staff.chats import StaffChats
from bot.storage.parents import SqlStateStore
from bot.storage.records import Records
from bot.storage.turns import Turns
from tests.telegram_harness import RunningBot, buttons, running_bot
from tests.test_handoff_e2e import FAST, card_in, choose_school, staff_chat

TRUST_COMPLAINTS = -1001000000098
OAKFIELD_GOVERNORS = -1001000000021
CHAIR = 100000021
COMPLAINTS_OFFICER = 100000098
ABOUT_THE_HEAD = (
    "I want to make a formal complaint about the head teacher, she shouted at my son in front of the "
    "whole class and has not answered my emails"
)
SCHOOL_STAFF_MEMBER = 100000001


def with_complaints(schools: Schools, *, trust: bool = True, oakfield: bool = False) -> Schools:
    """The test schools with the trust's complaints chat and/or Oakfield's own (its chair of governors')."""
    updated_trust = schools.trust.copy(
        update={"complaints_chat_id": TRUST_COMPLAINTS, "complaints_user_ids": [COMPLAINTS_OFFICER]}
        if trust
        else {}
    )
    listed = [
        school.copy(update={"complaints_chat_id": OAKFIELD_GOVERNORS, "complaints_user_ids": [CHAIR]})
        if oakfield and school.id == "oakfield"
        else school
        for school in schools.schools
    ]
    return Schools(trust=updated_trust, schools=listed)


def engine_on(
    nlu: InProcessNlu, responses: ResponseBook, schools: Schools, sessions: sessionmaker[Session]
) -> DialogueEngine:
    return DialogueEngine(
        nlu=nlu,
        responses=responses,
        schools=schools,
        store=SqlStateStore(sessions),
        records=Records.on(sessions, routing.CardRouting(schools)),
        gate=DangerGate(),
        turns=Turns(sessions),
    )


async def complain(engine: DialogueEngine, parent: str, school: str, *, about: str) -> list[str]:
    """A complaint from its opening message to "Yes, send it": what the parent read, in order."""
    seen: list[str] = []
    for text in (f'/choose_school{{"school":"{school}"}}', ABOUT_THE_HEAD, "/affirm", about,
                 "Sarah Jones, Tom, Year 4", '/choose{"value": "chat"}', "/affirm"):  # fmt: skip
        seen += [reply.text for reply in await engine.handle(parent, text)]
    return seen


# ---- the policy, as a pure function of the case and the schools ---------------------------------------


def test_the_policy_sends_complaints_about_the_head_to_the_school_s_complaints_chat_then_the_trust_s(
    schools: Schools,
) -> None:
    both = with_complaints(schools, trust=True, oakfield=True)
    oakfield, riverside = both.get("oakfield"), both.get("riverside")
    assert oakfield is not None
    assert riverside is not None
    head = {"about": "head"}
    normal = Priority.NORMAL
    assert routing.case_chat(both, oakfield, normal, CaseKind.COMPLAINT, head) == OAKFIELD_GOVERNORS
    assert routing.case_chat(both, riverside, normal, CaseKind.COMPLAINT, head) == TRUST_COMPLAINTS
    assert routing.case_chat(both, riverside, normal, CaseKind.COMPLAINT, {}) == riverside.staff_chat_id
    assert routing.case_chat(both, riverside, normal, CaseKind.BREACH, head) == riverside.staff_chat_id
    assert (
        routing.case_chat(both, riverside, Priority.URGENT, CaseKind.SAFEGUARDING, {})
        == riverside.staff_chat_id
    )
    assert routing.case_chat(schools, riverside, normal, CaseKind.COMPLAINT, head) == riverside.staff_chat_id
    assert routing.unrouted_schools(schools) == [school.id for school in schools.schools]
    assert routing.unrouted_schools(with_complaints(schools, trust=False, oakfield=True)) == [
        "st-aidans",
        "riverside",
        "hollybrook",
    ]
    assert routing.unrouted_schools(both) == []


def test_a_complaints_chat_is_never_the_school_s_own_and_names_who_may_act(schools: Schools) -> None:
    oakfield = schools.get("oakfield")
    assert oakfield is not None
    fields = oakfield.dict()
    with pytest.raises(ValidationError, match="complaints about the head teacher must go to another chat"):
        School.parse_obj({**fields, "complaints_chat_id": oakfield.staff_chat_id, "complaints_user_ids": [1]})
    lone = {**fields, "allow_all_members": False, "staff_user_ids": [1]}
    with pytest.raises(ValidationError, match="handle complaints about the head"):
        School.parse_obj({**lone, "complaints_chat_id": OAKFIELD_GOVERNORS})
    with pytest.raises(ValidationError, match="must not go to the school's staff"):
        Schools(
            trust=schools.trust.copy(update={"complaints_chat_id": oakfield.staff_chat_id}),
            schools=schools.schools,
        )
    configured = with_complaints(schools, trust=True, oakfield=True)
    named = {chat.chat_id: chat.where for chat in configured.configured_chats()}
    assert named[OAKFIELD_GOVERNORS] == "school oakfield complaints_chat_id"
    assert named[TRUST_COMPLAINTS] == "trust complaints_chat_id"


def test_parentbot_check_warns_when_no_complaints_chat_is_set(schools: Schools) -> None:
    [note] = complaints_notes(schools)
    assert note.startswith("No complaints_chat_id for schools oakfield, st-aidans, riverside, hollybrook")
    assert complaints_notes(with_complaints(schools)) == []


# ---- the real engine and a real database ---------------------------------------------------------------


async def test_a_complaint_about_the_head_goes_to_the_trust_s_complaints_chat_not_the_staff_group(
    nlu: InProcessNlu, responses: ResponseBook, schools: Schools, sessions: sessionmaker[Session]
) -> None:
    configured = with_complaints(schools)
    engine = engine_on(nlu, responses, configured, sessions)
    seen = await complain(engine, "head-1", "riverside", about='/choose{"value": "head"}')
    assert any(text.startswith("Is your complaint about the head teacher") for text in seen)
    consent = next(text for text in seen if "Shall I send exactly this?" in text)
    assert "About: the head teacher or the trust" in consent
    assert "Ask for: Sarah Jones, Tom, Year 4" in consent
    # the parent is told who it goes to: never "the staff at" the school the complaint is about
    complaints_people = responses.render("utter_recipients_complaints", {"school_name": "Riverside Academy"})
    confirmation = next(text for text in seen if "Your reference is" in text)
    for told in (consent, confirmation):
        assert complaints_people.text in told
        assert "the staff at Riverside Academy" not in told

    records = Records.on(sessions, routing.CardRouting(configured))
    [case] = await records.cases.parent_cases("head-1")
    view = await records.cases.get(case.id)
    assert view is not None
    assert view.details["about"] == "head"
    assert view.staff_chat_id == TRUST_COMPLAINTS
    assert {d.chat_id for d in await records.outbox.deliveries(case.id)} == {TRUST_COMPLAINTS}
    card = StaffTexts(responses, configured).card(view).text.splitlines()
    assert card[1] == "Ask for: Sarah Jones, Tom, Year 4", "the names come first"
    assert card[2].startswith("About the head teacher or the trust: for the complaints procedure")


async def test_something_else_and_the_school_s_own_complaints_chat(
    nlu: InProcessNlu, responses: ResponseBook, schools: Schools, sessions: sessionmaker[Session]
) -> None:
    configured = with_complaints(schools, trust=True, oakfield=True)
    engine = engine_on(nlu, responses, configured, sessions)
    await complain(engine, "head-2", "oakfield", about="the head teacher")  # typed, not tapped
    await complain(engine, "other-2", "oakfield", about="Something else")  # the button's words, typed
    records = Records.on(sessions, routing.CardRouting(configured))
    [head] = await records.cases.parent_cases("head-2")
    [other] = await records.cases.parent_cases("other-2")
    assert head.staff_chat_id == OAKFIELD_GOVERNORS
    assert (other.staff_chat_id, other.details.get("about")) == (-1001000000001, None)


async def test_with_no_complaints_chat_it_reaches_the_school_s_chat_and_the_card_says_so(
    nlu: InProcessNlu, responses: ResponseBook, schools: Schools, sessions: sessionmaker[Session]
) -> None:
    engine = engine_on(nlu, responses, schools, sessions)
    await complain(engine, "head-3", "riverside", about='/choose{"value": "head"}')
    records = Records.on(sessions, routing.CardRouting(schools))
    [case] = await records.cases.parent_cases("head-3")
    view = await records.cases.get(case.id)
    assert view is not None
    assert view.staff_chat_id == -1001000000003
    card = StaffTexts(responses, schools).card(view).text
    assert "About the head teacher or the trust. The schools file names no complaints chat" in card


async def test_only_the_complaints_chat_s_people_may_act_on_it(
    nlu: InProcessNlu, responses: ResponseBook, schools: Schools, sessions: sessionmaker[Session]
) -> None:
    configured = with_complaints(schools)
    engine = engine_on(nlu, responses, configured, sessions)
    await complain(engine, "head-4", "oakfield", about='/choose{"value": "head"}')
    await complain(engine, "other-4", "oakfield", about='/choose{"value": "other"}')
    records = Records.on(sessions, routing.CardRouting(configured))
    [head] = await records.cases.parent_cases("head-4")
    [other] = await records.cases.parent_cases("other-4")
    handlers = StaffAccess(configured, StaffChats(configured))
    oakfield_chat = -1001000000001
    assert handlers.may_act_on(head, TRUST_COMPLAINTS, COMPLAINTS_OFFICER)
    assert not handlers.may_act_on(head, TRUST_COMPLAINTS, SCHOOL_STAFF_MEMBER)
    assert not handlers.may_act_on(head, oakfield_chat, SCHOOL_STAFF_MEMBER), "not the school's staff"
    assert handlers.may_act_on(other, oakfield_chat, SCHOOL_STAFF_MEMBER)
    assert not handlers.may_act_on(other, TRUST_COMPLAINTS, COMPLAINTS_OFFICER)


# ---- through Telegram ---------------------------------------------------------------------------------


@pytest.fixture
async def bot(nlu: InProcessNlu, schools: Schools, tmp_path: Path) -> AsyncIterator[RunningBot]:
    async with running_bot(nlu, with_complaints(schools), tmp_path, staff_options=FAST) as running:
        yield running


async def test_the_card_reaches_the_complaints_chat_and_never_the_school_s_staff_group(
    bot: RunningBot, schools: Schools
) -> None:
    school_staff = staff_chat(bot, schools, "riverside")
    officer = bot.server.create_user("Complaints officer", user_id=COMPLAINTS_OFFICER)
    complaints = bot.server.create_group("Trust complaints", members=[officer], chat_id=TRUST_COMPLAINTS)
    parent = bot.parent("Sarah")
    await choose_school(bot, parent, "Riverside Academy")
    offer = await bot.say(parent, ABOUT_THE_HEAD)
    about = await bot.press(parent, offer, "Yes, pass it on")
    names = await bot.press(parent, about, "The head teacher or the trust")
    contact = await bot.say(parent, "Sarah Jones, Tom, Year 4")
    summary = await bot.press(parent, contact, "Reply in this chat")
    await bot.press(parent, summary, "Yes, send it")

    card = await card_in(bot, complaints)
    assert card["text"].splitlines()[1] == "Ask for: Sarah Jones, Tom, Year 4"
    assert "shouted at my son" in card["text"]
    assert "Claim" in buttons(card)
    assert names["text"].startswith("Who should staff ask for?")
    assert bot.server.sent_messages(school_staff.id) == [], "nothing reaches the school's staff group"
