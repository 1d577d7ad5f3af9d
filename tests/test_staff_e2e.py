"""The staff side end to end: the real Application, its delivery job and the staff handlers, over HTTP,
against the local Bot API server. Cases are opened with CaseStore directly (as the parent flows do)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.config import Schools, Settings
from bot.devserver import BotApiServer, SimChat, SimUser, UploadedFile, report_handled_updates
from bot.domain import TranscriptEntry
from bot.nlu.client import InProcessNlu
from bot.services import Services, build_services
from bot.staff import StaffOptions
from bot.storage.cases import CaseDraft, CaseStore, CaseView
from bot.storage.models import AuditEvent, Author, CaseKind, CaseStatus, DeliveryStatus, Priority
from bot.telegram.app import build_application
from tests.telegram_harness import ROOT, TOKEN, buttons

STAFF_ID = 7001
OUTSIDER_ID = 7002
FAST = StaffOptions(
    delivery_interval=0.2,
    reminder_check_interval=0.3,
    urgent_reminder_every=timedelta(seconds=1),
    retry_base=0.2,
    retry_max=2.0,
)
JsonDict = dict[str, Any]


@dataclass
class StaffWorld:
    server: BotApiServer
    services: Services
    schools: Schools
    parent: SimUser
    member: SimUser
    outsider: SimUser

    @property
    def cases(self) -> CaseStore:
        return self.services.cases

    def staff_chat(self, school_id: str = "oakfield") -> SimChat:
        school = self.schools.get(school_id)
        assert school is not None
        return self.server.create_group(
            f"{school.name} staff", members=[self.member, self.outsider], chat_id=school.staff_chat_id
        )

    async def open_case(self, school_id: str = "oakfield", **changes: Any) -> CaseView:
        school = self.schools.get(school_id)
        assert school is not None
        fields: dict[str, Any] = {
            "parent_id": str(self.parent.id),
            "parent_chat_id": self.parent.id,
            "school_id": school.id,
            "staff_chat_id": school.staff_chat_id,
            "kind": CaseKind.CYBERBULLYING,
            "priority": Priority.NORMAL,
            "summary": "Older pupils keep sending my son <b>horrible</b> messages",
            "contact_method": "chat",
            **changes,
        }
        return await self.cases.open_case(CaseDraft(**fields))

    async def card(self, view: CaseView, chat: SimChat, timeout: float = 10) -> JsonDict:
        """The next card of this case posted in the staff chat, once the bot has recorded it."""
        card = await self.server.wait_for_message(
            chat.id, lambda m: view.reference in m.get("text", "") and "reply_markup" in m, timeout
        )
        for _ in range(50):
            now = await self.cases.get(view.id)
            if now is not None and now.card_message_id == card["message_id"]:
                return card
            await asyncio.sleep(0.05)
        raise AssertionError(f"card {card['message_id']} of case {view.id} was not recorded")

    def current(self, message: JsonDict) -> JsonDict:
        """The message as it is now (after edits)."""
        chat_id = message["chat"]["id"]
        return next(m for m in self.server.sent_messages(chat_id) if m["message_id"] == message["message_id"])

    async def press(self, user: SimUser, message: JsonDict, title: str) -> JsonDict:
        """Press a card button; returns the callback answer's parameters."""
        query = self.server.user_presses_button(user, message, buttons(message)[title])
        await self.server.wait_until(lambda: query["id"] in self.server.callback_answers)
        return dict(self.server.callback_answers[query["id"]])

    async def settled(self, timeout: float = 15) -> None:
        """Every update so far handled, and nothing left in the outbox to send: whatever the bot would
        still do about what happened has been done."""
        await self.server.wait_handled(timeout=timeout)
        deadline = asyncio.get_running_loop().time() + timeout
        while any(d.status is DeliveryStatus.PENDING for d in await self.cases.deliveries()):
            assert asyncio.get_running_loop().time() < deadline, "the outbox did not empty"
            await asyncio.sleep(0.05)  # the outbox is a table: polled, with a deadline

    async def audits(self, **wanted: object) -> list[AuditEvent]:
        events = await self.cases.audit_events()
        return [e for e in events if all(getattr(e, k) == v for k, v in wanted.items())]


