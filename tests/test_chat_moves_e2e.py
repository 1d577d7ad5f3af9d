"""A staff group that becomes a supergroup (it gets a new id, and what is sent to the old one fails):
followed as soon as
Telegram's migration messages arrive, and learnt by every process without a restart. Through the real
Application(s) against the local Bot API server, on a real database."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker
from telegram import Bot
from telegram.ext import Application, filters

from bot.nlu.client import InProcessNlu
from bot.schools import Schools
from bot.services import Services
from bot.staff.chats import StaffChats
from bot.storage.outbox import Outbox
from bot.telegram.chat_moves import REFRESH_EVERY, ChatMoveHandlers
from devserver import BotApiServer
from tests.telegram_harness import TOKEN, buttons, eventually, started_application
from tests.test_delivery_e2e import OAKFIELD_STAFF, TRUST_CHAT, draft, ok_texts, with_chats
from tests.test_staff_e2e import FAST, STAFF_ID, staff_bot

JsonDict = dict[str, Any]
SUPERGROUP = -1002000000001


def bot_errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The bot's own error lines (an update that raised, a recording that failed)."""
    return [r.getMessage() for r in caplog.records if r.levelname == "ERROR" and r.name.startswith("bot.")]


async def test_migrate_group_sends_the_two_service_messages_telegram_sends() -> None:
    async with BotApiServer(token=TOKEN) as server:
        admin = server.create_user("Priya", user_id=STAFF_ID)
        group = server.create_group("Oakfield staff", members=[admin])
        async with Bot(TOKEN, base_url=server.base_url) as bot:
            supergroup = server.migrate_group(group.id, by=admin)
            old, new = await bot.get_updates(timeout=0)

        assert old.message is not None
        assert new.message is not None
        assert (old.message.chat.id, old.message.migrate_to_chat_id) == (group.id, supergroup.id)
        assert old.message.from_user is not None
        assert old.message.from_user.id == admin.id
        assert (new.message.chat.id, new.message.migrate_from_chat_id) == (supergroup.id, group.id)
        assert new.message.sender_chat is not None
        assert new.message.sender_chat.id == supergroup.id  # on behalf of the supergroup itself
        assert new.message.chat.type == "supergroup"
        assert all(filters.StatusUpdate.MIGRATE.check_update(u) for u in (old, new))
        assert not server.spec_violations


