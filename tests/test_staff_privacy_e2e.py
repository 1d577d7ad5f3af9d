"""Only named staff see a child's details (a staff group may hold people its school never named), end to
end against the local Bot API server.

A staff chat holding a member its school does not name gets cards with reference, kind, priority and
school only; the named staff member who claims gets the details in a private chat with the bot. A chat of
named staff only gets the full card. Joins are posted in the chat by name and flip it to restricted; a
claimer who never started the bot is sent to it by a deep link and the case stays unclaimed until then.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from telegram import Update
from telegram.ext import Application

from bot.domain import Author, CaseStatus, CaseView, TranscriptEntry
from bot.nlu.client import InProcessNlu
from bot.schools import Schools
from devserver import BotApiServer, SimChat
from tests.telegram_harness import TOKEN, buttons, poll, started_application
from tests.test_staff_e2e import FAST, OUTSIDER_ID, STAFF_ID, StaffWorld

NEVER_STARTED_ID = 7003
TRUST_CHAT = -1001000000099
SUMMARY_WORD = "horrible"
"""In the summary every test case has (tests/test_staff_e2e.py's open_case)."""
PHONE = "07700 900123"
JsonDict = dict[str, Any]


def named_staff_schools(schools: Schools) -> Schools:
    """Oakfield names Priya and Nia as its staff (no allow_all_members); the trust names Priya in its
    safeguarding chat."""
    oakfield = {"staff_user_ids": [STAFF_ID, NEVER_STARTED_ID], "allow_all_members": False}
    listed = [s.copy(update=oakfield) if s.id == "oakfield" else s for s in schools.schools]
    trust = schools.trust.copy(
        update={"safeguarding_chat_id": TRUST_CHAT, "staff_user_ids": [STAFF_ID], "allow_all_members": False}
    )
    return Schools(trust=trust, schools=listed)


@asynccontextmanager
async def privacy_bot(nlu: InProcessNlu, schools: Schools, tmp_path: Path) -> AsyncIterator[StaffWorld]:
    """The bot as `parentbot run` starts it, asking for every update type (chat_member included)."""
    named = named_staff_schools(schools)
    async with BotApiServer(token=TOKEN) as api:

        async def start(app: Application) -> None:
            await poll(app, allowed_updates=Update.ALL_TYPES)

        async with started_application(
            nlu, named, api, tmp_path / "privacy.db", start=start, staff_options=FAST
        ) as (_, services):
            people = (
                api.create_user("Sam"),
                api.create_user("Priya", last_name="Patel", user_id=STAFF_ID),
                api.create_user("Olly", user_id=OUTSIDER_ID),
            )
            api.create_group("Trust safeguarding", members=[people[1]], chat_id=TRUST_CHAT)
            yield StaffWorld(api, services, named, *people)


def staff_group(world: StaffWorld, *members: Any) -> SimChat:
    oakfield = world.schools.get("oakfield")
    assert oakfield is not None
    return world.server.create_group("Oakfield staff", members=members, chat_id=oakfield.staff_chat_id)


async def open_case_with_evidence(world: StaffWorld, staff: SimChat) -> CaseView:
    """A case with a screenshot (sent to `staff` by the named member), a long transcript and a phone."""
    photo = world.server.user_sends_photo(world.member, chat=staff)
    return await world.open_case(
        attachments=(photo["photo"][-1]["file_id"],),
        transcript=long_transcript(),
        contact_method="phone",
        contact_detail=PHONE,
    )


def long_transcript() -> tuple[TranscriptEntry, ...]:
    return tuple(
        TranscriptEntry(Author.PARENT if n % 2 else Author.BOT, f"line {n:02d} " + "blah " * 20)
        for n in range(60)
    )


def texts_to(world: StaffWorld, chat_id: int) -> list[str]:
    """Every text and caption the bot sent or edited into the chat (its requests, answered or not)."""
    return [
        str(call.params.get("text", "")) + str(call.params.get("caption", ""))
        for call in world.server.calls
        if call.chat_id == chat_id
    ]


def assert_no_details(world: StaffWorld, chat_id: int, *private: str) -> None:
    methods = {call.method for call in world.server.calls if call.chat_id == chat_id}
    assert not methods & {"sendPhoto", "sendDocument"}, methods
    for text in texts_to(world, chat_id):
        for detail in (SUMMARY_WORD, PHONE, "blah", "Transcript", *private):
            assert detail not in text, (detail, text)


async def test_a_group_with_a_member_not_named_gets_cards_without_details_and_the_claimer_gets_them(
    nlu: InProcessNlu, schools: Schools, tmp_path: Path
) -> None:
    async with privacy_bot(nlu, schools, tmp_path) as world:
        staff = staff_group(world, world.member, world.outsider)
        case = await open_case_with_evidence(world, staff)

        card = await world.card(case, staff)
        for shown in (case.reference, "Oakfield Primary School", "Cyberbullying", "normal"):
            assert shown in card["text"]
        assert "go privately to the named staff member who presses Claim" in card["text"]
        why = "1 members are not named staff"
        await world.server.wait_for_message(staff.id, lambda m: why in m.get("text", ""))
        await world.server.wait_for_message(
            TRUST_CHAT, lambda m: why in m.get("text", "") and str(staff.id) in m["text"]
        )

        answer = await world.press(world.member, card, "Claim")
        assert answer["text"] == (
            f"You've claimed case {case.reference}. The parent has been told, and the details are in your "
            "private chat with me."
        )
        details = await world.server.wait_for_message(STAFF_ID, lambda m: case.reference in m.get("text", ""))
        assert SUMMARY_WORD in details["text"]
        assert PHONE in details["text"]
        document = await world.server.wait_for_message(STAFF_ID, lambda m: "document" in m)
        assert document["document"]["file_name"] == f"{case.reference}-transcript.txt"
        await world.server.wait_for_message(STAFF_ID, lambda m: "photo" in m)
        await world.server.wait_until(lambda: "Claimed by Priya Patel" in world.current(card)["text"])

        assert await world.cases.parent_reply(case.id, "Thanks, after 3pm please")
        notice = await world.server.wait_for_message(
            staff.id, lambda m: m.get("text", "").startswith("New message from the parent")
        )
        assert "sent privately to the staff member who claimed it" in notice["text"]
        relayed = await world.server.wait_for_message(STAFF_ID, lambda m: "after 3pm" in m.get("text", ""))
        assert case.reference in relayed["text"]

        await world.settled()
        assert_no_details(world, staff.id, "after 3pm")
        assert sum(why in text for text in texts_to(world, staff.id)) == 1
        assert sum(why in text for text in texts_to(world, TRUST_CHAT)) == 1


async def test_a_group_of_named_staff_only_gets_the_full_card_and_hears_who_joins(
    nlu: InProcessNlu, schools: Schools, tmp_path: Path
) -> None:
    async with privacy_bot(nlu, schools, tmp_path) as world:
        staff = staff_group(world, world.member)
        photo = world.server.user_sends_photo(world.member, chat=staff)
        case = await world.open_case(attachments=(photo["photo"][-1]["file_id"],))

        card = await world.card(case, staff)
        assert SUMMARY_WORD in card["text"]
        await world.server.wait_for_message(staff.id, lambda m: "photo" in m)
        assert world.server.calls_to("getChatMemberCount", staff.id)

        nia = world.server.create_user("Nia", user_id=NEVER_STARTED_ID)
        world.server.add_member(staff.id, nia, by=world.member, status="administrator")  # counts as present
        joined = await world.server.wait_for_message(staff.id, lambda m: "joined" in m.get("text", ""))
        assert joined["text"] == "Nia joined this staff group; they are named staff."

        second = await world.open_case()
        assert SUMMARY_WORD in (await world.card(second, staff))["text"]
        await world.settled()
        assert not any("not named staff" in text for text in texts_to(world, staff.id))


async def test_a_join_is_posted_once_by_name_and_turns_the_group_restricted_until_they_leave(
    nlu: InProcessNlu, schools: Schools, tmp_path: Path
) -> None:
    async with privacy_bot(nlu, schools, tmp_path) as world:
        staff = staff_group(world, world.member)
        world.server.set_bot_status(staff.id, "administrator")  # so Telegram sends it chat_member updates
        first = await world.open_case()
        first_card = await world.card(first, staff)
        assert SUMMARY_WORD in first_card["text"]

        world.server.add_member(staff.id, world.outsider, by=world.member)
        joined = await world.server.wait_for_message(staff.id, lambda m: "joined" in m.get("text", ""))
        assert joined["text"] == (
            "Olly joined this staff group; they are not named staff, so cases here are shown without details."
        )
        second = await world.open_case()
        restricted = await world.card(second, staff)
        assert SUMMARY_WORD not in restricted["text"]
        assert second.reference in restricted["text"]
        await world.settled()
        hidden = world.current(first_card)["text"]  # the card posted in full before the join, edited
        assert SUMMARY_WORD not in hidden
        assert first.reference in hidden
        assert not [u for u in world.server.dropped_updates if "chat_member" in u]  # both kinds arrived
        assert sum("joined this staff group" in text for text in texts_to(world, staff.id)) == 1
        assert sum("1 members are not named staff" in text for text in texts_to(world, staff.id)) == 1

        world.server.remove_member(staff.id, world.outsider)
        await world.settled()
        third = await world.open_case()
        assert SUMMARY_WORD in (await world.card(third, staff))["text"]


async def test_a_claimer_who_never_started_the_bot_is_sent_to_it_and_claims_after(
    nlu: InProcessNlu, schools: Schools, tmp_path: Path
) -> None:
    async with privacy_bot(nlu, schools, tmp_path) as world:
        nia = world.server.create_user("Nia", user_id=NEVER_STARTED_ID, started=False)
        staff = staff_group(world, nia, world.outsider)
        case = await world.open_case()
        card = await world.card(case, staff)

        answer = await world.press(nia, card, "Claim")
        assert answer["text"].startswith("Not claimed yet")
        told = await world.server.wait_for_message(staff.id, lambda m: "t.me/" in m.get("text", ""))
        assert told["text"] == (
            f"Nia, I can't send you the details of case {case.reference} privately: you haven't started a "
            "chat with me yet. Open https://t.me/dev_test_bot?start=staff, press Start, then press Claim "
            "here again."
        )
        refused = [c for c in world.server.calls if c.chat_id == NEVER_STARTED_ID]
        assert refused
        assert all(c.status == 403 for c in refused)
        view = await world.cases.get(case.id)
        assert view is not None
        assert view.status is CaseStatus.OPEN
        assert "Claim" in buttons(world.current(card))

        world.server.user_sends_text(nia, "/start staff")
        ready = await world.server.wait_for_message(NEVER_STARTED_ID)
        assert ready["text"].startswith("You'll get the details of the cases you claim here.")
        answer = await world.press(nia, world.current(card), "Claim")
        assert answer["text"].startswith(f"You've claimed case {case.reference}.")
        details = await world.server.wait_for_message(
            NEVER_STARTED_ID, lambda m: case.reference in m.get("text", "")
        )
        assert SUMMARY_WORD in details["text"]
        await world.settled()
        assert_no_details(world, staff.id)


async def test_a_group_whose_members_cannot_be_counted_gets_no_details_until_they_can(
    nlu: InProcessNlu, schools: Schools, tmp_path: Path
) -> None:
    async with privacy_bot(nlu, schools, tmp_path) as world:
        staff = staff_group(world, world.member)
        world.server.inject_fault("getChatMemberCount", staff.id, kind="blocked", times=1)
        first = await world.open_case()

        card = await world.card(first, staff)
        assert SUMMARY_WORD not in card["text"]
        unchecked = await world.server.wait_for_message(staff.id, lambda m: "could not check" in m["text"])
        assert unchecked["text"].startswith("I could not check who is in this chat")
        await world.server.wait_for_message(TRUST_CHAT, lambda m: "could not check who is in it" in m["text"])

        second = await world.open_case()  # a failed check is not remembered: this one is counted
        assert SUMMARY_WORD in (await world.card(second, staff))["text"]
