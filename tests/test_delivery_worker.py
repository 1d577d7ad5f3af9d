"""The delivery worker on its own, against the local Bot API server and a real database: each outbox row
reaches Telegram once, failures are retried or given up as they deserve, several workers share safely."""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from telegram import Bot

from bot.dialogue.responses import ResponseBook
from bot.domain import Author, CaseDraft, CaseKind, CaseView, Priority
from bot.schools import Schools
from bot.staff import StaffOptions
from bot.staff.cards import as_utc
from bot.staff.worker import DeliveryWorker
from bot.storage.database import make_engine, migrate, session_factory
from bot.storage.models import Delivery, DeliveryStatus
from bot.storage.records import Records
from bot.telegram.staff.delivery import delivery_worker
from devserver import BotApiServer, SimChat, SimUser
from tests.databases import database_url

TOKEN = "424242:parentbot-test-token"
FAST = StaffOptions(retry_base=0.05, retry_max=0.5)


@dataclass
class World:
    server: BotApiServer
    db: Engine
    records: Records
    bot: Bot
    schools: Schools
    responses: ResponseBook
    staff: SimChat
    parent: SimUser

    def worker(self, bot: Bot | None = None, **options: Any) -> DeliveryWorker:
        return delivery_worker(
            self.records.outbox,
            self.records.cases,
            bot or self.bot,
            self.schools,
            self.responses,
            options=FAST,
            **options,
        )

    async def open_case(self, **changes: Any) -> CaseView:
        fields: dict[str, Any] = {
            "parent_id": str(self.parent.id),
            "parent_chat_id": self.parent.id,
            "school_id": "oakfield",
            "staff_chat_id": self.staff.id,
            "kind": CaseKind.CYBERBULLYING,
            "priority": Priority.NORMAL,
            "summary": "Horrible messages on Snapchat",
            "contact_method": "chat",
            **changes,
        }
        return await self.records.cases.open_case(CaseDraft(**fields))

    async def pending(self) -> list[Delivery]:
        return [d for d in await self.records.outbox.deliveries() if d.status is DeliveryStatus.PENDING]

    def ok_texts(self, chat_id: int) -> list[str]:
        return [str(c.params.get("text", "")) for c in self.server.calls_to("sendMessage", chat_id) if c.ok]


@asynccontextmanager
async def world_on(url: str, schools: Schools, responses: ResponseBook) -> AsyncIterator[World]:
    async with BotApiServer(token=TOKEN) as server:
        db = make_engine(url)
        migrate(db)
        staff = server.create_group("Oakfield staff", chat_id=schools.schools[0].staff_chat_id)
        parent = server.create_user("Sam")
        try:
            async with Bot(TOKEN, base_url=server.base_url, base_file_url=server.base_file_url) as bot:
                records = Records.on(session_factory(db))
                yield World(server, db, records, bot, schools, responses, staff, parent)
        finally:
            db.dispose()


@pytest.fixture
async def world(tmp_path: Path, schools: Schools, responses: ResponseBook) -> AsyncIterator[World]:
    async with world_on(f"sqlite:///{tmp_path}/delivery.db", schools, responses) as built:
        yield built


async def drain(world: World, worker: DeliveryWorker, timeout: float = 20) -> int:
    """Run passes until nothing is pending; how many deliveries this worker sent."""
    sent = 0
    deadline = asyncio.get_running_loop().time() + timeout
    while await world.pending():
        assert asyncio.get_running_loop().time() < deadline, "deliveries still pending"
        done = await worker.run_once()
        sent += done
        if not done:
            await asyncio.sleep(0.02)
    return sent


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
async def test_two_concurrent_workers_send_each_delivery_exactly_once(
    kind: str, tmp_path: Path, schools: Schools, responses: ResponseBook
) -> None:
    with database_url(kind, tmp_path) as url:
        async with world_on(url, schools, responses) as world:
            case = await world.open_case()
            for number in range(30):
                assert await world.records.cases.staff_reply(case.id, "Ms Patel", f"reply #{number:02d}#")
            async with Bot(TOKEN, base_url=world.server.base_url) as other_bot:
                first, second = world.worker(batch=3), world.worker(bot=other_bot, batch=3)
                sent = await asyncio.gather(drain(world, first), drain(world, second))

            assert sum(sent) == 31
            assert all(sent), f"one worker did all the work: {sent}"
            replies = Counter(
                match for text in world.ok_texts(world.parent.id) for match in re.findall(r"#\d\d#", text)
            )
            assert replies == Counter({f"#{n:02d}#": 1 for n in range(30)})
            cards = [t for t in world.ok_texts(world.staff.id) if case.reference in t]
            assert len(cards) == 1
            attempts = Counter(c.params.get("text") for c in world.server.calls_to("sendMessage"))
            assert max(attempts.values()) == 1, "a delivery was sent twice"
            assert all(d.status is DeliveryStatus.SENT for d in await world.records.outbox.deliveries())


