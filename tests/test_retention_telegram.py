"""Retention that reaches Telegram (a card in a staff chat holds the parent's words): when the purge deletes a
case, what the bot posted for it in the staff chats goes too. The real Application and its delivery worker
against the local Bot API server, which keeps deleteMessage's 48-hour limit and deleteForumTopic's
administrator right as the API description states them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update
from telegram import Bot
from telegram.error import BadRequest

from bot.domain import Author, CaseView, TranscriptEntry
from bot.nlu.client import InProcessNlu
from bot.schools import Schools
from bot.storage.models import Case
from devserver import SimChat
from tests.telegram_harness import TOKEN, eventually
from tests.test_staff_e2e import STAFF_ID, StaffWorld, staff_bot, staff_schools

JsonDict = dict[str, Any]
ERASED = "deleted after its retention period"
LONG_REPLY = "My son says the messages started again last night. " * 100  # over 4096: two messages


@pytest.fixture
async def world(nlu: InProcessNlu, schools: Schools, tmp_path: Path) -> AsyncIterator[StaffWorld]:
    async with staff_bot(nlu, staff_schools(schools), tmp_path) as running:
        yield running


async def posted_case(world: StaffWorld, staff: SimChat, *, long: bool = False) -> tuple[CaseView, JsonDict]:
    """A case with a screenshot (and, if `long`, a transcript too long for the card), resolved, with
    everything the bot posts for it in the staff chat posted."""
    photo = world.server.user_sends_photo(world.member, chat=staff)
    lines = tuple(
        TranscriptEntry(Author.PARENT if n % 2 else Author.BOT, f"line {n:02d} " + "blah " * 20)
        for n in range(60 if long else 2)
    )
    case = await world.open_case(attachments=(photo["photo"][-1]["file_id"],), transcript=lines)
    card = await world.card(case, staff)
    await world.server.wait_for_message(staff.id, lambda m: "photo" in m)
    assert await world.cases.parent_reply(case.id, LONG_REPLY)
    await world.settled()
    assert await world.cases.resolve(case.id, STAFF_ID, "Priya Patel")
    await world.settled()
    return case, card


async def purge_as_if_long_ago(world: StaffWorld, case: CaseView) -> None:
    """The case was resolved 400 days ago (past CASE_RETENTION_DAYS): the scheduled purge deletes it."""
    long_ago = datetime.now(timezone.utc) - timedelta(days=400)
    with world.services.db.begin() as connection:
        connection.execute(update(Case).where(Case.id == case.id).values(resolved_at=long_ago))
    counts = await world.services.purge()
    assert counts.cases == 1
    assert counts.erasures > 0


def of_case(world: StaffWorld, chat: SimChat, case: CaseView) -> list[JsonDict]:
    """The bot's messages in the chat as they are now, besides forum service messages: each test has one
    case, so all of them are the case's."""
    return [
        m for m in world.server.sent_messages(chat.id) if not any(key.startswith("forum_topic_") for key in m)
    ]


async def erased(world: StaffWorld) -> bool:
    return not await world.services.records.erasures.pending()


async def test_a_purged_cases_forum_topic_is_deleted_with_everything_in_it(world: StaffWorld) -> None:
    staff = world.staff_chat(forum=True)
    world.server.set_bot_status(staff.id, "administrator", can_delete_messages=True)
    case, _ = await posted_case(world, staff)
    [topic] = world.server.topics(staff.id)
    assert len(of_case(world, staff, case)) >= 4  # card, photo, the two parts of the parent's reply

    await purge_as_if_long_ago(world, case)
    await eventually(lambda: erased(world), "the erasures were done")

    assert world.server.topics(staff.id) == []
    [deleted] = [c for c in world.server.calls_to("deleteForumTopic", staff.id) if c.ok]
    assert deleted.params["message_thread_id"] == topic.message_thread_id
    assert of_case(world, staff, case) == []
    assert world.server.calls_to("deleteMessage", staff.id) == [], "the messages went with their topic"


async def test_without_the_right_to_delete_the_topic_its_messages_are_deleted_one_by_one(
    world: StaffWorld,
) -> None:
    staff = world.staff_chat(forum=True)  # the bot is a plain member: it may delete only its own posts
    case, _ = await posted_case(world, staff)
    posted = of_case(world, staff, case)

    await purge_as_if_long_ago(world, case)
    await eventually(lambda: erased(world), "the erasures were done")

    assert not [c for c in world.server.calls_to("deleteForumTopic", staff.id) if c.ok]
    assert of_case(world, staff, case) == []
    deleted = {c.params["message_id"] for c in world.server.calls_to("deleteMessage", staff.id) if c.ok}
    assert deleted == {m["message_id"] for m in posted}


