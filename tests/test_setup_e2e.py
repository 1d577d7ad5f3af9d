"""/setup end to end: the real Application against the local Bot API server. In any group the bot is in,
configured or not, /setup answers with the group's id, whether it has topics, the rights the bot lacks
there and the line for the schools file; in a private chat, where to send it. In a group the schools file
does not name the bot answers nothing else, and leaves once its stay for /setup is over."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from devserver.membership import BotStatus

from bot.nlu.client import InProcessNlu
from bot.schools import Schools
from bot.services import Services
from bot.staff import StaffOptions
from bot.storage.models import AuditEvent
from devserver import BotApiServer, SimChat, SimUser
from tests.telegram_harness import TOKEN, settled, started_application
from tests.test_staff_e2e import FAST

OAKFIELD_STAFF = -1001000000001
"""Oakfield's staff_chat_id in schools.example.yml."""
JsonDict = dict[str, Any]
ALL_RIGHTS = "Rights: I have every right I need here."
PIN = "pin messages (urgent cards are pinned)"
TOPICS = "manage topics (each case gets its own topic)"


@dataclass
class SetupWorld:
    server: BotApiServer
    services: Services
    member: SimUser

    async def setup(self, chat: SimChat, timeout: float = 10) -> JsonDict:
        """The member sends /setup in the chat; returns the bot's answer, after checking it replies."""
        asked = self.server.user_sends_text(self.member, "/setup", chat=chat)
        answer = await self.server.wait_for_message(chat.id, timeout=timeout)
        assert answer["reply_to_message"]["message_id"] == asked["message_id"]
        return answer

    async def settled(self) -> None:
        await settled(self.server, self.services.records.outbox)

    async def leaves(self, chat_id: int) -> list[AuditEvent]:
        events = await self.services.records.audit.audit_events()
        return [e for e in events if e.action == "leave" and e.chat_id == chat_id]


@asynccontextmanager
async def setup_bot(
    nlu: InProcessNlu, schools: Schools, tmp_path: Path, options: StaffOptions = FAST
) -> AsyncIterator[SetupWorld]:
    async with (
        BotApiServer(token=TOKEN) as server,
        started_application(nlu, schools, server, tmp_path / "setup.db", staff_options=options) as (
            _,
            services,
        ),
    ):
        yield SetupWorld(server, services, server.create_user("Ian", last_name="Tee"))


@pytest.fixture
async def world(nlu: InProcessNlu, schools: Schools, tmp_path: Path) -> AsyncIterator[SetupWorld]:
    async with setup_bot(nlu, schools, tmp_path) as running:
        yield running


def lines(message: JsonDict) -> list[str]:
    return str(message["text"]).splitlines()


async def test_setup_in_a_configured_forum_with_every_right_gives_its_id_topics_and_line(
    world: SetupWorld,
) -> None:
    forum = world.server.create_group(
        "Oakfield staff", members=[world.member], chat_id=OAKFIELD_STAFF, forum=True
    )
    world.server.set_bot_status(forum.id, "administrator")

    answer = await world.setup(forum)

    assert lines(answer)[:4] == [
        "Setting up this group",
        f"Chat id: {OAKFIELD_STAFF}",
        "Topics: yes, each case gets its own topic here.",
        ALL_RIGHTS,
    ]
    assert lines(answer)[-2:] == [
        "This group is in the schools file (school oakfield staff_chat_id):",
        f"staff_chat_id: {OAKFIELD_STAFF}",
    ]
    await world.settled()
    assert world.server.calls_to("leaveChat") == []


@pytest.mark.parametrize(
    ("kind", "status", "rights", "expected"),
    [
        ("forum", "administrator", {"can_pin_messages": False, "can_manage_topics": False}, [PIN, TOPICS]),
        ("forum", "administrator", {"can_manage_topics": False}, [TOPICS]),
        ("forum", "member", {}, [TOPICS]),  # topics are created by an administrator only
        ("forum", "creator", {}, []),
        ("supergroup", "administrator", {"can_manage_topics": False}, []),  # no topics: not asked
        ("supergroup", "administrator", {"can_pin_messages": False}, [PIN]),
        ("group", "restricted", {"can_pin_messages": False}, [PIN]),
        ("group", "member", {"can_pin_messages": False}, [PIN]),  # the group's member permissions
        ("group", "restricted", {"can_pin_messages": False, "can_send_messages": True}, [PIN]),
    ],
)
async def test_setup_names_exactly_the_rights_the_bot_lacks(
    world: SetupWorld, kind: str, status: BotStatus, rights: dict[str, bool], expected: list[str]
) -> None:
    group = world.server.create_group(
        "Oakfield staff",
        members=[world.member],
        chat_id=OAKFIELD_STAFF,
        supergroup=kind == "supergroup",
        forum=kind == "forum",
    )
    world.server.set_bot_status(group.id, status, **rights)

    answer = await world.setup(group)

    found = lines(answer)[3]
    if expected:
        assert found == (
            f"Missing rights: {', '.join(expected)}. Make me an administrator of this group with "
            "these rights, then send /setup again."
        )
    else:
        assert found == ALL_RIGHTS
    assert f"Chat id: {OAKFIELD_STAFF}" in lines(answer)


