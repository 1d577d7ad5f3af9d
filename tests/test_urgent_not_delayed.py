"""Nobody can delay an urgent case, through the real Application and the
local Bot API server. Danger words take a looser flood bucket, never none; one delivery lane per chat, so
one busy chat never holds another; photos per report capped; the bot silent in groups the configuration
does not name (it leaves them), and refusals never make a handler wait on a send."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.domain import Author, CaseKind, Priority
from bot.nlu.client import InProcessNlu
from bot.schools import Schools
from bot.services import Services
from bot.staff.routing import CardRouting
from bot.staff.worker import PER_CHAT
from bot.storage.cases import CaseStore
from bot.storage.database import make_engine, migrate, session_factory
from bot.storage.flood import SqlFloodBuckets
from bot.storage.models import CaseMessage, ConversationMessage
from bot.storage.outbox import Outbox
from bot.telegram.flood import FLOOD_BURST, URGENT_BURST_FACTOR, SharedFloodGate
from devserver import BotApiServer
from tests.telegram_harness import RunningBot, running_bot
from tests.test_delivery_e2e import URGENT, draft, first_ok, group, position
from tests.test_faults import FAST
from tests.test_flood_shared import Clock
from tests.test_staff_e2e import OUTSIDER_ID, STAFF_ID, staff_bot, staff_schools

DANGER = "a man online keeps asking my daughter for nudes"
GUIDANCE = "If a child is in danger right now, call 999"


@pytest.fixture
async def frozen_bot(nlu: InProcessNlu, schools: Schools, tmp_path: Path) -> AsyncIterator[RunningBot]:
    """The bot with its flood limit on a clock that does not move: no bucket refills during the test."""
    clock = Clock(time.time())

    def gate(services: Services) -> SharedFloodGate:
        return SharedFloodGate(SqlFloodBuckets(session_factory(services.db)), clock=clock)

    async with running_bot(nlu, schools, tmp_path, staff_options=FAST, flood=gate) as running:
        yield running


def heard_from(bot: RunningBot, parent_id: int) -> list[str]:
    """What the engine took in from the parent: loose messages, those of a flow, those of a case."""
    with session_factory(bot.services.db)() as session:
        loose = session.scalars(
            select(ConversationMessage.text).where(
                ConversationMessage.parent_id == str(parent_id), ConversationMessage.author == Author.PARENT
            )
        ).all()
        relayed = session.scalars(select(CaseMessage.text).where(CaseMessage.author == Author.PARENT)).all()
    return [*loose, *relayed]


async def test_a_burst_of_danger_messages_all_get_the_guidance_but_only_the_urgent_burst_is_processed(
    frozen_bot: RunningBot,
) -> None:
    bot = frozen_bot
    flooder = bot.parent("Flo")
    for number in range(200):
        bot.server.user_sends_text(flooder, f"{DANGER} {number}")
    await bot.server.wait_handled(timeout=120)
    texts = [m["text"] for m in bot.server.sent_messages(flooder.id)]
    guided = sum(GUIDANCE in text for text in texts)
    assert guided >= 200, f"{guided} of 200 danger messages got the emergency guidance"
    flow = (await bot.services.store.load(str(flooder.id))).flow
    in_flow = [line.text for line in flow.lines if line.author is Author.PARENT] if flow else []
    heard = {*heard_from(bot, flooder.id), *in_flow}
    assert 1 <= len(heard) <= FLOOD_BURST * URGENT_BURST_FACTOR, len(heard)


async def test_a_hundred_deliveries_queued_for_one_school_never_hold_another_schools_urgent_card(
    nlu: InProcessNlu, schools: Schools, tmp_path: Path
) -> None:
    oakfield, aidans = schools.get("oakfield"), schools.get("st-aidans")
    assert oakfield is not None
    assert aidans is not None
    db = make_engine(f"sqlite:///{tmp_path}/staff.db")
    migrate(db)
    store, outbox = (
        CaseStore(session_factory(db), CardRouting(schools)),
        Outbox(session_factory(db), CardRouting(schools)),
    )
    busy = await store.open_case(draft(schools, parent_id=9001, **URGENT))
    for _ in range(100):  # staff asking for the card again and again (/case REF): all urgent
        assert await outbox.queue_card(busy.id)
    other = await store.open_case(
        draft(schools, parent_id=9002, **{**URGENT, "school_id": "st-aidans", "kind": CaseKind.SAFEGUARDING})
    )
    assert other.priority is Priority.URGENT
    db.dispose()

    def chats(server: BotApiServer) -> None:
        group(server, (STAFF_ID,), oakfield.case_chat_id(True), "Oakfield staff")
        group(server, (STAFF_ID,), aidans.case_chat_id(True), "St Aidan's staff")
        for parent_id in (9001, 9002):
            server.create_user("Parent", user_id=parent_id)

    async with staff_bot(nlu, schools, tmp_path, prepare=chats) as world:
        await world.server.wait_for_message(
            aidans.case_chat_id(True), lambda m: other.reference in m.get("text", ""), timeout=60
        )
        card = first_ok(world.server, aidans.case_chat_id(True), other.reference)
        before = position(world.server, card)
        sends = world.server.calls_to("sendMessage", oakfield.case_chat_id(True))
        ahead = [c for c in sends if c.ok and position(world.server, c) < before]
        assert len(ahead) < 101, "St Aidan's urgent card waited for Oakfield's whole queue"
        assert len(ahead) <= 2 * PER_CHAT, f"{len(ahead)} of Oakfield's cards went first"


async def test_the_bot_says_nothing_in_a_group_it_does_not_know_leaves_it_once_and_parents_are_served(
    frozen_bot: RunningBot,
) -> None:
    bot = frozen_bot
    stranger = bot.parent("Stranger")
    group = bot.server.create_group("Anyone's group", members=[stranger])
    for _ in range(300):
        bot.server.user_sends_text(stranger, "/cases", chat=group)
    parent = bot.parent("Parent")
    assert "I help parents" in (await bot.say(parent, "/help", timeout=60))["text"]
    await bot.server.wait_handled(timeout=60)
    await bot.server.wait_until(lambda: all(c.done for c in bot.server.calls_to("leaveChat")), 10)

    assert bot.server.calls_to("sendMessage", group.id) == [], "nothing said in the unknown group"
    assert len(bot.server.calls_to("leaveChat", group.id)) == 1
    assert bot.server.calls_to("leaveChat", group.id)[0].ok
    events = await bot.services.records.audit.audit_events()
    assert [(e.action, e.allowed) for e in events if e.chat_id == group.id] == [("leave", False)]


async def test_a_bot_added_to_a_group_it_does_not_know_says_nothing_and_leaves_after_its_setup_stay(
    nlu: InProcessNlu, schools: Schools, tmp_path: Path
) -> None:
    """It stays a moment for /setup (tests/test_setup_e2e.py), answering nothing else, then leaves."""
    brief = replace(FAST, setup_stay=timedelta(seconds=0.5))
    async with running_bot(nlu, schools, tmp_path, staff_options=brief) as bot:
        adder = bot.parent("Adder")
        group = bot.server.create_group("Someone's group", members=[adder])
        me = bot.server.bot_user.to_api()
        bot.server.push_update(
            "my_chat_member",
            {
                "chat": group.to_api(),
                "from": adder.to_api(),
                "date": int(time.time()),
                "old_chat_member": {"status": "left", "user": me},
                "new_chat_member": {"status": "member", "user": me},
            },
        )
        for _ in range(50):
            bot.server.user_sends_text(adder, "/cases", chat=group)
        await bot.server.wait_for_call("leaveChat", group.id, timeout=10)
        await bot.server.wait_handled(timeout=10)  # the my_chat_member update the leave brings, too
        assert len(bot.server.calls_to("leaveChat", group.id)) == 1
        assert bot.server.calls_to("sendMessage", group.id) == []


async def test_a_member_refused_again_and_again_in_a_staff_chat_never_holds_a_parent_up(
    nlu: InProcessNlu, schools: Schools, tmp_path: Path
) -> None:
    async with staff_bot(nlu, staff_schools(schools), tmp_path) as world:
        staff = world.staff_chat("riverside")  # Riverside names only Priya as staff
        for _ in range(300):
            world.server.user_sends_text(world.outsider, "/cases", chat=staff)
        world.server.user_sends_text(world.parent, "/help")
        answer = await world.server.wait_for_message(world.parent.id, timeout=60)
        assert "I help parents" in answer["text"]
        await world.server.wait_handled(timeout=60)

        refusals = world.server.calls_to("sendMessage", staff.id)
        assert 1 <= len(refusals) < 300, "refusals are capped while others wait to be sent"
        audited = await world.audits(action="view", actor_id=OUTSIDER_ID, chat_id=staff.id, allowed=False)
        assert len(audited) == 300, "every refusal is still audited"