async def test_in_a_plain_group_card_photo_transcript_and_every_part_of_a_reply_are_deleted(
    world: StaffWorld,
) -> None:
    staff = world.staff_chat()
    case, card = await posted_case(world, staff, long=True)
    posted = of_case(world, staff, case)
    kinds = {"document" in m for m in posted} | {"photo" in m for m in posted}
    assert kinds == {True, False}
    assert any("document" in m for m in posted), "the transcript went as a document"
    reply_parts = [m for m in posted if "started again" in m.get("text", "")]
    assert len(reply_parts) == 2, "the parent's long reply was split over two messages"

    await purge_as_if_long_ago(world, case)
    await eventually(lambda: erased(world), "the erasures were done")

    assert of_case(world, staff, case) == []
    deleted = {c.params["message_id"] for c in world.server.calls_to("deleteMessage", staff.id) if c.ok}
    assert {m["message_id"] for m in posted} <= deleted
    assert card["message_id"] in deleted
    assert not world.server.calls_to("editMessageMedia", staff.id), "recent posts are deleted, not edited"


async def test_a_message_older_than_48_hours_is_replaced_by_a_notice_instead(world: StaffWorld) -> None:
    staff = world.staff_chat()
    case, card = await posted_case(world, staff)
    posted = of_case(world, staff, case)
    for message in posted:
        world.server.age_message(staff.id, message["message_id"], hours=49)

    await purge_as_if_long_ago(world, case)
    await eventually(lambda: erased(world), "the erasures were done")

    refused = [c for c in world.server.calls_to("deleteMessage", staff.id) if not c.ok]
    assert len(refused) == len(posted)
    assert all("can't be deleted" in str(c.error) for c in refused)
    now = {m["message_id"]: m for m in world.server.sent_messages(staff.id)}
    tombstone = f"Case {case.reference}: {ERASED}"
    assert now[card["message_id"]]["text"].startswith(tombstone)
    assert "reply_markup" not in now[card["message_id"]], "the card's buttons went with its text"
    [photo] = [m for m in posted if "photo" in m]
    assert "photo" not in now[photo["message_id"]], "the screenshot itself is gone"
    assert now[photo["message_id"]]["caption"].startswith(tombstone)
    for message in posted:
        shown = now[message["message_id"]]
        words = shown.get("text") or shown.get("caption", "")
        assert words.startswith(tombstone)
        assert "started again" not in words
        assert "Older pupils" not in words


async def test_the_dev_server_keeps_telegrams_deletion_limits(world: StaffWorld) -> None:
    staff = world.staff_chat(forum=True)
    async with _bot(world) as bot:
        await _deletion_limits(world, bot, staff)


async def _deletion_limits(world: StaffWorld, bot: Bot, staff: SimChat) -> None:
    topic = await bot.create_forum_topic(staff.id, "A topic")
    recent = await bot.send_message(staff.id, "recent", message_thread_id=topic.message_thread_id)
    old = await bot.send_message(staff.id, "old", message_thread_id=topic.message_thread_id)
    world.server.age_message(staff.id, old.message_id, hours=48)

    with pytest.raises(BadRequest, match=r"(?i)can.t be deleted"):
        await bot.delete_message(staff.id, old.message_id)
    with pytest.raises(BadRequest, match=r"(?i)not enough rights"):
        await bot.delete_forum_topic(staff.id, topic.message_thread_id)
    assert await bot.delete_message(staff.id, recent.message_id)

    world.server.set_bot_status(staff.id, "administrator", can_delete_messages=True)
    assert await bot.delete_message(staff.id, old.message_id)
    assert await bot.delete_forum_topic(staff.id, topic.message_thread_id)
    assert world.server.topics(staff.id) == []


def _bot(world: StaffWorld) -> Bot:
    return Bot(TOKEN, base_url=world.server.base_url, base_file_url=world.server.base_file_url)


async def test_a_failed_erasure_is_tried_again_until_done(world: StaffWorld) -> None:
    staff = world.staff_chat()
    case, _ = await posted_case(world, staff)
    posted = of_case(world, staff, case)
    world.server.inject_fault("deleteMessage", staff.id, kind="server_error", times=1)

    await purge_as_if_long_ago(world, case)
    await eventually(lambda: erased(world), "the erasures were done", timeout=30)

    calls = world.server.calls_to("deleteMessage", staff.id)
    assert [c.status for c in calls].count(500) == 1
    assert of_case(world, staff, case) == []
    assert {c.params["message_id"] for c in calls if c.ok} == {m["message_id"] for m in posted}
