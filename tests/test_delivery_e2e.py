"""Urgent delivery that cannot silently fail, end to end: the real Application and its delivery
worker against the local Bot API server, with staff chats that migrate, remove the bot or never existed."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import warnings
from pathlib import Path
from typing import Any

import pytest
from telegram.ext import CallbackContext
from telegram.warnings import PTBUserWarning

from bot.domain import CaseDraft, CaseKind, Priority
from bot.nlu.client import InProcessNlu
from bot.schools import Schools
from bot.services import build_services
from bot.staff.routing import CardRouting
from bot.staff.worker import PER_CHAT
from bot.storage.cases import CaseStore
from bot.storage.database import make_engine, migrate, session_factory
from bot.storage.models import DeliveryStatus
from bot.telegram.app import build_application
from devserver import BotApiServer, Call
from tests.telegram_harness import ROOT, TOKEN, bot_settings
from tests.test_staff_e2e import STAFF_ID, StaffWorld, staff_bot

TRUST_CHAT = -1001000000099
OAKFIELD_DSL = -1001000000011
OAKFIELD_STAFF = -1001000000001
OAKFIELD_PHONE = "01632 960 201"
DELIVERED = "The school's safeguarding staff have your message"
URGENT: dict[str, Any] = {
    "kind": CaseKind.SAFEGUARDING,
    "priority": Priority.URGENT,
    "summary": "A man keeps messaging my daughter asking where she lives",
}


def with_chats(
    schools: Schools, *, trust: int | None = TRUST_CHAT, oakfield_dsl: int | None = None
) -> Schools:
    listed = [
        school.copy(update={"safeguarding_chat_id": oakfield_dsl}) if school.id == "oakfield" else school
        for school in schools.schools
    ]
    return Schools(trust=schools.trust.copy(update={"safeguarding_chat_id": trust}), schools=listed)


def ok_texts(server: BotApiServer, chat_id: int) -> list[str]:
    return [str(c.params.get("text", "")) for c in server.calls_to("sendMessage", chat_id) if c.ok]


def first_ok(server: BotApiServer, chat_id: int, text: str) -> Call:
    return next(c for c in server.calls_to("sendMessage", chat_id) if c.ok and text in c.params["text"])


def position(server: BotApiServer, call: Call) -> int:
    return next(number for number, made in enumerate(server.calls) if made is call)


async def told(world: StaffWorld, text: str) -> str:
    message = await world.server.wait_for_message(world.parent.id, lambda m: text in m.get("text", ""))
    return str(message["text"])


def group(server: BotApiServer, world_members: tuple[int, ...], chat_id: int, title: str) -> None:
    members = [server.create_user(f"Staff {user_id}", user_id=user_id) for user_id in world_members]
    server.create_group(title, members=members, chat_id=chat_id)


@pytest.fixture
def trust_and_dsl(schools: Schools) -> Schools:
    return with_chats(schools, oakfield_dsl=OAKFIELD_DSL)


async def test_an_urgent_card_jumps_a_backlog_and_goes_to_the_schools_safeguarding_chat(
    nlu: InProcessNlu, trust_and_dsl: Schools, tmp_path: Path
) -> None:
    db = make_engine(f"sqlite:///{tmp_path}/staff.db")
    migrate(db)
    store = CaseStore(session_factory(db), CardRouting(trust_and_dsl))
    backlog = await store.open_case(draft(trust_and_dsl, parent_id=9001))
    for number in range(30):  # to the parent's private chat: no per-group rate limit holds them back
        assert await store.staff_reply(backlog.id, "Ms Patel", f"reply {number}")
    urgent = await store.open_case(draft(trust_and_dsl, parent_id=9002, **URGENT))
    db.dispose()

    def chats(server: BotApiServer) -> None:
        group(server, (STAFF_ID,), OAKFIELD_STAFF, "Oakfield staff")
        group(server, (STAFF_ID,), OAKFIELD_DSL, "Oakfield safeguarding")
        for parent_id in (9001, 9002):
            server.create_user("Parent", user_id=parent_id)

    async with staff_bot(nlu, trust_and_dsl, tmp_path, prepare=chats) as world:
        await world.server.wait_until(lambda: len(ok_texts(world.server, 9001)) == 30, timeout=20)
        card = first_ok(world.server, OAKFIELD_DSL, urgent.reference)
        sends = [c for c in world.server.calls if c.method == "sendMessage" and c.ok]
        # Each chat has its own lane, sending concurrently: the card is among the first pass's sends.
        assert card in sends[: PER_CHAT + 1], "the urgent card waited behind the backlog"
        assert not [t for t in ok_texts(world.server, OAKFIELD_STAFF) if urgent.reference in t]
        assert world.server.pinned_messages(OAKFIELD_DSL) == [card.result["message_id"]]
        assert DELIVERED in (await world.server.wait_for_message(9002))["text"]


def draft(schools: Schools, parent_id: int, **changes: Any) -> CaseDraft:
    school = schools.get("oakfield")
    assert school is not None
    fields: dict[str, Any] = {
        "parent_id": str(parent_id),
        "parent_chat_id": parent_id,
        "school_id": "oakfield",
        "staff_chat_id": school.staff_chat_id,
        "kind": CaseKind.CYBERBULLYING,
        "priority": Priority.NORMAL,
        "summary": "Horrible messages",
        "contact_method": "chat",
        **changes,
    }
    return CaseDraft(**fields)


async def test_the_parent_hears_have_your_message_only_once_the_card_is_posted(
    nlu: InProcessNlu, trust_and_dsl: Schools, tmp_path: Path
) -> None:
    def chats(server: BotApiServer) -> None:
        group(server, (STAFF_ID,), OAKFIELD_DSL, "Oakfield safeguarding")
        server.inject_fault("sendMessage", OAKFIELD_DSL, kind="server_error", times=3, status=502)

    async with staff_bot(nlu, trust_and_dsl, tmp_path, prepare=chats) as world:
        case = await world.open_case(**URGENT)

        text = await told(world, DELIVERED)

        assert case.reference in text
        card = first_ok(world.server, OAKFIELD_DSL, case.reference)
        failed = [c for c in world.server.calls_to("sendMessage", OAKFIELD_DSL) if c.status == 502]
        assert len(failed) == 3
        parent_call = first_ok(world.server, world.parent.id, DELIVERED)
        assert position(world.server, card) < position(world.server, parent_call)
        assert len(ok_texts(world.server, world.parent.id)) == 1


async def test_a_group_that_became_a_supergroup_is_followed_and_staff_act_there(
    nlu: InProcessNlu, schools: Schools, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with staff_bot(nlu, with_chats(schools), tmp_path) as world:
        world.staff_chat()
        # The bot missed the migration messages (it was down longer than Telegram keeps updates): the
        # first delivery to the old id is what tells it (tests/test_chat_moves_e2e.py: when it gets them).
        supergroup = world.server.migrate_group(OAKFIELD_STAFF, announce=False)
        caplog.set_level(logging.WARNING, logger="bot.staff.failover")
        first = await world.open_case(**URGENT)

        card = await world.card(first, supergroup)

        warnings = [r.getMessage() for r in caplog.records if r.name == "bot.staff.failover"]
        assert len(warnings) == 1
        assert f"set school oakfield staff_chat_id to {supergroup.id}" in warnings[0]
        assert first.summary not in warnings[0]
        assert (await world.press(world.member, card, "Claim"))["text"].startswith("You've claimed")
        assert await world.audits(action="claim", chat_id=supergroup.id, allowed=True)

        second = await world.open_case()
        await world.card(second, supergroup)
        assert len(world.server.calls_to("sendMessage", OAKFIELD_STAFF)) == 1, "the old id was used again"
        assert not ok_texts(world.server, TRUST_CHAT)


@pytest.mark.parametrize("fate", ["kicked", "chat not found", "no rights"])
async def test_a_school_chat_that_cannot_take_the_card_fails_over_to_the_trust_chat_with_an_alert(
    fate: str, nlu: InProcessNlu, schools: Schools, tmp_path: Path
) -> None:
    def chats(server: BotApiServer) -> None:
        group(server, (STAFF_ID,), TRUST_CHAT, "Trust safeguarding")
        if fate != "chat not found":
            server.create_group("Oakfield staff", chat_id=OAKFIELD_STAFF)
        if fate == "kicked":
            server.set_bot_status(OAKFIELD_STAFF, "kicked")
        if fate == "no rights":
            server.set_bot_status(OAKFIELD_STAFF, "restricted", can_send_messages=False)

    async with staff_bot(nlu, with_chats(schools), tmp_path, prepare=chats) as world:
        case = await world.open_case(**URGENT)

        await told(world, DELIVERED)

        trust = ok_texts(world.server, TRUST_CHAT)
        alert = next(t for t in trust if t.startswith("ALERT"))
        assert "Oakfield Primary School" in alert
        assert f"{OAKFIELD_STAFF}, school oakfield staff_chat_id" in alert
        assert case.reference in alert
        assert case.summary not in alert
        assert [c.status for c in world.server.calls_to("sendMessage", OAKFIELD_STAFF)] in ([400], [403])
        card = await world.card(case, world.server.chat(TRUST_CHAT))
        assert world.server.pinned_messages(TRUST_CHAT) == [card["message_id"]]
        reminder = await world.server.wait_for_message(TRUST_CHAT, lambda m: m["text"].startswith("Reminder"))
        assert reminder["reply_to_message"]["message_id"] == card["message_id"]  # where the card is
        assert (await world.press(world.member, card, "Claim"))["text"].startswith("You've claimed")


async def test_when_no_chat_can_be_reached_the_parent_is_told_to_phone_and_the_operator_can_requeue(
    nlu: InProcessNlu, schools: Schools, tmp_path: Path
) -> None:
    configured = with_chats(schools)

    def chats(server: BotApiServer) -> None:
        for chat_id in (OAKFIELD_STAFF, TRUST_CHAT):
            group(server, (STAFF_ID,), chat_id, "Staff")
            server.set_bot_status(chat_id, "kicked")

    async with staff_bot(nlu, configured, tmp_path, prepare=chats) as world:
        case = await world.open_case(**URGENT)

        text = await told(world, "could not get your URGENT message")

        assert OAKFIELD_PHONE in text
        assert "call 999" in text
        assert not [t for t in ok_texts(world.server, world.parent.id) if DELIVERED in t]
        failed = [d for d in await world.outbox.deliveries(case.id) if d.status is DeliveryStatus.FAILED]
        assert sorted((d.kind, d.chat_id) for d in failed) == [
            ("case_card", TRUST_CHAT),
            ("chat_failed_alert", TRUST_CHAT),
        ]

        world.server.user_sends_text(world.parent, "/status")
        status = await world.server.wait_for_message(
            world.parent.id, lambda m: "Your cases" in m.get("text", "")
        )
        assert f"{case.reference}: " in status["text"]
        assert "NOT delivered" in status["text"]
        assert OAKFIELD_PHONE in status["text"]

        listed = await parentbot(tmp_path, configured, "outbox")
        card_row = next(d for d in failed if d.kind == "case_card")
        line = next(line for line in listed.splitlines() if "case_card" in line)
        assert line.split() == [
            str(card_row.id),
            case.reference,
            "case_card",
            str(TRUST_CHAT),
            "failed",
            "1",
            "Forbidden",
        ]
        assert case.summary not in listed

        for chat_id in (OAKFIELD_STAFF, TRUST_CHAT):
            world.server.set_bot_status(chat_id, "member")  # someone put the bot back
        retried = await parentbot(tmp_path, configured, "outbox", "--retry")
        assert "Queued 2 deliveries again" in retried

        await world.card(case, world.server.chat(OAKFIELD_STAFF))  # where the configuration says
        await told(world, DELIVERED)
        await world.server.wait_for_message(TRUST_CHAT, lambda m: m["text"].startswith("ALERT"))
        assert "No stuck deliveries." in await parentbot(tmp_path, configured, "outbox")


async def parentbot(tmp_path: Path, schools: Schools, *args: str) -> str:
    """The real command line, in its own process, on the running bot's database."""
    schools_file = tmp_path / "schools.yml"
    schools_file.write_text(schools.json(by_alias=True), encoding="utf-8")  # JSON is YAML too
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path}/staff.db",
        "SCHOOLS_FILE": str(schools_file),
        "PROJECT_DIR": str(ROOT),
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.cli",
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode == 0, err.decode()[-2000:]
    return out.decode()