async def test_setup_in_a_new_plain_group_gives_the_line_to_add_and_the_bot_stays_for_it(
    world: SetupWorld,
) -> None:
    group = world.server.create_group("Hollybrook staff", members=[world.member])
    world.server.add_bot(group.id, by=world.member)
    world.server.user_sends_text(world.member, "I've added the bot", chat=group)
    await world.server.wait_handled()  # before the /setup: it makes the bot neither answer nor go

    answer = await world.setup(group)

    assert lines(answer)[:4] == [
        "Setting up this group",
        f"Chat id: {group.id}",
        "Topics: no, each case comes as a card with everything about it as replies to the card. Turning on "
        "topics makes this a supergroup with a new id: send /setup again then.",
        ALL_RIGHTS,
    ]
    text = str(answer["text"])
    assert "This group is not in the schools file yet." in text
    assert f"\nstaff_chat_id: {group.id}\n" in text
    assert "I leave 10 minutes after I was added:" in text
    await world.settled()
    assert world.server.calls_to("leaveChat") == []
    assert await world.leaves(group.id) == []
    assert world.server.sent_messages(group.id) == [answer], "nothing but the /setup answer"


async def test_a_bot_added_to_a_group_nobody_configures_leaves_when_its_stay_is_over(
    nlu: InProcessNlu, schools: Schools, tmp_path: Path
) -> None:
    brief = replace(FAST, setup_stay=timedelta(seconds=1))
    async with setup_bot(nlu, schools, tmp_path, brief) as world:
        group = world.server.create_group("Someone's group", members=[world.member])
        world.server.add_bot(group.id, by=world.member)
        await world.setup(group)

        await world.server.wait_for_call("leaveChat", group.id, timeout=10)
        world.server.user_sends_text(world.member, "/setup", chat=group)  # too late: the bot has gone
        world.server.user_sends_text(world.member, "hello?", chat=group)
        await world.settled()

        assert len(world.server.calls_to("leaveChat", group.id)) == 1
        assert len(world.server.sent_messages(group.id)) == 1, "one answer, none after the stay"
        assert [(e.actor_id, e.allowed) for e in await world.leaves(group.id)] == [(None, False)]


async def test_setup_sent_over_and_over_in_a_new_group_never_holds_a_parent_up(world: SetupWorld) -> None:
    group = world.server.create_group("Someone's group", members=[world.member])
    world.server.add_bot(group.id, by=world.member)
    for _ in range(100):
        world.server.user_sends_text(world.member, "/setup", chat=group)
    parent = world.server.create_user("Parent")
    world.server.user_sends_text(parent, "/help")

    answer = await world.server.wait_for_message(parent.id, timeout=60)

    assert "I help parents" in answer["text"]
    await world.server.wait_handled(timeout=60)
    assert 1 <= len(world.server.calls_to("sendMessage", group.id)) < 100, "answers wait one at a time"


async def test_a_group_staying_for_setup_that_becomes_a_supergroup_is_answered_under_its_new_id(
    world: SetupWorld,
) -> None:
    group = world.server.create_group("Riverside staff", members=[world.member])
    world.server.add_bot(group.id, by=world.member)
    await world.setup(group)

    supergroup = world.server.migrate_group(group.id, by=world.member)  # topics turned on
    await world.server.wait_handled()  # the migration messages first, as Telegram sends them
    world.server.user_sends_text(world.member, "topics are on now", chat=supergroup)
    await world.server.wait_handled()  # a message before the /setup: no reason to leave either
    answer = await world.setup(supergroup)

    assert f"Chat id: {supergroup.id}" in lines(answer)
    assert lines(answer)[2].startswith("Topics: no, each case comes as a card")
    assert lines(answer)[2].endswith("(the id stays the same).")
    assert f"staff_chat_id: {supergroup.id}" in lines(answer)
    await world.settled()
    assert world.server.calls_to("leaveChat") == []


async def test_setup_in_a_staff_chat_that_moved_names_the_line_to_change(
    nlu: InProcessNlu, schools: Schools, tmp_path: Path
) -> None:
    basic = -4000000777
    oakfield = [s.copy(update={"staff_chat_id": basic}) if s.id == "oakfield" else s for s in schools.schools]
    async with setup_bot(nlu, Schools(trust=schools.trust, schools=oakfield), tmp_path) as world:
        world.server.create_group("Oakfield staff", members=[world.member], chat_id=basic)
        supergroup = world.server.migrate_group(basic, by=world.member)
        await world.server.wait_handled()  # the migration messages: the bot follows the move

        answer = await world.setup(supergroup)

    assert lines(answer)[-2:] == [
        f"This group is in the schools file under its id from before it became a supergroup, {basic} "
        "(school oakfield staff_chat_id). I follow the move; change that line in schools.yml to:",
        f"staff_chat_id: {supergroup.id}",
    ]


async def test_setup_in_a_private_chat_says_to_send_it_in_the_group(world: SetupWorld) -> None:
    parent = world.server.create_user("Parent")
    world.server.user_sends_text(parent, "/setup")

    answer = await world.server.wait_for_message(parent.id, timeout=10)

    assert answer["text"].startswith("Send /setup in the group you are setting up, after adding me to it")
    await world.settled()
    assert len(world.server.sent_messages(parent.id)) == 1, "the parent side did not answer it too"