async def test_a_retry_after_a_failed_photo_does_not_post_the_card_again(world: World) -> None:
    photos = [world.server.user_sends_photo(world.parent) for _ in range(2)]
    file_ids = [photo["photo"][-1]["file_id"] for photo in photos]
    case = await world.open_case(attachments=tuple(file_ids))
    world.server.inject_fault("sendPhoto", world.staff.id, kind="server_error", times=2, status=502)

    await drain(world, world.worker())

    cards = [c for c in world.server.calls_to("sendMessage", world.staff.id) if c.ok]
    assert len(cards) == 1
    card_id = cards[0].result["message_id"]
    photo_calls = world.server.calls_to("sendPhoto", world.staff.id)
    assert [c.status for c in photo_calls].count(502) == 2
    sent_photos = [c for c in photo_calls if c.ok]
    assert sorted(c.params["photo"] for c in sent_photos) == sorted(file_ids)
    assert all(c.result["reply_to_message"]["message_id"] == card_id for c in sent_photos)
    assert f"for case {case.reference}" in sent_photos[0].result["caption"]


async def test_a_parent_who_blocked_the_bot_is_given_up_and_reported(world: World) -> None:
    case = await world.open_case()
    await drain(world, world.worker())
    world.server.inject_fault("sendMessage", world.parent.id, kind="blocked", times=None)
    blocked: list[str] = []

    async def on_blocked(parent_id: str) -> None:
        blocked.append(parent_id)

    assert await world.records.cases.staff_reply(case.id, "Ms Patel", "Can you call us?")
    await drain(world, world.worker(on_parent_blocked=on_blocked))

    reply = (await world.records.outbox.deliveries(case.id))[-1]
    assert reply.kind == "staff_reply"
    assert reply.status is DeliveryStatus.FAILED
    assert reply.last_error is not None
    assert "Can you call us" not in reply.last_error
    assert blocked == [str(world.parent.id)]
    assert len(world.server.calls_to("sendMessage", world.parent.id)) == 1


async def test_an_edit_that_changes_nothing_counts_as_sent(world: World) -> None:
    case = await world.open_case()
    await drain(world, world.worker())
    with session_factory(world.db).begin() as session:
        session.add(Delivery(kind="case_card_update", case_id=case.id, chat_id=world.staff.id))

    await drain(world, world.worker())

    edit = world.server.calls_to("editMessageText", world.staff.id)[-1]
    assert edit.status == 400
    assert "not modified" in (edit.error or "")
    assert (await world.records.outbox.deliveries(case.id))[-1].status is DeliveryStatus.SENT


async def test_retry_after_is_honoured_and_other_failures_back_off(world: World) -> None:
    case = await world.open_case()
    world.server.inject_fault("sendMessage", world.staff.id, kind="flood", retry_after=3)
    worker = world.worker()

    await worker.run_once()
    card = (await world.records.outbox.deliveries(case.id))[0]
    assert card.status is DeliveryStatus.PENDING
    assert card.last_error == "RetryAfter"
    wait = as_utc(card.next_attempt_at) - datetime.now(timezone.utc)
    assert timedelta(seconds=2) < wait <= timedelta(seconds=3)
    assert await worker.run_once() == 0  # not due yet

    with session_factory(world.db).begin() as session:
        row = session.get(Delivery, card.id)
        assert row is not None
        row.next_attempt_at = datetime.now(timezone.utc)
    world.server.inject_fault("sendMessage", world.staff.id, kind="server_error", status=502)
    await worker.run_once()
    card = (await world.records.outbox.deliveries(case.id))[0]
    assert card.attempts == 2
    assert card.last_error == "NetworkError"
    assert as_utc(card.next_attempt_at) - datetime.now(timezone.utc) <= timedelta(seconds=FAST.retry_base * 2)


async def test_a_reply_waits_for_its_card_and_lands_in_the_card_thread(world: World) -> None:
    case = await world.open_case()
    world.server.inject_fault("sendMessage", world.staff.id, kind="server_error", times=3)
    assert await world.records.cases.parent_reply(case.id, "Here is more detail")

    await drain(world, world.worker())

    sent = [c.result for c in world.server.calls_to("sendMessage", world.staff.id) if c.ok]
    assert [case.reference in m["text"] for m in sent] == [True, True]
    card, reply = sent
    assert reply["text"].startswith(f"Parent's reply on case {case.reference}")
    assert reply["reply_to_message"]["message_id"] == card["message_id"]
    assert "Here is more detail" in reply["text"]