def staff_schools(schools: Schools) -> Schools:
    """The example schools, with Riverside naming its staff members (Oakfield lets any member act)."""
    listed = [
        school.copy(update={"staff_user_ids": [STAFF_ID]}) if school.id == "riverside" else school
        for school in schools.schools
    ]
    return Schools(trust=schools.trust, schools=listed)


Prepare = Callable[[BotApiServer], None]


@asynccontextmanager
async def staff_bot(
    nlu: InProcessNlu, schools: Schools, tmp_path: Path, prepare: Prepare | None = None, **server: Any
) -> AsyncIterator[StaffWorld]:
    """The bot started as `parentbot run` starts it (post_init included), after `prepare` has set up
    the chats it will find."""
    async with BotApiServer(token=TOKEN, **server) as api:
        if prepare is not None:
            prepare(api)
        settings = Settings(  # type: ignore[call-arg]
            telegram_bot_token=TOKEN,
            telegram_base_url=api.base_url,
            database_url=f"sqlite:///{tmp_path}/staff.db",
            project_dir=ROOT,
        )
        services = build_services(settings, schools, nlu=nlu)
        app = build_application(services, staff_options=FAST)
        report_handled_updates(app, api)
        await app.initialize()
        if app.post_init is not None:
            await app.post_init(app)
        assert app.updater is not None
        await app.updater.start_polling(poll_interval=0.0, timeout=1)
        await app.start()
        people = (
            api.create_user("Sam"),
            api.create_user("Priya", last_name="Patel", user_id=STAFF_ID),
            api.create_user("Olly", user_id=OUTSIDER_ID),
        )
        try:
            yield StaffWorld(api, services, schools, *people)
        finally:
            await app.updater.stop()
            await app.stop()
            await app.shutdown()
            services.db.dispose()


@pytest.fixture
async def world(nlu: InProcessNlu, schools: Schools, tmp_path: Path) -> AsyncIterator[StaffWorld]:
    async with staff_bot(nlu, staff_schools(schools), tmp_path) as running:
        yield running


async def test_a_new_case_posts_its_card_with_transcript_evidence_and_buttons(world: StaffWorld) -> None:
    staff = world.staff_chat()
    photo = world.server.user_sends_photo(world.member, chat=staff)
    case = await world.open_case(
        attachments=(photo["photo"][-1]["file_id"],),
        transcript=(
            TranscriptEntry(Author.PARENT, "kids keep sending my son *nasty* <i>messages</i>"),
            TranscriptEntry(Author.BOT, "I'm sorry."),
        ),
    )

    card = await world.card(case, staff)
    text = card["text"]
    for expected in (
        case.reference,
        "Oakfield Primary School",
        "Cyberbullying",
        "Open, not claimed yet",
        "Older pupils keep sending my son <b>horrible</b> messages",
        "Parent: kids keep sending my son *nasty* <i>messages</i>",
        "Bot: I'm sorry.",
        "Screenshots: 1",
    ):
        assert expected in text
    assert buttons(card) == {"Claim": f"staff:claim:{case.id}", "Resolve": f"staff:resolve:{case.id}"}
    sent = next(c for c in world.server.calls_to("sendMessage", staff.id) if c.ok)
    assert "parse_mode" not in sent.params
    evidence = await world.server.wait_for_message(staff.id, lambda m: "photo" in m)
    assert evidence["reply_to_message"]["message_id"] == card["message_id"]
    stored = await world.cases.get(case.id)
    assert stored is not None
    assert stored.card_message_id == card["message_id"]


