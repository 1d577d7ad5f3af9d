"""The staff side end to end: the real Application, its delivery job and the staff handlers, over HTTP,
against the local Bot API server. Cases are opened with CaseStore directly (as the parent flows do)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.domain import Author, CaseDraft, CaseKind, CaseStatus, CaseView, Priority, TranscriptEntry
from bot.nlu.client import InProcessNlu
from bot.schools import Schools
from bot.services import Services
from bot.staff import StaffOptions
from bot.storage.cases import CaseStore
from bot.storage.models import AuditEvent
from bot.storage.outbox import Outbox
from devserver import BotApiServer, SimChat, SimUser, UploadedFile
from tests.telegram_harness import TOKEN, buttons, eventually, settled, started_application

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
        return self.services.records.cases

    @property
    def outbox(self) -> Outbox:
        return self.services.records.outbox

    def staff_chat(self, school_id: str = "oakfield", forum: bool = False) -> SimChat:
        """The school's staff chat: a plain group, or a supergroup with topics (``forum``)."""
        school = self.schools.get(school_id)
        assert school is not None
        return self.server.create_group(
            f"{school.name} staff",
            members=[self.member, self.outsider],
            chat_id=school.staff_chat_id,
            forum=forum,
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

        async def recorded() -> bool:
            now = await self.cases.get(view.id)
            return now is not None and now.card_message_id == card["message_id"]

        await eventually(recorded, f"card {card['message_id']} of case {view.id} was recorded", timeout)
        return card

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
        await settled(self.server, self.outbox, timeout)

    async def audits(self, **wanted: object) -> list[AuditEvent]:
        events = await self.services.records.audit.audit_events()
        return [e for e in events if all(getattr(e, k) == v for k, v in wanted.items())]


TRUST_SAFEGUARDING_CHAT = -1001000000099


def staff_schools(schools: Schools) -> Schools:
    """The example schools, with Riverside naming its staff members (Oakfield lets any member act), and
    the trust's safeguarding chat (commented out in the example file) set."""
    listed = [
        school.copy(update={"staff_user_ids": [STAFF_ID]}) if school.id == "riverside" else school
        for school in schools.schools
    ]
    trust = schools.trust.copy(update={"safeguarding_chat_id": TRUST_SAFEGUARDING_CHAT})
    return Schools(trust=trust, schools=listed)


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
        async with started_application(nlu, schools, api, tmp_path / "staff.db", staff_options=FAST) as (
            _,
            services,
        ):
            people = (
                api.create_user("Sam"),
                api.create_user("Priya", last_name="Patel", user_id=STAFF_ID),
                api.create_user("Olly", user_id=OUTSIDER_ID),
            )
            yield StaffWorld(api, services, schools, *people)


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
        "Parent: │ kids keep sending my son *nasty* <i>messages</i>",
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
    assert told["text"] == f"The staff at Oakfield Primary School are looking at your case {case.reference}."
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
    assert told["text"].startswith("The staff at Oakfield Primary School")
    await world.settled()
    assert len(world.server.sent_messages(world.parent.id)) == 1


async def test_replies_go_both_ways_through_the_card_thread(world: StaffWorld) -> None:
    staff = world.staff_chat()
    case = await world.open_case()
    card = await world.card(case, staff)

    asked = world.server.user_replies_to(world.member, card, "We'll call you <i>today</i>", chat=staff)
    to_parent = await world.server.wait_for_message(world.parent.id)
    assert to_parent["text"] == (
        f"Message from the staff at Oakfield Primary School about case {case.reference}:\n\n"
        "We'll call you <i>today</i>\n\n(Reply here and I'll pass it on. /done to stop.)"
    )
    assert await world.audits(action="reply", actor_id=STAFF_ID, case_id=case.id, allowed=True)
    confirmed = await world.server.wait_for_message(staff.id, lambda m: m["text"].startswith("Sent to"))
    assert confirmed["text"] == f"Sent to the parent (case {case.reference})."
    assert confirmed["reply_to_message"]["message_id"] == asked["message_id"]

    assert await world.cases.parent_reply(case.id, "Thanks, after 3pm please")
    relayed = await world.server.wait_for_message(staff.id, lambda m: m["text"].startswith("Parent's reply"))
    assert relayed["text"] == f"Parent's reply on case {case.reference}:\n\n│ Thanks, after 3pm please"
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


async def test_in_relay_mode_danger_gets_the_guidance_and_reaches_the_staff_marked_urgent(
    world: StaffWorld,
) -> None:
    """Relay mode once passed every typed message to staff before any danger check: a danger message
    gets its guidance first in every state, relayed or not."""
    staff = world.staff_chat()
    world.server.user_sends_text(world.parent, "/start")  # the parent is known to the bot
    await world.settled()
    case = await world.open_case()
    card = await world.card(case, staff)
    world.server.user_replies_to(world.member, card, "Which class is your son in?", chat=staff)
    await world.server.wait_for_message(world.parent.id, lambda m: "Which class" in m["text"])
    await world.settled()

    world.server.user_sends_text(world.parent, "my son says he wants to die")
    guidance = await world.server.wait_for_message(world.parent.id, lambda m: "116 123" in m["text"])
    alert = await world.server.wait_for_message(
        staff.id, lambda m: m["text"].startswith("URGENT: the parent's message")
    )
    await world.settled()

    to_parent = [m["text"] for m in world.server.sent_messages(world.parent.id)]
    after = to_parent[to_parent.index(guidance["text"]) :]
    assert after[0].startswith("If a life is at risk now"), "the guidance comes first"
    assert any(m.get("reply_markup") for m in world.server.sent_messages(world.parent.id)[-2:]), (
        "then the one-tap offer to alert the safeguarding staff"
    )
    assert case.reference in alert["text"]
    assert "my son says he wants to die" in "\n".join(m["text"] for m in world.server.sent_messages(staff.id))
    now = await world.cases.get(case.id)
    assert now is not None
    assert now.priority is Priority.URGENT


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
        card_row = (await world.outbox.deliveries(case.id))[0]
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


async def test_in_the_trust_chat_only_the_trusts_named_staff_may_act(
    nlu: InProcessNlu, schools: Schools, tmp_path: Path
) -> None:
    named = staff_schools(schools)
    trust = named.trust.copy(update={"staff_user_ids": [STAFF_ID], "allow_all_members": False})
    async with staff_bot(nlu, named.copy(update={"trust": trust}), tmp_path) as world:
        fallback = world.server.create_group(
            "Trust safeguarding", members=[world.member, world.outsider], chat_id=TRUST_SAFEGUARDING_CHAT
        )
        case = await world.open_case()  # Oakfield's chat does not exist: the case fails over to the trust's
        card = await world.card(case, fallback)

        answer = await world.press(world.outsider, card, "Claim")
        assert answer["text"].startswith("Sorry, only this school's staff")
        world.server.user_sends_text(
            world.outsider, f"/reply {case.reference} we will call you", chat=fallback
        )
        await world.server.wait_for_message(fallback.id, lambda m: m["text"].startswith("Sorry, only"))
        world.server.user_replies_to(world.outsider, card, "hello from me", chat=fallback)
        await world.server.wait_for_message(
            fallback.id,
            lambda m: m["text"].startswith("Sorry, only") and m["message_id"] > card["message_id"] + 1,
        )
        await world.settled()
        assert len(await world.audits(actor_id=OUTSIDER_ID, case_id=case.id, allowed=False)) == 3
        view = await world.cases.get(case.id)
        assert view is not None
        assert view.status is CaseStatus.OPEN
        assert view.transcript == ()
        assert world.server.sent_messages(world.parent.id) == []

        answer = await world.press(world.member, card, "Claim")
        assert case.reference in answer["text"]
        assert await world.audits(action="claim", actor_id=STAFF_ID, case_id=case.id, allowed=True)


async def test_staff_commands_outside_a_staff_chat_get_no_answer_the_bot_leaves_and_audits(
    world: StaffWorld,
) -> None:
    group = world.server.create_group("Year 6 parents", members=[world.outsider])

    world.server.user_sends_text(world.outsider, "/cases", chat=group)

    await world.server.wait_for_call("leaveChat", group.id)
    await world.settled()
    assert world.server.calls_to("sendMessage", group.id) == []
    assert await world.audits(action="leave", actor_id=OUTSIDER_ID, chat_id=group.id, allowed=False)


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

    # The reminder check the job runs, as if any interval had passed: due while nobody has claimed it...
    assert await world.outbox.due_urgent_reminders(timedelta(0)) == [case.id]
    await world.settled()
    await world.press(world.member, card, "Claim")
    before = len(_reminders(world, staff))
    # ...and not once claimed; a reminder queued before the claim is dropped or already on its way.
    assert await world.outbox.due_urgent_reminders(timedelta(0)) == []
    await world.settled()
    assert len(_reminders(world, staff)) - before <= 1


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


# ---- a forum staff chat: one topic per case; nothing reaches the parent by accident -------------------


def parent_messages(world: StaffWorld) -> list[str]:
    return [m["text"] for m in world.server.sent_messages(world.parent.id)]


async def test_a_forum_staff_chat_gets_one_topic_per_case_with_everything_in_it(world: StaffWorld) -> None:
    staff = world.staff_chat(forum=True)
    photo = world.server.user_sends_photo(world.member, chat=staff)
    case = await world.open_case(attachments=(photo["photo"][-1]["file_id"],))

    card = await world.card(case, staff)
    [topic] = world.server.topics(staff.id)
    assert topic.name == f"{case.reference} · Cyberbullying report · Oakfield Primary School"
    assert "Sam" not in topic.name
    assert card["message_thread_id"] == topic.message_thread_id
    evidence = await world.server.wait_for_message(staff.id, lambda m: "photo" in m)
    assert evidence["message_thread_id"] == topic.message_thread_id
    stored = await world.cases.get(case.id)
    assert stored is not None
    assert stored.topic_id == topic.message_thread_id

    assert await world.cases.parent_reply(case.id, "Any news?")
    relayed = await world.server.wait_for_message(staff.id, lambda m: m["text"].startswith("Parent's reply"))
    assert relayed["message_thread_id"] == topic.message_thread_id

    other = await world.open_case(kind=CaseKind.BREACH)
    await world.card(other, staff)
    assert len(world.server.topics(staff.id)) == 2
    assert (await world.press(world.member, card, "Resolve"))["text"].startswith("Case")
    await world.server.wait_until(lambda: world.server.topic(staff.id, topic.message_thread_id).closed)
    assert not world.server.topics(staff.id)[1].closed


async def test_in_a_topic_only_a_reply_to_the_card_or_parent_or_a_slash_reply_reaches_the_parent(
    world: StaffWorld,
) -> None:
    staff = world.staff_chat(forum=True)
    case = await world.open_case()
    card = await world.card(case, staff)
    thread = card["message_thread_id"]

    world.server.user_sends_text(world.member, "I'll take this, the Smiths again", staff, thread_id=thread)
    await world.settled()
    assert parent_messages(world) == []
    assert not await world.audits(action="reply")

    asked = world.server.user_sends_text(
        world.member, "/reply We'll ring you at 3pm", staff, thread_id=thread
    )
    to_parent = await world.server.wait_for_message(world.parent.id)
    assert to_parent["text"].startswith("Message from the staff at Oakfield Primary School about case")
    assert "We'll ring you at 3pm" in to_parent["text"]
    assert "Priya" not in to_parent["text"]
    confirmed = await world.server.wait_for_message(staff.id, lambda m: m["text"].startswith("Sent to"))
    assert confirmed["message_thread_id"] == thread
    assert confirmed["reply_to_message"]["message_id"] == asked["message_id"]

    world.server.user_replies_to(world.member, confirmed, "good, thanks", chat=staff)  # internal
    world.server.user_replies_to(world.member, card, "Is 3.30 fine too?", chat=staff)
    second = await world.server.wait_for_message(world.parent.id)
    assert "Is 3.30 fine too?" in second["text"]
    await world.settled()
    assert len(parent_messages(world)) == 2
    view = await world.cases.get(case.id)
    assert view is not None
    assert [line.text for line in view.transcript] == ["We'll ring you at 3pm", "Is 3.30 fine too?"]
    assert len(await world.audits(action="reply", case_id=case.id, allowed=True)) == 2


async def test_in_a_plain_group_internal_chatter_stays_and_slash_reply_needs_the_reference(
    world: StaffWorld,
) -> None:
    staff = world.staff_chat()
    case = await world.open_case()
    await world.card(case, staff)

    world.server.user_sends_text(world.member, "who knows this family?", staff)
    world.server.user_sends_text(world.member, "/reply we are on it", staff)
    usage = await world.server.wait_for_message(staff.id, lambda m: "/reply and the case" in m["text"])
    assert usage["reply_to_message"]["text"] == "/reply we are on it"
    await world.settled()
    assert parent_messages(world) == []

    world.server.user_sends_text(world.member, f"/reply {case.reference.lower()} We are on it", staff)
    to_parent = await world.server.wait_for_message(world.parent.id)
    assert "We are on it" in to_parent["text"]
    assert case.reference.lower() not in to_parent["text"]


async def test_a_school_may_show_staff_names_to_parents(world: StaffWorld) -> None:
    school = world.schools.get("riverside")
    assert school is not None
    world.schools.schools[world.schools.schools.index(school)] = school.copy(
        update={"show_staff_names": True}
    )
    staff = world.staff_chat("riverside")
    case = await world.open_case("riverside")
    card = await world.card(case, staff)
    await world.press(world.member, card, "Claim")
    told = await world.server.wait_for_message(world.parent.id)
    assert told["text"] == f"Priya Patel from Riverside Academy is looking at your case {case.reference}."


# ---- each parent message goes to the right case ---------------------------------------------------------


async def test_two_cases_at_two_schools_each_get_the_parents_answers_meant_for_them(
    world: StaffWorld,
) -> None:
    oakfield, riverside = world.staff_chat(), world.staff_chat("riverside", forum=True)
    first, second = await world.open_case(), await world.open_case("riverside", kind=CaseKind.GENERAL)
    first_card, second_card = await world.card(first, oakfield), await world.card(second, riverside)
    world.server.user_replies_to(world.member, first_card, "Which day suits you?", chat=oakfield)
    from_oakfield = await world.server.wait_for_message(world.parent.id)
    world.server.user_replies_to(world.member, second_card, "Can you come in?", chat=riverside)
    from_riverside = await world.server.wait_for_message(world.parent.id)
    assert first.reference in from_oakfield["text"]
    assert second.reference in from_riverside["text"]

    def parents_words(chat: SimChat) -> list[str]:
        return [m["text"] for m in world.server.sent_messages(chat.id) if m["text"].startswith("Parent's")]

    # Riverside wrote last, but the parent answers Oakfield's message: it goes to Oakfield.
    world.server.user_replies_to(world.parent, from_oakfield, "Tuesday please")
    await world.settled()
    assert parents_words(oakfield) == [f"Parent's reply on case {first.reference}:\n\n│ Tuesday please"]
    assert parents_words(riverside) == []

    # No reply: the bot asks which case, then passes the message to the one chosen.
    world.server.user_sends_text(world.parent, "Yes, after school")
    question = await world.server.wait_for_message(world.parent.id, lambda m: "Which case" in m["text"])
    titles = list(buttons(question))
    assert titles == [
        f"{first.reference} · Oakfield Primary School",
        f"{second.reference} · Riverside Academy",
    ]
    await world.settled()
    assert len(parents_words(oakfield)) == 1
    assert parents_words(riverside) == []
    world.server.user_presses_button(world.parent, question, buttons(question)[titles[1]])
    await world.settled()
    [in_topic] = [m for m in world.server.sent_messages(riverside.id) if m["text"].startswith("Parent's")]
    assert in_topic["text"].endswith("Yes, after school")
    assert in_topic["message_thread_id"] == second_card["message_thread_id"]
    assert len(parents_words(oakfield)) == 1


async def test_answering_a_resolved_cases_message_reopens_the_case_and_its_topic(world: StaffWorld) -> None:
    staff = world.staff_chat(forum=True)
    case = await world.open_case()
    card = await world.card(case, staff)
    world.server.user_replies_to(world.member, card, "Sorted, the messages are deleted", chat=staff)
    from_staff = await world.server.wait_for_message(world.parent.id)
    await world.press(world.member, card, "Resolve")
    thread = card["message_thread_id"]
    await world.server.wait_until(lambda: world.server.topic(staff.id, thread).closed)

    # (a bare "They've started again" is close to the gate's line: it may ask "is a child at risk?" first)
    world.server.user_replies_to(world.parent, from_staff, "They have started sending the messages again")
    relayed = await world.server.wait_for_message(staff.id, lambda m: "started sending" in m["text"])

    assert relayed["message_thread_id"] == thread
    assert not world.server.topic(staff.id, thread).closed
    view = await world.cases.get(case.id)
    assert view is not None
    assert view.status is CaseStatus.OPEN
    await world.server.wait_until(lambda: "Resolve" in buttons(world.current(card)))


# ---- /stats ---------------------------------------------------------------------------------------------


async def test_stats_gives_a_schools_figures_as_text_and_chart_and_is_audited(world: StaffWorld) -> None:
    staff = world.staff_chat()
    claimed, resolved = await world.open_case(), await world.open_case(kind=CaseKind.COMPLAINT)
    await world.open_case(kind=CaseKind.SAFEGUARDING, priority=Priority.URGENT)
    await world.open_case("riverside")  # another school's case: not in Oakfield's figures
    assert await world.cases.claim(claimed.id, STAFF_ID, "Priya Patel")
    assert await world.cases.resolve(resolved.id, STAFF_ID, "Priya Patel")

    world.server.user_sends_text(world.member, "/stats", chat=staff)
    text = await world.server.wait_for_message(staff.id, lambda m: "Median time" in m.get("text", ""), 30)
    photo = await world.server.wait_for_message(staff.id, lambda m: "photo" in m, 30)  # matplotlib loads

    lines = text["text"].splitlines()
    assert lines[0].startswith("Oakfield Primary School: cases opened ")
    assert "Opened: 3" in lines
    assert "By school: Oakfield Primary School 3" in lines
    assert "Open now: 2 (urgent: 1)" in lines
    assert any(line.startswith("Median time to claim: 0 min") for line in lines)
    assert "Riverside" not in text["text"]
    upload = world.server.calls_to("sendPhoto", staff.id)[-1].params["photo"]
    assert isinstance(upload, UploadedFile)
    assert upload.data.startswith(b"\x89PNG")
    assert photo["photo"][-1]["width"] >= 800
    assert await world.audits(action="stats", actor_id=STAFF_ID, chat_id=staff.id, allowed=True)


async def test_stats_in_the_trust_safeguarding_chat_covers_every_school(world: StaffWorld) -> None:
    trust_chat_id = world.schools.trust.safeguarding_chat_id
    assert trust_chat_id is not None
    trust_chat = world.server.create_group(
        "Trust safeguarding", members=[world.member], chat_id=trust_chat_id
    )
    await world.open_case()
    await world.open_case("riverside")

    world.server.user_sends_text(world.member, "/stats 2026-01-01 2099-12-31", chat=trust_chat)
    text = await world.server.wait_for_message(
        trust_chat_id, lambda m: "Median time" in m.get("text", ""), 30
    )
    await world.server.wait_for_message(trust_chat_id, lambda m: "photo" in m, 30)

    assert text["text"].startswith("All schools of Embrace Multi Academy Trust: cases opened 01 Jan 2026 to ")
    assert "Opened: 2" in text["text"]
    assert "Oakfield Primary School 1" in text["text"]
    assert "Riverside Academy 1" in text["text"]


async def test_stats_is_refused_to_outsiders_and_explains_a_bad_period(world: StaffWorld) -> None:
    staff = world.staff_chat("riverside")  # Riverside lists only Priya as staff
    world.server.user_sends_text(world.outsider, "/stats", chat=staff)
    await world.server.wait_for_message(staff.id, lambda m: m["text"].startswith("Sorry, only"))
    group = world.server.create_group("Year 6 parents", members=[world.outsider])
    world.server.user_sends_text(world.outsider, "/stats", chat=group)  # a group it leaves, silently
    await world.server.wait_for_call("leaveChat", group.id)
    world.server.user_sends_text(world.member, "/stats last week", chat=staff)
    await world.server.wait_for_message(staff.id, lambda m: m["text"].startswith("Send /stats for"))
    await world.settled()

    assert world.server.calls_to("sendPhoto") == []
    refused = await world.audits(action="stats", actor_id=OUTSIDER_ID, allowed=False)
    assert [e.chat_id for e in refused] == [staff.id]
    assert world.server.calls_to("sendMessage", group.id) == []
    assert not await world.audits(action="stats", allowed=True)


async def test_reply_to_another_schools_reference_answers_as_an_unknown_one(world: StaffWorld) -> None:
    """`/reply REF` to another school's case was once refused ("only this school's staff"), a made-up
    one got the usage line: the difference told any staff chat that REF exists."""
    oakfield, riverside = world.staff_chat(), world.staff_chat("riverside")
    riverside_case = await world.open_case("riverside")
    await world.card(riverside_case, riverside)
    made_up = next(
        f"RIV-{code}" for code in ("ZZZZ", "YYYY", "XXXX") if f"RIV-{code}" != riverside_case.reference
    )
    answers = []
    for reference in (riverside_case.reference, made_up):
        sent = world.server.user_sends_text(world.member, f"/reply {reference} we will call you", oakfield)
        answer = await world.server.wait_for_message(
            oakfield.id,
            lambda m, sent=sent: m.get("reply_to_message", {}).get("message_id") == sent["message_id"],
        )
        answers.append(answer["text"])
    assert answers[0] == answers[1]
    assert answers[0].startswith("To write to the parent")
    assert riverside_case.reference not in answers[0]
    await world.settled()
    assert world.server.sent_messages(world.parent.id) == []
    assert await world.audits(action="reply", actor_id=STAFF_ID, case_id=riverside_case.id, allowed=False)
    view = await world.cases.get(riverside_case.id)
    assert view is not None
    assert view.transcript == ()