async def test_the_start_up_check_names_every_misconfigured_chat_and_the_bot_keeps_running(
    nlu: InProcessNlu, schools: Schools, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    def chats(server: BotApiServer) -> None:
        ids = {school.id: school.staff_chat_id for school in schools.schools}
        for school_id in ("st-aidans", "riverside", "hollybrook"):
            server.create_group(school_id, chat_id=ids[school_id])
        server.create_group("Trust", chat_id=TRUST_CHAT)
        server.set_bot_status(TRUST_CHAT, "administrator")
        server.set_bot_status(ids["st-aidans"], "kicked")
        server.set_bot_status(ids["riverside"], "restricted", can_send_messages=False)
        server.set_bot_status(ids["hollybrook"], "member", can_pin_messages=False)

    caplog.set_level(logging.WARNING, logger="bot.telegram.staff.chat_checks")
    async with staff_bot(nlu, with_chats(schools), tmp_path, prepare=chats) as world:
        lines = sorted(r.getMessage() for r in caplog.records if r.name == "bot.telegram.staff.chat_checks")
        assert lines == [
            "Chat -1001000000001 (school oakfield staff_chat_id): cannot be reached "
            "(BadRequest: Chat not found)",
            "Chat -1001000000002 (school st-aidans staff_chat_id): cannot be reached "
            "(Forbidden: bot was kicked from the group chat)",
            "Chat -1001000000003 (school riverside staff_chat_id): the bot cannot post messages",
            "Chat -1001000000004 (school hollybrook staff_chat_id): the bot cannot pin messages "
            "(urgent cards are pinned)",
        ]
        assert world.server.calls_to("getChatMember", TRUST_CHAT)[0].ok
        assert not world.server.spec_violations
        case = await world.open_case(**URGENT)  # still running: the case fails over to the trust chat
        await world.card(case, world.server.chat(TRUST_CHAT))


async def test_a_bot_that_is_not_running_starts_no_delivery_lane(
    nlu: InProcessNlu, schools: Schools, tmp_path: Path
) -> None:
    """A delivery tick that fires while the Application stops (or before it runs) leaves the rows for the
    next start: a lane started then would be a task nobody awaits, cut off when the process ends."""
    async with BotApiServer(token=TOKEN) as api:
        api.create_group("Oakfield staff", chat_id=OAKFIELD_STAFF)
        services = build_services(bot_settings(api, tmp_path / "idle.db"), schools, nlu=nlu)
        try:
            app = build_application(services)
            await app.initialize()
            case = await services.records.cases.open_case(
                CaseDraft(
                    parent_id="7",
                    parent_chat_id=7,
                    school_id="oakfield",
                    staff_chat_id=OAKFIELD_STAFF,
                    kind=CaseKind.COMPLAINT,
                    priority=Priority.NORMAL,
                    summary="The homework club closed without notice",
                    contact_method="chat",
                )
            )
            assert app.job_queue is not None
            [job] = app.job_queue.get_jobs_by_name("deliveries")
            with warnings.catch_warnings():
                warnings.simplefilter("error", PTBUserWarning)
                await job.callback(CallbackContext(app))
            assert not [task for task in asyncio.all_tasks() if task.get_name() == "delivery-lane"]
            assert not api.calls_to("sendMessage", OAKFIELD_STAFF)
            pending = await services.records.outbox.deliveries(case.id)
            assert [d.status for d in pending if d.kind == "case_card"] == [DeliveryStatus.PENDING]
            await app.shutdown()
        finally:
            services.db.dispose()