async def test_claim_updates_the_card_and_tells_the_parent(world: StaffWorld) -> None:
    staff = world.staff_chat()
    case = await world.open_case()
    card = await world.card(case, staff)

    answer = await world.press(world.member, card, "Claim")

    assert answer["text"] == f"You've claimed case {case.reference}. The parent has been told."
    told = await world.server.wait_for_message(world.parent.id)
    assert (
        told["text"] == f"Priya Patel from Oakfield Primary School is looking at your case {case.reference}."
    )
    await world.server.wait_until(lambda: "Claimed by Priya Patel" in world.current(card)["text"])
    assert list(buttons(world.current(card))) == ["Resolve"]
    assert await world.audits(action="claim", actor_id=STAFF_ID, case_id=case.id, allowed=True)


async def test_a_second_claim_is_told_who_got_there_first(world: StaffWorld) -> None:
    staff = world.staff_chat()
    case = await world.open_case()
    card = await world.card(case, staff)

    first = await world.press(world.member, card, "Claim")
    second = await world.press(world.outsider, card, "Claim")  # Oakfield lets any member of its chat act

    assert first["text"].startswith("You've claimed")
    assert second["text"] == f"Case {case.reference} is already claimed by Priya Patel."
    assert len(await world.audits(action="claim")) == 1
    told = await world.server.wait_for_message(world.parent.id)
    assert told["text"].startswith("Priya Patel from Oakfield Primary School")
    await world.settled()
    assert len(world.server.sent_messages(world.parent.id)) == 1


async def test_replies_go_both_ways_through_the_card_thread(world: StaffWorld) -> None:
    staff = world.staff_chat()
    case = await world.open_case()
    card = await world.card(case, staff)

    world.server.user_replies_to(world.member, card, "We'll call you <i>today</i>", chat=staff)
    to_parent = await world.server.wait_for_message(world.parent.id)
    assert to_parent["text"] == (
        f"Message from Priya Patel at Oakfield Primary School about case {case.reference}:\n\n"
        "We'll call you <i>today</i>\n\n(Reply here and I'll pass it on. /done to stop.)"
    )
    assert await world.audits(action="reply", actor_id=STAFF_ID, case_id=case.id, allowed=True)

    assert await world.cases.parent_reply(case.id, "Thanks, after 3pm please")
    relayed = await world.server.wait_for_message(staff.id, lambda m: m["text"].startswith("Parent's reply"))
    assert relayed["text"] == f"Parent's reply on case {case.reference}:\n\nThanks, after 3pm please"
    assert relayed["reply_to_message"]["message_id"] == card["message_id"]

    world.server.user_replies_to(world.member, relayed, "3.30 it is", chat=staff)
    second = await world.server.wait_for_message(world.parent.id)
    assert "3.30 it is" in second["text"]
    view = await world.cases.get(case.id)
    assert view is not None
    assert [(line.author, line.author_name) for line in view.transcript] == [
        (Author.STAFF, "Priya Patel"),
        (Author.PARENT, None),
        (Author.STAFF, "Priya Patel"),
    ]


async def test_resolve_closes_the_case_and_tells_the_parent(world: StaffWorld) -> None:
    staff = world.staff_chat()
    case = await world.open_case()
    card = await world.card(case, staff)

    answer = await world.press(world.member, card, "Resolve")

    assert answer["text"].startswith(f"Case {case.reference} is resolved")
    told = await world.server.wait_for_message(world.parent.id)
    assert f"has marked your case {case.reference} as resolved" in told["text"]
    assert "office@oakfield-primary.example.org.uk" in told["text"]
    await world.server.wait_until(lambda: "Status: Resolved" in world.current(card)["text"])
    assert buttons(world.current(card)) == {}
    assert await world.audits(action="resolve", actor_id=STAFF_ID, case_id=case.id, allowed=True)

    world.server.user_replies_to(world.member, card, "One more thing", chat=staff)
    late = await world.server.wait_for_message(staff.id, lambda m: "not passed on" in m["text"])
    assert late["reply_to_message"]["text"] == "One more thing"