async def test_a_staff_chat_that_removed_the_bot_with_no_trust_chat_tells_the_parent_to_phone(
    world: World,
) -> None:
    case = await world.open_case(kind=CaseKind.SAFEGUARDING, priority=Priority.URGENT)
    world.server.set_bot_status(world.staff.id, "kicked")

    await drain(world, world.worker())

    rows = {d.kind: d for d in await world.records.outbox.deliveries(case.id)}
    assert rows["case_card"].status is DeliveryStatus.FAILED
    assert rows["case_card"].last_error == "Forbidden: bot was kicked from the group chat"
    told = world.ok_texts(world.parent.id)
    assert len(told) == 1
    assert "could not get your URGENT message" in told[0]
    assert "01632 960 201" in told[0]
    assert "999" in told[0]
    assert "have your message" not in told[0]


async def test_urgent_deliveries_jump_a_backlog_of_normal_ones(world: World) -> None:
    backlog = await world.open_case()
    for number in range(12):
        assert await world.records.cases.parent_reply(backlog.id, f"more detail {number}")
    urgent = await world.open_case(kind=CaseKind.SAFEGUARDING, priority=Priority.URGENT)

    await drain(world, world.worker(batch=4))

    texts = world.ok_texts(world.staff.id)
    assert urgent.reference in texts[0], "the urgent card waited behind the backlog"
    # The card, and the twelve replies waiting together sent as one message, not twelve in its lane.
    assert sum(backlog.reference in text for text in texts) == 2
    assert all(f"more detail {number}" in texts[-1] for number in range(12))


async def test_a_group_that_became_a_supergroup_is_followed_and_remembered(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    first, other = await world.open_case(), await world.open_case()
    supergroup = world.server.migrate_group(world.staff.id)

    await drain(world, world.worker())

    assert [c.status for c in world.server.calls_to("sendMessage", world.staff.id)] == [400, 400]
    assert first.reference in world.ok_texts(supergroup.id)[0]
    assert other.reference in world.ok_texts(supergroup.id)[1]
    moved = [r.getMessage() for r in caplog.records if "became supergroup" in r.getMessage()]
    assert moved == [
        f"Chat {world.staff.id} (school oakfield staff_chat_id) became supergroup {supergroup.id}: "
        "deliveries "
        f"now go there; set school oakfield staff_chat_id to {supergroup.id} in the schools file"
    ]
    assert await world.records.outbox.chat_moves() == {world.staff.id: supergroup.id}
    assert (await world.records.cases.get(first.id)).staff_chat_id == supergroup.id  # type: ignore[union-attr]

    second = await world.open_case()
    await drain(world, world.worker())
    assert len(world.server.calls_to("sendMessage", world.staff.id)) == 2, "the old id was used again"
    assert second.reference in world.ok_texts(supergroup.id)[-1]


async def test_an_unknown_kind_is_given_up(world: World) -> None:
    with session_factory(world.db).begin() as session:
        session.add(Delivery(kind="carrier_pigeon", chat_id=world.staff.id))
    await drain(world, world.worker())
    assert (await world.records.outbox.deliveries())[0].status is DeliveryStatus.FAILED


async def test_run_forever_delivers_until_stopped(world: World) -> None:
    case = await world.open_case()
    await world.records.transcripts.record(str(world.parent.id), [(Author.PARENT, "hello")])
    worker = world.worker()
    task = asyncio.create_task(worker.run_forever(interval=0.05))
    await world.server.wait_for_message(world.staff.id, timeout=5)
    worker.stop()
    await asyncio.wait_for(task, timeout=2)
    assert case.reference in world.ok_texts(world.staff.id)[0]


async def test_urgent_reminders_wait_for_the_card_and_skip_a_case_claimed_meanwhile(world: World) -> None:
    case = await world.open_case(kind=CaseKind.SAFEGUARDING, priority=Priority.URGENT)
    assert (
        await world.records.outbox.due_urgent_reminders(timedelta(0)) == []
    )  # no card yet: nothing to remind of

    await drain(world, world.worker())
    assert world.server.pinned_messages(world.staff.id) == [1]  # the card, the first message there
    assert await world.records.outbox.due_urgent_reminders(timedelta(0)) == [case.id]
    assert await world.records.cases.claim(case.id, 7001, "Priya Patel")
    await drain(world, world.worker())

    reminder = next(d for d in await world.records.outbox.deliveries(case.id) if d.kind == "urgent_reminder")
    assert reminder.status is DeliveryStatus.SENT
    assert reminder.sent_message_id is None  # claimed before it went out: not sent
    assert not [t for t in world.ok_texts(world.staff.id) if t.startswith("Reminder")]
