"""How long a flow and a relay last, so a draft or a relay left behind never outlives its purpose:
flows expire after FLOW_TIMEOUT_MINUTES, expired drafts are purged, and relay mode ends on /cancel,
/done, resolution or RELAY_TIMEOUT_HOURS of silence."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from bot.dialogue.engine import DialogueEngine
from bot.dialogue.responses import ResponseBook
from bot.dialogue.variables import TemplateVariables
from bot.schools import Schools
from bot.storage.models import Parent
from bot.storage.parents import SqlStateStore
from bot.storage.records import Records
from tests.standins import Clock, StubNlu, intent, stub_engine

OAKFIELD = '/choose_school{"school":"oakfield"}'
DINNER = "I want to speak to a member of staff about the dinner menu"
CHAT = '/choose{"value": "chat"}'
HOUR = timedelta(hours=1)


async def test_a_flow_expires_and_the_next_message_starts_afresh_with_one_line_saying_so(
    responses: ResponseBook, schools: Schools, sessions: sessionmaker[Session]
) -> None:
    clock = Clock()
    engine = stub_engine(responses, schools, sessions, clock=clock)
    await engine.handle("p", OAKFIELD)
    await engine.handle("p", "/how_to_complain")
    await engine.handle("p", "/affirm")
    await engine.handle("p", '/choose{"value": "other"}')  # not about the head
    clock.advance(timedelta(minutes=119))
    still = await engine.handle("p", "The detention was unfair")  # within the timeout: the description
    assert "Who should staff ask for?" in still[-1].text
    clock.advance(timedelta(minutes=121))
    replies = await engine.handle("p", "/code_overview")
    assert replies[0].text.startswith("Your unfinished complaint from earlier was not sent and has expired")
    assert len(replies) == 2
    assert replies[1] == responses.render(
        "utter_code_overview", TemplateVariables(responses, schools).of(schools.get("oakfield"))
    )
    assert (await SqlStateStore(sessions).load("p")).flow is None


async def test_expired_drafts_are_purged_with_their_text(
    responses: ResponseBook, schools: Schools, sessions: sessionmaker[Session], records: Records
) -> None:
    now = datetime.now(timezone.utc)
    old = stub_engine(responses, schools, sessions, clock=Clock(now - 3 * HOUR))
    fresh = stub_engine(responses, schools, sessions, clock=Clock(now))
    for engine, parent in ((old, "old"), (fresh, "fresh")):
        await engine.handle(parent, "/report_cyberbullying")
        await engine.handle(parent, "/deny")
        await engine.handle(parent, "Someone keeps posting about Jo")
    counts = await records.retention.purge(timedelta(hours=24), timedelta(days=365), flow_timeout=2 * HOUR)
    assert counts.drafts == 1
    with sessions() as session:
        flows = dict(session.execute(select(Parent.id, Parent.flow)).tuples().all())
    assert flows["old"] == {"expired": "cyberbullying"}, "nothing of the draft is left"
    assert "Jo" in str(flows["fresh"])
    assert (
        await records.retention.purge(timedelta(hours=24), timedelta(days=365), flow_timeout=2 * HOUR)
    ).drafts == 0
    replies = await fresh.handle("old", "/code_overview")  # the next message says it expired, once
    assert replies[0].text.startswith("Your unfinished cyberbullying report from earlier was not sent")
    again = await fresh.handle("old", "/code_overview")
    assert not again[0].text.startswith("Your unfinished")


async def _in_relay(
    engine: DialogueEngine, records: Records, sessions: sessionmaker[Session], parent: str = "p"
) -> int:
    for text in (OAKFIELD, DINNER, "/affirm", "Is the menu changing?", CHAT, "/affirm"):
        await engine.handle(parent, text)
    [case] = await records.cases.parent_cases(parent)
    assert await records.cases.staff_reply(case.id, "Mrs Patel", "Which year is your child in?")
    assert (await SqlStateStore(sessions).load(parent)).relay_case_id == case.id
    return case.id


@pytest.mark.parametrize("leave", ["/cancel", "/done"])
async def test_relay_mode_ends_on_cancel_and_done(
    responses: ResponseBook, schools: Schools, sessions: sessionmaker[Session], records: Records, leave: str
) -> None:
    engine = stub_engine(responses, schools, sessions, StubNlu({DINNER: intent("human_handoff")}))
    case_id = await _in_relay(engine, records, sessions)
    replies = await engine.handle("p", leave)
    assert any("your messages come to me again" in r.text for r in replies)
    assert (await SqlStateStore(sessions).load("p")).relay_case_id is None
    before = len(await records.outbox.deliveries(case_id))
    await engine.handle("p", "Year 5")
    assert len(await records.outbox.deliveries(case_id)) == before, "no longer relayed"


async def test_relay_mode_ends_when_the_case_is_resolved(
    responses: ResponseBook, schools: Schools, sessions: sessionmaker[Session], records: Records
) -> None:
    engine = stub_engine(responses, schools, sessions, StubNlu({DINNER: intent("human_handoff")}))
    case_id = await _in_relay(engine, records, sessions)
    assert await records.cases.resolve(case_id, 1, "Mrs Patel")
    assert (await SqlStateStore(sessions).load("p")).relay_case_id is None


async def test_relay_mode_ends_after_its_timeout_of_silence(
    responses: ResponseBook, schools: Schools, sessions: sessionmaker[Session], records: Records
) -> None:
    clock = Clock()
    engine = stub_engine(
        responses, schools, sessions, StubNlu({DINNER: intent("human_handoff")}), clock=clock
    )
    case_id = await _in_relay(engine, records, sessions)
    clock.advance(73 * HOUR)
    replies = await engine.handle("p", "/privacy")
    assert replies[0].text.startswith("It's been a while, so your messages come to me again")
    assert (await SqlStateStore(sessions).load("p")).relay_case_id is None
    assert [d.kind for d in await records.outbox.deliveries(case_id)].count("parent_reply") == 0


async def test_the_purge_ends_relays_silent_past_their_timeout(
    responses: ResponseBook, schools: Schools, sessions: sessionmaker[Session], records: Records
) -> None:
    engine = stub_engine(responses, schools, sessions, StubNlu({DINNER: intent("human_handoff")}))
    await _in_relay(engine, records, sessions, "silent")
    await _in_relay(engine, records, sessions, "talking")
    with sessions.begin() as session:
        long_ago = datetime.now(timezone.utc) - 80 * HOUR
        session.execute(update(Parent).where(Parent.id == "silent").values(updated_at=long_ago))
    counts = await records.retention.purge(timedelta(hours=24), timedelta(days=365), relay_timeout=72 * HOUR)
    assert counts.relays == 1
    assert (await SqlStateStore(sessions).load("silent")).relay_case_id is None
    assert (await SqlStateStore(sessions).load("talking")).relay_case_id is not None