async def test_the_card_arrives_exactly_once_after_the_staff_chat_fails(
    nlu: InProcessNlu, schools: Schools, tmp_path: Path
) -> None:
    async with staff_bot(nlu, staff_schools(schools), tmp_path, timeout_fault_delay=6.0) as world:
        staff = world.staff_chat()
        for kind, options in [
            ("timeout", {}),
            ("server_error", {"status": 502}),
            ("server_error", {"status": 500}),
            ("flood", {"retry_after": 1, "times": 4}),
        ]:
            world.server.inject_fault("sendMessage", staff.id, kind=kind, **options)  # type: ignore[arg-type]
        case = await world.open_case()

        await world.card(case, staff, timeout=30)
        await world.settled()  # a duplicate would be in the outbox or sent by now

        calls = world.server.calls_to("sendMessage", staff.id)
        assert [c.status for c in calls].count(200) == 1
        assert len(calls) >= 8  # 1 timeout + 2 errors + 4 floods + the one that worked
        assert len(world.server.sent_messages(staff.id)) == 1
        card_row = (await world.cases.deliveries(case.id))[0]
        assert card_row.sent_message_id is not None
        assert card_row.attempts >= 4


async def test_a_member_not_listed_as_staff_is_refused_and_audited(world: StaffWorld) -> None:
    staff = world.staff_chat("riverside")  # Riverside lists only Priya as staff
    case = await world.open_case("riverside")
    card = await world.card(case, staff)

    answer = await world.press(world.outsider, card, "Claim")
    assert answer["text"].startswith("Sorry, only this school's staff")
    assert await world.audits(action="claim", actor_id=OUTSIDER_ID, case_id=case.id, allowed=False)

    world.server.user_replies_to(world.outsider, card, "let me tell the parent something", chat=staff)
    await world.server.wait_for_message(staff.id, lambda m: m["text"].startswith("Sorry, only"))
    assert await world.audits(action="reply", actor_id=OUTSIDER_ID, case_id=case.id, allowed=False)

    world.server.user_sends_text(world.outsider, "/cases", chat=staff)
    await world.server.wait_for_message(staff.id, lambda m: m["text"].startswith("Sorry, only"))
    assert await world.audits(action="view", actor_id=OUTSIDER_ID, chat_id=staff.id, allowed=False)

    view = await world.cases.get(case.id)
    assert view is not None
    assert view.status is CaseStatus.OPEN
    assert view.transcript == ()
    assert world.server.sent_messages(world.parent.id) == []

    world.server.user_sends_text(world.member, "/cases", chat=staff)
    listing = await world.server.wait_for_message(staff.id, lambda m: "Open cases" in m["text"])
    assert case.reference in listing["text"]


async def test_staff_commands_outside_a_staff_chat_are_refused_and_audited(world: StaffWorld) -> None:
    group = world.server.create_group("Year 6 parents", members=[world.outsider])

    world.server.user_sends_text(world.outsider, "/cases", chat=group)

    refusal = await world.server.wait_for_message(group.id)
    assert refusal["text"].startswith("Sorry, only this school's staff")
    assert await world.audits(action="view", actor_id=OUTSIDER_ID, chat_id=group.id, allowed=False)


async def test_a_staff_button_pressed_outside_a_staff_chat_is_refused_not_read_as_a_parent_button(
    world: StaffWorld,
) -> None:
    staff = world.staff_chat()
    case = await world.open_case()
    await world.card(case, staff)
    assert await world.cases.staff_reply(case.id, "Priya Patel", "Hello from school")
    message = await world.server.wait_for_message(world.parent.id)

    forged = {
        "id": "4000000000000042",
        "from": world.parent.to_api(),
        "message": message,
        "chat_instance": "42",
        "data": f"staff:resolve:{case.id}",
    }
    world.server.push_update("callback_query", forged)

    await world.server.wait_for_call("answerCallbackQuery")
    await world.settled()
    events = await world.audits(action="resolve", actor_id=world.parent.id, allowed=False)
    assert [(e.chat_id, e.case_id) for e in events] == [(world.parent.id, case.id)]
    assert len(world.server.sent_messages(world.parent.id)) == 1  # no parent-side answer either
    view = await world.cases.get(case.id)
    assert view is not None
    assert view.status is CaseStatus.OPEN