async def test_a_migration_message_moves_the_staff_chat_at_once(
    nlu: InProcessNlu, schools: Schools, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with staff_bot(nlu, with_chats(schools), tmp_path) as world:
        staff = world.staff_chat()
        elsewhere = world.server.create_group("Year 6 parents", members=[world.outsider])
        case = await world.open_case()
        await world.card(case, staff)
        await world.settled()
        tried_before = len(world.server.calls_to("sendMessage", staff.id))

        supergroup = world.server.migrate_group(staff.id, by=world.member)
        other = world.server.migrate_group(elsewhere.id, by=world.outsider)
        await world.server.wait_handled()

        assert await world.outbox.chat_moves() == {staff.id: supergroup.id}, "a staff chat's move only"
        moved = await world.cases.get(case.id)
        assert moved is not None
        assert moved.staff_chat_id == supergroup.id
        said = [r.getMessage() for r in caplog.records if r.name.startswith("bot.")]  # not Alembic's steps
        lines = [line for line in said if "became supergroup" in line]
        assert len(lines) == 1
        assert f"set school oakfield staff_chat_id to {supergroup.id}" in lines[0]

        # Staff act in the supergroup straight away: before any delivery there, let alone a failed one.
        world.server.user_sends_text(world.member, "/cases", chat=supergroup)
        listed = await world.server.wait_for_message(supergroup.id)
        assert case.reference in listed["text"]
        second = await world.open_case()
        card = await world.card(second, supergroup)
        assert (await world.press(world.member, card, "Claim"))["text"].startswith("You've claimed")
        assert await world.audits(action="claim", chat_id=supergroup.id, allowed=True)
        await world.settled()
        assert len(world.server.calls_to("sendMessage", staff.id)) == tried_before, "the old id was tried"
        assert not ok_texts(world.server, TRUST_CHAT)
        assert not world.server.sent_messages(other.id), "the bot answered a service message"
    assert not bot_errors(caplog)


@dataclass
class Process:
    """One `parentbot run`: its own Application, services and database pool; polling only when told."""

    app: Application
    services: Services

    @property
    def outbox(self) -> Outbox:
        return self.services.records.outbox

    async def poll(self) -> None:
        assert self.app.updater is not None
        await self.app.updater.start_polling(poll_interval=0.0, timeout=1)

    async def stop_polling(self) -> None:
        """Stop taking updates (PTB confirms those it took, so the next poller does not get them)."""
        assert self.app.updater is not None
        await self.app.updater.stop()


@asynccontextmanager
async def bot_process(
    nlu: InProcessNlu, schools: Schools, api: BotApiServer, tmp_path: Path
) -> AsyncIterator[Process]:
    """The bot as `parentbot run` starts it (post_init included) on the shared database, not polling."""
    async with started_application(
        nlu, schools, api, tmp_path / "staff.db", start=None, staff_options=FAST
    ) as (app, services):
        yield Process(app, services)


async def test_a_move_one_process_was_told_is_learnt_by_another_without_a_restart(
    nlu: InProcessNlu, schools: Schools, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    configured = with_chats(schools)
    async with BotApiServer(token=TOKEN) as api:
        member = api.create_user("Priya", last_name="Patel", user_id=STAFF_ID)
        staff = api.create_group("Oakfield staff", members=[member], chat_id=OAKFIELD_STAFF)
        parent = api.create_user("Sam")
        async with (
            bot_process(nlu, configured, api, tmp_path) as first,
            bot_process(nlu, configured, api, tmp_path) as second,
        ):
            await first.poll()
            supergroup = api.migrate_group(staff.id, by=member)
            await api.wait_handled()
            await first.stop_polling()
            assert await second.outbox.chat_moves() == {staff.id: supergroup.id}

            await second.poll()  # from now on every update goes to the second process
            api.user_sends_text(member, "Morning all, I'm on the rota today", chat=supergroup)
            await api.wait_handled()
            assert not api.sent_messages(supergroup.id), "the staff chat was asked to message privately"
            case = await second.services.records.cases.open_case(draft(configured, parent_id=parent.id))
            card = await api.wait_for_message(
                supergroup.id, lambda m: case.reference in m["text"] and "reply_markup" in m
            )

            async def recorded() -> bool:
                view = await second.services.records.cases.get(case.id)
                return view is not None and view.card_message_id == card["message_id"]

            await eventually(recorded, "the card was recorded")
            query = api.user_presses_button(member, card, buttons(card)["Claim"])
            await api.wait_until(lambda: query["id"] in api.callback_answers)
            assert api.callback_answers[query["id"]]["text"].startswith("You've claimed")

            api.user_sends_text(member, "/cases", chat=supergroup)  # the command filter learnt it too
            listed = await api.wait_for_message(supergroup.id, lambda m: "reply_markup" not in m)
            assert case.reference in listed["text"]
            assert not api.calls_to("sendMessage", staff.id), "a delivery met the move"
    assert not bot_errors(caplog), "both migration messages at once"


async def test_an_unknown_chat_rereads_the_stored_moves_at_most_once_per_interval(
    sessions: sessionmaker[Session], schools: Schools
) -> None:
    chats = StaffChats(schools)
    now = [1000.0]
    moves = ChatMoveHandlers(Outbox(sessions), chats, chats.follow, schools, clock=lambda: now[0])
    assert not await moves.learn(SUPERGROUP)  # read: nothing stored yet

    other_process = Outbox(sessions)
    assert await other_process.follow_chat_move(OAKFIELD_STAFF, SUPERGROUP)
    now[0] += REFRESH_EVERY - 1
    assert not await moves.learn(SUPERGROUP), "read again too soon"
    assert SUPERGROUP not in chats

    now[0] += 1
    assert await moves.learn(SUPERGROUP)
    assert SUPERGROUP in chats
    assert chats.current(OAKFIELD_STAFF) == SUPERGROUP