async def test_an_urgent_case_is_pinned_and_reminded_until_claimed(world: StaffWorld) -> None:
    staff = world.staff_chat()
    case = await world.open_case(kind=CaseKind.SAFEGUARDING, priority=Priority.URGENT)

    card = await world.card(case, staff)
    assert card["text"].startswith("URGENT SAFEGUARDING")
    await world.server.wait_until(lambda: card["message_id"] in world.server.pinned_messages(staff.id))
    reminder = await world.server.wait_for_message(
        staff.id, lambda m: m["text"].startswith(f"Reminder: URGENT case {case.reference}"), timeout=8
    )
    assert reminder["reply_to_message"]["message_id"] == card["message_id"]

    await world.press(world.member, card, "Claim")
    before = len(_reminders(world, staff))
    await asyncio.sleep(2.5)  # two more reminder intervals
    assert len(_reminders(world, staff)) - before <= 1  # at most one that was already being sent


async def test_a_reply_to_a_bot_message_that_is_no_card_is_not_passed_on(world: StaffWorld) -> None:
    staff = world.staff_chat()
    world.server.user_sends_text(world.member, "/cases", chat=staff)
    listing = await world.server.wait_for_message(staff.id, lambda m: "No open cases" in m["text"])

    world.server.user_replies_to(world.member, listing, "which one?", chat=staff)

    answer = await world.server.wait_for_message(staff.id, lambda m: "which case" in m["text"])
    assert answer["reply_to_message"]["text"] == "which one?"
    assert world.server.sent_messages(world.parent.id) == []


def _reminders(world: StaffWorld, staff: SimChat) -> list[JsonDict]:
    return [m for m in world.server.sent_messages(staff.id) if m["text"].startswith("Reminder")]


async def test_a_long_transcript_goes_as_a_document_replying_to_the_card(world: StaffWorld) -> None:
    staff = world.staff_chat()
    lines = tuple(
        TranscriptEntry(Author.PARENT if n % 2 else Author.BOT, f"line {n:02d} " + "blah " * 20)
        for n in range(60)
    )
    case = await world.open_case(transcript=lines)

    card = await world.card(case, staff)
    assert "60 lines, too long to show here" in card["text"]
    assert len(card["text"]) <= 3500
    document = await world.server.wait_for_message(staff.id, lambda m: "document" in m)
    assert document["reply_to_message"]["message_id"] == card["message_id"]
    assert document["document"]["file_name"] == f"{case.reference}-transcript.txt"
    upload = world.server.calls_to("sendDocument", staff.id)[-1].params["document"]
    assert isinstance(upload, UploadedFile)
    content = upload.data.decode()
    assert all(f"line {n:02d} " in content for n in range(60))


async def test_cases_lists_open_cases_urgent_first_and_case_posts_a_card_again(world: StaffWorld) -> None:
    staff = world.staff_chat()
    older = await world.open_case()
    urgent = await world.open_case(kind=CaseKind.SAFEGUARDING, priority=Priority.URGENT)
    closed = await world.open_case()
    assert await world.cases.resolve(closed.id, STAFF_ID, "Priya Patel")
    first_card = await world.card(older, staff)

    world.server.user_sends_text(world.member, "/cases", chat=staff)
    listing = await world.server.wait_for_message(staff.id, lambda m: "Open cases" in m["text"])
    lines = listing["text"].splitlines()
    assert lines[1].startswith(f"{urgent.reference} · URGENT")
    assert lines[2].startswith(f"{older.reference} · normal")
    assert closed.reference not in listing["text"]
    assert await world.audits(action="view", actor_id=STAFF_ID, case_id=None, allowed=True)

    world.server.user_sends_text(world.member, f"/case {older.reference.lower()}", chat=staff)
    again = await world.card(older, staff)
    assert again["message_id"] != first_card["message_id"]
    assert await world.audits(action="view", actor_id=STAFF_ID, case_id=older.id, allowed=True)
    world.server.user_sends_text(world.member, "/case OAK-NONE", chat=staff)
    await world.server.wait_for_message(staff.id, lambda m: "There is no case OAK-NONE" in m["text"])
